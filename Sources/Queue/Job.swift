import Foundation

/// A job's identity in the store.
public typealias JobID = Int64

/// Where a job is in its life. `queued` and `running` are live; `done`, `failed` and `dead` are final.
public enum JobState: String, Sendable, CaseIterable, Codable {
    /// Waiting to be claimed (possibly not before `availableAt`, after a transient failure).
    case queued
    /// Claimed by a worker under a lease.
    case running
    /// Finished with its results stored.
    case done
    /// Stopped by a permanent error (or cancelled); retrying needs an operator.
    case failed
    /// Ran out of attempts on transient errors.
    case dead
}

/// How a failure should be treated by the queue.
public enum ErrorClass: String, Sendable, Codable {
    /// Worth retrying later (timeouts, resets, 5xx, 429): backoff until `maxAttempts`, then `dead`.
    case transient
    /// Retrying cannot help (404, not an image, refused address): `failed` at once.
    case permanent
}

/// A job as it is stored.
public struct Job: Sendable, Equatable {
    public var id: JobID
    public var url: String
    public var state: JobState
    public var priority: Int
    /// Attempts started so far; a claim counts one, a graceful release gives it back.
    public var attempts: Int
    public var maxAttempts: Int
    /// Not claimable before this instant (backoff after a transient failure).
    public var availableAt: Date
    public var leaseOwner: String?
    public var leaseExpiresAt: Date?
    public var lastError: String?
    public var errorClass: ErrorClass?
    public var httpStatus: Int?
    /// Extra input columns, as a JSON object.
    public var metadataJSON: String?
    /// The image this job produced, once done.
    public var imageID: Int64?
    public var createdAt: Date
    public var updatedAt: Date
    public var finishedAt: Date?

    public init(
        id: JobID, url: String, state: JobState, priority: Int, attempts: Int, maxAttempts: Int, availableAt: Date,
        leaseOwner: String?, leaseExpiresAt: Date?, lastError: String?, errorClass: ErrorClass?, httpStatus: Int?,
        metadataJSON: String?, imageID: Int64?, createdAt: Date, updatedAt: Date, finishedAt: Date?
    ) {
        self.id = id
        self.url = url
        self.state = state
        self.priority = priority
        self.attempts = attempts
        self.maxAttempts = maxAttempts
        self.availableAt = availableAt
        self.leaseOwner = leaseOwner
        self.leaseExpiresAt = leaseExpiresAt
        self.lastError = lastError
        self.errorClass = errorClass
        self.httpStatus = httpStatus
        self.metadataJSON = metadataJSON
        self.imageID = imageID
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.finishedAt = finishedAt
    }
}

/// A job to add to the queue.
public struct NewJob: Sendable, Equatable {
    /// An absolute http(s) URL, already validated and normalised (see `JobURL`).
    public var url: String
    public var priority: Int
    public var maxAttempts: Int
    /// Extra input columns kept with the job, as a JSON object.
    public var metadataJSON: String?

    public init(url: String, priority: Int = 0, maxAttempts: Int = QueueDefaults.maxAttempts, metadataJSON: String? = nil) {
        self.url = url
        self.priority = priority
        self.maxAttempts = maxAttempts
        self.metadataJSON = metadataJSON
    }
}

/// What an enqueue did.
public struct EnqueueCounts: Sendable, Equatable, Encodable {
    /// Jobs inserted.
    public var added: Int
    /// URLs already in the queue (or repeated within the batch), not inserted again.
    public var duplicates: Int

    public init(added: Int = 0, duplicates: Int = 0) {
        self.added = added
        self.duplicates = duplicates
    }
}
