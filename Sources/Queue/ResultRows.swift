/// A page of stored embeddings of one model, as computed (not normalised), in one contiguous block.
public struct StoredEmbeddings: Sendable {
    public var imageIDs: [Int64] = []
    public var dimensions = 0
    /// `imageIDs.count` rows of `dimensions` floats.
    public var values: [Float] = []

    public init() {}

    public var count: Int { imageIDs.count }
}

/// A done job by its id and URL.
public struct JobReference: Sendable, Equatable, Hashable, Codable {
    public var id: JobID
    public var url: String

    private enum CodingKeys: String, CodingKey {
        case id = "job"
        case url
    }

    public init(id: JobID, url: String) {
        self.id = id
        self.url = url
    }
}

/// What a person reading a search result wants to know about an image.
public struct ImageSummary: Sendable, Equatable {
    /// The first job that stored this image, and its URL.
    public var jobID: JobID
    public var url: String
    /// Best first.
    public var labels: [ScoredLabel]
    /// Later done jobs whose URLs served the same bytes (they share this image's embedding), by job id.
    public var sameBytes: [JobReference]

    public init(jobID: JobID, url: String, labels: [ScoredLabel], sameBytes: [JobReference] = []) {
        self.jobID = jobID
        self.url = url
        self.labels = labels
        self.sameBytes = sameBytes
    }
}

/// A done job with its stored result, as an export writes it.
public struct ResultRow: Sendable, Equatable {
    public var job: JobReference
    /// The extra input columns given at enqueue time (a JSON object), if any.
    public var metadata: String?
    public var imageID: Int64
    public var sha256: [UInt8]
    public var width: Int
    public var height: Int
    /// As computed, not normalised.
    public var embedding: [Float]
    /// Best first.
    public var labels: [ScoredLabel]

    public init(
        job: JobReference, metadata: String?, imageID: Int64, sha256: [UInt8], width: Int, height: Int, embedding: [Float],
        labels: [ScoredLabel]
    ) {
        self.job = job
        self.metadata = metadata
        self.imageID = imageID
        self.sha256 = sha256
        self.width = width
        self.height = height
        self.embedding = embedding
        self.labels = labels
    }
}
