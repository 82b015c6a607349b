import CSQLite
import Foundation
import TestSupport
import Testing

@testable import Queue

/// What only the SQLite driver has: its file, its schema migrations, its settings, its failure modes.
@Suite("SQLite job store")
struct SQLiteJobStoreTests {
    let directory: URL

    init() throws {
        directory = try makeScratchDirectory("xceptor-sqlite")
    }

    func path(_ name: String = "queue.sqlite") -> String { directory.appendingPathComponent(name).path }

    @Test("a new file gets every migration, recorded, in one go; reopening applies nothing")
    func migratesEmptyFile() throws {
        _ = try SQLiteJobStore(path: path())
        let db = try SQLiteConnection(path: path())
        var versions: [Int] = []
        try db.query("SELECT version FROM schema_migrations ORDER BY version") { versions.append($0.int(0)) }
        #expect(versions == Array(1...SQLiteJobStore.schemaVersion))
        var tables: Set<String> = []
        try db.query("SELECT name FROM sqlite_schema WHERE type = 'table'") { tables.insert($0.text(0)) }
        #expect(tables.isSuperset(of: ["jobs", "images", "embeddings", "labels", "schema_migrations"]))
        #expect(try db.first("PRAGMA application_id") { Int32($0.int64(0)) } == SQLiteMigrator.applicationID)

        #expect(try SQLiteMigrator().migrate(db, now: Date()).isEmpty)
    }

    @Test("the embedded migrations are the files in migrations/sqlite, numbered without gaps")
    func embeddedMigrationsMatchFiles() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../migrations/sqlite")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".sql") }.sorted()
        let migrations = Migration.all(dialect: "sqlite")
        #expect(migrations.count == files.count)
        for (migration, file) in zip(migrations, files) {
            let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
            #expect(migration.sql.trimmingCharacters(in: .newlines) == text.trimmingCharacters(in: .newlines), "\(file)")
            #expect(file.hasPrefix(String(format: "%04d_", migration.version)))
        }
    }

    @Test("a version 1 store keeps its results through migration 2, which stores each embedding once")
    func migratesVersionOne() async throws {
        // A store as version 1 left it: its schema applied by its own migration, one done job with a result.
        let db = try SQLiteConnection(path: path())
        try db.execute("PRAGMA application_id = \(SQLiteMigrator.applicationID)")
        try db.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)")
        try db.execute(Migration.all(dialect: "sqlite")[0].sql)
        try db.execute("INSERT INTO schema_migrations VALUES (1, 'initial', 0)")
        let vector = (0..<4).map { Float($0) + 1 }.withUnsafeBytes { Array($0) }
        let unit = [Float](repeating: 0.5, count: 4).withUnsafeBytes { Array($0) }
        try db.execute("INSERT INTO images (id, sha256, width, height, bytes, created_at) VALUES (7, zeroblob(32), 10, 20, 300, 0)")
        _ = try db.run(
            "INSERT INTO embeddings (id, image_id, model_id, dimensions, vector, normalized, created_at) VALUES (3, 7, 'm', 4, ?, ?, 0)",
            [.blob(vector), .blob(unit)])
        try db.execute("INSERT INTO labels VALUES (3, 0, 'cup', 0.9), (3, 1, 'fork', 0.1)")
        try db.execute(
            """
            INSERT INTO jobs (id, url, state, attempts, available_at, image_id, created_at, updated_at, finished_at)
            VALUES (1, 'http://a/1', 'done', 1, 0, 7, 0, 0, 0)
            """)

        let store = try SQLiteJobStore(path: path())
        let result = try #require(try await store.result(forJob: 1))
        #expect(result.embedding == [1, 2, 3, 4] && result.labels.map(\.label) == ["cup", "fork"] && result.modelID == "m")
        #expect(try await store.imageIDs(matching: ResultFilter(label: "cup"), modelID: "m") == [7])
        let columns = try store.withRawConnection { db -> [String] in
            var names: [String] = []
            try db.query("SELECT name FROM pragma_table_info('embeddings')") { names.append($0.text(0)) }
            return names
        }
        #expect(!columns.contains("normalized"))
        // Labels still belong to their embedding: purging the job's image takes them along.
        #expect(try await store.purgeDone(finishedBefore: Date()) == PurgeCounts(jobs: 1, images: 1))
        #expect(try store.withRawConnection { try $0.first("SELECT count(*) FROM labels") { $0.int(0) } } == 0)
        #expect(try store.withRawConnection { try $0.first("PRAGMA foreign_key_check") { _ in true } } == nil)
    }

    @Test("settings: WAL, NORMAL sync, foreign keys on")
    func settings() throws {
        let store = try SQLiteJobStore(path: path())
        let pragmas = try store.withRawConnection { db throws -> [String?] in
            try ["journal_mode", "synchronous", "foreign_keys", "wal_autocheckpoint"].map { name in
                try db.first("PRAGMA \(name)") { $0.text(0) }
            }
        }
        #expect(pragmas == ["wal", "1", "1", "4000"])  // synchronous 1 is NORMAL
        let orphanInsert = Result {
            try store.withRawConnection { db in
                try db.run(
                    "INSERT INTO embeddings (image_id, model_id, dimensions, vector, created_at) VALUES (42, 'm', 1, x'00000000', 0)")
            }
        }
        #expect(throws: SQLiteError.self) { try orphanInsert.get() }
    }

    @Test("whether jobs are unfinished, in a store of mostly finished jobs, is read from the queued and running indexes")
    func unfinishedJobsPlan() async throws {
        let store = try SQLiteJobStore(path: path())
        _ = try await store.enqueue((0..<2_000).map { NewJob(url: "http://a/\($0)") })
        let claimed = try await store.claim(limit: 1_990, leaseSeconds: 60, owner: "plans")
        #expect(try await store.complete(claimed.map { JobCompletion(lease: $0.lease, result: nil) }).isEmpty)
        // An idle worker polls this: `state IN ('queued', 'running')` matched neither partial index and scanned every job.
        let plan = try store.withRawConnection { db throws -> [String] in
            try db.run("ANALYZE")
            var lines: [String] = []
            try db.query("EXPLAIN QUERY PLAN \(UnfinishedJobsQuery.sql)") { lines.append($0.text(3) ?? "") }
            return lines
        }
        #expect(plan.contains { $0.contains("jobs_claim_order") } && plan.contains { $0.contains("jobs_lease_expiry") }, "\(plan)")
        #expect(!plan.contains("SCAN jobs"), "\(plan)")
        #expect(try await store.hasUnfinishedJobs())
    }

    @Test("a directory or a device named as the database is refused as such, and a link to a database opens it")
    func notAFileRefused() async throws {
        let directoryError = #expect(throws: QueueError.self) { try SQLiteJobStore(path: directory.path) }
        #expect(directoryError == .notAFile(location: directory.path, isDirectory: true))
        #expect(directoryError?.description.contains("it is a directory") == true)
        let deviceError = #expect(throws: QueueError.self) { try SQLiteJobStore(path: "/dev/null") }
        #expect(deviceError == .notAFile(location: "/dev/null", isDirectory: false))
        // Nothing was written to either.
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
        _ = try await SQLiteJobStore(path: path()).enqueue([NewJob(url: "http://a/1")])
        try FileManager.default.createSymbolicLink(atPath: path("link.sqlite"), withDestinationPath: path())
        #expect(try await SQLiteJobStore(path: path("link.sqlite"), create: false).status().counts[.queued] == 1)
    }

    @Test("a database from a newer xceptor is refused with the versions named")
    func newerSchemaRefused() throws {
        _ = try SQLiteJobStore(path: path())
        let db = try SQLiteConnection(path: path())
        try db.run("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)")
        let error = #expect(throws: QueueError.self) { try SQLiteJobStore(path: path()) }
        #expect(error == .newerSchema(location: path(), found: 999, supported: SQLiteJobStore.schemaVersion))
        #expect(error?.description.contains("upgrade this one") == true)
    }

    @Test("another program's SQLite file is refused and left byte for byte as it was (still in its own journal mode)")
    func foreignDatabaseRefused() throws {
        // Written by SQLite's own shell, in its default rollback-journal mode.
        let file = path("other.sqlite")
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        shell.arguments = [file, "CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('keep me');"]
        try shell.run()
        shell.waitUntilExit()
        #expect(shell.terminationStatus == 0, "sqlite3 (Debian's sqlite3 package) wrote the fixture")
        let before = try Data(contentsOf: URL(fileURLWithPath: file))

        let error = #expect(throws: QueueError.self) { try SQLiteJobStore(path: file) }
        #expect(error == .notAnXceptorDatabase(location: file))
        #expect(try Data(contentsOf: URL(fileURLWithPath: file)) == before, "the refused file was written to")
        #expect(!FileManager.default.fileExists(atPath: file + "-wal"), "the refused file was switched to WAL")
        let db = try SQLiteConnection(path: file)
        #expect(try db.first("PRAGMA journal_mode") { $0.text(0) } == "delete")
        var tables: [String] = []
        try db.query("SELECT name FROM sqlite_schema") { tables.append($0.text(0)) }
        #expect(tables == ["notes"])
    }

    @Test("a file that is not a database is refused with a clear error")
    func garbageFileRefused() throws {
        try Data(repeating: 0x41, count: 8192).write(to: URL(fileURLWithPath: path("garbage.sqlite")))
        let error = #expect(throws: QueueError.self) { try SQLiteJobStore(path: path("garbage.sqlite")) }
        guard case .corrupt? = error else {
            Issue.record("expected .corrupt, got \(String(describing: error))")
            return
        }
        #expect(error?.description.contains("not a usable database") == true)
    }

    @Test("a missing directory is named in the error")
    func missingDirectory() throws {
        let missing = directory.appendingPathComponent("no/such/dir/queue.sqlite").path
        let error = #expect(throws: QueueError.self) { try SQLiteJobStore(path: missing) }
        #expect(error?.description.contains("does not exist") == true)
    }

    @Test("an error in the middle of an enqueue adds nothing")
    func enqueueIsAtomic() async throws {
        let store = try SQLiteJobStore(path: path())
        // Fault injection: a trigger makes the 3rd insert of the batch fail.
        let db = try SQLiteConnection(path: path())
        try db.execute(
            """
            CREATE TRIGGER fail_third BEFORE INSERT ON jobs WHEN NEW.url = 'http://a/3'
            BEGIN SELECT RAISE(ABORT, 'injected failure'); END
            """)
        await #expect(throws: QueueError.self) {
            try await store.enqueue((1...5).map { NewJob(url: "http://a/\($0)") })
        }
        #expect(try await store.jobs(state: nil, afterID: nil, limit: 10).isEmpty)
    }

    @Test("a full disk rolls the enqueue back, says so, and the store keeps working")
    func diskFull() async throws {
        let store = try SQLiteJobStore(path: path())
        _ = try await store.enqueue([NewJob(url: "http://a/before")])
        // Cap the file at its current size (max_page_count is per connection): any growth now fails with
        // SQLITE_FULL, exactly as a full disk would.
        let capped = try SQLiteJobStore(path: path())
        try capped.withRawConnection { db throws in
            let pages = try db.first("PRAGMA page_count") { $0.int(0) } ?? 0
            try db.execute("PRAGMA max_page_count = \(pages)")
        }

        let many = (0..<5000).map { NewJob(url: "http://a/\($0)/" + String(repeating: "x", count: 200)) }
        let error = await #expect(throws: QueueError.self) { try await capped.enqueue(many) }
        #expect(error == .diskFull(location: path()))
        #expect(error?.description.contains("nothing was lost") == true)
        #expect(try await store.jobs(state: nil, afterID: nil, limit: 10).map(\.url) == ["http://a/before"])
        // The same store still serves reads and small writes that fit.
        #expect(try await capped.status().total == 1)
    }

    @Test("a write waits for another process's transaction to end instead of failing")
    func waitsForTheWriteLock() async throws {
        try await Self.whileAnotherConnectionHoldsTheWriteLock(path(), releasedAfter: 0.3) { store, _ in
            let counts = try await store.enqueue([NewJob(url: "http://a/1")])
            #expect(counts.added == 1)
        }
    }

    @Test("reads answer at once, from committed data, while the store's own write waits for another process's lock")
    func readsDoNotQueueBehindAWaitingWrite() async throws {
        let database = path()
        _ = try await SQLiteJobStore(path: database).enqueue([NewJob(url: "http://a/0")])
        try await Self.whileAnotherConnectionHoldsTheWriteLock(database, uncommittedURL: "http://a/uncommitted") { store, release in
            let write = Task { try await store.enqueue([NewJob(url: "http://a/1")]) }
            try await Task.sleep(for: .milliseconds(100))  // time for the write to start waiting for the lock
            // Answered while the holder still holds the lock: on one connection these waited behind the write
            // until the holder committed, and then saw the holder's job and the write's.
            #expect(try await store.job(id: 1)?.url == "http://a/0")
            #expect(try await store.job(url: "http://a/uncommitted") == nil)
            #expect(try await store.status().counts[.queued] == 1)
            release()
            #expect(try await write.value.added == 1)
            // Read your writes: the next read sees what the store's connection (and the holder) committed.
            #expect(try await store.status().counts[.queued] == 3)
        }
    }

    /// Runs `body` on a new store while another connection, on its own thread, holds the file's write lock
    /// (with an uncommitted job, if given) until `body` calls `release`, or for `releasedAfter` seconds; then
    /// it commits.
    static func whileAnotherConnectionHoldsTheWriteLock(
        _ database: String, releasedAfter seconds: Double? = nil, uncommittedURL: String? = nil,
        _ body: (SQLiteJobStore, _ release: @escaping @Sendable () -> Void) async throws -> Void
    ) async throws {
        // The write may wait as long as a loaded machine takes to run `body`: no busy timeout in the way.
        let store = try SQLiteJobStore(path: database, configuration: QueueConfiguration(busyTimeoutMilliseconds: 300_000))
        let locked = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let released = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            guard let holder = try? SQLiteConnection(path: database), (try? holder.execute("BEGIN IMMEDIATE")) != nil else {
                locked.signal()
                return
            }
            if let uncommittedURL {
                try? holder.execute("INSERT INTO jobs (url, available_at, created_at, updated_at) VALUES ('\(uncommittedURL)', 0, 0, 0)")
            }
            locked.signal()
            if let seconds { Thread.sleep(forTimeInterval: seconds) } else { _ = release.wait(timeout: .now() + 300) }
            try? holder.execute("COMMIT")
            released.signal()
        }
        locked.wait()
        defer { release.signal() }
        try await body(store) { release.signal() }
        #expect(released.wait(timeout: .now() + 300) == .success, "the holder never released its lock")
    }

    @Test("a lock held past the busy timeout fails as busy, naming the timeout, and not before it")
    func givesUpAfterTheBusyTimeout() async throws {
        let store = try SQLiteJobStore(path: path(), configuration: QueueConfiguration(busyTimeoutMilliseconds: 300))
        let holder = try SQLiteConnection(path: path())
        try holder.execute("BEGIN IMMEDIATE")
        defer { try? holder.execute("ROLLBACK") }
        let start = Date()
        let error = await #expect(throws: QueueError.self) { try await store.enqueue([NewJob(url: "http://a/1")]) }
        #expect(error == .busy(location: path(), timeoutMilliseconds: 300))
        #expect(Date().timeIntervalSince(start) >= 0.25, "gave up before the busy timeout")
        #expect(error?.description.contains("nothing was written") == true)
    }

    @Test("two stores on one file never claim the same job")
    func twoConnectionsClaimDisjointly() async throws {
        let a = try SQLiteJobStore(path: path())
        let b = try SQLiteJobStore(path: path())
        _ = try await a.enqueue((0..<500).map { NewJob(url: "http://a/\($0)") })
        async let fromA = Self.claimAll(a, owner: "a")
        async let fromB = Self.claimAll(b, owner: "b")
        let (idsA, idsB) = try await (fromA, fromB)
        #expect(Set(idsA).isDisjoint(with: idsB))
        #expect(idsA.count + idsB.count == 500)
    }

    static func claimAll(_ store: SQLiteJobStore, owner: String) async throws -> [JobID] {
        var ids: [JobID] = []
        while case let batch = try await store.claim(limit: 7, leaseSeconds: 60, owner: owner), !batch.isEmpty {
            ids += batch.map(\.id)
        }
        return ids
    }
}
