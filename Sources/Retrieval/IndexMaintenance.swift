import Foundation
import Queue
import Search

/// Building, updating and describing the HNSW index beside a store.
public struct IndexMaintenance: Sendable {
    public let search: SearchService
    /// Threads that insert embeddings.
    public var threads: Int

    public init(search: SearchService, threads: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.search = search
        self.threads = max(1, threads)
    }

    /// What a build or an update did.
    public struct Report: Sendable, Equatable, Encodable {
        public var file: String
        public var model: String
        /// Embeddings added now.
        public var added: Int
        /// Embeddings the index holds.
        public var indexed: Int
        public var seconds: Double
    }

    /// What the index covers and how far behind the store it is.
    public struct Status: Sendable, Equatable, Encodable {
        public var file: String
        public var exists: Bool
        public var model: String?
        public var indexed: Int
        public var dimensions: Int?
        public var m: Int?
        public var efConstruction: Int?
        /// Embeddings stored since the index was last brought up to date (searched exactly meanwhile).
        public var behind: Int

        private enum CodingKeys: String, CodingKey {
            case file, exists, model, indexed, dimensions, m, behind
            case efConstruction = "ef_construction"
        }
    }

    /// Builds the index afresh from every stored embedding of the model and renames it into place.
    public func build(parameters: HNSWIndex.Parameters = HNSWIndex.Parameters(), modelID preferred: String? = nil) async throws -> Report {
        let modelID = try await search.model(preferred: preferred)
        let start = ContinuousClock.now
        let (vectors, last) = try await rawRows(modelID: modelID, after: nil)
        let index = HNSWIndex(dimensions: max(vectors.dimensions, 1), parameters: parameters)
        add(vectors, to: index)
        try index.write(to: search.indexFile, label: modelID, key: last ?? 0)
        return Report(file: search.indexFile.path, model: modelID, added: index.count, indexed: index.count, seconds: seconds(since: start))
    }

    /// Adds the embeddings stored since the index was last built or updated.
    public func update() async throws -> Report {
        guard FileManager.default.fileExists(atPath: search.indexFile.path) else {
            throw RetrievalError.noIndex(path: search.indexFile.path)
        }
        let start = ContinuousClock.now
        let (index, header) = try HNSWIndex.read(from: search.indexFile)
        let (tail, last) = try await rawRows(modelID: header.label, after: header.key)
        if let last {
            guard tail.dimensions == index.dimensions else {
                throw RetrievalError.dimensionMismatch(query: index.dimensions, stored: tail.dimensions)
            }
            add(tail, to: index)
            try index.write(to: search.indexFile, label: header.label, key: last)
        }
        return Report(
            file: search.indexFile.path, model: header.label, added: tail.count, indexed: index.count, seconds: seconds(since: start))
    }

    public func status() async throws -> Status {
        let file = search.indexFile.path
        guard FileManager.default.fileExists(atPath: file) else {
            return Status(file: file, exists: false, indexed: 0, behind: 0)
        }
        let header = try HNSWIndex.header(of: search.indexFile)
        var behind = 0
        try await StoredVectors.forEachPage(search.store, modelID: header.label, after: header.key) { behind += $0.count }
        return Status(
            file: file, exists: true, model: header.label, indexed: header.count, dimensions: header.dimensions,
            m: header.parameters.m, efConstruction: header.parameters.efConstruction, behind: behind)
    }

    /// The embeddings as stored (the index normalises what it adds), and the last image id among them.
    private func rawRows(modelID: String, after: Int64?) async throws -> (StoredEmbeddings, Int64?) {
        var all = StoredEmbeddings()
        try await StoredVectors.forEachPage(search.store, modelID: modelID, after: after) { page in
            all.dimensions = page.dimensions
            all.imageIDs += page.imageIDs
            all.values += page.values
        }
        return (all, all.imageIDs.last)
    }

    private func add(_ rows: StoredEmbeddings, to index: HNSWIndex) {
        rows.values.withUnsafeBufferPointer { index.add(ids: rows.imageIDs, vectors: $0, threads: threads) }
    }

    private func seconds(since start: ContinuousClock.Instant) -> Double {
        Double((ContinuousClock.now - start) / .milliseconds(1)) / 1000
    }
}
