import Queue

/// One similarity search: what to search with, how many results, and which images may be among them.
public struct SearchRequest: Sendable, Equatable {
    /// What the results should resemble.
    public enum Query: Sendable, Equatable {
        /// An image file's bytes, embedded now.
        case image([UInt8])
        /// A URL: its stored embedding if a job fetched it, else fetched and embedded now.
        case url(String)
        /// A done job's stored embedding.
        case job(JobID)
        /// A vector of the stored embeddings' length (normalised here).
        case vector([Float])
    }

    public var query: Query
    /// How many results, at most.
    public var k: Int
    /// Conditions applied inside the search, so k passing images come back whenever k exist.
    public var filter: ResultFilter
    /// Results less similar than this (cosine) are left out.
    public var minScore: Float?
    /// Scan every stored embedding even when an index exists.
    public var exact: Bool
    /// Use the index from this many indexed embeddings on; below it, scan.
    public var indexThreshold: Int
    /// Candidates the index explores (default 64, or 2k if larger).
    public var ef: Int?
    /// The model whose embeddings to search (default: the only one stored, else the query embedder's).
    public var modelID: String?

    public init(
        query: Query, k: Int = 10, filter: ResultFilter = ResultFilter(), minScore: Float? = nil,
        exact: Bool = false, indexThreshold: Int = 10_000, ef: Int? = nil, modelID: String? = nil
    ) {
        self.query = query
        self.k = k
        self.filter = filter
        self.minScore = minScore
        self.exact = exact
        self.indexThreshold = indexThreshold
        self.ef = ef
        self.modelID = modelID
    }
}
