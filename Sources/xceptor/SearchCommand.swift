import ArgumentParser
import Fetch
import Foundation
import Queue
import Retrieval

struct SearchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "Find the stored images most similar to an image file, a URL, a job or a vector (cosine similarity).",
        discussion: """
            A query image that is not in the store is embedded on the fly with the same model at the same input size. \
            --label and --where filter inside the search, so k results come back whenever k images pass them. \
            The scan is exact (every stored embedding, on all cores) unless an HNSW index ('xceptor index build') \
            covers at least --index-threshold embeddings; then the index answers, together with an exact scan of \
            what was stored after it was last updated.

            With --json, one object: {"model", "method": "exact"|"index", "results": [{"job", "url", "image", \
            "score", "labels": [{"label", "score"}], "same_bytes": [{"job", "url"}]}]}, best first.
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

    @Option(
        name: .long,
        help: ArgumentHelp(
            "A query vector: a file of raw little-endian float32 or of a JSON array, or the JSON array itself ('[0.1, ...]').",
            valueName: "file|json"))
    var vector: String?

    @Option(name: .short, help: "Results to return.")
    var k = 10

    @Option(name: .long, help: "Only images whose best label is this.")
    var label: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Only images enqueued with this metadata value (repeatable; all must hold).",
            discussion:
                "KEY=VALUE compares the job's top-level metadata field KEY as text: strings by their text, numbers as written, true, false and null as such.",
            valueName: "key=value"))
    var `where`: [MetadataArgument] = []

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

    @Flag(name: .long, help: "Print one JSON object (shape above).")
    var json = false

    @Option(
        name: .long,
        help: "With several models in the store: read the one --model made at this input size (default: the model's own size).")
    var size: Int?

    func validate() throws {
        if let size, !(71...2048).contains(size) { throw ValidationError("--size must be 71-2048") }
        let given = [image != nil, url != nil, job != nil, vector != nil].filter { $0 }.count
        guard given == 1 else { throw ValidationError("give exactly one query: --image, --url, --job or --vector") }
        guard k >= 1 else { throw ValidationError("-k must be at least 1") }
        guard indexThreshold >= 0 else { throw ValidationError("--index-threshold cannot be negative") }
        if let ef, ef < 1 { throw ValidationError("--ef must be at least 1") }
        if let minScore, !(-1...1).contains(minScore) { throw ValidationError("--min-score must be between -1 and 1") }
    }

    func run() async throws {
        var fetch = FetchConfiguration()
        fetch.allowPrivateNetworks = allowPrivateNetworks
        let jobStore = try await store.open()
        let embedder = model.embedder()
        let service = SearchService(store: jobStore, indexFile: store.indexFile, embedder: embedder, fetchConfiguration: fetch)
        let request = SearchRequest(
            query: try query(), k: k, filter: ResultFilter(label: label, metadata: `where`.map(\.condition)),
            minScore: minScore, exact: exact, indexThreshold: indexThreshold, ef: ef,
            modelID: try await model.storedModelID(in: jobStore, size: size, embedder: embedder))
        let response = try await service.search(request)
        for warning in response.warnings {
            switch warning {
            case .indexHoldsPurgedEmbeddings: printWarning("\(warning): run 'xceptor index build'")
            }
        }
        if json {
            try printJSON(response)
            return
        }
        if response.results.isEmpty { print("no stored image matches") }
        for hit in response.results {
            let labels = hit.labels.prefix(3).map { "\($0.label) \(String(format: "%.2f", $0.score))" }.joined(separator: ", ")
            print(String(format: "%.4f  job %-6lld  ", hit.score, hit.job) + "\(FailureMessage.printable(hit.url))  [\(labels)]")
        }
    }

    private func query() throws -> SearchRequest.Query {
        if let job { return .job(job) }
        if let url { return .url(url) }
        if let image { return .image(try readFile(image, what: "the query image", limit: imageFileLimit)) }
        let path = vector!
        // The array itself may be given instead of a file that holds it.
        let inline = path.hasPrefix("[") && !FileManager.default.fileExists(atPath: path)
        let data = inline ? Data(path.utf8) : Data(try readFile(path, what: "the query vector", limit: 16 << 20))
        let shown = inline ? "the --vector value" : shortened(path)
        if data.first == UInt8(ascii: "[") {
            guard let numbers = try? JSONSerialization.jsonObject(with: data) as? [NSNumber] else {
                throw CommandFailure("\(shown) is not a JSON array of numbers")
            }
            return .vector(numbers.map(\.floatValue))
        }
        guard data.count % 4 == 0 else { throw CommandFailure("\(shown) is not whole float32 values (\(data.count) bytes)") }
        return .vector(data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) })
    }
}

/// A `--where KEY=VALUE` condition on job metadata.
struct MetadataArgument: ExpressibleByArgument {
    var condition: MetadataCondition

    init?(argument: String) {
        guard let equals = argument.firstIndex(of: "="), equals != argument.startIndex else { return nil }
        condition = MetadataCondition(key: String(argument[..<equals]), value: String(argument[argument.index(after: equals)...]))
    }
}
