import Foundation
import Testing

@testable import Search

@Suite("HNSW index", .serialized)
struct HNSWTests {
    /// Clustered, non-negative, sparse vectors like Xception embeddings (gen_data.py's recipe): cluster
    /// centres plus per-point noise, shifted and clipped at zero so that about 40% of values are 0.
    static func clustered(_ count: Int, dimensions: Int, clusters: Int, seed: UInt64) -> [[Float]] {
        var random = SplitMix64(seed: seed)
        func normal() -> Float {
            // Box-Muller from two uniforms in (0, 1].
            let u = Double(random.next() >> 11 + 1) / Double(1 << 53), v = Double(random.next() >> 11) / Double(1 << 53)
            return Float((-2 * log(u)).squareRoot() * cos(2 * .pi * v))
        }
        let centres = (0..<clusters).map { _ in (0..<dimensions).map { _ in normal() } }
        return (0..<count).map { index in
            let sigma = 0.4 + 0.5 * Float(index % 7) / 7
            let centre = centres[Int(random.next() % UInt64(clusters))]
            return centre.map { max(0, $0 + sigma * normal() - 0.25) }
        }
    }

    static func recall(_ index: HNSWIndex, exact matrix: VectorMatrix, queries: [[Float]], k: Int, ef: Int) throws -> Double {
        let truth = try ExactSearch.search(matrix, queries: queries, k: k)
        var hits = 0
        for (query, expected) in zip(queries, truth) {
            hits += Set(index.search(query, k: k, ef: ef).map(\.id)).intersection(expected.map(\.id)).count
        }
        return Double(hits) / Double(queries.count * k)
    }

    @Test("recall@10 >= 0.95 against exact search on 20,000 clustered vectors of 2,048 values")
    func recallOnClusteredData() throws {
        let vectors = Self.clustered(20_200, dimensions: 2048, clusters: 200, seed: 7)
        let (base, queries) = (Array(vectors.prefix(20_000)), Array(vectors.suffix(200)))
        let index = HNSWIndex(dimensions: 2048, parameters: .init(m: 16, efConstruction: 100))
        var matrix = VectorMatrix(dimensions: 2048)
        for (id, vector) in base.enumerated() { matrix.append(id: Int64(id), vector: vector) }
        // Built on two threads, as `xceptor index build` does on this machine.
        base.flatMap { $0 }.withUnsafeBufferPointer { index.add(ids: matrix.ids, vectors: $0, threads: 2) }
        try Self.checkGraph(index)
        let recall = try Self.recall(index, exact: matrix, queries: queries, k: 10, ef: 64)
        print("HNSW recall@10 at ef 64 on 20k x 2048 clustered: \(recall)")
        #expect(recall >= 0.95)
    }

    /// Every link points at another node, once, and no node holds more links than its slots.
    static func checkGraph(_ index: HNSWIndex) throws {
        for node in 0..<Int32(index.count) {
            for layer in 0...Int(index.levels[Int(node)]) {
                let (slots, count) = index.linkSlots(node, layer: layer)
                let links = Array(UnsafeBufferPointer(start: slots, count: count))
                #expect(count <= (layer == 0 ? 2 : 1) * index.parameters.m)
                #expect(Set(links).count == links.count, "node \(node) links one node twice on layer \(layer)")
                #expect(!links.contains(node), "node \(node) links itself")
                #expect(links.allSatisfy { (0..<Int32(index.count)).contains($0) && Int(index.levels[Int($0)]) >= layer })
                if node != index.entryPoint && count == 0 && index.count > 1 {
                    Issue.record("node \(node) has no links on layer \(layer)")
                }
            }
        }
        // Every node can be reached from the entry point on the bottom layer, or a search could never find it.
        guard index.count > 0 else { return }
        var reached: Set<Int32> = [index.entryPoint], pending = [index.entryPoint]
        while let node = pending.popLast() {
            let (slots, count) = index.linkSlots(node, layer: 0)
            for link in UnsafeBufferPointer(start: slots, count: count) where reached.insert(link).inserted { pending.append(link) }
        }
        #expect(reached.count == index.count, "\(index.count - reached.count) of \(index.count) nodes cannot be reached")
    }

    @Test("parallel builds over tight clusters of near-copies (like variants of a few photos) leave every node reachable")
    func parallelBuildReachability() throws {
        // 900 vectors around 18 centres, each a small perturbation: many near-ties while nodes go in side by side.
        var random = SplitMix64(seed: 77)
        func uniform() -> Float { Float(random.next() >> 40) / Float(1 << 24) }
        let centres = (0..<18).map { _ in (0..<512).map { _ in max(0, uniform() * 2 - 0.8) } }
        let vectors = (0..<900).flatMap { row in centres[row % 18].map { $0 + 0.05 * uniform() } }
        for _ in 0..<12 {
            let index = HNSWIndex(dimensions: 512)
            vectors.withUnsafeBufferPointer { index.add(ids: (0..<900).map(Int64.init), vectors: $0, threads: 4) }
            try Self.checkGraph(index)
        }
    }

    @Test("a build on four threads makes a well-formed graph as good as one thread's", arguments: [1, 4])
    func parallelBuild(threads: Int) throws {
        let vectors = Self.clustered(4000, dimensions: 96, clusters: 40, seed: 5)
        let (base, queries) = (Array(vectors.prefix(3800)), Array(vectors.suffix(200)))
        var matrix = VectorMatrix(dimensions: 96)
        for (id, vector) in base.enumerated() { matrix.append(id: Int64(id) * 3, vector: vector) }
        let index = HNSWIndex(dimensions: 96, parameters: .init(m: 8, efConstruction: 64))
        // Two batches: the second grows a graph that is already there.
        let flat = base.flatMap { $0 }
        flat.withUnsafeBufferPointer { values in
            index.add(ids: Array(matrix.ids.prefix(1000)), vectors: UnsafeBufferPointer(rebasing: values[0..<1000 * 96]), threads: threads)
            index.add(
                ids: Array(matrix.ids.dropFirst(1000)), vectors: UnsafeBufferPointer(rebasing: values[(1000 * 96)...]), threads: threads)
        }
        #expect(index.count == 3800)
        #expect(index.ids == matrix.ids)
        try Self.checkGraph(index)
        let recall = try Self.recall(index, exact: matrix, queries: queries, k: 10, ef: 48)
        print("HNSW recall@10 at ef 48 on 3,800 x 96 built on \(threads) thread(s): \(recall)")
        #expect(recall >= 0.95)
    }

    @Test("an index written and read back answers exactly as before; a damaged file is refused with what to do")
    func persistence() throws {
        let vectors = Self.clustered(2000, dimensions: 64, clusters: 20, seed: 3)
        let index = HNSWIndex(dimensions: 64, parameters: .init(m: 8, efConstruction: 40))
        for (id, vector) in vectors.enumerated() { index.add(id: Int64(id) * 2, vector: vector) }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("xceptor-hnsw-\(UUID().uuidString).hnsw")
        defer { try? FileManager.default.removeItem(at: file) }
        try index.write(to: file, label: "model@150", key: 3998)

        let (loaded, header) = try HNSWIndex.read(from: file)
        #expect(
            header
                == HNSWIndex.FileHeader(
                    label: "model@150", key: 3998, count: 2000, dimensions: 64, parameters: .init(m: 8, efConstruction: 40)))
        #expect(try HNSWIndex.header(of: file) == header)
        for query in vectors.prefix(20) {
            #expect(loaded.search(query, k: 5, ef: 32) == index.search(query, k: 5, ef: 32))
        }

        // The read index scans its own (mapped) vectors exactly as a matrix of them is scanned.
        var matrix = VectorMatrix(dimensions: 64)
        for (id, vector) in vectors.enumerated() { matrix.append(id: Int64(id) * 2, vector: vector) }
        for query in vectors.suffix(5) {
            #expect(loaded.exactSearch(query, k: 7).map(\.id) == (try ExactSearch.search(matrix, query: query, k: 7)).map(\.id))
        }
        // A newer index renamed over the file does not disturb one already open: it keeps its snapshot.
        let before = vectors.prefix(5).map { loaded.search($0, k: 5, ef: 32) }
        let other = HNSWIndex(dimensions: 64, parameters: .init(m: 8, efConstruction: 40))
        for (id, vector) in vectors.suffix(100).enumerated() { other.add(id: Int64(id), vector: vector) }
        try other.write(to: file, label: "model@150", key: 99)
        #expect(vectors.prefix(5).map { loaded.search($0, k: 5, ef: 32) } == before)
        #expect(try HNSWIndex.header(of: file).count == 100)

        var bytes = try Data(contentsOf: file)
        bytes.removeLast(10)
        try bytes.write(to: file)
        #expect { try HNSWIndex.read(from: file) } throws: { error in
            (error as? HNSWFileError)?.description.contains("is damaged (it ends early)") == true
        }
    }

    @Test(
        "an index whose header names impossible counts is refused, not trusted",
        arguments: [
            (24, UInt64.max),  // a node count past Int, then past Int32
            (24, UInt64(1) << 62),  // a count whose vector bytes overflow
            (32, UInt64(1) << 40),  // an entry point past Int32
            (32, UInt64(3000)),  // an entry point past the nodes
        ])
    func craftedHeader(offset: Int, value: UInt64) throws {
        let index = HNSWIndex(dimensions: 16, parameters: .init(m: 8, efConstruction: 40))
        for (id, vector) in Self.clustered(200, dimensions: 16, clusters: 4, seed: 5).enumerated() {
            index.add(id: Int64(id), vector: vector)
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("xceptor-hnsw-\(UUID().uuidString).hnsw")
        defer { try? FileManager.default.removeItem(at: file) }
        try index.write(to: file, label: "m", key: 1)
        var bytes = [UInt8](try Data(contentsOf: file))
        withUnsafeBytes(of: value.littleEndian) { bytes.replaceSubrange(offset..<offset + 8, with: $0) }
        try Data(bytes).write(to: file)
        for read in [{ _ = try HNSWIndex.read(from: file) }, { _ = try HNSWIndex.header(of: file) }] {
            #expect { try read() } throws: { error in
                (error as? HNSWFileError)?.description.contains("is damaged (its header is out of range)") == true
            }
        }
    }

    @Test(
        "fuzzing's findings: an upper-layer link to a node without that layer is refused",
        arguments: ["index-upper-link-to-lower-node-1.hnsw", "index-upper-link-to-lower-node-2.hnsw"])
    func fuzzFindings(name: String) throws {
        // Found by Fuzz/run-formats.sh: adding a vector walked the link and read the node's missing run.
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../Fixtures/crafted/\(name)")
        #expect { try HNSWIndex.read(from: file) } throws: { error in
            (error as? HNSWFileError)?.description.contains("is damaged (a link points outside the index)") == true
        }
    }

    @Test("vectors added after a reload are found: the index grows incrementally")
    func incremental() throws {
        let vectors = Self.clustered(1200, dimensions: 32, clusters: 10, seed: 11)
        let first = HNSWIndex(dimensions: 32, parameters: .init(m: 8, efConstruction: 40))
        for (id, vector) in vectors.prefix(1000).enumerated() { first.add(id: Int64(id), vector: vector) }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("xceptor-hnsw-\(UUID().uuidString).hnsw")
        defer { try? FileManager.default.removeItem(at: file) }
        try first.write(to: file, label: "m", key: 999)

        let (index, _) = try HNSWIndex.read(from: file)
        vectors.suffix(200).flatMap { $0 }.withUnsafeBufferPointer {
            index.add(ids: (1000..<1200).map(Int64.init), vectors: $0, threads: 2)
        }
        #expect(index.count == 1200)
        try Self.checkGraph(index)
        var found = 0
        for (offset, vector) in vectors.suffix(200).enumerated() where index.search(vector, k: 1, ef: 32).first?.id == Int64(1000 + offset)
        {
            found += 1
        }
        #expect(found >= 195, "each new vector finds itself: \(found) of 200")
    }
}
