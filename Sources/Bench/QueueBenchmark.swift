import Foundation
import Queue

/// Measures the queue on a fresh SQLite file: batched enqueue, then claim+complete by 1..N processes.
/// Anchor (from the issue): goqite, a Go queue on SQLite, reports ~13,000 send+receive+delete per second.
public struct QueueBenchmark: Sendable {
    /// The `xceptor` binary, started as `bench queue-drain` children.
    public var executable: URL
    public var enqueueJobs: Int
    public var drainJobs: Int
    public var processCounts: [Int]
    public var batchSizes: [Int]
    public var directory: URL

    public init(executable: URL, enqueueJobs: Int, drainJobs: Int, processCounts: [Int], batchSizes: [Int], directory: URL) {
        self.executable = executable
        self.enqueueJobs = enqueueJobs
        self.drainJobs = drainJobs
        self.processCounts = processCounts
        self.batchSizes = batchSizes
        self.directory = directory
    }

    /// Jobs through one measured step, and how fast.
    public struct Throughput: Sendable, Codable {
        public var jobs: Int
        public var seconds: Double
        public var jobsPerSecond: Double

        init(jobs: Int, seconds: Double) {
            self.jobs = jobs
            self.seconds = seconds
            jobsPerSecond = Double(jobs) / seconds
        }
    }

    public struct DrainResult: Sendable, Codable {
        public var processes: Int
        public var batchSize: Int
        public var jobs: Int
        public var seconds: Double
        public var jobsPerSecond: Double
    }

    public struct Results: Sendable, Codable {
        /// One batch in one transaction.
        public var enqueue: Throughput
        /// One job at a time through its whole life: enqueue 1, claim 1, complete 1 (goqite's send+receive+delete).
        public var sequential: Throughput
        public var claimComplete: [DrainResult]
    }

    public func run(progress: (String) -> Void) async throws -> Results {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)

        let enqueueStore = try SQLiteJobStore(path: path("enqueue"))
        let urls = (0..<enqueueJobs).map { NewJob(url: "http://bench.invalid/images/\($0).jpg") }
        let enqueueStart = Date()
        let counts = try await enqueueStore.enqueue(urls)
        let enqueueSeconds = Date().timeIntervalSince(enqueueStart)
        guard counts.added == enqueueJobs else {
            throw QueueError.invalidArgument("benchmark enqueue added \(counts.added) of \(enqueueJobs) jobs")
        }
        let enqueue = Throughput(jobs: enqueueJobs, seconds: enqueueSeconds)
        progress(
            String(format: "enqueue: %d jobs in one transaction, %.3f s, %.0f jobs/s", enqueueJobs, enqueueSeconds, enqueue.jobsPerSecond))

        let sequential = try await sequentialRoundTrips()
        progress(
            String(
                format: "sequential enqueue 1 + claim 1 + complete 1: %d jobs in %.3f s, %.0f jobs/s",
                sequential.jobs, sequential.seconds, sequential.jobsPerSecond))

        var drains: [DrainResult] = []
        for batchSize in batchSizes {
            for processes in processCounts {
                let result = try await drain(processes: processes, batchSize: batchSize)
                drains.append(result)
                progress(
                    String(
                        format: "claim+complete: %d process(es), batch %d: %d jobs in %.3f s, %.0f jobs/s",
                        processes, batchSize, result.jobs, result.seconds, result.jobsPerSecond))
            }
        }
        return Results(enqueue: enqueue, sequential: sequential, claimComplete: drains)
    }

    private func sequentialRoundTrips() async throws -> Throughput {
        let store = try SQLiteJobStore(path: path("sequential"))
        let start = Date()
        for index in 0..<drainJobs {
            _ = try await store.enqueue([NewJob(url: "http://bench.invalid/sequential/\(index).jpg")])
            let claimed = try await store.claim(limit: 1, leaseSeconds: 60, owner: "sequential")
            guard let job = claimed.first else { throw QueueError.invalidArgument("sequential benchmark: nothing to claim") }
            guard try await store.complete([JobCompletion(lease: job.lease, result: nil)]).isEmpty else {
                throw QueueError.invalidArgument("sequential benchmark: lost the lease of job \(job.id)")
            }
        }
        return Throughput(jobs: drainJobs, seconds: Date().timeIntervalSince(start))
    }

    private func drain(processes: Int, batchSize: Int) async throws -> DrainResult {
        let database = path("drain-p\(processes)-b\(batchSize)")
        let store = try SQLiteJobStore(path: database)
        _ = try await store.enqueue((0..<drainJobs).map { NewJob(url: "http://bench.invalid/drain/\($0).jpg") })

        let children = try (0..<processes).map { index -> (Process, Pipe) in
            let process = Process()
            let output = Pipe()
            process.executableURL = executable
            process.arguments = [
                "bench", "queue-drain", "--db", database, "--owner", "bench-\(index)",
                "--batch", String(batchSize), "--json",
            ]
            process.standardOutput = output
            try process.run()
            return (process, output)
        }
        var reports: [QueueDrainer.Report] = []
        for (process, output) in children {
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw QueueError.invalidArgument("a benchmark child process exited with status \(process.terminationStatus)")
            }
            reports.append(try JSONDecoder().decode(QueueDrainer.Report.self, from: data))
        }
        let completed = reports.reduce(0) { $0 + $1.completed }
        guard completed == drainJobs else {
            throw QueueError.invalidArgument("benchmark children completed \(completed) of \(drainJobs) jobs")
        }
        // From the first child's first claim to the last child's end: process start-up is not counted.
        let seconds = (reports.map(\.finishedAt).max() ?? 0) - (reports.map(\.startedAt).min() ?? 0)
        return DrainResult(
            processes: processes, batchSize: batchSize, jobs: completed, seconds: seconds,
            jobsPerSecond: Double(completed) / seconds)
    }

    private func path(_ name: String) -> String {
        directory.appendingPathComponent("\(name).sqlite").path
    }
}
