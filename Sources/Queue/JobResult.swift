import Foundation

/// Facts about the fetched image; one row per distinct content hash.
public struct ImageFacts: Sendable, Equatable {
    /// SHA-256 of the fetched bytes (32 bytes).
    public var sha256: [UInt8]
    public var width: Int
    public var height: Int
    public var byteCount: Int
    public var contentType: String?
    /// A small JPEG for people to look at.
    public var thumbnail: [UInt8]?

    public init(sha256: [UInt8], width: Int, height: Int, byteCount: Int, contentType: String? = nil, thumbnail: [UInt8]? = nil) {
        self.sha256 = sha256
        self.width = width
        self.height = height
        self.byteCount = byteCount
        self.contentType = contentType
        self.thumbnail = thumbnail
    }
}

/// A label with its probability.
public struct ScoredLabel: Sendable, Equatable, Codable {
    public var label: String
    public var score: Double

    public init(label: String, score: Double) {
        self.label = label
        self.score = score
    }
}

/// What a finished job stores: the image, its embedding by one model, and the top labels (best first).
public struct JobResult: Sendable, Equatable {
    public var image: ImageFacts
    public var modelID: String
    /// The embedding as computed (not normalised); the store keeps a normalised copy for search.
    public var embedding: [Float]
    public var labels: [ScoredLabel]
    /// The number format the network ran in ("fp32", "bf16", "int8"; one of `JobResult.precisions`).
    public var precision: String

    /// The number formats a store records.
    public static let precisions: Set<String> = ["fp32", "bf16", "int8"]

    public init(image: ImageFacts, modelID: String, embedding: [Float], labels: [ScoredLabel], precision: String = "fp32") {
        self.image = image
        self.modelID = modelID
        self.embedding = embedding
        self.labels = labels
        self.precision = precision
    }
}

/// A leased job finished successfully.
public struct JobCompletion: Sendable {
    public var lease: JobLease
    /// The rows to store with the state change; nil only for jobs whose work stores nothing (benchmarks).
    public var result: JobResult?

    public init(lease: JobLease, result: JobResult?) {
        self.lease = lease
        self.result = result
    }
}

/// A stored result, as read back for people (`jobs show`).
public struct StoredResult: Sendable, Equatable {
    public var imageID: Int64
    public var image: ImageFacts
    public var modelID: String
    public var embedding: [Float]
    public var labels: [ScoredLabel]
    /// The number format that made the embedding.
    public var precision: String

    public init(
        imageID: Int64, image: ImageFacts, modelID: String, embedding: [Float], labels: [ScoredLabel], precision: String = "fp32"
    ) {
        self.imageID = imageID
        self.image = image
        self.modelID = modelID
        self.embedding = embedding
        self.labels = labels
        self.precision = precision
    }
}
