import ArgumentParser
import Foundation
import Queue
import Search

struct IndexCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "index",
        abstract: "Build, update and inspect the HNSW index that makes search fast on large collections.",
        discussion: "The index lives beside the database (DB.hnsw). Search uses it once it covers --index-threshold embeddings, together with an exact scan of what was stored after it.",
        subcommands: [Build.self, Update.self, Status.self]
    )
}

extension IndexCommand {
    struct Build: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Build the index afresh from every stored embedding of the model.")

        @OptionGroup var store: StoreOptions
        @OptionGroup var model: ModelOptions

        @Option(name: .long, help: "Links per node (twice as many on the bottom level).")
        var m = 16

        @Option(name: .long, help: "Candidates explored per insertion: higher builds slower and finds better neighbours.")
        var efConstruction = 200

        @OptionGroup var threads: IndexThreads

        func validate() throws {
            guard (2...127).contains(m) else { throw ValidationError("--m must be 2-127") }
            guard efConstruction >= 1 else { throw ValidationError("--ef-construction must be at least 1") }
        }

        func run() async throws {
            let jobStore = try store.open()
            let modelID = try await SearchModel.resolve(jobStore, model: ModelLoader(model), location: store.location)
            let vectors = try await jobStore.searchVectors(modelID: modelID, afterImageID: nil)
            let start = ContinuousClock.now
            let index = HNSWIndex(dimensions: vectors.dimensions, parameters: .init(m: m, efConstruction: efConstruction))
            SearchModel.add(vectors, to: index, threads: threads.count)
            let file = SearchModel.indexFile(for: store.location)
            try index.write(to: file, label: modelID, key: vectors.imageIDs.last ?? 0)
            let seconds = Double((ContinuousClock.now - start) / .milliseconds(1)) / 1000
            print(String(format: "indexed %d embeddings of %@ in %.1f s: %@", index.count, modelID, seconds, file.path))
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add the embeddings stored since the index was last built or updated.")

        @OptionGroup var store: StoreOptions
        @OptionGroup var threads: IndexThreads

        func run() async throws {
            let jobStore = try store.open()
            let file = SearchModel.indexFile(for: store.location)
            guard FileManager.default.fileExists(atPath: file.path) else {
                throw ValidationError("no index at \(file.path); run 'xceptor index build' first")
            }
            let (index, header) = try HNSWIndex.read(from: file)
            let tail = try await jobStore.searchVectors(modelID: header.label, afterImageID: header.key)
            SearchModel.add(tail, to: index, threads: threads.count)
            if !tail.imageIDs.isEmpty { try index.write(to: file, label: header.label, key: tail.imageIDs.last!) }
            print("added \(tail.imageIDs.count); the index holds \(index.count) embeddings of \(header.label)")
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show what the index covers and how far behind the store it is.")

        @OptionGroup var store: StoreOptions

        func run() async throws {
            let jobStore = try store.open()
            let file = SearchModel.indexFile(for: store.location)
            guard FileManager.default.fileExists(atPath: file.path) else {
                print("no index at \(file.path); searches scan every embedding ('xceptor index build' makes one)")
                return
            }
            let header = try HNSWIndex.header(of: file)
            let behind = try await jobStore.searchVectors(modelID: header.label, afterImageID: header.key).imageIDs.count
            print("""
                index    \(file.path)
                model    \(header.label)
                vectors  \(header.count) x \(header.dimensions)
                M        \(header.parameters.m), efConstruction \(header.parameters.efConstruction)
                behind   \(behind) newer embeddings (searched exactly until 'xceptor index update')
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
        if let requested, requested < 1 { throw ValidationError("--threads must be at least 1") }
    }
}
