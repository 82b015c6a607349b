import ArgumentParser
import Foundation
import Retrieval
import Search

struct IndexCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "index",
        abstract: "Build, update and inspect the HNSW index that makes search fast on large collections.",
        discussion:
            "The index lives beside the database (DB.hnsw). Search uses it once it covers --index-threshold embeddings, together with an exact scan of what was stored after it.",
        subcommands: [Build.self, Update.self, Status.self]
    )
}

extension IndexCommand {
    struct Build: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Build the index afresh from every stored embedding of the model.",
            discussion: #"With --json: {"file", "model", "added", "indexed", "seconds"}."#)

        @OptionGroup var store: StoreOptions
        @OptionGroup var model: ModelOptions

        @Option(name: .long, help: "Links per node (twice as many on the bottom level).")
        var m = 16

        @Option(name: .long, help: "Candidates explored per insertion: higher builds slower and finds better neighbours.")
        var efConstruction = 200

        @OptionGroup var threads: IndexThreads

        @Flag(name: .long, help: "Print one JSON object.")
        var json = false

        @Option(
            name: .long,
            help: "With several models in the store: read the one --model made at this input size (default: the model's own size).")
        var size: Int?

        func validate() throws {
            if let size, !(71...2048).contains(size) { throw ValidationError("--size must be 71-2048") }
            guard (2...127).contains(m) else { throw ValidationError("--m must be 2-127") }
            guard (1...100_000).contains(efConstruction) else { throw ValidationError("--ef-construction must be 1-100000") }
        }

        func run() async throws {
            let embedder = model.embedder()
            let search = try await store.searchService(embedder: embedder)
            let maintenance = IndexMaintenance(search: search, threads: threads.count)
            let report = try await maintenance.build(
                parameters: HNSWIndex.Parameters(m: m, efConstruction: efConstruction),
                modelID: try await model.storedModelID(in: search.store, size: size, embedder: embedder))
            if json { return try printJSON(report) }
            print(String(format: "indexed %d embeddings of %@ in %.1f s: %@", report.indexed, report.model, report.seconds, report.file))
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add the embeddings stored since the index was last built or updated.",
            discussion: #"With --json: {"file", "model", "added", "indexed", "seconds"}."#)

        @OptionGroup var store: StoreOptions
        @OptionGroup var threads: IndexThreads

        @Flag(name: .long, help: "Print one JSON object.")
        var json = false

        func run() async throws {
            let report = try await IndexMaintenance(search: try await store.searchService(), threads: threads.count).update()
            if json { return try printJSON(report) }
            print("added \(report.added); the index holds \(report.indexed) embeddings of \(report.model)")
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show what the index covers and how far behind the store it is.",
            discussion: #"With --json: {"file", "exists", "model", "indexed", "dimensions", "m", "ef_construction", "behind"}."#)

        @OptionGroup var store: StoreOptions

        @Flag(name: .long, help: "Print one JSON object.")
        var json = false

        func run() async throws {
            let status = try await IndexMaintenance(search: try await store.searchService()).status()
            if json { return try printJSON(status) }
            guard status.exists, let model = status.model else {
                print("no index at \(status.file); searches scan every embedding ('xceptor index build' makes one)")
                return
            }
            print(
                """
                index    \(status.file)
                model    \(model)
                vectors  \(status.indexed) x \(status.dimensions ?? 0)
                M        \(status.m ?? 0), efConstruction \(status.efConstruction ?? 0)
                behind   \(status.behind) newer embeddings (searched exactly until 'xceptor index update')
                """)
        }
    }
}

/// How many threads insert into the index.
struct IndexThreads: ParsableArguments {
    @Option(name: .customLong("threads"), help: "Threads that insert embeddings (default: every core).")
    var requested: Int?

    var count: Int { requested ?? ProcessInfo.processInfo.activeProcessorCount }

    func validate() throws {
        if let requested, !(1...4096).contains(requested) { throw ValidationError("--threads must be 1-4096") }
    }
}
