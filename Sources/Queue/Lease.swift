import Foundation

/// Proof that a worker holds a job: the owner and the attempt number act as a fencing token, so a
/// worker whose lease expired and was re-claimed cannot complete or fail the newer attempt.
public struct JobLease: Sendable, Hashable {
    public var jobID: JobID
    public var owner: String
    public var attempt: Int

    public init(jobID: JobID, owner: String, attempt: Int) {
        self.jobID = jobID
        self.owner = owner
        self.attempt = attempt
    }
}

/// A job handed to a worker by `claim`.
public struct ClaimedJob: Sendable, Equatable {
    public var lease: JobLease
    public var url: String
    public var priority: Int
    public var maxAttempts: Int
    public var metadataJSON: String?
    public var leaseExpiresAt: Date

    public init(lease: JobLease, url: String, priority: Int, maxAttempts: Int, metadataJSON: String?, leaseExpiresAt: Date) {
        self.lease = lease
        self.url = url
        self.priority = priority
        self.maxAttempts = maxAttempts
        self.metadataJSON = metadataJSON
        self.leaseExpiresAt = leaseExpiresAt
    }

    public var id: JobID { lease.jobID }
}
