import Foundation
import Logging
import PostgresStore
import Queue

/// Opens the job store a `--db` value names: a `postgres://` or `postgresql://` URL (PostgreSQL, shared by
/// many hosts), else a SQLite file path (`sqlite:PATH` too).
public enum JobStores {
    /// The location used when neither `--db` nor `XCEPTOR_DB` is given.
    public static let defaultLocation = "./xceptor.sqlite"

    /// With `create` false, a database that does not exist yet (a missing file, a PostgreSQL database
    /// without xceptor's tables) is an error.
    public static func open(
        _ location: String, create: Bool, configuration: QueueConfiguration = QueueConfiguration(),
        logger: Logger = Logger(label: "xceptor.store")
    ) async throws -> any JobStore {
        switch try driver(for: location) {
        case .postgres:
            return try await PostgresJobStore.open(
                try PostgresLocation(parsing: location), create: create, configuration: configuration, logger: logger)
        case let .sqlite(path):
            guard !path.isEmpty else {
                throw QueueError.invalidArgument("the job database location is empty; give a file path such as ./xceptor.sqlite")
            }
            return try SQLiteJobStore(path: path, create: create, configuration: configuration)
        }
    }

    /// Throws when `location` cannot name a store whatever the machine holds: a scheme no driver takes, or a
    /// PostgreSQL URL that does not parse (the environment's PG* settings aside). Opens and reads nothing.
    public static func checkSyntax(_ location: String) throws {
        if case .postgres = try driver(for: location) { _ = try PostgresLocation(parsing: location, environment: [:]) }
    }

    private enum Driver {
        case postgres
        case sqlite(path: String)
    }

    /// Which driver takes `location`; another scheme is refused.
    private static func driver(for location: String) throws -> Driver {
        if PostgresLocation.isPostgresURL(location) { return .postgres }
        if location.contains("://") { throw QueueError.unsupportedLocation(location) }
        return .sqlite(path: sqlitePath(of: location))
    }

    /// A SQLite location's file path: the location itself, or what follows `sqlite:`.
    private static func sqlitePath(of location: String) -> String {
        location.hasPrefix("sqlite:") ? String(location.dropFirst("sqlite:".count)) : location
    }

    /// The schema version this build writes to the store at `location`.
    public static func schemaVersion(for location: String) -> Int {
        PostgresLocation.isPostgresURL(location) ? PostgresJobStore.schemaVersion : SQLiteJobStore.schemaVersion
    }

    /// A location as logs and messages show it: a PostgreSQL URL without its password.
    public static func displayName(of location: String) -> String {
        guard PostgresLocation.isPostgresURL(location) else { return location }
        return (try? PostgresLocation(parsing: location, environment: [:]).description) ?? "a PostgreSQL URL that does not parse"
    }

    /// A store's name as a copy's checkpoint records it: a SQLite file's absolute path (the same file
    /// wherever the command runs from), a PostgreSQL URL without its password.
    public static func sourceName(of location: String) -> String {
        guard !PostgresLocation.isPostgresURL(location) else { return displayName(of: location) }
        return URL(fileURLWithPath: sqlitePath(of: location)).standardizedFileURL.resolvingSymlinksInPath().path
    }

    /// Where the HNSW index of a store lives: beside a SQLite file; for PostgreSQL, whose search hosts each
    /// keep their own copy, `DATABASE.hnsw` in the current directory.
    public static func indexFile(for location: String) -> URL {
        if PostgresLocation.isPostgresURL(location) {
            let database = (try? PostgresLocation(parsing: location, environment: [:]).database) ?? "xceptor"
            return URL(fileURLWithPath: database + ".hnsw")
        }
        return URL(fileURLWithPath: sqlitePath(of: location) + ".hnsw")
    }
}
