import ArgumentParser
import Foundation
import Queue
import Stores

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Create the store's tables, or bring them up to this version's schema, and exit.",
        discussion: """
            Every command does this when it opens a store, so migrate is for deployments that want it done once, \
            on purpose, before the workers start (a migration job in Kubernetes, say). For PostgreSQL the \
            database itself must exist; workers starting at once take turns at a lock, and one of them migrates.
            """
    )

    @OptionGroup var store: StoreOptions

    func run() async throws {
        _ = try await store.open(create: true)
        print("\(FailureMessage.printable(store.displayName)) is at schema version \(JobStores.schemaVersion(for: store.location))")
    }
}
