import ArgumentParser
import Foundation
import Queue

/// The `--db` option every command that touches the queue shares.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "The job queue: a SQLite file path (PostgreSQL URLs come later).",
        discussion: "Defaults to $XCEPTOR_DB, else ./xceptor.sqlite. enqueue creates it; the other commands need it to exist.",
        valueName: "db"))
    var db: String?

    var location: String {
        db ?? ProcessInfo.processInfo.environment["XCEPTOR_DB"].flatMap { $0.isEmpty ? nil : $0 } ?? JobStores.defaultLocation
    }

    /// Opens the queue; only commands that add jobs create a missing one, so a mistyped --db is an error.
    func open(create: Bool = false) throws -> any JobStore {
        try JobStores.open(location, create: create)
    }
}
