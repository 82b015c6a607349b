import ArgumentParser
import Bench
import Foundation
import Queue

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure parts of xceptor on this machine.",
        subcommands: [QueueBench.self, QueueDrain.self]
    )
}

extension BenchCommand {
    struct QueueBench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "queue",
            abstract: "Enqueue jobs/s (batched) and claim+complete jobs/s for 1..N processes on a fresh SQLite file.",
            discussion: "Anchor: goqite (Go, SQLite) reports about 13,000 send+receive+delete per second.")

        @Option(name: .long, help: "Jobs to enqueue in one batch.")
        var jobs = 100_000

        @Option(name: .long, help: "Jobs to claim and complete per configuration.")
        var drainJobs = 20_000

        @Option(name: .long, parsing: .upToNextOption, help: "Process counts to measure.")
        var processes: [Int] = [1, 4]

        @Option(name: .long, parsing: .upToNextOption, help: "Claim batch sizes to measure (1: one job per claim and per complete).")
        var batch: [Int] = [1, 32]

        @Option(name: .long, help: ArgumentHelp("Directory for the scratch databases (default: a new temporary one).", valueName: "dir"))
        var directory: String?

        @Flag(name: .long, help: "Print one JSON object.")
        var json = false

        func validate() throws {
            guard jobs > 0, drainJobs > 0, processes.allSatisfy({ $0 > 0 }), batch.allSatisfy({ $0 > 0 }) else {
                throw ValidationError("--jobs, --drain-jobs, --processes and --batch must be positive")
            }
        }

        func run() async throws {
            let scratch = directory.map { URL(fileURLWithPath: $0) }
                ?? FileManager.default.temporaryDirectory.appendingPathComponent("xceptor-bench-\(UUID().uuidString)")
            defer { if directory == nil { try? FileManager.default.removeItem(at: scratch) } }
            let benchmark = QueueBenchmark(executable: currentExecutable(), enqueueJobs: jobs, drainJobs: drainJobs,
                                           processCounts: processes, batchSizes: batch, directory: scratch)
            let results = try await benchmark.run { line in if !json { print(line) } }
            if json {
                let encoder = JSONEncoder()
                encoder.keyEncodingStrategy = .convertToSnakeCase
                encoder.outputFormatting = [.sortedKeys]
                FileHandle.standardOutput.write(try encoder.encode(results) + Data("\n".utf8))
            }
        }
    }

    /// One benchmark or test process: claims and completes until the queue is empty.
    struct QueueDrain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "queue-drain",
            abstract: "Claim and complete jobs until none is left (a child process of 'bench queue' and the tests).",
            shouldDisplay: false)

        @OptionGroup var store: StoreOptions

        @Option(name: .long, help: "Lease owner name.")
        var owner = "drain-\(ProcessInfo.processInfo.processIdentifier)"

        @Option(name: .long, help: "Jobs per claim.")
        var batch = 32

        @Option(name: .long, help: "Lease length in seconds.")
        var leaseSeconds = 30.0

        @Flag(name: .long, help: "Claim one batch, print its ids, then hold the leases until killed.")
        var hold = false

        @Flag(name: .customLong("print-ids"), help: "Print the id of every job completed, one per line.")
        var printIDs = false

        @Flag(name: .long, help: "Print a JSON report at the end.")
        var json = false

        func run() async throws {
            let store = try store.open()
            if hold {
                let jobs = try await store.claim(limit: batch, leaseSeconds: leaseSeconds, owner: owner)
                // Unbuffered: the parent waits for this line before it kills us.
                FileHandle.standardOutput.write(Data("claimed \(jobs.map { String($0.id) }.joined(separator: " "))\n".utf8))
                while true { try await Task.sleep(for: .seconds(3600)) }
            }
            let drainer = QueueDrainer(store: store, owner: owner, batchSize: batch, leaseSeconds: leaseSeconds)
            let report = try await drainer.run { ids in
                if printIDs { print(ids.map(String.init).joined(separator: "\n")) }
            }
            if json {
                FileHandle.standardOutput.write(try JSONEncoder().encode(report) + Data("\n".utf8))
            }
        }
    }
}

/// This process's own executable, for starting copies of itself.
private func currentExecutable() -> URL {
    if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
        return URL(fileURLWithPath: path)
    }
    return URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
}
