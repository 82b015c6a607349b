/// One numbered schema step from `migrations/<dialect>/NNNN_name.sql`, embedded at build time.
public struct Migration: Sendable, Equatable {
    public var version: Int
    public var name: String
    public var sql: String

    /// The migrations of one SQL dialect ("sqlite", "postgres"), in version order.
    public static func all(dialect: String) -> [Migration] {
        let migrations = EmbeddedMigrations.files
            .filter { $0.dialect == dialect }
            .map { file -> Migration in
                // The file name is the record: "0001_initial.sql" is version 1, named "initial".
                let stem = file.file.dropLast(".sql".count)
                let parts = stem.split(separator: "_", maxSplits: 1)
                guard let version = Int(parts[0]), parts.count == 2 else {
                    preconditionFailure("migration file \(dialect)/\(file.file) is not named NNNN_name.sql")
                }
                return Migration(version: version, name: String(parts[1]), sql: file.sql)
            }
            .sorted { $0.version < $1.version }
        precondition(
            migrations.enumerated().allSatisfy { $0.offset + 1 == $0.element.version },
            "migrations/\(dialect) must be numbered 1, 2, 3... without gaps")
        return migrations
    }
}
