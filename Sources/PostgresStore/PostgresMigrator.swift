import Foundation
import Logging
import PostgresNIO
import Queue

/// Applies the PostgreSQL migrations a database lacks, in order, in one transaction, and records each in
/// `schema_migrations`. Ten workers starting at once against a new database take turns at a transaction-
/// scoped advisory lock, so one migrates and the others find the work done.
struct PostgresMigrator {
    /// The advisory lock key: 'XCPT', as SQLite's application id.
    static let lockKey: Int64 = 0x5843_5054

    let migrations = Migration.all(dialect: "postgres")

    var latestVersion: Int { migrations.last?.version ?? 0 }

    /// Brings the schema up to date; returns the versions applied now. With `create` false a database
    /// without xceptor's tables is reported missing instead of being filled.
    @discardableResult
    func migrate(_ connection: PostgresConnection, location: PostgresLocation, create: Bool, now: Int64, logger: Logger) async throws
        -> [Int]
    {
        try await connection.transaction(logger: logger) { connection in
            try await connection.run("SELECT pg_advisory_xact_lock(\(Self.lockKey))", logger: logger)
            let tables = try await connection.run(
                """
                SELECT count(*), count(*) FILTER (WHERE tablename = 'schema_migrations')
                FROM pg_tables WHERE schemaname = current_schema()
                """, logger: logger
            ).collect().first?.decode((Int64, Int64).self)
            let (tableCount, ours) = tables ?? (0, 0)
            if ours == 0 {
                guard tableCount == 0 else { throw QueueError.notAnXceptorDatabase(location: location.description) }
                guard create else { throw QueueError.missing(location: location.description) }
                try await connection.run(
                    """
                    CREATE TABLE schema_migrations (
                        version     integer PRIMARY KEY,
                        name        text    NOT NULL,
                        applied_at  bigint  NOT NULL
                    )
                    """, logger: logger)
            }
            let current =
                try await connection.run("SELECT coalesce(max(version), 0)::bigint FROM schema_migrations", logger: logger)
                .collect().first?.decode(Int64.self) ?? 0
            if current > latestVersion {
                throw QueueError.newerSchema(location: location.description, found: Int(current), supported: latestVersion)
            }
            var applied: [Int] = []
            for migration in migrations where migration.version > current {
                for statement in Self.statements(migration.sql) {
                    try await connection.run(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.run(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (\(migration.version), \(migration.name), \(now))",
                    logger: logger)
                applied.append(migration.version)
            }
            return applied
        }
    }

    /// A script's statements: split at semicolons outside quotes, dollar-quoted bodies and comments
    /// (PostgresNIO speaks the extended protocol, which takes one statement at a time).
    static func statements(_ script: String) -> [String] {
        var statements: [String] = []
        var current = ""
        let characters = Array(script)
        var index = 0
        func starts(with text: String, at position: Int) -> Bool {
            let pattern = Array(text)
            return position + pattern.count <= characters.count && Array(characters[position..<position + pattern.count]) == pattern
        }
        while index < characters.count {
            let character = characters[index]
            if starts(with: "--", at: index) {
                while index < characters.count, characters[index] != "\n" { index += 1 }
                continue
            }
            if starts(with: "/*", at: index) {
                index += 2
                while index < characters.count, !starts(with: "*/", at: index) { index += 1 }
                index += 2
                continue
            }
            if character == "'" || character == "\"" {
                current.append(character)
                index += 1
                while index < characters.count {
                    current.append(characters[index])
                    index += 1
                    if characters[index - 1] == character { break }
                }
                continue
            }
            if character == "$", let close = characters[(index + 1)...].firstIndex(of: "$"),
                characters[(index + 1)..<close].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" })
            {
                let tag = String(characters[index...close])
                current += tag
                index = close + 1
                while index < characters.count, !starts(with: tag, at: index) {
                    current.append(characters[index])
                    index += 1
                }
                current += tag
                index += tag.count
                continue
            }
            if character == ";" {
                let statement = current.trimmingCharacters(in: .whitespacesAndNewlines)
                if !statement.isEmpty { statements.append(statement) }
                current = ""
            } else {
                current.append(character)
            }
            index += 1
        }
        let rest = current.trimmingCharacters(in: .whitespacesAndNewlines)
        if !rest.isEmpty { statements.append(rest) }
        return statements
    }
}
