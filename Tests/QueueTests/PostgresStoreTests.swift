import Foundation
import Queue
import Stores
import Synchronization
import TestSupport
import Testing

@testable import PostgresStore

/// What only the PostgreSQL driver has: URLs and passwords, migrations raced by many processes, databases
/// of other programs, a server that goes away. The store's contract itself is in the conformance suites.
@Suite("PostgreSQL store")
struct PostgresStoreTests {
    @Test("URLs parse as libpq reads them, and the password never appears in the description")
    func urls() throws {
        let full = try PostgresLocation(parsing: "postgresql://ana:s%3Acret@db.example:6543/images?sslmode=verify-full", environment: [:])
        #expect(full.endpoint == .tcp(host: "db.example", port: 6543) && full.user == "ana" && full.database == "images")
        #expect(full.password == "s:cret" && full.tlsMode == .verifyFull)
        #expect(full.description == "postgres://ana@db.example:6543/images" && !full.description.contains("cret"))

        let defaults = try PostgresLocation(parsing: "postgres://ana@/", environment: ["PGPASSWORD": "from-env"])
        #expect(defaults.endpoint == .tcp(host: "localhost", port: 5432) && defaults.database == "ana" && defaults.password == "from-env")
        #expect(defaults.tlsMode == .prefer)

        let socket = try PostgresLocation(parsing: "postgres://ana@/q?host=/run/postgresql&port=5433", environment: [:])
        #expect(socket.endpoint == .unixSocket(path: "/run/postgresql/.s.PGSQL.5433"))
        let ipv6 = try PostgresLocation(parsing: "postgres://ana@[::1]:5433/q", environment: [:])
        #expect(ipv6.endpoint == .tcp(host: "::1", port: 5433) && ipv6.description == "postgres://ana@[::1]:5433/q")

        for bad in [
            "postgres://ana:pw@h:99999/q", "postgres://ana:pw@h/q?sslmode=sometimes", "postgres://ana:pw@h/q?options=-c%20x",
            "postgres://ana:pw@h/q?sslmode",
        ] {
            #expect {
                try PostgresLocation(parsing: bad, environment: [:])
            } throws: { error in
                "\(error)".contains("pw") == false
            }
        }
    }

    @Test("~/.pgpass: the first matching line wins, with wildcards and escapes; a file others can read is ignored")
    func passwordFile() throws {
        let directory = try makeScratchDirectory("xceptor-pgpass")
        let file = directory.appendingPathComponent("pgpass").path
        try """
        # comment
        other:5432:*:ana:wrong
        db.example:*:images:ana:p\\:w\\\\1
        *:*:*:*:fallback
        """.write(toFile: file, atomically: true, encoding: .utf8)
        chmod(file, 0o600)
        let location = try PostgresLocation(parsing: "postgres://ana@db.example/images", environment: [:], passwordFile: file)
        #expect(location.password == #"p:w\1"#)
        let other = try PostgresLocation(parsing: "postgres://bob@elsewhere/x", environment: [:], passwordFile: file)
        #expect(other.password == "fallback")
        chmod(file, 0o644)
        #expect(try PostgresLocation(parsing: "postgres://ana@db.example/images", environment: [:], passwordFile: file).password == nil)
    }

    @Test("ten stores opening a new database at once migrate it once")
    func concurrentMigration() async throws {
        let server = try PostgresTestServer.shared()
        let url = try server.makeDatabase()
        let location = try PostgresLocation(parsing: url)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<10 {
                group.addTask { _ = try await PostgresJobStore.open(location, maxConnections: 1) }
            }
            try await group.waitForAll()
        }
        let store = try await PostgresJobStore.open(location)
        _ = try await store.enqueue([NewJob(url: "http://a/1")])
        #expect(try await store.status().counts[.queued] == 1)
        // Applying a migration twice would have failed on CREATE TABLE; count the records too.
        let database = String(url.split(separator: "/").last!)
        try server.psql(
            database: database,
            "DO $$ BEGIN IF (SELECT count(*) FROM schema_migrations) <> \(PostgresJobStore.schemaVersion) THEN RAISE 'migrated more than once'; END IF; END $$"
        )
    }

    @Test("a database of another program is refused and left as it was; a missing schema is not created unless asked")
    func foreignDatabase() async throws {
        let server = try PostgresTestServer.shared()
        let foreignURL = try server.makeDatabase()
        let foreign = String(foreignURL.split(separator: "/").last!)
        try server.psql(database: foreign, "CREATE TABLE customers (id int)")
        await #expect(throws: QueueError.notAnXceptorDatabase(location: try PostgresLocation(parsing: foreignURL).description)) {
            _ = try await JobStores.open(foreignURL, create: true)
        }
        try server.psql(
            database: foreign,
            "DO $$ BEGIN IF (SELECT count(*) FROM pg_tables WHERE schemaname = 'public') <> 1 THEN RAISE 'changed'; END IF; END $$")

        let emptyURL = try server.makeDatabase()
        await #expect(throws: QueueError.missing(location: try PostgresLocation(parsing: emptyURL).description)) {
            _ = try await JobStores.open(emptyURL, create: false)
        }
        _ = try await JobStores.open(emptyURL, create: true)
        _ = try await JobStores.open(emptyURL, create: false)
    }

    @Test("a wrong password and an unreachable server are clear errors that never show the password")
    func connectionErrors() async throws {
        let server = try PostgresTestServer.shared()
        let url = try server.makeDatabase()
        let wrong = url.replacingOccurrences(of: #"://xceptor:[^@]*@"#, with: "://xceptor:not-the-password@", options: .regularExpression)
        do {
            _ = try await JobStores.open(wrong, create: true)
            Issue.record("a wrong password was accepted")
        } catch {
            let text = "\(error)"
            #expect(text.contains("refused user xceptor") && !text.contains("not-the-password"), "\(text)")
        }
        // A port nothing listens on: find one by binding and closing it.
        let closed = url.replacingOccurrences(of: #"@127\.0\.0\.1:\d+/"#, with: "@127.0.0.1:1/", options: .regularExpression)
        do {
            _ = try await JobStores.open(closed, create: true)
            Issue.record("a closed port was reached")
        } catch let error as QueueError {
            guard case .unavailable = error else {
                Issue.record("expected unavailable, got \(error)")
                return
            }
            #expect(!"\(error)".contains(String(url.split(separator: ":")[2].split(separator: "@")[0])))
        }
    }

    @Test("the store's sessions ask the server for TCP keepalives, and keep the planner settings the claims rely on")
    func sessionSettings() async throws {
        let url = try PostgresTestServer.shared().makeDatabase()
        let location = try PostgresLocation(parsing: url)
        guard case .tcp = location.endpoint else {
            Issue.record("the test server is reached over a Unix socket, where TCP keepalives do not apply: \(url)")
            return
        }
        let store = try await PostgresJobStore.open(location)
        // The pool keeps no keep-alive timer of its own (see `PostgresJobStore.init`): the server's probes stand for it.
        let settings = try await store.withConnection { connection in
            try await connection.run(
                """
                SELECT current_setting('tcp_keepalives_idle') || ' ' || current_setting('tcp_keepalives_interval') || ' '
                    || current_setting('tcp_keepalives_count') || ' ' || current_setting('enable_bitmapscan')
                """, logger: store.logger
            ).first(String.self)
        }
        #expect(settings == "30 10 3 off")
    }

    @Test("a store outlives a server restart: calls fail as unavailable while it is down and work again after")
    func serverRestart() async throws {
        let server = try PostgresTestServer.startPrivate()
        let location = try PostgresLocation(parsing: try server.makeDatabase())
        let store = try await PostgresJobStore.open(location)
        _ = try await store.enqueue([NewJob(url: "http://a/1")])
        try server.restart(downSeconds: 1)
        // The pool's connections were cut by the restart: the first call on one may fail, the next reconnect.
        var status: QueueStatus?
        for _ in 0..<100 where status == nil {
            do {
                status = try await store.status()
            } catch let error as QueueError {
                #expect(error.isUnavailable, "\(error)")
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        #expect(status?.counts[.queued] == 1)
        _ = try await store.enqueue([NewJob(url: "http://a/2")])
        #expect(try await store.status().counts[.queued] == 2)
    }

    @Test("connections cut between a transaction's statements fail those calls as unavailable and never leave one waiting")
    func connectionsCut() async throws {
        let server = try PostgresTestServer.shared()
        let location = try PostgresLocation(parsing: try server.makeDatabase())
        let store = try await PostgresJobStore.open(location)
        _ = try await store.enqueue((0..<50).map { NewJob(url: "http://a/\($0)") })
        // Callers as fast as they can go: status() is a transaction of several statements, hasUnfinishedJobs() one.
        let stop = Flag(), finished = Flag()
        let answers = Counter()
        let calls = Task {
            defer { finished.set() }
            return try await withThrowingTaskGroup(of: (answered: Int, unavailable: Int).self) { group in
                for caller in 0..<4 {
                    group.addTask {
                        var tally = (answered: 0, unavailable: 0)
                        while !stop.isSet {
                            do {
                                if caller % 2 == 0 { _ = try await store.status() } else { _ = try await store.hasUnfinishedJobs() }
                                tally.answered += 1
                                answers.increment()
                            } catch let error as QueueError where error.isUnavailable {
                                tally.unavailable += 1
                            }
                        }
                        return tally
                    }
                }
                return try await group.reduce(into: (answered: 0, unavailable: 0)) {
                    $0.answered += $1.answered
                    $0.unavailable += $1.unavailable
                }
            }
        }
        // The server ends the store's sessions (FATAL 57P01, as in a fast shutdown), again and again, with
        // statements in flight and between them. Each cut waits for a call answered since the last one: the
        // store must reconnect every time, and a loaded machine (a slow reconnect) cannot starve the test.
        var reconnected = true
        for _ in 0..<60 where reconnected {
            let seen = answers.value
            reconnected = false
            for _ in 0..<600 where !reconnected {
                reconnected = answers.value > seen
                if !reconnected { try await Task.sleep(for: .milliseconds(50)) }
            }
            try await Task.sleep(for: .milliseconds(Int.random(in: 0...40)))
            try server.psql(
                database: "postgres",
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '\(location.database)' AND pid <> pg_backend_pid()")
        }
        #expect(reconnected, "no call was answered within 30 s of the last cut: the store did not reconnect")
        stop.set()
        // A call still waiting a minute later is lost, not slow: every call here takes milliseconds.
        for _ in 0..<600 where !finished.isSet { try await Task.sleep(for: .milliseconds(100)) }
        #expect(finished.isSet, "a store call never returned after its connection was cut")
        guard finished.isSet else { return }
        let tally = try await calls.value
        #expect(tally.unavailable > 0 && tally.answered > 0, "\(tally)")
        #expect(try await store.status().counts[.queued] == 50)
    }

    @Test("the claim and the fenced updates look jobs up by primary key in the plan a connection keeps for them")
    func hotPathPlans() async throws {
        let server = try PostgresTestServer.shared()
        let url = try server.makeDatabase()
        let store = try await PostgresJobStore.open(try PostgresLocation(parsing: url))
        _ = try await store.enqueue((0..<5_000).map { NewJob(url: "http://a/\($0)") })
        let claimed = try await store.claim(limit: 500, leaseSeconds: 60, owner: "plans")
        try await store.vacuumJobs()
        // A prepared statement runs on a generic plan once PostgreSQL finds it no dearer than planning each
        // call; force that plan, since it is the one that cannot know the LIMIT is small or the lease list short.
        func check(_ name: String, _ sql: String, _ arguments: String) throws {
            try server.psql(
                database: String(url.split(separator: "/").last!),
                """
                SET plan_cache_mode = force_generic_plan;
                PREPARE \(name) AS \(sql);
                DO $check$ DECLARE line text; plan text := ''; BEGIN
                    FOR line IN EXECUTE 'EXPLAIN EXECUTE \(name)(\(arguments.replacingOccurrences(of: "'", with: "''")))' LOOP
                        plan := plan || line || E'\\n';
                    END LOOP;
                    IF plan LIKE '%Seq Scan on jobs%' OR plan LIKE '%jobs_lease_expiry%' OR plan NOT LIKE '%jobs_pkey%' THEN
                        RAISE '\(name) plan walks more than its rows: %', plan;
                    END IF;
                END $check$;
                """)
        }
        try check("claim", ClaimStatement.sql, "'o', 2, 1, 32")
        let leases = claimed.prefix(32).map(\.lease)
        let ids = leases.map { String($0.jobID) }.joined(separator: ",")
        try check(
            "heartbeat", HeartbeatStatement.sql,
            "'{\(ids)}', '{\(leases.map { _ in "plans" }.joined(separator: ","))}', '{\(leases.map { _ in "1" }.joined(separator: ","))}', 2, 1"
        )
    }

    @Test(
        "whether jobs are unfinished, in a store of mostly finished jobs, is read from the queued and running indexes, under fresh statistics and under statistics from before the queue drained"
    )
    func unfinishedJobsPlan() async throws {
        let server = try PostgresTestServer.shared()
        let url = try server.makeDatabase()
        let database = String(url.split(separator: "/").last!)
        let store = try await PostgresJobStore.open(try PostgresLocation(parsing: url))
        _ = try await store.enqueue((0..<5_000).map { NewJob(url: "http://a/\($0)") })
        // Statistics taken while every job was queued, kept while the queue drains (no autovacuum comes by):
        // `EXISTS (... WHERE state = 'queued')` then expected a sequential scan to meet a queued job at once,
        // and read every row of the drained table.
        try server.psql(database: database, "ALTER TABLE jobs SET (autovacuum_enabled = false); ANALYZE jobs")
        let claimed = try await store.claim(limit: 4_990, leaseSeconds: 60, owner: "plans")
        #expect(try await store.complete(claimed.map { JobCompletion(lease: $0.lease, result: nil) }).isEmpty)
        // An idle worker polls this: `state IN ('queued', 'running')` matched neither partial index and scanned every job.
        let check = """
            DO $check$ DECLARE line text; plan text := ''; BEGIN
                FOR line IN EXPLAIN \(UnfinishedJobsQuery.sql) LOOP plan := plan || line || E'\\n'; END LOOP;
                IF plan LIKE '%Seq Scan on jobs%' OR plan NOT LIKE '%jobs_claim_order%' OR plan NOT LIKE '%jobs_lease_expiry%' THEN
                    RAISE 'unfinished-jobs plan scans the table: %', plan;
                END IF;
            END $check$;
            """
        try server.psql(database: database, check)
        #expect(try await store.hasUnfinishedJobs())
        try await store.vacuumJobs()
        try server.psql(database: database, check)
        #expect(try await store.hasUnfinishedJobs())
    }

    @Test("schema version 5 moves URL uniqueness into job_urls: existing jobs keep their URLs, and duplicates stay refused")
    func jobURLsMigration() async throws {
        let server = try PostgresTestServer.shared()
        let url = try server.makeDatabase()
        let database = String(url.split(separator: "/").last!)
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../migrations/postgres")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".sql") }.sorted()
        let before = files.filter { $0 < "0005" }, moving = try #require(files.first { $0.hasPrefix("0005") })
        for file in before { try server.psql(database: database, String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)) }
        try server.psql(
            database: database,
            "INSERT INTO jobs (url, available_at, created_at, updated_at) SELECT 'http://a/' || g, 0, 0, 0 FROM generate_series(1, 100) g")
        try server.psql(database: database, String(contentsOf: folder.appendingPathComponent(moving), encoding: .utf8))
        try server.psql(
            database: database,
            """
            DO $check$ BEGIN
                IF (SELECT count(*) FROM job_urls u JOIN jobs j ON j.id = u.job_id AND j.url = u.url) <> 100 THEN
                    RAISE 'job_urls does not hold every job''s URL';
                END IF;
                IF EXISTS (SELECT 1 FROM pg_indexes WHERE tablename = 'jobs' AND indexdef LIKE '%(url)%') THEN
                    RAISE 'jobs still indexes url';
                END IF;
            END $check$;
            """)
        #expect(throws: (any Error).self) {
            try server.psql(database: database, "INSERT INTO job_urls (url, job_id) VALUES ('http://a/7', (SELECT max(id) FROM jobs))")
        }
    }

    @Test("a purged job's URL can be queued again")
    func purgedURLReturns() async throws {
        let store = try await PostgresJobStore.open(try PostgresLocation(parsing: try PostgresTestServer.shared().makeDatabase()))
        _ = try await store.enqueue([NewJob(url: "http://a/1"), NewJob(url: "http://a/2")])
        let claimed = try await store.claim(limit: 1, leaseSeconds: 60, owner: "purge")
        #expect(try await store.complete([JobCompletion(lease: claimed[0].lease, result: nil)]).isEmpty)
        #expect(try await store.purgeDone(finishedBefore: Date().addingTimeInterval(60)).jobs == 1)
        #expect(try await store.job(url: claimed[0].url) == nil)
        #expect(try await store.enqueue([NewJob(url: "http://a/1"), NewJob(url: "http://a/2")]) == EnqueueCounts(added: 1, duplicates: 1))
        #expect(try await store.job(url: claimed[0].url)?.state == .queued)
    }

    @Test("an idle waiter is woken by an enqueue from another store (LISTEN/NOTIFY), long before its timeout")
    func arrivals() async throws {
        let url = try PostgresTestServer.shared().makeDatabase()
        let waiting = try await PostgresJobStore.open(try PostgresLocation(parsing: url))
        let enqueuing = try await PostgresJobStore.open(try PostgresLocation(parsing: url))
        let waiter = Task {
            let start = ContinuousClock.now
            await waiting.waitForJobs(upTo: 60)
            return ContinuousClock.now - start
        }
        // Enqueue until the waiter hears one: the first may come before its LISTEN is in place.
        let sender = Task {
            for sent in 0..<100 where !Task.isCancelled {
                _ = try await enqueuing.enqueue([NewJob(url: "http://a/\(sent)")])
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        let waited = await waiter.value
        sender.cancel()
        #expect(waited < .seconds(30), "woken after \(waited), not by an announcement")
    }
}

/// A flag set once, read from any task.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set() { value.store(true, ordering: .releasing) }
}

/// A count any task adds to and reads.
final class Counter: Sendable {
    private let count = Atomic<Int>(0)
    var value: Int { count.load(ordering: .acquiring) }
    func increment() { count.add(1, ordering: .releasing) }
}
