import ArgumentParser
import Foundation
import Queue
import Retrieval

/// The `--db` option every command that touches the queue shares.
struct StoreOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The job queue: a SQLite file path (PostgreSQL URLs come later).",
            discussion: "Defaults to $XCEPTOR_DB, else ./xceptor.sqlite. enqueue creates it; the other commands need it to exist.",
            valueName: "db"))
    var db: String?

    func validate() throws {
        if let db, db.isEmpty { throw ValidationError("--db cannot be empty; give a file path such as ./xceptor.sqlite") }
    }

    var location: String {
        db ?? ProcessInfo.processInfo.environment["XCEPTOR_DB"].flatMap { $0.isEmpty ? nil : $0 } ?? JobStores.defaultLocation
    }

    /// Opens the queue; only commands that add jobs create a missing one, so a mistyped --db is an error.
    func open(create: Bool = false) throws -> any JobStore {
        try JobStores.open(location, create: create)
    }

    /// The HNSW index beside the database.
    var indexFile: URL { SearchService.indexFile(forStoreAt: location) }

    /// Search, duplicates, export and the index over this store.
    func searchService(embedder: (any QueryEmbedder)? = nil) throws -> SearchService {
        SearchService(store: try open(), indexFile: indexFile, embedder: embedder)
    }
}
