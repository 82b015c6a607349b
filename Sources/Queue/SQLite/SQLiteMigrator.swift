import Foundation

/// Applies the SQLite migrations a database lacks, in order, in one transaction, and records each in
/// `schema_migrations`. Several processes may open a new file at once: the write lock serialises them and
/// the later ones find the work done.
struct SQLiteMigrator {
    /// Marks a file as an xceptor database ('XCPT'), so `--db` pointed at another program's SQLite file
    /// is refused instead of being filled with our tables.
    static let applicationID: Int32 = 0x5843_5054

    let migrations = Migration.all(dialect: "sqlite")

    var latestVersion: Int { migrations.last?.version ?? 0 }

    /// Throws `notAnXceptorDatabase` for a file that holds another program's tables; reads only. Returns
    /// whether the file is already marked as ours (false: empty, to be marked).
    @discardableResult
    static func checkOwnership(_ connection: SQLiteConnection) throws -> Bool {
        let applicationID = try connection.first("PRAGMA application_id") { Int32(truncatingIfNeeded: $0.int64(0)) } ?? 0
        guard applicationID != Self.applicationID else { return true }
        let tableCount = try connection.first("SELECT count(*) FROM sqlite_schema") { $0.int(0) } ?? 0
        guard applicationID == 0, tableCount == 0 else { throw QueueError.notAnXceptorDatabase(location: connection.path) }
        return false
    }

    /// Brings the schema up to date; returns the versions applied now.
    @discardableResult
    func migrate(_ connection: SQLiteConnection, now: Date) throws -> [Int] {
        try connection.transaction {
            // Again inside the write transaction: another program may have filled an empty file meanwhile.
            if try !Self.checkOwnership(connection) {
                try connection.execute("PRAGMA application_id = \(Self.applicationID)")
            }
            try connection.execute(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version     INTEGER PRIMARY KEY,
                    name        TEXT    NOT NULL,
                    applied_at  INTEGER NOT NULL
                )
                """)
            let current = try connection.first("SELECT coalesce(max(version), 0) FROM schema_migrations") { $0.int(0) } ?? 0
            if current > latestVersion {
                throw QueueError.newerSchema(location: connection.path, found: current, supported: latestVersion)
            }
            var applied: [Int] = []
            for migration in migrations where migration.version > current {
                try connection.execute(migration.sql)
                try connection.run(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    [.integer(migration.version), .text(migration.name), .integer(now.storeMilliseconds)])
                applied.append(migration.version)
            }
            return applied
        }
    }
}
