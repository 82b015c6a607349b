import Foundation
import Logging
import PostgresNIO
import Queue
import Synchronization

/// The shared job store: one PostgreSQL database, used by workers and search hosts on many machines.
/// The same contract as the SQLite driver (`JobQueue`, `ResultStore`), checked by the same conformance suites.
///
/// How the queue stays fast under churn:
/// - Claims take queued rows with `FOR UPDATE SKIP LOCKED` from a partial index that holds queued rows only,
///   so concurrent claimers never wait for each other and finished jobs cost the claim nothing.
/// - A worker's claim carries its finished jobs (`complete(_:thenClaim:)`): without results to store, handing
///   back one batch and taking the next is one statement (one round trip, one commit); expired leases are
///   rescued by a claim at most once a second per process, not by every claim.
/// - The jobs table is vacuumed often: each state change leaves a dead row version (`bench queue` reports them).
/// - Every call is one statement, or one short transaction; nothing holds a transaction open between calls.
///
/// The connection pool (`PostgresClient`) runs in a task the store owns, from `open` until `shutdown`.
public final class PostgresJobStore: JobQueue, ResultStore, JobArrivals {
    public let location: PostgresLocation
    let client: PostgresClient
    let configuration: QueueConfiguration
    let logger: Logger
    private let runner: Task<Void, Never>
    private let announcements: JobAnnouncements
    private let running = StartFlag()
    private let lastRescue = Mutex<Int64>(Int64.min / 2)

    private final class StartFlag: Sendable {
        let started = Atomic<Bool>(false)
    }

    /// TCP keepalives from the server on an idle session (ignored on a Unix socket): a probe after 30 s of
    /// silence, and the session ends, its locks released, when a client host has been unreachable for a minute.
    static let tcpKeepalives = "-c tcp_keepalives_idle=30 -c tcp_keepalives_interval=10 -c tcp_keepalives_count=3"

    /// The schema version this build writes.
    public static var schemaVersion: Int { PostgresMigrator().latestVersion }

    /// Connects, and brings the schema up to date; with `create` false a database without xceptor's tables
    /// is an error rather than being filled. `maxConnections` bounds this process's share of the server.
    public static func open(
        _ location: PostgresLocation, create: Bool = true, configuration: QueueConfiguration = QueueConfiguration(),
        maxConnections: Int = 8, logger: Logger = Logger(label: "xceptor.postgres")
    ) async throws -> PostgresJobStore {
        // One direct connection first: a wrong password or a server that is down fails here at once and
        // clearly, where the pool would keep retrying for minutes. It also migrates.
        let now = configuration.clock.now().storeMilliseconds
        do {
            let connection = try await PostgresConnection.connect(
                on: PostgresClient.defaultEventLoopGroup.any(), configuration: try connectionSettings(location), id: 0, logger: logger
            ).get()
            do {
                try await PostgresMigrator().migrate(connection, location: location, create: create, now: now, logger: logger)
                try await connection.close()
            } catch {
                try? await connection.close()
                throw error
            }
        } catch {
            throw translate(error, location: location)
        }
        let store = PostgresJobStore(location: location, configuration: configuration, maxConnections: maxConnections, logger: logger)
        // The pool refuses no lease before it runs, but warns; wait for its task to start it.
        while !store.running.started.load(ordering: .acquiring) { await Task.yield() }
        return store
    }

    /// The settings of that first connection: the pool's, for one connection.
    private static func connectionSettings(_ location: PostgresLocation) throws -> PostgresConnection.Configuration {
        switch location.endpoint {
        case let .tcp(host, port):
            var tls = PostgresConnection.Configuration.TLS.disable
            if location.tlsMode != .disable {
                let context = try NIOSSLContext(configuration: tlsSettings(location.tlsMode))
                tls = location.tlsMode == .prefer ? .prefer(context) : .require(context)
            }
            var settings = PostgresConnection.Configuration(
                host: host, port: port, username: location.user, password: location.password, database: location.database, tls: tls)
            settings.options.connectTimeout = .seconds(10)
            return settings
        case let .unixSocket(path):
            return PostgresConnection.Configuration(
                unixSocketPath: path, username: location.user, password: location.password, database: location.database)
        }
    }

    private init(location: PostgresLocation, configuration: QueueConfiguration, maxConnections: Int, logger: Logger) {
        self.location = location
        self.configuration = configuration
        self.logger = logger
        var settings: PostgresClient.Configuration
        switch location.endpoint {
        case let .tcp(host, port):
            settings = PostgresClient.Configuration(
                host: host, port: port, username: location.user, password: location.password, database: location.database,
                tls: Self.tls(location.tlsMode))
        case let .unixSocket(path):
            settings = PostgresClient.Configuration(
                unixSocketPath: path, username: location.user, password: location.password, database: location.database)
        }
        settings.options.maximumConnections = max(1, maxConnections)
        settings.options.connectTimeout = .seconds(10)
        // No pool timers: the pool arms a keep-alive timer, and an idle timer for connections above the
        // minimum, each time a call hands its connection back, and cancels them at the next call: two child
        // tasks and two dispatch timers per round trip, 15-20% of a claiming process's CPU at 16 claimers
        // (`bench queue`). Idle connections are kept alive by the server's TCP keepalives instead (below),
        // which also keep a NAT's or a load balancer's state for a worker that waits on LISTEN for hours;
        // a connection the server closes leaves the pool at once either way.
        settings.options.minimumConnections = 1
        settings.options.keepAliveBehavior = nil
        // Bitmap scans off for this pool's sessions: with statistics that lag a burst of enqueues, the
        // planner claimed through a bitmap scan of the claim index plus a sort, which visits every dead
        // entry of every job claimed before (no index entry is ever marked dead by a bitmap scan), so each
        // claim cost more than the last. An ordered index scan stops after `limit` live rows. The result
        // reads (ids in arrays, label filters) plan as well or better without them.
        settings.options.additionalStartupParameters = [
            ("application_name", "xceptor"), ("options", "-c enable_bitmapscan=off \(Self.tcpKeepalives)"),
        ]
        client = PostgresClient(configuration: settings, backgroundLogger: logger)
        announcements = JobAnnouncements(client: client, logger: logger)
        runner = Task { [client, running] in
            running.started.store(true, ordering: .releasing)
            await client.run()
        }
    }

    /// Closes the pool's connections; the store cannot be used afterwards.
    public func shutdown() {
        runner.cancel()
    }

    deinit { runner.cancel() }

    private static func tls(_ mode: PostgresLocation.TLSMode) -> PostgresClient.Configuration.TLS {
        switch mode {
        case .disable: return .disable
        case .prefer: return .prefer(tlsSettings(mode))
        case .require, .verifyCA, .verifyFull: return .require(tlsSettings(mode))
        }
    }

    private static func tlsSettings(_ mode: PostgresLocation.TLSMode) -> TLSConfiguration {
        var settings = TLSConfiguration.makeClientConfiguration()
        switch mode {
        case .disable, .prefer, .require:
            // libpq's prefer and require encrypt without checking who is at the other end.
            settings.certificateVerification = .none
        case .verifyCA:
            settings.certificateVerification = .noHostnameVerification
        case .verifyFull:
            break
        }
        return settings
    }

    // MARK: Enqueue

    /// Rows per INSERT: one statement of arrays instead of a round trip per row.
    static let enqueueChunk = 5_000

    public func enqueue(_ jobs: [NewJob]) async throws -> EnqueueCounts {
        try StoreInput.validate(jobs)
        for job in jobs {
            if let metadata = job.metadataJSON,
                (try? JSONSerialization.jsonObject(with: Data(metadata.utf8), options: [.fragmentsAllowed])) == nil
            {
                throw QueueError.invalidArgument("the metadata of \(job.url) is not JSON")
            }
        }
        guard !jobs.isEmpty else { return EnqueueCounts() }
        let now = configuration.clock.now().storeMilliseconds
        return try await transaction { connection in
            var added = 0
            for start in stride(from: 0, to: jobs.count, by: Self.enqueueChunk) {
                let chunk = jobs[start..<min(jobs.count, start + Self.enqueueChunk)]
                let urls = chunk.map(\.url), priorities = chunk.map { Int64($0.priority) }
                let attempts = chunk.map { Int64($0.maxAttempts) }, metadata = chunk.map { $0.metadataJSON ?? "" }
                let rows = try await connection.run(
                    """
                    WITH arriving AS (
                        SELECT u, p, m, d, nextval(pg_get_serial_sequence('jobs', 'id')) AS id
                        FROM unnest(\(urls)::text[], \(priorities)::bigint[], \(attempts)::bigint[], \(metadata)::text[]) AS t (u, p, m, d)),
                    new_urls AS (
                        INSERT INTO job_urls (url, job_id) SELECT u, id FROM arriving
                        ON CONFLICT (url) DO NOTHING RETURNING job_id),
                    inserted AS (
                        INSERT INTO jobs (id, url, priority, max_attempts, metadata, available_at, created_at, updated_at)
                        SELECT a.id, a.u, a.p, a.m, NULLIF(a.d, '')::jsonb, \(now), \(now), \(now)
                        FROM arriving a JOIN new_urls n ON n.job_id = a.id
                        RETURNING 1)
                    SELECT count(*) FROM inserted
                    """, logger: self.logger)
                added += Int(try await rows.first(Int64.self) ?? 0)
            }
            return EnqueueCounts(added: added, duplicates: jobs.count - added)
        }
    }

    /// Idle workers wait here: enqueue's trigger notifies them (`migrations/postgres`), so a hundred idle
    /// workers do not poll the server with empty claims.
    public func waitForJobs(upTo seconds: Double) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: .seconds(seconds)) }
            group.addTask { await self.announcements.next() }
            await group.next()
            group.cancelAll()
        }
    }

    // MARK: Leases

    public func claim(limit: Int, leaseSeconds: Double, owner: String) async throws -> [ClaimedJob] {
        try StoreInput.validateLease(seconds: leaseSeconds, owner: owner)
        guard limit > 0 else { return [] }
        let lease = LeaseTerms(now: configuration.clock.now(), seconds: leaseSeconds, owner: owner)
        let rescue = rescueDue(now: lease.now)
        return try await withConnection { connection in
            // Its own statement first, so that jobs rescued now can be claimed by this very call.
            if rescue { try await self.requeueExpiredLeases(connection, now: lease.now) }
            let rows = try await connection.run(
                ClaimStatement(owner: owner, expiresAt: lease.expires, now: lease.now, limit: Int64(limit)), logger: self.logger)
            return lease.claimed(rows)
        }
    }

    /// A claim's time, expiry and owner, and the jobs its rows describe.
    struct LeaseTerms {
        var now: Int64, expires: Int64, expiresAt: Date, owner: String

        init(now: Date, seconds: Double, owner: String) {
            expiresAt = now.addingTimeInterval(seconds)
            (self.now, expires, self.owner) = (now.storeMilliseconds, expiresAt.storeMilliseconds, owner)
        }

        /// RETURNING gives no order guarantee; jobs are handed out in claim order.
        func claimed(_ rows: [ClaimStatement.Row]) -> [ClaimedJob] {
            rows.map { id, url, attempts, maxAttempts, priority, metadata in
                ClaimedJob(
                    lease: JobLease(jobID: id, owner: owner, attempt: attempts), url: url, priority: priority,
                    maxAttempts: maxAttempts, metadataJSON: metadata, leaseExpiresAt: expiresAt)
            }.sorted { ($0.priority, $1.id) > ($1.priority, $0.id) }
        }
    }

    /// Whether this claim should look for expired leases: at most once a second of the store's clock per
    /// process, since the look is a statement of its own and leases last minutes.
    private func rescueDue(now: Int64) -> Bool {
        lastRescue.withLock { last in
            guard now >= last + 1_000 || now < last else { return false }
            last = now
            return true
        }
    }

    /// Jobs whose lease ran out go back to the queue (their attempt is spent), or die if none are left.
    /// Rows another claimer is rescuing at this moment are skipped, not waited for.
    private func requeueExpiredLeases(_ connection: PostgresConnection, now: Int64) async throws {
        try await connection.run(
            """
            UPDATE jobs SET
                state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'queued' END,
                last_error = 'the lease of ' || lease_owner || ' expired before the job finished (worker killed or stalled)',
                error_class = 'transient', http_status = NULL,
                finished_at = CASE WHEN attempts >= max_attempts THEN \(now) END,
                available_at = \(now), updated_at = \(now), lease_owner = NULL, lease_expires_at = NULL
            WHERE id IN (SELECT id FROM jobs WHERE state = 'running' AND lease_expires_at <= \(now) FOR UPDATE SKIP LOCKED)
            """, logger: logger)
    }

    public func heartbeat(_ leases: [JobLease], leaseSeconds: Double) async throws -> [JobLease] {
        guard !leases.isEmpty else { return [] }
        try StoreInput.validateLease(seconds: leaseSeconds, owner: leases[0].owner)
        let now = configuration.clock.now()
        let expiresAt = now.addingTimeInterval(leaseSeconds).storeMilliseconds, updatedAt = now.storeMilliseconds
        let fence = Fence(leases)
        let held = try await withConnection { connection in
            var ids = Set<Int64>()
            let statement = HeartbeatStatement(
                fence: fence, expiresAt: expiresAt, now: updatedAt)
            for id in try await connection.run(statement, logger: self.logger) { ids.insert(id) }
            return ids
        }
        return leases.filter { !held.contains($0.jobID) }
    }

    public func release(_ leases: [JobLease], delaySeconds: Double) async throws -> Int {
        try StoreInput.validateDelay(seconds: delaySeconds)
        guard !leases.isEmpty else { return 0 }
        let now = configuration.clock.now().storeMilliseconds
        let available = configuration.clock.now().addingTimeInterval(delaySeconds).storeMilliseconds
        let fence = Fence(leases)
        return try await withConnection { connection in
            try await connection.run(
                """
                UPDATE jobs SET state = 'queued', attempts = attempts - 1, lease_owner = NULL, lease_expires_at = NULL,
                    available_at = \(available), updated_at = \(now)
                FROM unnest(\(fence.ids)::bigint[], \(fence.owners)::text[], \(fence.attempts)::bigint[]) AS l (id, owner, attempt)
                WHERE jobs.id = l.id AND jobs.lease_owner = l.owner AND jobs.attempts = l.attempt
                RETURNING jobs.id
                """, logger: self.logger
            ).ids().count
        }
    }

    // MARK: Outcomes

    public func complete(_ completions: [JobCompletion], thenClaim limit: Int, leaseSeconds: Double, owner: String) async throws
        -> (lost: [JobLease], claimed: [ClaimedJob])
    {
        for completion in completions { try completion.result.map(StoreInput.validate) }
        guard !completions.isEmpty else {
            return ([], limit > 0 ? try await claim(limit: limit, leaseSeconds: leaseSeconds, owner: owner) : [])
        }
        if limit > 0 { try StoreInput.validateLease(seconds: leaseSeconds, owner: owner) }
        let lease = LeaseTerms(now: configuration.clock.now(), seconds: leaseSeconds, owner: owner)
        let fence = Fence(completions.map(\.lease))
        let rescue = limit > 0 && rescueDue(now: lease.now)
        if completions.allSatisfy({ $0.result == nil }) {
            // Nothing to store: one call, fenced row by row, is the whole transaction (claim included).
            return try await withConnection { connection in
                if rescue { try await self.requeueExpiredLeases(connection, now: lease.now) }
                let rows = try await connection.run(
                    CompleteAndClaimStatement(fence: fence, owner: owner, expiresAt: lease.expires, now: lease.now, limit: Int64(limit)),
                    logger: self.logger)
                let done = Set(rows.filter { $0.finished }.map(\.claim.0))
                return (
                    completions.map(\.lease).filter { !done.contains($0.jobID) }, lease.claimed(rows.filter { !$0.finished }.map(\.claim))
                )
            }
        }
        if rescue { try await withConnection { connection in try await self.requeueExpiredLeases(connection, now: lease.now) } }
        return try await transaction { connection in
            let lost = try await self.finish(completions, fence: fence, connection, now: lease.now)
            guard limit > 0 else { return (lost, []) }
            let rows = try await connection.run(
                ClaimStatement(owner: owner, expiresAt: lease.expires, now: lease.now, limit: Int64(limit)), logger: self.logger)
            return (lost, lease.claimed(rows))
        }
    }

    /// Marks the jobs still held done and stores their results, inside the caller's transaction; returns the lost leases.
    private func finish(_ completions: [JobCompletion], fence: Fence, _ connection: PostgresConnection, now: Int64) async throws
        -> [JobLease]
    {
        // Lock the rows still held under these leases: a rescue or another worker waits until we commit.
        let held = try await connection.run(
            """
            SELECT j.id FROM jobs j
            JOIN unnest(\(fence.ids)::bigint[], \(fence.owners)::text[], \(fence.attempts)::bigint[]) AS l (id, owner, attempt)
                ON j.id = l.id AND j.lease_owner = l.owner AND j.attempts = l.attempt
            FOR UPDATE OF j
            """, logger: self.logger
        ).ids()
        var finishedIDs: [Int64] = [], imageIDs: [Int64] = []
        // Images in hash order: two workers storing the same images lock their index entries in the same
        // order, instead of each waiting for the other.
        let ordered = completions.sorted { ($0.result?.image.sha256 ?? []).lexicographicallyPrecedes($1.result?.image.sha256 ?? []) }
        for completion in ordered where held.contains(completion.lease.jobID) {
            finishedIDs.append(completion.lease.jobID)
            if let result = completion.result {
                imageIDs.append(try await self.store(result, connection, now: now))
            } else {
                imageIDs.append(0)
            }
        }
        if !finishedIDs.isEmpty {
            try await connection.run(
                """
                UPDATE jobs SET state = 'done', lease_owner = NULL, lease_expires_at = NULL,
                    image_id = NULLIF(c.image_id, 0), last_error = NULL, error_class = NULL, http_status = NULL,
                    finished_at = \(now), updated_at = \(now)
                FROM unnest(\(finishedIDs)::bigint[], \(imageIDs)::bigint[]) AS c (id, image_id)
                WHERE jobs.id = c.id
                """, logger: self.logger)
        }
        return completions.map(\.lease).filter { !held.contains($0.jobID) }
    }

    public func fail(_ lease: JobLease, _ failure: JobFailure) async throws -> JobState? {
        let now = configuration.clock.now()
        let policy = configuration.retryPolicy
        let unitRandom = configuration.unitRandom()
        return try await transaction { connection in
            guard
                let maxAttempts = try await connection.run(
                    """
                    SELECT max_attempts FROM jobs
                    WHERE id = \(lease.jobID) AND state = 'running' AND lease_owner = \(lease.owner) AND attempts = \(lease.attempt)
                    FOR UPDATE
                    """, logger: self.logger
                ).first(Int.self)
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
            let finishedAt: Int64? = state == .queued ? nil : now.storeMilliseconds
            try await connection.run(
                """
                UPDATE jobs SET state = \(state.rawValue), lease_owner = NULL, lease_expires_at = NULL,
                    last_error = \(Self.bounded(failure.message)), error_class = \(failure.errorClass.rawValue),
                    http_status = \(failure.httpStatus.map(Int64.init)), available_at = \(availableAt.storeMilliseconds),
                    finished_at = \(finishedAt), updated_at = \(now.storeMilliseconds)
                WHERE id = \(lease.jobID)
                """, logger: self.logger)
            return state
        }
    }

    /// Stores the image (once per content hash), its embedding by this model (once) and the labels.
    private func store(_ result: JobResult, _ connection: PostgresConnection, now: Int64) async throws -> Int64 {
        let image = result.image
        let sha = ByteBuffer(bytes: image.sha256)
        let thumbnail = image.thumbnail.map { ByteBuffer(bytes: $0) }
        var imageID = try await connection.run(
            """
            WITH inserted AS (
                INSERT INTO images (sha256, width, height, bytes, content_type, thumbnail, created_at)
                VALUES (\(sha), \(Int64(image.width)), \(Int64(image.height)), \(Int64(image.byteCount)), \(image.contentType),
                        \(thumbnail), \(now))
                ON CONFLICT (sha256) DO NOTHING RETURNING id)
            SELECT id FROM inserted UNION ALL SELECT id FROM images WHERE sha256 = \(sha) LIMIT 1
            """, logger: logger
        ).first(Int64.self)
        if imageID == nil {
            // Another transaction stored the same bytes while this statement waited for it; its row is
            // visible to a new statement.
            imageID = try await connection.run("SELECT id FROM images WHERE sha256 = \(sha)", logger: logger).first(Int64.self)
        }
        guard let imageID else {
            throw QueueError.database(location: location.description, message: "an image row vanished as it was stored")
        }
        let vector = ByteBuffer(bytes: StoreInput.bytes(result.embedding))
        if let embeddingID = try await connection.run(
            """
            INSERT INTO embeddings (image_id, model_id, dimensions, vector, created_at, precision)
            VALUES (\(imageID), \(result.modelID), \(Int64(result.embedding.count)), \(vector), \(now), \(result.precision))
            ON CONFLICT (image_id, model_id) DO NOTHING RETURNING id
            """, logger: logger
        ).first(Int64.self), !result.labels.isEmpty {
            let ranks = (0..<result.labels.count).map(Int64.init), names = result.labels.map(\.label), scores = result.labels.map(\.score)
            try await connection.run(
                """
                INSERT INTO labels (embedding_id, rank, label, score)
                SELECT \(embeddingID), r, l, s FROM unnest(\(ranks)::bigint[], \(names)::text[], \(scores)::float8[]) AS t (r, l, s)
                """, logger: logger)
        }
        return imageID
    }

    // MARK: Inspection

    public func status() async throws -> QueueStatus {
        let now = configuration.clock.now().storeMilliseconds
        return try await transaction(readOnly: true) { connection in
            // Each state is counted with a literal `state = '...'`, so the planner reads that phase's partial index.
            let figures = try await connection.run(
                """
                SELECT (SELECT count(*) FROM jobs WHERE state = 'queued'),
                       (SELECT count(*) FROM jobs WHERE state = 'running'),
                       (SELECT count(*) FROM jobs WHERE state = 'done'),
                       (SELECT count(*) FROM jobs WHERE state = 'failed'),
                       (SELECT count(*) FROM jobs WHERE state = 'dead'),
                       (SELECT count(*) FROM jobs WHERE state = 'queued' AND available_at > \(now)),
                       (SELECT count(*) FROM jobs WHERE state = 'running' AND lease_expires_at <= \(now)),
                       (SELECT created_at FROM jobs WHERE state = 'queued' ORDER BY id LIMIT 1),
                       (SELECT count(*) FROM jobs WHERE state IN ('done', 'failed', 'dead') AND finished_at >= \(now - 60_000)),
                       (SELECT count(*) FROM jobs WHERE state IN ('done', 'failed', 'dead') AND finished_at >= \(now - 600_000))
                """, logger: self.logger
            ).collect()
            guard let row = figures.first else { throw QueueError.database(location: self.location.description, message: "no status row") }
            let (queued, running, done, failed, dead, waiting, expired, oldest, lastMinute, lastTen) = try row.decode(
                (Int64, Int64, Int64, Int64, Int64, Int64, Int64, Int64?, Int64, Int64).self)
            var topErrors: [QueueStatus.ErrorCount] = []
            let errors = try await connection.run(
                """
                SELECT error_class, coalesce(last_error, '(no message)'), count(*) FROM jobs
                WHERE state IN ('failed', 'dead') GROUP BY 1, 2 ORDER BY 3 DESC, 2 LIMIT 5
                """, logger: self.logger)
            for try await (errorClass, message, count) in errors.decode((String?, String, Int64).self) {
                topErrors.append(.init(errorClass: errorClass.flatMap(ErrorClass.init(rawValue:)), message: message, count: Int(count)))
            }
            return QueueStatus(
                counts: [.queued: Int(queued), .running: Int(running), .done: Int(done), .failed: Int(failed), .dead: Int(dead)],
                waitingForRetry: Int(waiting), expiredLeases: Int(expired),
                oldestQueuedAgeSeconds: oldest.map { Double(now - $0) / 1000 },
                finishedLastMinute: Int(lastMinute), finishedLastTenMinutes: Int(lastTen), topErrors: topErrors)
        }
    }

    public func jobs(state: JobState?, afterID: JobID?, limit: Int) async throws -> [Job] {
        guard limit > 0 else { return [] }
        return try await withConnection { connection in
            try await Self.jobs(
                connection.run(
                    """
                    SELECT \(unescaped: Self.jobColumns) FROM jobs
                    WHERE (\(state?.rawValue)::text IS NULL OR state = \(state?.rawValue)) AND id > \(afterID ?? 0)
                    ORDER BY id LIMIT \(Int64(limit))
                    """, logger: self.logger))
        }
    }

    public func job(id: JobID) async throws -> Job? {
        try await withConnection { connection in
            try await Self.jobs(connection.run("SELECT \(unescaped: Self.jobColumns) FROM jobs WHERE id = \(id)", logger: self.logger))
                .first
        }
    }

    public func job(url: String) async throws -> Job? {
        guard case let .success(normalized) = JobURL.normalize(url) else { return nil }
        return try await withConnection { connection in
            try await Self.jobs(
                connection.run(
                    "SELECT \(unescaped: Self.jobColumns) FROM jobs WHERE id = (SELECT job_id FROM job_urls WHERE url = \(normalized))",
                    logger: self.logger)
            )
            .first
        }
    }

    public func storedResult(sha256: [UInt8], modelID: String) async throws -> JobResult? {
        try await withConnection { connection in
            let rows = try await connection.run(
                """
                SELECT i.width, i.height, i.bytes, i.content_type, i.thumbnail, e.vector,
                       (SELECT array_agg(label ORDER BY rank) FROM labels WHERE embedding_id = e.id),
                       (SELECT array_agg(score ORDER BY rank) FROM labels WHERE embedding_id = e.id), e.precision
                FROM images i JOIN embeddings e ON e.image_id = i.id
                WHERE i.sha256 = \(ByteBuffer(bytes: sha256)) AND e.model_id = \(modelID)
                """, logger: self.logger)
            for try await (width, height, bytes, contentType, thumbnail, vector, labels, scores, precision)
                in rows.decode((Int, Int, Int64, String?, ByteBuffer?, ByteBuffer, [String]?, [Double]?, String).self)
            {
                return JobResult(
                    image: ImageFacts(
                        sha256: sha256, width: width, height: height, byteCount: Int(bytes), contentType: contentType,
                        thumbnail: thumbnail.map { Array($0.readableBytesView) }),
                    modelID: modelID, embedding: Self.floats(vector), labels: Self.labels(labels, scores), precision: precision)
            }
            return nil
        }
    }

    public func hasUnfinishedJobs() async throws -> Bool {
        try await withConnection { connection in
            try await connection.run(PostgresQuery(unsafeSQL: UnfinishedJobsQuery.sql), logger: self.logger).first(Bool.self) ?? false
        }
    }

    // MARK: Administration

    public func retry(_ selection: JobSelection) async throws -> Int {
        try StoreInput.check(selection, takes: [.failed, .dead], "only failed or dead jobs can be retried")
        let now = configuration.clock.now().storeMilliseconds
        let (ids, state) = Self.selected(selection)
        // A fresh set of attempts; the last error stays visible until the next attempt ends.
        return try await withConnection { connection in
            try await connection.run(
                """
                UPDATE jobs SET state = 'queued', attempts = 0, available_at = \(now), finished_at = NULL, updated_at = \(now)
                WHERE state IN ('failed', 'dead') AND (id = ANY(\(ids)::bigint[]) OR state = \(state))
                RETURNING id
                """, logger: self.logger
            ).ids().count
        }
    }

    public func requeue(_ selection: JobSelection, forModel modelID: String) async throws -> Int {
        try StoreInput.check(selection, takes: [.done], "only done jobs can be queued again for another model")
        let now = configuration.clock.now().storeMilliseconds
        let (ids, state) = Self.selected(selection)
        // The earlier results stay: the job keeps its image, and the image its embeddings.
        return try await withConnection { connection in
            try await connection.run(
                """
                UPDATE jobs SET state = 'queued', attempts = 0, available_at = \(now), finished_at = NULL, updated_at = \(now)
                WHERE state = 'done' AND (id = ANY(\(ids)::bigint[]) OR state = \(state))
                    AND NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.image_id = jobs.image_id AND e.model_id = \(modelID))
                RETURNING id
                """, logger: self.logger
            ).ids().count
        }
    }

    public func cancel(_ selection: JobSelection) async throws -> Int {
        try StoreInput.check(selection, takes: [.queued], "only queued jobs can be cancelled")
        let now = configuration.clock.now().storeMilliseconds
        let (ids, state) = Self.selected(selection)
        return try await withConnection { connection in
            try await connection.run(
                """
                UPDATE jobs SET state = 'failed', last_error = 'cancelled by an operator', error_class = 'permanent',
                    http_status = NULL, finished_at = \(now), updated_at = \(now)
                WHERE state = 'queued' AND (id = ANY(\(ids)::bigint[]) OR state = \(state))
                RETURNING id
                """, logger: self.logger
            ).ids().count
        }
    }

    public func purgeDone(finishedBefore cutoff: Date) async throws -> PurgeCounts {
        let cutoffMilliseconds = cutoff.storeMilliseconds
        return try await transaction { connection in
            let jobs = try await connection.run(
                """
                WITH purged AS (DELETE FROM jobs WHERE state = 'done' AND finished_at < \(cutoffMilliseconds) RETURNING id, url),
                freed AS (DELETE FROM job_urls u USING purged WHERE u.url = purged.url AND u.job_id = purged.id)
                SELECT id FROM purged
                """, logger: self.logger
            ).ids().count
            // Embeddings and labels go with their image (ON DELETE CASCADE).
            let images = try await connection.run(
                "DELETE FROM images WHERE NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.image_id = images.id) RETURNING id",
                logger: self.logger
            ).ids().count
            return PurgeCounts(jobs: jobs, images: images)
        }
    }

    // MARK: Helpers

    /// Runs `body` with the pool and translates PostgreSQL's errors into `QueueError`.
    /// Runs `body` on one connection of the pool; its statements go through `run` (`ClosingConnections`).
    func withConnection<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        do {
            return try await client.withConnection { connection in try await body(connection) }
        } catch {
            throw translate(error)
        }
    }

    /// Runs `body` in one transaction on one connection (read-only and on one snapshot when asked). A
    /// transaction the server chose to abort (a deadlock, a serialization failure) was rolled back whole,
    /// and runs again, so `body` must have no effect outside the database.
    func transaction<T: Sendable>(readOnly: Bool = false, _ body: (PostgresConnection) async throws -> T) async throws -> T {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await client.withConnection { connection in
                    try await connection.transaction(logger: self.logger) { connection in
                        if readOnly {
                            _ = try await connection.run("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", logger: self.logger)
                        }
                        return try await body(connection)
                    }
                }
            } catch {
                if attempt < 5, let state = Self.sqlState(of: error), state == "40P01" || state == "40001" {
                    try await Task.sleep(for: .milliseconds(Int.random(in: 1...(5 << attempt))))
                    continue
                }
                throw translate(error)
            }
        }
    }

    /// The ids a selection names, or the state it names (the other is empty), as one statement's parameters.
    private static func selected(_ selection: JobSelection) -> (ids: [Int64], state: String?) {
        switch selection {
        case let .ids(ids): return (ids, nil)
        case let .state(state): return ([], state.rawValue)
        }
    }

    /// `StoreInput.bounded`, without NUL: PostgreSQL's text cannot hold it, and a hostile message may carry it.
    private static func bounded(_ message: String) -> String {
        StoreInput.bounded(message.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}"))
    }

    static func floats(_ buffer: ByteBuffer) -> [Float] {
        var values: [Float] = []
        appendFloats(buffer, to: &values)
        return values
    }

    /// Appends a bytea of float32 values; the bytes are copied, as the buffer's start need not be aligned.
    static func appendFloats(_ buffer: ByteBuffer, to values: inout [Float]) {
        let count = buffer.readableBytes / MemoryLayout<Float>.size
        let start = values.count
        values.append(contentsOf: repeatElement(0, count: count))
        buffer.withUnsafeReadableBytes { source in
            values.withUnsafeMutableBytes { target in
                target.baseAddress!.advanced(by: start * MemoryLayout<Float>.size)
                    .copyMemory(from: source.baseAddress!, byteCount: count * MemoryLayout<Float>.size)
            }
        }
    }

    static func labels(_ names: [String]?, _ scores: [Double]?) -> [ScoredLabel] {
        zip(names ?? [], scores ?? []).map { ScoredLabel(label: $0, score: $1) }
    }

    static let jobColumns = """
        id, url, state, priority, attempts, max_attempts, available_at, lease_owner, lease_expires_at,
        last_error, error_class, http_status, metadata::text, image_id, created_at, updated_at, finished_at
        """

    static func jobs(_ rows: PostgresRowSequence) async throws -> [Job] {
        var jobs: [Job] = []
        for try await row in rows { jobs.append(try job(from: row)) }
        return jobs
    }

    /// A job from the first columns of a row, in `jobColumns` order (a row may carry more after them).
    static func job(from row: PostgresRow) throws -> Job {
        let columns = row.makeRandomAccess()
        func column<T: PostgresDecodable>(_ index: Int, _ type: T.Type) throws -> T { try columns[index].decode(T.self) }
        let state = try column(2, String.self), errorClass = try column(10, String?.self)
        return Job(
            id: try column(0, Int64.self), url: try column(1, String.self), state: JobState(rawValue: state) ?? .failed,
            priority: try column(3, Int.self), attempts: try column(4, Int.self), maxAttempts: try column(5, Int.self),
            availableAt: Date(storeMilliseconds: try column(6, Int64.self)), leaseOwner: try column(7, String?.self),
            leaseExpiresAt: try column(8, Int64?.self).map(Date.init(storeMilliseconds:)), lastError: try column(9, String?.self),
            errorClass: errorClass.flatMap(ErrorClass.init(rawValue:)), httpStatus: try column(11, Int?.self),
            metadataJSON: try column(12, String?.self), imageID: try column(13, Int64?.self),
            createdAt: Date(storeMilliseconds: try column(14, Int64.self)), updatedAt: Date(storeMilliseconds: try column(15, Int64.self)),
            finishedAt: try column(16, Int64?.self).map(Date.init(storeMilliseconds:)))
    }
}

extension PostgresRowSequence {
    /// The first column of the first row, or nil when there is no row.
    func first<T: PostgresDecodable & Sendable>(_ type: T.Type) async throws -> T? {
        for try await value in decode(T.self) { return value }
        return nil
    }

    /// The first column of every row, as a set of ids.
    func ids() async throws -> Set<Int64> {
        var ids = Set<Int64>()
        for try await id in decode(Int64.self) { ids.insert(id) }
        return ids
    }
}

extension PostgresJobStore {
    /// How the jobs table bears its churn: PostgreSQL's own statistics (they lag a second or so).
    public struct TableHealth: Sendable, Codable, Equatable {
        public var liveRows: Int64
        /// Row versions updates and deletes left behind, not yet vacuumed.
        public var deadRows: Int64
        public var updates: Int64
        /// Updates that touched no index (the page had room: fillfactor).
        public var hotUpdates: Int64
        public var autovacuums: Int64
        public var tableBytes: Int64
        public var indexBytes: Int64
    }

    /// Vacuums and analyses the jobs table now, as autovacuum does on its own schedule: the benchmark's
    /// steps start from the state a steadily running queue is in, not behind the dead index entries of the
    /// step before (a claim walks those until vacuum removes them).
    public func vacuumJobs() async throws {
        try await withConnection { connection in _ = try await connection.run("VACUUM (ANALYZE) jobs", logger: self.logger) }
    }

    public func jobsTableHealth() async throws -> TableHealth {
        try await withConnection { connection in
            let rows = try await connection.run(
                """
                SELECT n_live_tup, n_dead_tup, n_tup_upd, n_tup_hot_upd, autovacuum_count,
                       pg_relation_size('jobs'), pg_indexes_size('jobs')
                FROM pg_stat_user_tables WHERE relname = 'jobs' AND schemaname = current_schema()
                """, logger: self.logger)
            for try await (live, dead, updates, hot, vacuums, table, indexes) in rows.decode(
                (Int64, Int64, Int64, Int64, Int64, Int64, Int64).self)
            {
                return TableHealth(
                    liveRows: live, deadRows: dead, updates: updates, hotUpdates: hot, autovacuums: vacuums, tableBytes: table,
                    indexBytes: indexes)
            }
            throw QueueError.database(location: self.location.description, message: "no statistics for the jobs table")
        }
    }
}
