import Fetch
import Foundation
import Queue
import Search
import Xception

/// Similarity search over a store's embeddings, end to end: it resolves the query (an image, a URL, a job or
/// a vector) to a vector, picks the index or an exact scan, notices a stale index, applies filters inside
/// the search, and describes each result. The command line and the HTTP server both call `search`.
public final class SearchService: Sendable {
    public let store: any ResultStore
    /// The HNSW index beside the store, if one was built.
    public let indexFile: URL
    private let embedder: (any QueryEmbedder)?
    private let fetchConfiguration: FetchConfiguration
    /// What earlier searches read, kept for the next ones (a server's searches read only what is new).
    private let vectors = VectorCache()
    private let indexes = IndexCache()

    /// - Parameters:
    ///   - embedder: embeds image and URL queries; nil if only job and vector queries will come.
    ///   - fetchConfiguration: how a URL query that no job fetched is downloaded.
    public init(
        store: any ResultStore, indexFile: URL, embedder: (any QueryEmbedder)? = nil,
        fetchConfiguration: FetchConfiguration = FetchConfiguration()
    ) {
        self.store = store
        self.indexFile = indexFile
        self.embedder = embedder
        self.fetchConfiguration = fetchConfiguration
    }

    /// The model whose embeddings a search uses: `preferred` if given, else the only one stored, else the
    /// embedder's model at its trained size.
    public func model(preferred: String? = nil) async throws -> String {
        try model(preferred: preferred, among: try await store.embeddingModels())
    }

    private func model(preferred: String?, among models: [String: Int]) throws -> String {
        if let preferred {
            guard models[preferred] != nil else { throw RetrievalError.unknownModel(preferred, stored: models.keys.sorted()) }
            return preferred
        }
        if models.count == 1, let only = models.keys.first { return only }
        if models.isEmpty { throw RetrievalError.noEmbeddings }
        if let embedder, let size = try? embedder.defaultInputSize(), let own = try? embedder.modelID(inputSize: size),
            models[own] != nil
        {
            return own
        }
        throw RetrievalError.severalModels(models.keys.sorted())
    }

    /// Loads what searches read (the model's vectors, or the index and what came after it) before the first
    /// search asks, so a server is ready when it says so. A store without embeddings has nothing to load.
    public func warmUp() async throws {
        guard let modelID = try? await model() else { return }
        if let (_, header) = try indexes.index(at: indexFile), header.label == modelID {
            _ = try await vectors.vectors(.init(modelID: modelID, after: header.key), store: store, dimensions: nil)
        } else {
            _ = try await vectors.vectors(.init(modelID: modelID, after: nil), store: store, dimensions: nil)
        }
    }

    public func search(_ request: SearchRequest) async throws -> SearchResponse {
        guard request.k >= 1 else { throw RetrievalError.invalidRequest("k must be at least 1, got \(request.k)") }
        guard request.indexThreshold >= 0 else { throw RetrievalError.invalidRequest("the index threshold cannot be negative") }
        if let ef = request.ef, ef < 1 { throw RetrievalError.invalidRequest("ef must be at least 1, got \(ef)") }
        let modelID = try model(preferred: request.modelID, among: try await store.embeddingModels())
        let query = try await vector(for: request.query, modelID: modelID)
        let accept = try await acceptance(request.filter, modelID: modelID)

        var warnings: [SearchWarning] = []
        var found: (neighbors: [Neighbor], method: SearchMethod)?
        // The store's count is read after the vectors: workers storing meanwhile only make it larger, so vectors
        // that outnumber it mean some were purged (an index holding them would answer with images that are gone).
        let storedNow = { [store] in try await store.embeddingModels()[modelID] ?? 0 }
        if let (index, header) = try indexes.index(at: indexFile), header.label == modelID {
            let tail = try await vectors.vectors(.init(modelID: modelID, after: header.key), store: store, dimensions: query.count)
            if header.count + tail.reduce(0, { $0 + $1.count }) <= (try await storedNow()) {
                found = try searchIndex(index, header: header, tail: tail, query: query, request: request, accept: accept)
            } else {
                warnings.append(.indexHoldsPurgedEmbeddings(path: indexFile.path))
            }
        }
        if found == nil {
            let all = try await vectors.vectors(
                .init(modelID: modelID, after: nil), store: store, dimensions: query.count, storedNow: storedNow)
            found = (try Self.exact(all, query: query, k: request.k, accept: accept), .exact)
        }
        let kept = found!.neighbors.filter { $0.score >= (request.minScore ?? -.infinity) }
        let summaries = try await store.imageSummaries(kept.map(\.id), modelID: modelID)
        let hits = kept.compactMap { neighbor -> SearchHit? in
            guard let summary = summaries[neighbor.id] else { return nil }
            return SearchHit(
                job: summary.jobID, url: summary.url, image: neighbor.id, score: neighbor.score,
                labels: summary.labels, sameBytes: summary.sameBytes)
        }
        return SearchResponse(model: modelID, method: found!.method, results: hits, warnings: warnings)
    }

    /// The index (mapped, not read), or its copy of the vectors, plus an exact scan of what was stored after
    /// its last update. Below the threshold, or when asked, the scan is exact over both.
    private func searchIndex(
        _ index: HNSWIndex, header: HNSWIndex.FileHeader, tail: [VectorMatrix], query: [Float], request: SearchRequest,
        accept: (@Sendable (Int64) -> Bool)?
    ) throws -> (neighbors: [Neighbor], method: SearchMethod) {
        guard query.count == index.dimensions else {
            throw RetrievalError.dimensionMismatch(query: query.count, stored: index.dimensions)
        }
        let recent = try Self.exact(tail, query: query, k: request.k, accept: accept)
        if request.exact || header.count < request.indexThreshold {
            return (Neighbor.best(request.k, of: index.exactSearch(query, k: request.k, accept: accept) + recent), .exact)
        }
        let ef = max(request.ef ?? 64, 2 * request.k)
        return (Neighbor.best(request.k, of: index.search(query, k: request.k, ef: ef, accept: accept) + recent), .index)
    }

    /// Every segment scanned, the best k of them all.
    private static func exact(_ segments: [VectorMatrix], query: [Float], k: Int, accept: (@Sendable (Int64) -> Bool)?) throws -> [Neighbor]
    {
        Neighbor.best(k, of: try segments.flatMap { try ExactSearch.search($0, query: query, k: k, accept: accept) })
    }

    /// The images a filter lets through, as a test the search applies to every candidate; nil for no filter.
    private func acceptance(_ filter: ResultFilter, modelID: String) async throws -> (@Sendable (Int64) -> Bool)? {
        guard !filter.isEmpty else { return nil }
        let allowed = try await store.imageIDs(matching: filter, modelID: modelID)
        return { allowed.contains($0) }
    }

    /// The query as a vector comparable with `modelID`'s embeddings.
    private func vector(for query: SearchRequest.Query, modelID: String) async throws -> [Float] {
        switch query {
        case let .job(id):
            guard let result = try await store.result(forJob: id, modelID: modelID) else {
                throw RetrievalError.noEmbedding(job: id, modelID: modelID)
            }
            return result.embedding
        case let .vector(values):
            guard !values.isEmpty else { throw RetrievalError.badQueryVector("it has no values") }
            guard values.allSatisfy(\.isFinite) else { throw RetrievalError.badQueryVector("it has values that are not finite numbers") }
            return values
        case let .url(given):
            // The rules `enqueue` applies: an absolute http(s) URL, normalised.
            let url: String
            switch JobURL.normalize(given) {
            case let .success(normalized): url = normalized
            case let .failure(rejection): throw RetrievalError.badURL(url: given, reason: "\(rejection)")
            }
            if let stored = try await store.result(forURL: url, modelID: modelID) { return stored.embedding }
            let fetcher = Fetcher(configuration: fetchConfiguration)
            defer { fetcher.shutdown() }
            let bytes: [UInt8]
            do {
                bytes = try await fetcher.fetch(url).body
            } catch let failure as FetchFailure where [.privateAddress, .badScheme, .invalidURL, .optOut].contains(failure.reason) {
                throw RetrievalError.badURL(url: url, reason: failure.message)
            } catch {
                throw RetrievalError.fetchFailed(url: url, reason: "\(error)")
            }
            return try await embed(bytes, modelID: modelID)
        case let .image(bytes):
            return try await embed(bytes, modelID: modelID)
        }
    }

    /// Embedded as the stored ones were: by the same weights, at the same input size.
    private func embed(_ bytes: [UInt8], modelID: String) async throws -> [Float] {
        guard let embedder else { throw RetrievalError.modelRequired }
        let size = try ModelFile.inputSize(ofIdentifier: modelID) ?? embedder.defaultInputSize()
        let available = try embedder.modelID(inputSize: size)
        guard available == modelID else { throw RetrievalError.modelMismatch(stored: modelID, available: available) }
        return try await embedder.embed(bytes, inputSize: size)
    }
}

extension SearchService {
    /// Where the index of a store at `location` lives: beside a SQLite file, `FILE.hnsw`.
    public static func indexFile(forStoreAt location: String) -> URL {
        let path = location.hasPrefix("sqlite:") ? String(location.dropFirst("sqlite:".count)) : location
        return URL(fileURLWithPath: path + ".hnsw")
    }
}
