import Foundation

/// libFuzzer entry point for the index file: the bytes as an index on disk, read whole and by header, and
/// an index that reads is then searched (graph walk and exact scan) and grown by one vector, as `search`
/// and `index update` would. Each input must end in a value or an error: a trap or a sanitizer report is a
/// finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let url = IndexFiles.scratch
    guard FileManager.default.createFile(atPath: url.path, contents: Data(bytes: data, count: size)) else { return 0 }
    _ = try? HNSWIndex.header(of: url)
    guard let (index, header) = try? HNSWIndex.read(from: url) else { return 0 }
    let query = [Float](repeating: 0.5, count: header.dimensions)
    _ = index.search(query, k: 5, ef: 16)
    _ = index.exactSearch(query, k: 5)
    index.add(id: 1 << 40, vector: query)
    return 0
}

/// `IndexFuzzer -seeds DIR` writes indexes of a few shapes through the product's own writer.
@_cdecl("LLVMFuzzerInitialize")
public func initialize(
    _ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>
) -> Int32 {
    guard let (directory, _) = seedArguments(argc, argv) else { return 0 }
    var random = SplitMix64(seed: 7)
    for (count, dimensions, m) in [(0, 8, 4), (1, 8, 4), (40, 4, 2), (300, 16, 8)] {
        let index = HNSWIndex(dimensions: dimensions, parameters: .init(m: m, efConstruction: 20))
        for id in 0..<count {
            index.add(id: Int64(id), vector: (0..<dimensions).map { _ in Float(random.next() % 1000) / 1000 })
        }
        let url = URL(fileURLWithPath: "\(directory)/index-\(count)x\(dimensions)")
        do { try index.write(to: url, label: "seed@150", key: Int64(count)) } catch {
            print("could not write the seeds: \(error)")
            exit(1)
        }
    }
    exit(0)
}

enum IndexFiles {
    static let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("xceptor-index-fuzz-\(getpid()).hnsw")
}
