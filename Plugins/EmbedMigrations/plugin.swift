import Foundation
import PackagePlugin

/// Turns every `migrations/<dialect>/NNNN_name.sql` file into Swift source compiled into the target,
/// so a deployed binary carries its schema and the SQL files stay the single source of truth.
@main
struct EmbedMigrations: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let migrations = context.package.directoryURL.appending(path: "migrations")
        let sqlFiles = (FileManager.default.subpaths(atPath: migrations.path) ?? [])
            .filter { $0.hasSuffix(".sql") }
            .sorted()
            .map { migrations.appending(path: $0) }
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedMigrations.swift")
        return [
            .buildCommand(
                displayName: "Embedding \(sqlFiles.count) SQL migrations",
                executable: try context.tool(named: "MigrationEmbedder").url,
                arguments: [output.path] + sqlFiles.map(\.path),
                inputFiles: sqlFiles,
                outputFiles: [output]
            )
        ]
    }
}
