import CSQLite
import Foundation
import Synchronization

/// The embedded job store: one SQLite file, shared safely by any number of processes on one host.
///
/// Settings, and why:
/// - `journal_mode=WAL`: readers (status, search) never block the writer, and the writer never blocks them.
/// - `synchronous=NORMAL`: in WAL mode this cannot corrupt the file; a power cut (not a crashed or killed
///   process) may lose the last few commits, which at worst re-runs a few jobs (writes are idempotent) or
///   loses an enqueue the user saw succeed an instant before the machine died. It saves an fsync per
///   commit, which is most of the cost of a small transaction.
/// - A busy handler: processes take turns at the single write lock instead of failing at once, polling
///   at sub-millisecond intervals (see `SQLiteConnection.setBusyTimeout`).
/// - `wal_autocheckpoint` of 4,000 pages (16 MiB of WAL): a checkpoint costs an fsync, and at SQLite's
///   default of 1,000 pages a busy queue paid one every ~100 transactions.
/// - `foreign_keys=ON`: jobs, images, embeddings and labels stay consistent (SQLite defaults it off).
/// - Writes use `BEGIN IMMEDIATE`, so two claimers queue for the lock rather than deadlock on an upgrade.
///
/// Where SQLite work runs: on the calling thread when the connection is free and the file's write lock
/// is uncontended (the common case, and a thread hop costs about as much as a small transaction), else on
/// the store's own serial queue, which waits for the lock. A wait for another process therefore never
/// blocks Swift's cooperative thread pool.
public final class SQLiteJobStore: JobQueue, ResultStore {
    public let path: String
    let configuration: QueueConfiguration
    private let connection: Mutex<SQLiteConnection>
    private let waitingQueue: DispatchQueue
    private let readers: ReaderConnections

    /// The schema version this build writes.
    public static var schemaVersion: Int { SQLiteMigrator().latestVersion }

    /// Opens the database at `path` (creating it when `create` is true) and brings its schema up to date.
    public init(path: String, create: Bool = true, configuration: QueueConfiguration = QueueConfiguration()) throws {
        guard create || FileManager.default.fileExists(atPath: path) else { throw QueueError.missing(location: path) }
        // A directory, a device or a pipe: SQLite's own words for these ("unable to open database file", "disk
        // I/O error" from /dev/null) do not say what is wrong.
        var info = stat()
        if stat(path, &info) == 0, info.st_mode & S_IFMT != S_IFREG {
            throw QueueError.notAFile(location: path, isDirectory: info.st_mode & S_IFMT == S_IFDIR)
        }
        self.path = path
        self.configuration = configuration
        waitingQueue = DispatchQueue(label: "xceptor.sqlite-job-store")
        readers = ReaderConnections(path: path, busyTimeoutMilliseconds: configuration.busyTimeoutMilliseconds)
        do {
            let db = try SQLiteConnection(path: path)
            db.setBusyTimeout(milliseconds: configuration.busyTimeoutMilliseconds)
            // Only reads until the file is known to be ours (or empty): WAL mode is written into the file.
            try SQLiteMigrator.checkOwnership(db)
            let mode = try db.first("PRAGMA journal_mode = WAL") { $0.text(0) }
            guard mode?.lowercased() == "wal" else {
                throw QueueError.cannotOpen(
                    location: path,
                    reason:
                        "the file system does not support SQLite's WAL mode (journal mode is \(mode ?? "unknown")); put the database on a local disk"
                )
            }
            try db.execute("PRAGMA synchronous = NORMAL")
            try db.execute("PRAGMA wal_autocheckpoint = 4000")
            try db.execute("PRAGMA foreign_keys = ON")
            try SQLiteMigrator().migrate(db, now: configuration.clock.now())
            connection = Mutex(db)
        } catch {
            throw Self.translate(error, path: path, busyTimeoutMilliseconds: configuration.busyTimeoutMilliseconds)
        }
    }

    // MARK: Enqueue

    public func enqueue(_ jobs: [NewJob]) async throws -> EnqueueCounts {
        try StoreInput.validate(jobs)
        let now = configuration.clock.now().storeMilliseconds
        return try await withConnection { db in
            try db.transaction {
                var counts = EnqueueCounts()
                for job in jobs {
                    let inserted = try db.run(
                        """
                        INSERT INTO jobs (url, priority, max_attempts, metadata, available_at, created_at, updated_at)
                        VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?5) ON CONFLICT (url) DO NOTHING
                        """,
                        [
                            .text(job.url), .integer(job.priority), .integer(job.maxAttempts),
                            .optionalText(job.metadataJSON), .integer(now),
                        ])
                    if inserted == 1 { counts.added += 1 } else { counts.duplicates += 1 }
                }
                return counts
            }
        }
    }

    // MARK: Leases

    public func claim(limit: Int, leaseSeconds: Double, owner: String) async throws -> [ClaimedJob] {
        try await complete([], thenClaim: limit, leaseSeconds: leaseSeconds, owner: owner).claimed
    }

    /// Claims inside the caller's transaction.
    private static func claim(_ db: SQLiteConnection, limit: Int, owner: String, now: Date, expiresAt: Date) throws -> [ClaimedJob] {
        try requeueExpiredLeases(db, now: now.storeMilliseconds)
        var claimed: [ClaimedJob] = []
        try db.query(
            """
            UPDATE jobs SET state = 'running', attempts = attempts + 1,
                lease_owner = ?1, lease_expires_at = ?2, updated_at = ?3
            WHERE id IN (
                SELECT id FROM jobs INDEXED BY jobs_claim_order
                WHERE state = 'queued' AND available_at <= ?3
                ORDER BY priority DESC, id LIMIT ?4)
            RETURNING id, url, attempts, max_attempts, priority, metadata
            """, [.text(owner), .integer(expiresAt.storeMilliseconds), .integer(now.storeMilliseconds), .integer(limit)]
        ) { row in
            claimed.append(
                ClaimedJob(
                    lease: JobLease(jobID: row.int64(0), owner: owner, attempt: row.int(2)),
                    url: row.text(1), priority: row.int(4), maxAttempts: row.int(3),
                    metadataJSON: row.optionalText(5), leaseExpiresAt: expiresAt))
        }
        // RETURNING gives no order guarantee; hand jobs out in claim order.
        return claimed.sorted { ($0.priority, $1.id) > ($1.priority, $0.id) }
    }

    public func heartbeat(_ leases: [JobLease], leaseSeconds: Double) async throws -> [JobLease] {
        guard !leases.isEmpty else { return [] }
        try StoreInput.validateLease(seconds: leaseSeconds, owner: leases[0].owner)
        let now = configuration.clock.now()
        let expiresAt = now.addingTimeInterval(leaseSeconds).storeMilliseconds
        return try await withConnection { db in
            try db.transaction {
                try leases.filter { lease in
                    try db.run(
                        "UPDATE jobs SET lease_expires_at = ?4, updated_at = ?5 WHERE \(Self.heldByLease)",
                        Self.fence(lease) + [.integer(expiresAt), .integer(now.storeMilliseconds)]) == 0
                }
            }
        }
    }

    public func release(_ leases: [JobLease], delaySeconds: Double) async throws -> Int {
        try StoreInput.validateDelay(seconds: delaySeconds)
        guard !leases.isEmpty else { return 0 }
        let now = configuration.clock.now().storeMilliseconds
        let available = configuration.clock.now().addingTimeInterval(delaySeconds).storeMilliseconds
        return try await withConnection { db in
            try db.transaction {
                try leases.reduce(0) { released, lease in
                    released
                        + (try db.run(
                            """
                            UPDATE jobs SET state = 'queued', attempts = attempts - 1, lease_owner = NULL,
                                lease_expires_at = NULL, available_at = ?5, updated_at = ?4
                            WHERE \(Self.heldByLease)
                            """, Self.fence(lease) + [.integer(now), .integer(available)]))
                }
            }
        }
    }

    // MARK: Outcomes

    public func complete(_ completions: [JobCompletion], thenClaim limit: Int, leaseSeconds: Double, owner: String) async throws
        -> (lost: [JobLease], claimed: [ClaimedJob])
    {
        for completion in completions { try completion.result.map(StoreInput.validate) }
        if limit > 0 { try StoreInput.validateLease(seconds: leaseSeconds, owner: owner) }
        guard !completions.isEmpty || limit > 0 else { return ([], []) }
        let now = configuration.clock.now()
        return try await withConnection { db in
            try db.transaction {
                var lost: [JobLease] = []
                for completion in completions {
                    guard try Self.holds(completion.lease, db) else {
                        lost.append(completion.lease)
                        continue
                    }
                    let imageID = try completion.result.map { try Self.store($0, db, now: now.storeMilliseconds) }
                    try db.run(
                        """
                        UPDATE jobs SET state = 'done', lease_owner = NULL, lease_expires_at = NULL,
                            image_id = ?1, last_error = NULL, error_class = NULL, http_status = NULL,
                            finished_at = ?2, updated_at = ?2
                        WHERE id = ?3
                        """, [imageID.map { .integer($0) } ?? .null, .integer(now.storeMilliseconds), .integer(completion.lease.jobID)])
                }
                guard limit > 0 else { return (lost, []) }
                return (lost, try Self.claim(db, limit: limit, owner: owner, now: now, expiresAt: now.addingTimeInterval(leaseSeconds)))
            }
        }
    }

    public func fail(_ lease: JobLease, _ failure: JobFailure) async throws -> JobState? {
        let now = configuration.clock.now()
        let policy = configuration.retryPolicy
        let unitRandom = configuration.unitRandom()
        return try await withConnection { db in
            try db.transaction {
                guard
                    let maxAttempts = try db.first(
                        "SELECT max_attempts FROM jobs WHERE \(Self.heldByLease)",
                        Self.fence(lease), { $0.int(0) })
                else { return nil }

                let state: JobState
                var availableAt = now
                switch failure.errorClass {
                case .permanent:
                    state = .failed
                case .transient where lease.attempt >= maxAttempts:
                    state = .dead
                case .transient:
                    state = .queued
                    availableAt = now.addingTimeInterval(
                        policy.delaySeconds(
                            afterFailedAttempts: lease.attempt, retryAfterSeconds: failure.retryAfterSeconds, unitRandom: unitRandom))
                }
                try db.run(
                    """
                    UPDATE jobs SET state = ?1, lease_owner = NULL, lease_expires_at = NULL,
                        last_error = ?2, error_class = ?3, http_status = ?4, available_at = ?5,
                        finished_at = ?6, updated_at = ?7
                    WHERE id = ?8
                    """,
                    [
                        .text(state.rawValue), .text(StoreInput.bounded(failure.message)), .text(failure.errorClass.rawValue),
                        .optionalInteger(failure.httpStatus), .integer(availableAt.storeMilliseconds),
                        state == .queued ? .null : .integer(now.storeMilliseconds), .integer(now.storeMilliseconds),
                        .integer(lease.jobID),
                    ])
                return state
            }
        }
    }

    // MARK: Inspection

    public func status() async throws -> QueueStatus {
        let now = configuration.clock.now().storeMilliseconds
        return try await withReader { db in
            // One read transaction: every figure comes from the same snapshot.
            try db.transaction(immediate: false) {
                let count = { (sql: String, bindings: [SQLiteValue]) in try db.first(sql, bindings) { $0.int(0) } ?? 0 }
                // Each state is counted with a literal `state = '...'`, so SQLite reads the partial index of
                // that phase (a table scan otherwise).
                var counts: [JobState: Int] = [:]
                for state in JobState.allCases {
                    counts[state] = try count("SELECT count(*) FROM jobs WHERE state = '\(state.rawValue)'", [])
                }
                let oldestQueued = try db.first(
                    """
                    SELECT created_at FROM jobs WHERE id = (SELECT min(id) FROM jobs WHERE state = 'queued')
                    """
                ) { $0.int64(0) }
                var topErrors: [QueueStatus.ErrorCount] = []
                try db.query(
                    """
                    SELECT error_class, coalesce(last_error, '(no message)'), count(*) FROM jobs
                    WHERE state IN ('failed', 'dead') GROUP BY 1, 2 ORDER BY 3 DESC, 2 LIMIT 5
                    """
                ) { row in
                    topErrors.append(
                        .init(
                            errorClass: row.optionalText(0).flatMap(ErrorClass.init(rawValue:)),
                            message: row.text(1), count: row.int(2)))
                }
                return QueueStatus(
                    counts: counts,
                    waitingForRetry: try count("SELECT count(*) FROM jobs WHERE state = 'queued' AND available_at > ?", [.integer(now)]),
                    expiredLeases: try count(
                        "SELECT count(*) FROM jobs WHERE state = 'running' AND lease_expires_at <= ?", [.integer(now)]),
                    oldestQueuedAgeSeconds: oldestQueued.map { Double(now - $0) / 1000 },
                    finishedLastMinute: try count(Self.finishedSinceSQL, [.integer(now - 60_000)]),
                    finishedLastTenMinutes: try count(Self.finishedSinceSQL, [.integer(now - 600_000)]),
                    topErrors: topErrors)
            }
        }
    }

    public func jobs(state: JobState?, afterID: JobID?, limit: Int) async throws -> [Job] {
        try await withReader { db in
            var jobs: [Job] = []
            try db.query(
                """
                SELECT \(Self.jobColumns) FROM jobs
                WHERE (?1 IS NULL OR state = ?1) AND id > ?2 ORDER BY id LIMIT ?3
                """, [.optionalText(state?.rawValue), .integer(afterID ?? 0), .integer(limit)]
            ) { jobs.append(Self.job(from: $0)) }
            return jobs
        }
    }

    public func job(id: JobID) async throws -> Job? {
        try await withReader { db in
            try db.first("SELECT \(Self.jobColumns) FROM jobs WHERE id = ?", [.integer(id)], Self.job(from:))
        }
    }

    public func storedResult(sha256: [UInt8], modelID: String) async throws -> JobResult? {
        try await withConnection { db in
            try db.transaction(immediate: false) {
                guard
                    var found = try db.first(
                        """
                        SELECT i.width, i.height, i.bytes, i.content_type, i.thumbnail, e.id, e.vector, e.precision
                        FROM images i JOIN embeddings e ON e.image_id = i.id
                        WHERE i.sha256 = ? AND e.model_id = ?
                        """, [.blob(sha256), .text(modelID)],
                        { row in
                            (
                                embeddingID: row.int64(5),
                                result: JobResult(
                                    image: ImageFacts(
                                        sha256: sha256, width: row.int(0), height: row.int(1), byteCount: row.int(2),
                                        contentType: row.optionalText(3), thumbnail: row.optionalBlob(4)),
                                    modelID: modelID, embedding: Self.floats(row.blob(6)), labels: [], precision: row.text(7))
                            )
                        })
                else { return nil }
                try db.query("SELECT label, score FROM labels WHERE embedding_id = ? ORDER BY rank", [.integer(found.embeddingID)]) { row in
                    found.result.labels.append(ScoredLabel(label: row.text(0), score: row.double(1)))
                }
                return found.result
            }
        }
    }

    public func job(url: String) async throws -> Job? {
        guard case let .success(normalized) = JobURL.normalize(url) else { return nil }
        return try await withReader { db in
            try db.first("SELECT \(Self.jobColumns) FROM jobs WHERE url = ?", [.text(normalized)], Self.job(from:))
        }
    }

    public func hasUnfinishedJobs() async throws -> Bool {
        try await withReader { db in
            try db.first(UnfinishedJobsQuery.sql) { $0.int(0) == 1 } ?? false
        }
    }

    // MARK: Administration

    public func retry(_ selection: JobSelection) async throws -> Int {
        try StoreInput.check(selection, takes: [.failed, .dead], "only failed or dead jobs can be retried")
        let now = configuration.clock.now().storeMilliseconds
        // A fresh set of attempts; the last error stays visible until the next attempt ends.
        return try await update(
            selection, eligible: "state IN ('failed', 'dead')",
            set: """
                state = 'queued', attempts = 0, available_at = ?1, finished_at = NULL, updated_at = ?1
                """, now: now)
    }

    public func requeue(_ selection: JobSelection, forModel modelID: String) async throws -> Int {
        try StoreInput.check(selection, takes: [.done], "only done jobs can be queued again for another model")
        let now = configuration.clock.now().storeMilliseconds
        // The earlier results stay: the job keeps its image, and the image its embeddings.
        let eligible = """
            state = 'done' AND NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.image_id = jobs.image_id AND e.model_id = ?3)
            """
        let assignments = "state = 'queued', attempts = 0, available_at = ?1, finished_at = NULL, updated_at = ?1"
        return try await withConnection { db in
            try db.transaction {
                switch selection {
                case let .ids(ids):
                    return try ids.reduce(0) { changed, id in
                        changed
                            + (try db.run(
                                "UPDATE jobs SET \(assignments) WHERE id = ?2 AND \(eligible)",
                                [.integer(now), .integer(id), .text(modelID)]))
                    }
                case .state:
                    return try db.run(
                        "UPDATE jobs SET \(assignments) WHERE ?2 IS NULL AND \(eligible)", [.integer(now), .null, .text(modelID)])
                }
            }
        }
    }

    public func cancel(_ selection: JobSelection) async throws -> Int {
        try StoreInput.check(selection, takes: [.queued], "only queued jobs can be cancelled")
        let now = configuration.clock.now().storeMilliseconds
        return try await update(
            selection, eligible: "state = 'queued'",
            set: """
                state = 'failed', last_error = 'cancelled by an operator', error_class = 'permanent',
                http_status = NULL, finished_at = ?1, updated_at = ?1
                """, now: now)
    }

    public func purgeDone(finishedBefore cutoff: Date) async throws -> PurgeCounts {
        let cutoffMilliseconds = cutoff.storeMilliseconds
        return try await withConnection { db in
            try db.transaction {
                let jobs = try db.run("DELETE FROM jobs WHERE state = 'done' AND finished_at < ?", [.integer(cutoffMilliseconds)])
                // Embeddings and labels go with their image (ON DELETE CASCADE).
                let images = try db.run("DELETE FROM images WHERE NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.image_id = images.id)")
                return PurgeCounts(jobs: jobs, images: images)
            }
        }
    }

    // MARK: Helpers

    private func update(_ selection: JobSelection, eligible: String, set assignments: String, now: Int64) async throws -> Int {
        try await withConnection { db in
            try db.transaction {
                switch selection {
                case let .ids(ids):
                    return try ids.reduce(0) { changed, id in
                        changed
                            + (try db.run("UPDATE jobs SET \(assignments) WHERE id = ?2 AND \(eligible)", [.integer(now), .integer(id)]))
                    }
                case let .state(state):
                    return try db.run(
                        "UPDATE jobs SET \(assignments) WHERE state = ?2 AND \(eligible)", [.integer(now), .text(state.rawValue)])
                }
            }
        }
    }

    /// Runs a read on a connection of its own (`ReaderConnections`), else, when all are busy, on the store's
    /// connection. WAL lets readers go on beside the writer and each other: on one connection a server's
    /// concurrent reads queued behind each other through the waiting queue (`GET /v1/jobs/{id}` at 4
    /// connections had its p99 at 10x its p50, against 2.6x for a route that reads nothing).
    func withReader<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
        let busyTimeout = configuration.busyTimeoutMilliseconds
        let reader: SQLiteConnection?
        do {
            reader = try readers.take()
        } catch {
            throw Self.translate(error, path: path, busyTimeoutMilliseconds: busyTimeout)
        }
        guard let reader else { return try await withConnection(body) }
        defer { readers.put(reader) }
        do {
            return try body(reader)
        } catch {
            throw Self.translate(error, path: path, busyTimeoutMilliseconds: busyTimeout)
        }
    }

    /// The store's own connection, for tests that inspect or inject per-connection settings.
    func withRawConnection<T: Sendable>(_ body: (SQLiteConnection) throws -> T) throws -> T {
        try connection.withLock { try body($0) }
    }

    /// Runs `body` with the connection and translates SQLite's errors into `QueueError`.
    ///
    /// `body` may run twice, so it must have no effect outside the database: the fast path gives up with
    /// SQLITE_BUSY when another process holds the write lock (at BEGIN, before anything is written, or
    /// with the transaction rolled back), and the waiting queue then runs it again.
    func withConnection<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
        let busyTimeout = configuration.busyTimeoutMilliseconds
        let fastPath: Result<T, Error>? = connection.withLockIfAvailable { db in
            db.setBusyTimeout(milliseconds: 0)
            defer { db.setBusyTimeout(milliseconds: busyTimeout) }
            return Result { try body(db) }
        }
        switch fastPath {
        case let .success(value)?:
            return value
        case let .failure(error as SQLiteError)? where error.primaryCode == SQLITE_BUSY:
            break  // contended: wait on the queue below
        case let .failure(error)?:
            throw Self.translate(error, path: path, busyTimeoutMilliseconds: busyTimeout)
        case nil:
            break  // another task of this process is using the connection
        }
        return try await withCheckedThrowingContinuation { continuation in
            waitingQueue.async {
                do {
                    continuation.resume(returning: try self.connection.withLock { try body($0) })
                } catch {
                    continuation.resume(throwing: Self.translate(error, path: self.path, busyTimeoutMilliseconds: busyTimeout))
                }
            }
        }
    }

    // Query plans: without ANALYZE statistics SQLite prefers the plain `jobs_state` index for
    // `state = 'queued'` and then sorts every queued row on each claim. `INDEXED BY` pins the claim to the
    // partial index already in claim order (and fails loudly, not slowly, if a migration ever drops it).

    /// Jobs whose lease ran out go back to the queue (their attempt is spent), or die if none are left.
    private static func requeueExpiredLeases(_ db: SQLiteConnection, now: Int64) throws {
        try db.run(
            """
            UPDATE jobs INDEXED BY jobs_lease_expiry SET
                state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'queued' END,
                last_error = 'the lease of ' || lease_owner || ' expired before the job finished (worker killed or stalled)',
                error_class = 'transient', http_status = NULL,
                finished_at = CASE WHEN attempts >= max_attempts THEN ?1 END,
                available_at = ?1, updated_at = ?1, lease_owner = NULL, lease_expires_at = NULL
            WHERE state = 'running' AND lease_expires_at <= ?1
            """, [.integer(now)])
    }

    /// The job is still running under this lease: the fencing condition of every call that takes a lease.
    /// Its parameters are always ?1 to ?3, bound by `fence`.
    private static let heldByLease = "id = ?1 AND state = 'running' AND lease_owner = ?2 AND attempts = ?3"

    private static func fence(_ lease: JobLease) -> [SQLiteValue] {
        [.integer(lease.jobID), .text(lease.owner), .integer(lease.attempt)]
    }

    private static func holds(_ lease: JobLease, _ db: SQLiteConnection) throws -> Bool {
        try db.first("SELECT 1 FROM jobs WHERE \(heldByLease)", fence(lease)) { _ in true } ?? false
    }

    /// Stores the image (once per content hash), its embedding by this model (once) and the labels.
    private static func store(_ result: JobResult, _ db: SQLiteConnection, now: Int64) throws -> Int64 {
        let image = result.image
        try db.run(
            """
            INSERT INTO images (sha256, width, height, bytes, content_type, thumbnail, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING
            """,
            [
                .blob(image.sha256), .integer(image.width), .integer(image.height), .integer(image.byteCount),
                .optionalText(image.contentType), .optionalBlob(image.thumbnail), .integer(now),
            ])
        guard let imageID = try db.first("SELECT id FROM images WHERE sha256 = ?", [.blob(image.sha256)], { $0.int64(0) }) else {
            throw SQLiteError(code: SQLITE_INTERNAL, message: "image row vanished inside its own transaction", sql: nil)
        }
        let inserted = try db.run(
            """
            INSERT INTO embeddings (image_id, model_id, dimensions, vector, created_at, precision)
            VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (image_id, model_id) DO NOTHING
            """,
            [
                .integer(imageID), .text(result.modelID), .integer(result.embedding.count),
                .blob(StoreInput.bytes(result.embedding)), .integer(now), .text(result.precision),
            ])
        if inserted == 1 {
            let embeddingID =
                try db.first(
                    "SELECT id FROM embeddings WHERE image_id = ? AND model_id = ?",
                    [.integer(imageID), .text(result.modelID)]
                ) { $0.int64(0) } ?? 0
            for (rank, label) in result.labels.enumerated() {
                try db.run(
                    "INSERT INTO labels (embedding_id, rank, label, score) VALUES (?, ?, ?, ?)",
                    [.integer(embeddingID), .integer(rank), .text(label.label), .real(label.score)])
            }
        }
        return imageID
    }

    static func floats(_ bytes: [UInt8]) -> [Float] {
        bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    private static let finishedSinceSQL = """
        SELECT count(*) FROM jobs WHERE state IN ('done', 'failed', 'dead') AND finished_at >= ?
        """

    static let jobColumns = """
        id, url, state, priority, attempts, max_attempts, available_at, lease_owner, lease_expires_at,
        last_error, error_class, http_status, metadata, image_id, created_at, updated_at, finished_at
        """

    static func job(from row: SQLiteRow) -> Job {
        Job(
            id: row.int64(0), url: row.text(1), state: JobState(rawValue: row.text(2)) ?? .failed,
            priority: row.int(3), attempts: row.int(4), maxAttempts: row.int(5),
            availableAt: Date(storeMilliseconds: row.int64(6)), leaseOwner: row.optionalText(7),
            leaseExpiresAt: row.optionalInt64(8).map(Date.init(storeMilliseconds:)),
            lastError: row.optionalText(9), errorClass: row.optionalText(10).flatMap(ErrorClass.init(rawValue:)),
            httpStatus: row.optionalInt(11), metadataJSON: row.optionalText(12), imageID: row.optionalInt64(13),
            createdAt: Date(storeMilliseconds: row.int64(14)), updatedAt: Date(storeMilliseconds: row.int64(15)),
            finishedAt: row.optionalInt64(16).map(Date.init(storeMilliseconds:)))
    }

    /// Maps SQLite's result codes onto errors that say what to do.
    static func translate(_ error: Error, path: String, busyTimeoutMilliseconds: Int) -> Error {
        guard let error = error as? SQLiteError else { return error }
        switch error.primaryCode {
        case SQLITE_BUSY, SQLITE_LOCKED:
            return QueueError.busy(location: path, timeoutMilliseconds: busyTimeoutMilliseconds)
        case SQLITE_FULL:
            return QueueError.diskFull(location: path)
        case SQLITE_READONLY:
            return QueueError.readOnly(location: path)
        case SQLITE_NOTADB, SQLITE_CORRUPT:
            return QueueError.corrupt(location: path, reason: error.message)
        case SQLITE_CANTOPEN:
            let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
            let reason =
                FileManager.default.fileExists(atPath: directory)
                ? "SQLite could not open or create the file (\(error.message))"
                : "the directory \(directory) does not exist"
            return QueueError.cannotOpen(location: path, reason: reason)
        default:
            return QueueError.database(location: path, message: error.description)
        }
    }
}
