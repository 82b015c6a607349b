import Foundation

/// The queue half of the store: the state machine of jobs. SQLite (one file, many processes on one host)
/// is the embedded driver; PostgreSQL (many hosts) implements the same contract, checked by the same tests
/// (`JobQueueConformanceTests`).
///
/// Every state change happens in one transaction. Leases are fenced by `JobLease` (owner + attempt): a
/// call with a lease the store no longer honours changes nothing and reports the lease back as lost.
public protocol JobQueue: Sendable {
    /// Adds jobs in one transaction; URLs already present are counted as duplicates and left alone.
    func enqueue(_ jobs: [NewJob]) async throws -> EnqueueCounts

    /// Atomically moves up to `limit` available jobs (queued, `availableAt` passed; highest priority,
    /// then oldest) to running under a lease of `leaseSeconds` for `owner`, counting one attempt each.
    /// Jobs whose lease expired are first made claimable again (or dead, out of attempts).
    func claim(limit: Int, leaseSeconds: Double, owner: String) async throws -> [ClaimedJob]

    /// Extends the leases still held; returns the ones that were lost (expired and re-claimed, or finished).
    func heartbeat(_ leases: [JobLease], leaseSeconds: Double) async throws -> [JobLease]

    /// Marks jobs done and stores their results, then claims up to `limit` more as `claim` does, all in one
    /// transaction (on PostgreSQL, without results to store, in one statement): a worker that hands back
    /// finished jobs and takes new ones pays one commit and one round trip instead of two. Returns the
    /// leases that were lost (those jobs are left untouched, and their results are not written) and the
    /// jobs claimed; with `limit` 0 the lease arguments are not used.
    func complete(_ completions: [JobCompletion], thenClaim limit: Int, leaseSeconds: Double, owner: String) async throws
        -> (lost: [JobLease], claimed: [ClaimedJob])

    /// Records a failure: transient ones go back to the queue after a backoff until `maxAttempts`, then
    /// `dead`; permanent ones go to `failed` at once. Returns the job's new state, or nil if the lease was lost.
    func fail(_ lease: JobLease, _ failure: JobFailure) async throws -> JobState?

    /// Returns unfinished leased jobs to the queue without burning an attempt, claimable again after
    /// `delaySeconds` (0 at a graceful shutdown; longer for a job whose host asked for a pause).
    /// Returns how many were released.
    func release(_ leases: [JobLease], delaySeconds: Double) async throws -> Int

    /// What an earlier job stored for these image bytes and this model, or nil: a worker that fetches bytes
    /// already embedded reuses the result instead of running the network again.
    func storedResult(sha256: [UInt8], modelID: String) async throws -> JobResult?

    /// Counts, ages, throughput and the most common errors.
    func status() async throws -> QueueStatus

    /// Jobs in id order, optionally in one state, starting after `afterID`.
    func jobs(state: JobState?, afterID: JobID?, limit: Int) async throws -> [Job]

    /// One job, or nil.
    func job(id: JobID) async throws -> Job?

    /// The job for a URL (normalised as `enqueue` does), or nil.
    func job(url: String) async throws -> Job?

    /// Puts failed or dead jobs back in the queue with a fresh set of attempts; returns how many.
    func retry(_ selection: JobSelection) async throws -> Int

    /// Puts done jobs whose image has no embedding by `modelID` back in the queue with a fresh set of
    /// attempts, for a worker running that model; returns how many. Their earlier results stay readable (by
    /// job, URL, search and export) until they finish again, and after, until purged.
    func requeue(_ selection: JobSelection, forModel modelID: String) async throws -> Int

    /// Moves queued jobs to failed with the reason "cancelled"; returns how many.
    func cancel(_ selection: JobSelection) async throws -> Int

    /// Deletes done jobs finished before `cutoff`, and results no remaining job refers to.
    func purgeDone(finishedBefore cutoff: Date) async throws -> PurgeCounts

    /// Whether any job is queued (now or after a backoff) or running: a worker's `--until-empty` test.
    func hasUnfinishedJobs() async throws -> Bool
}

/// A store that holds both halves, the queue and the results its jobs produced, and can be copied whole.
/// Every driver is one.
public typealias JobStore = JobQueue & ResultStore & StoreTransfer

/// Which jobs an administrative command acts on.
public enum JobSelection: Sendable, Equatable {
    /// These jobs (those not in an eligible state are skipped).
    case ids([JobID])
    /// Every eligible job in this state.
    case state(JobState)
}

/// What a purge removed.
public struct PurgeCounts: Sendable, Equatable, Encodable {
    public var jobs: Int
    public var images: Int

    public init(jobs: Int, images: Int) {
        self.jobs = jobs
        self.images = images
    }
}

/// A snapshot of the queue for people and dashboards.
public struct QueueStatus: Sendable, Equatable {
    /// Jobs per state; every state is present.
    public var counts: [JobState: Int]
    /// Queued jobs waiting out a backoff after a transient failure.
    public var waitingForRetry: Int
    /// Running jobs whose lease has expired (their worker stopped); the next claim re-queues them.
    public var expiredLeases: Int
    /// Age of the oldest queued job, in seconds.
    public var oldestQueuedAgeSeconds: Double?
    /// Jobs finished (done, failed or dead) in the last minute and in the last ten minutes.
    public var finishedLastMinute: Int
    public var finishedLastTenMinutes: Int
    /// The most common errors on failed and dead jobs, most frequent first.
    public var topErrors: [ErrorCount]

    public init(
        counts: [JobState: Int], waitingForRetry: Int, expiredLeases: Int, oldestQueuedAgeSeconds: Double?,
        finishedLastMinute: Int, finishedLastTenMinutes: Int, topErrors: [ErrorCount]
    ) {
        self.counts = counts
        self.waitingForRetry = waitingForRetry
        self.expiredLeases = expiredLeases
        self.oldestQueuedAgeSeconds = oldestQueuedAgeSeconds
        self.finishedLastMinute = finishedLastMinute
        self.finishedLastTenMinutes = finishedLastTenMinutes
        self.topErrors = topErrors
    }

    public var total: Int { counts.values.reduce(0, +) }

    public struct ErrorCount: Sendable, Equatable {
        public var errorClass: ErrorClass?
        public var message: String
        public var count: Int

        public init(errorClass: ErrorClass?, message: String, count: Int) {
            self.errorClass = errorClass
            self.message = message
            self.count = count
        }
    }
}

/// A queue that can tell idle workers that jobs have arrived (PostgreSQL's LISTEN/NOTIFY), so that they
/// wait instead of polling; a queue without it is polled.
public protocol JobArrivals: Sendable {
    /// Returns when jobs may have been added since the call began, after `seconds` at the latest, or when
    /// the task is cancelled. A spurious return is allowed; an arrival announced just before the call may
    /// be noticed only at the timeout, so callers keep `seconds` short enough to poll by.
    func waitForJobs(upTo seconds: Double) async
}

extension JobQueue {
    /// Marks jobs done and stores their results, all in one transaction; returns the leases that were lost.
    /// Returns unfinished leased jobs to the queue at once, without burning an attempt.
    public func release(_ leases: [JobLease]) async throws -> Int {
        try await release(leases, delaySeconds: 0)
    }

    public func complete(_ completions: [JobCompletion]) async throws -> [JobLease] {
        try await complete(completions, thenClaim: 0, leaseSeconds: 0, owner: "").lost
    }
}
