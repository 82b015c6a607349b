import ArgumentParser
import Fetch
import Foundation
import Imaging
import Queue
import Search
import Xception

struct SearchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "Find the stored images most similar to an image file, a URL, a job or a vector (cosine similarity).",
        discussion: """
            A query image that is not in the store is embedded on the fly with the same model at the same input size. With --json: \
            {"results": [{"job", "url", "score", "labels": [{"label", "score"}]}]}, best first. The scan is exact \
            (every stored embedding, on all cores) unless an HNSW index ('xceptor index build') covers at least \
            --index-threshold embeddings; then the index answers, together with an exact scan of what was stored \
            after it was last updated. An exact scan reads the index file's copy of the vectors when there is one \
            (mapped, so it starts at once) and the store only for what came after.
            """
    )

    @OptionGroup var store: StoreOptions
    @OptionGroup var model: ModelOptions

    @Option(name: .long, help: ArgumentHelp("An image file to search with.", valueName: "file"))
    var image: String?

    @Option(name: .long, help: "An image URL: its stored embedding if a job fetched it, else fetched and embedded now.")
    var url: String?

    @Option(name: .long, help: ArgumentHelp("A done job whose image to search with.", valueName: "id"))
    var job: Int64?

    @Option(name: .long, help: ArgumentHelp("A file with a query vector: raw little-endian float32, or a JSON array.", valueName: "file"))
    var vector: String?

    @Option(name: .short, help: "Results to return.")
    var k = 10

    @Option(name: .long, help: "Only images whose best label is this.")
    var label: String?

    @Option(name: .long, help: "Only results at least this similar (cosine, -1 to 1).")
    var minScore: Float?

    @Flag(name: .long, help: "Scan every stored embedding even when an index exists.")
    var exact = false

    @Option(name: .long, help: "Use the index ('xceptor index build') from this many indexed embeddings on; below it, scan.")
    var indexThreshold = 10_000

    @Option(name: .long, help: "Candidates the index explores (default: 64, or 2k if larger); more is slower and more exact.")
    var ef: Int?

    @Flag(name: .long, help: "Allow --url on loopback and private addresses.")
    var allowPrivateNetworks = false

    @Flag(name: .long, help: "Print one JSON object.")
    var json = false

    func validate() throws {
        let given = [image != nil, url != nil, job != nil, vector != nil].filter { $0 }.count
        guard given == 1 else { throw ValidationError("give exactly one query: --image, --url, --job or --vector") }
        guard k >= 1 else { throw ValidationError("-k must be at least 1") }
    }

    func run() async throws {
        let jobStore = try store.open()
        let loader = ModelLoader(model)
        let modelID = try await SearchModel.resolve(jobStore, model: loader, location: store.location)
        let query = try await queryVector(jobStore, modelID: modelID, model: loader)
        let indexFile = SearchModel.indexFile(for: store.location)
        // An index of this model beside the database, mapped (not read) and only when it will serve.
        let header = (try? HNSWIndex.header(of: indexFile)).flatMap { $0.label == modelID ? $0 : nil }

        var neighbors: [Neighbor]?
        if let header, label == nil || !(exact || header.count < indexThreshold) {
            let (index, _) = try HNSWIndex.read(from: indexFile)
            let tail = try await jobStore.searchVectors(modelID: modelID, afterImageID: header.key)
            // An index that holds embeddings purged since would answer with images that are gone.
            let stored = try await jobStore.embeddingModels()[modelID] ?? 0
            if header.count + tail.imageIDs.count == stored {
                neighbors = try await indexSearch(index, header: header, tail: tail, query: query, jobStore: jobStore, modelID: modelID)
            } else {
                FileHandle.standardError.write(Data("""
                    \(indexFile.path) holds embeddings purged since it was built; scanning the store instead \
                    (run 'xceptor index build' to bring it up to date)\n
                    """.utf8))
            }
        }
        if neighbors == nil {
            let stored = try await jobStore.searchVectors(modelID: modelID, afterImageID: nil)
            try SearchModel.check(query, against: stored.dimensions)
            var accept: (@Sendable (Int64) -> Bool)?
            if let label {
                let allowed = Set(zip(stored.imageIDs, stored.topLabels).filter { $0.1 == label }.map(\.0))
                accept = { allowed.contains($0) }
            }
            neighbors = try ExactSearch.search(SearchModel.matrix(stored, dimensions: stored.dimensions), query: query, k: k, accept: accept)
        }
        let kept = (neighbors ?? []).filter { $0.score >= (minScore ?? -.infinity) }
        let summaries = try await jobStore.imageSummaries(kept.map(\.id), modelID: modelID)

        if json {
            printJSON(["results": kept.compactMap { neighbor -> [String: Any]? in
                guard let summary = summaries[neighbor.id] else { return nil }
                return ["job": summary.jobID, "url": summary.url, "score": Double(neighbor.score),
                        "labels": summary.labels.map { ["label": $0.label, "score": $0.score] as [String: Any] }]
            }])
            return
        }
        if kept.isEmpty { print("no stored image matches") }
        for neighbor in kept {
            guard let summary = summaries[neighbor.id] else { continue }
            let labels = summary.labels.prefix(3).map { "\($0.label) \(String(format: "%.2f", $0.score))" }.joined(separator: ", ")
            print(String(format: "%.4f  job %-6lld  ", neighbor.score, summary.jobID) + "\(summary.url)  [\(labels)]")
        }
    }

    /// The index, or its copy of the vectors, plus an exact scan of what was stored after its last update.
    private func indexSearch(_ index: HNSWIndex, header: HNSWIndex.FileHeader, tail: SearchVectors, query: [Float],
                             jobStore: any JobStore, modelID: String) async throws -> [Neighbor] {
        try SearchModel.check(query, against: index.dimensions)
        let recent = SearchModel.matrix(tail, dimensions: index.dimensions)
        if exact || header.count < indexThreshold {
            return Neighbor.best(k, of: index.exactSearch(query, k: k) + (try ExactSearch.search(recent, query: query, k: k)))
        }
        // With --label, ten times the candidates, kept if their best label matches.
        let wanted = label == nil ? k : 10 * k
        let candidates = try index.search(query, k: wanted, ef: max(ef ?? 64, 2 * wanted), tail: recent)
        guard let label else { return candidates }
        let described = try await jobStore.imageSummaries(candidates.map(\.id), modelID: modelID)
        return Array(candidates.filter { described[$0.id]?.labels.first?.label == label }.prefix(k))
    }

    private func queryVector(_ jobStore: any JobStore, modelID: String, model: ModelLoader) async throws -> [Float] {
        if let job {
            guard let result = try await jobStore.result(forJob: job) else {
                throw ValidationError("job \(job) has no stored embedding (is it done? 'xceptor jobs show \(job)')")
            }
            return result.embedding
        }
        if let vector {
            let data = try Data(contentsOf: URL(fileURLWithPath: vector))
            if data.first == UInt8(ascii: "[") {
                guard let numbers = try JSONSerialization.jsonObject(with: data) as? [NSNumber] else {
                    throw ValidationError("\(vector) is not a JSON array of numbers")
                }
                return numbers.map(\.floatValue)
            }
            guard data.count % 4 == 0 else { throw ValidationError("\(vector) is not whole float32 values (\(data.count) bytes)") }
            return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        }
        let bytes: [UInt8]
        if let url {
            if let known = try await jobStore.job(url: url), known.state == .done, let result = try await jobStore.result(forJob: known.id),
               result.modelID == modelID {
                return result.embedding
            }
            var configuration = FetchConfiguration()
            configuration.allowPrivateNetworks = allowPrivateNetworks
            let fetcher = Fetcher(configuration: configuration)
            defer { fetcher.shutdown() }
            do {
                bytes = try await fetcher.fetch(url).body
            } catch {
                throw ValidationError("could not fetch \(url): \(error)")
            }
        } else {
            bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: image!)))
        }
        // Embedded as the stored ones were: by the same weights, at the same input size.
        let weights = try model.weights()
        let size = SearchModel.inputSize(of: modelID) ?? weights.inputSize
        guard try ModelFile.identifier(model.path, inputSize: size) == modelID else {
            throw ValidationError("the stored embeddings were made by model \(modelID), not by \(model.path); pass that model with --model")
        }
        let input = try ImageDecoder().modelInput(from: bytes, size: size)
        return try model.network().predict([input], size: size)[0].embedding
    }
}
