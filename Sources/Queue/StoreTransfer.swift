import Foundation

/// The whole store read and written record by record: what `xceptor copy` moves from one store to another
/// (SQLite to PostgreSQL and back, several files into one). Every driver implements it beside `JobQueue`
/// and `ResultStore`, checked by the same tests (`StoreTransferConformanceTests`).
///
/// Records name images by content hash, never by a store's ids, so they merge into a store that already
/// holds images and jobs: an image whose hash is present is the same image, a job whose URL is present the
/// same job. Every import call is one transaction that also records how far the copy from `source` got, so
/// a copy that was stopped resumes where its last commit left it.
public protocol StoreTransfer: Sendable {
    /// Whether the store holds no job and no image: a copy into an empty store keeps the source's ids.
    func holdsNothing() async throws -> Bool

    /// How far an earlier copy from `source` got, or nil if none began.
    func transferCheckpoint(source: String) async throws -> TransferCheckpoint?

    /// Up to `limit` images after `afterImageID` (from the start when nil), in id order, each with all its
    /// embeddings and their labels.
    func imageRecords(afterImageID: Int64?, limit: Int) async throws -> [ImageRecord]

    /// The images with these content hashes (those the store lacks are left out).
    func imageRecords(sha256: [[UInt8]]) async throws -> [ImageRecord]

    /// Up to `limit` jobs after `afterJobID` (from the start when nil), in id order.
    func jobRecords(afterJobID: JobID?, limit: Int) async throws -> [JobRecord]

    /// The jobs with these URLs, exactly as stored (those the store lacks are left out).
    func jobRecords(urls: [String]) async throws -> [JobRecord]

    /// Adds the images this store lacks (by hash), the embeddings it lacks (by image and model) and the
    /// thumbnails it lacks, and records `checkpoint`, in one transaction. With `keepIDs`, an image keeps its
    /// record's id when that id is free.
    func importImages(_ records: [ImageRecord], keepIDs: Bool, checkpoint: TransferCheckpoint) async throws -> ImageImportTally

    /// Adds the jobs this store lacks (by URL), gives a job that has no result here the record's outcome when
    /// the record has one, and records `checkpoint`, in one transaction. A record's image must have been
    /// imported first. A running job arrives queued: its lease belongs to the other store's workers.
    func importJobs(_ records: [JobRecord], keepIDs: Bool, checkpoint: TransferCheckpoint) async throws -> TransferTally
}

/// An image as a copy moves it: its facts and thumbnail, and every embedding stored for it.
public struct ImageRecord: Sendable, Equatable {
    /// Its id in the store it was read from.
    public var id: Int64
    public var image: ImageFacts
    public var createdAt: Date
    /// In the order they were stored (a result read without a model is the newest embedding).
    public var embeddings: [EmbeddingRecord]

    public init(id: Int64, image: ImageFacts, createdAt: Date, embeddings: [EmbeddingRecord]) {
        self.id = id
        self.image = image
        self.createdAt = createdAt
        self.embeddings = embeddings
    }
}

/// One embedding of an image by one model, as computed, with its labels (best first).
public struct EmbeddingRecord: Sendable, Equatable {
    public var modelID: String
    public var vector: [Float]
    public var labels: [ScoredLabel]
    public var createdAt: Date
    /// The number format that made it (one of `JobResult.precisions`).
    public var precision: String

    public init(modelID: String, vector: [Float], labels: [ScoredLabel], createdAt: Date, precision: String = "fp32") {
        self.modelID = modelID
        self.vector = vector
        self.labels = labels
        self.createdAt = createdAt
        self.precision = precision
    }
}

/// A job as a copy moves it: every field, with its image named by content hash.
public struct JobRecord: Sendable, Equatable {
    /// `job.id` and `job.imageID` are the ids in the store it was read from.
    public var job: Job
    public var imageSHA256: [UInt8]?

    public init(job: Job, imageSHA256: [UInt8]?) {
        self.job = job
        self.imageSHA256 = imageSHA256
    }
}

/// How far a copy from one source got, recorded in the destination with every page it imports.
public struct TransferCheckpoint: Sendable, Equatable {
    /// The source as `JobStores.displayName` shows it (a SQLite file's absolute path, a PostgreSQL URL
    /// without its password).
    public var source: String
    /// Whether the destination was empty when this copy began, so records keep their ids.
    public var keepIDs: Bool
    /// The last image and job of the source imported so far (nil: none yet).
    public var afterImageID: Int64?
    public var afterJobID: JobID?
    /// Set when the last page was imported; a later copy from the same source starts over (merging).
    public var finished: Bool

    public init(source: String, keepIDs: Bool, afterImageID: Int64? = nil, afterJobID: JobID? = nil, finished: Bool = false) {
        self.source = source
        self.keepIDs = keepIDs
        self.afterImageID = afterImageID
        self.afterJobID = afterJobID
        self.finished = finished
    }
}

/// What an import of images did, to the images and to their embeddings.
public struct ImageImportTally: Sendable, Equatable {
    public var images = TransferTally()
    public var embeddings = TransferTally()

    public init(images: TransferTally = TransferTally(), embeddings: TransferTally = TransferTally()) {
        self.images = images
        self.embeddings = embeddings
    }
}

/// What one import call did.
public struct TransferTally: Sendable, Equatable, Codable {
    /// Records stored as new rows.
    public var added = 0
    /// Records already present (same hash, same URL, same embedding) and left as they were.
    public var present = 0
    /// Present jobs without a result that took the record's outcome; present images that gained a thumbnail.
    public var completed = 0

    public init(added: Int = 0, present: Int = 0, completed: Int = 0) {
        self.added = added
        self.present = present
        self.completed = completed
    }

    public static func += (total: inout TransferTally, page: TransferTally) {
        total.added += page.added
        total.present += page.present
        total.completed += page.completed
    }
}
