import ArgumentParser
import Foundation
import Logging
import Queue
import Retrieval
import Stores

/// The `--db` option every command that touches the queue shares.
struct StoreOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The job queue: a SQLite file path, or a PostgreSQL URL (postgres://USER@HOST:PORT/DATABASE?sslmode=...).",
            discussion: """
                Defaults to $XCEPTOR_DB, else ./xceptor.sqlite. enqueue creates it (for PostgreSQL: its tables, in \
                a database that exists); the other commands need it to exist. A PostgreSQL password comes from the \
                URL, $PGPASSWORD or ~/.pgpass, and is never printed.
                """,
            valueName: "db"))
    var db: String?

    func validate() throws {
        guard let db else { return }
        if db.isEmpty { throw ValidationError("--db cannot be empty; give a file path such as ./xceptor.sqlite") }
        // A scheme no driver takes, or a PostgreSQL URL that does not parse, is a mistake in the flag itself.
        do { try JobStores.checkSyntax(db) } catch { throw ValidationError(FailureMessage.text(for: error)) }
    }

    var location: String {
        db ?? ProcessInfo.processInfo.environment["XCEPTOR_DB"].flatMap { $0.isEmpty ? nil : $0 } ?? JobStores.defaultLocation
    }

    /// Opens the queue; only commands that add jobs create a missing one, so a mistyped --db is an error.
    func open(create: Bool = false) async throws -> any JobStore {
        try await JobStores.open(location, create: create)
    }

    /// Opens the queue for a long-running process (worker, serve): a database server that cannot be reached
    /// yet (still starting, failing over) is waited for, said in the log, for up to five minutes.
    func openWaiting(logger: Logger) async throws -> any JobStore {
        let start = ContinuousClock.now
        var pause = 0.5
        while true {
            do {
                return try await open()
            } catch let error as QueueError where error.isUnavailable && ContinuousClock.now - start < .seconds(300) {
                logger.warning("the job store cannot be reached yet; retrying", metadata: ["error": "\(error)", "retry_in_s": "\(pause)"])
                try await Task.sleep(for: .seconds(pause))
                pause = min(15, pause * 2)
            } catch let error as QueueError where error.isLocked {
                // Another process holds the write lock (a long enqueue, a backup): not a failure, wait it out.
                logger.warning("another process holds the job store's write lock; waiting for it", metadata: ["error": "\(error)"])
                try await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// The HNSW index beside the database.
    var indexFile: URL { JobStores.indexFile(for: location) }

    /// The SQLite file a command that works on files only (the store benchmarks) was given.
    func sqlitePath(for command: String) throws -> String {
        guard !location.contains("://") else { throw CommandFailure("\(command) works on SQLite files; give --db a file path") }
        return location.hasPrefix("sqlite:") ? String(location.dropFirst("sqlite:".count)) : location
    }

    /// The location as messages and logs show it (never a password).
    var displayName: String { JobStores.displayName(of: location) }

    /// Search, duplicates, export and the index over this store.
    func searchService(embedder: (any QueryEmbedder)? = nil) async throws -> SearchService {
        SearchService(store: try await open(), indexFile: indexFile, embedder: embedder)
    }
}
