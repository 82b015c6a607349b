import Foundation

/// The results half of the store: what search, duplicates, export and the HTTP API read. Every driver
/// implements it beside `JobQueue`, checked by the same tests (`ResultStoreConformanceTests`).
///
/// Embeddings are stored once, as computed; whoever needs them at unit length (search) normalises them.
/// A job's result is its image's: it stays readable while the job is queued again for another model
/// (`JobQueue.requeue`), so "a job with a result" below means one that has stored an image, done or not.
public protocol ResultStore: Sendable {
    /// The stored result of a job, by `modelID` (nil: the most recent embedding of its image), or nil.
    func result(forJob id: JobID, modelID: String?) async throws -> StoredResult?

    /// The stored result of the job with this URL (normalised as `enqueue` does) by `modelID`, or nil.
    func result(forURL url: String, modelID: String?) async throws -> StoredResult?

    /// The models embeddings are stored under, with how many each.
    func embeddingModels() async throws -> [String: Int]

    /// Up to `limit` embeddings stored under `modelID` after `afterImageID` (from the start when nil), as
    /// computed, in image id order: one page of a search's or an index build's read.
    func embeddings(modelID: String, afterImageID: Int64?, limit: Int) async throws -> StoredEmbeddings

    /// The images with an embedding under `modelID` that pass `filter` (every condition of it).
    func imageIDs(matching filter: ResultFilter, modelID: String) async throws -> Set<Int64>

    /// The first job, its URL and the labels of each image, with the later jobs that served the same bytes
    /// (images no job refers to are left out).
    func imageSummaries(_ imageIDs: [Int64], modelID: String) async throws -> [Int64: ImageSummary]

    /// Up to `limit` jobs with a result after `afterJobID` (all from the start when nil), with their results under
    /// `modelID`, in job id order: a page of an export.
    func resultRows(modelID: String, afterJobID: JobID?, limit: Int) async throws -> [ResultRow]

    /// The small JPEG stored with an image, or nil.
    func thumbnail(imageID: Int64) async throws -> [UInt8]?

    /// How much room the store takes, and what for.
    func footprint() async throws -> StoreFootprint
}

extension ResultStore {
    /// The stored result of a job (its image's most recent embedding), or nil.
    public func result(forJob id: JobID) async throws -> StoredResult? { try await result(forJob: id, modelID: nil) }
}

/// Conditions on stored images, applied inside a search (not to its results), so a search with a filter
/// still finds the k best images that pass it.
public struct ResultFilter: Sendable, Equatable, Hashable {
    /// Only images whose best label is this.
    public var label: String?
    /// Only images a done job of which was enqueued with every one of these metadata values.
    public var metadata: [MetadataCondition]

    public init(label: String? = nil, metadata: [MetadataCondition] = []) {
        self.label = label
        self.metadata = metadata
    }

    public var isEmpty: Bool { label == nil && metadata.isEmpty }
}

/// `key=value` on a job's metadata: the top-level field `key` whose value, written as text, is `value`.
/// Strings compare by their text, numbers by how they were written (`5` is not `5.0`), and the literals
/// `true`, `false` and `null` match those JSON values.
public struct MetadataCondition: Sendable, Equatable, Hashable {
    public var key: String
    public var value: String

    public init(key: String, value: String) {
        self.key = key
        self.value = value
    }
}

/// Where a store's bytes go, for capacity planning (`xceptor status`).
public struct StoreFootprint: Sendable, Equatable, Codable {
    /// The whole store on disk (for SQLite the file and its write-ahead log).
    public var totalBytes: Int64
    /// Distinct images stored (each with its facts and thumbnail).
    public var images: Int
    /// Embeddings stored (one per image and model).
    public var embeddings: Int
    /// Bytes of embedding vectors and of thumbnails, as stored (without the database's own overhead).
    public var embeddingBytes: Int64
    public var thumbnailBytes: Int64

    private enum CodingKeys: String, CodingKey {
        case totalBytes = "total_bytes"
        case images, embeddings
        case embeddingBytes = "embedding_bytes"
        case thumbnailBytes = "thumbnail_bytes"
        case bytesPerImage = "bytes_per_image"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(totalBytes, forKey: .totalBytes)
        try container.encode(images, forKey: .images)
        try container.encode(embeddings, forKey: .embeddings)
        try container.encode(embeddingBytes, forKey: .embeddingBytes)
        try container.encode(thumbnailBytes, forKey: .thumbnailBytes)
        try container.encode(bytesPerImage, forKey: .bytesPerImage)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            totalBytes: try container.decode(Int64.self, forKey: .totalBytes), images: try container.decode(Int.self, forKey: .images),
            embeddings: try container.decode(Int.self, forKey: .embeddings),
            embeddingBytes: try container.decode(Int64.self, forKey: .embeddingBytes),
            thumbnailBytes: try container.decode(Int64.self, forKey: .thumbnailBytes))
    }

    public init(totalBytes: Int64, images: Int, embeddings: Int, embeddingBytes: Int64, thumbnailBytes: Int64) {
        self.totalBytes = totalBytes
        self.images = images
        self.embeddings = embeddings
        self.embeddingBytes = embeddingBytes
        self.thumbnailBytes = thumbnailBytes
    }

    /// The whole store divided by the images in it; nil while there are none.
    public var bytesPerImage: Int64? { images > 0 ? totalBytes / Int64(images) : nil }
}
