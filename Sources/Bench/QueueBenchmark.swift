import Foundation
import PostgresStore
import Queue
import Stores

/// Measures the queue: batched enqueue, then claim+complete by 1..N processes. On SQLite each step gets a
/// fresh file; on PostgreSQL (`location`) every step runs in the one database given, with URLs of its own,
/// so later steps claim past the finished rows of earlier ones, as a long-lived queue does.
/// Anchors: goqite (Go, SQLite) ~13,000 send+receive+delete per second; for PostgreSQL the same SQL
/// pattern River and pgmq use, driven from Python (`Benchmarks/queue/postgres_pattern.py`).
public struct QueueBenchmark: Sendable {
    /// The `xceptor` binary, started as `bench queue-drain` children.
    public var executable: URL
    public var enqueueJobs: Int
    public var drainJobs: Int
    public var processCounts: [Int]
    public var batchSizes: [Int]
    public var directory: URL
    /// A PostgreSQL URL to measure instead of SQLite files.
    public var location: String?
    /// PostgreSQL: vacuum the jobs table before each claim+complete step.
    public var vacuumFirst = true
    /// Makes this run's URLs its own, so a database can be measured again.
    private let runID = UUID().uuidString.prefix(8).lowercased()

    public init(
        executable: URL, enqueueJobs: Int, drainJobs: Int, processCounts: [Int], batchSizes: [Int], directory: URL,
        location: String? = nil
    ) {
        self.location = location
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
        /// The claiming processes' CPU time per job (user and system): the client's share of a queue's cost,
        /// which on one host competes with the server's.
        public var clientCPUMicrosecondsPerJob: Double
    }

    public struct Results: Sendable, Codable {
        /// One batch in one transaction.
        public var enqueue: Throughput
        /// One job at a time through its whole life: enqueue 1, claim 1, complete 1 (goqite's send+receive+delete).
        public var sequential: Throughput
        public var claimComplete: [DrainResult]
        /// PostgreSQL only: the jobs table after the run (dead row versions, HOT updates, sizes).
        public var jobsTable: PostgresJobStore.TableHealth?
    }

    public func run(progress: (String) -> Void) async throws -> Results {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)

        let enqueueStore = try await open("enqueue")
        let urls = (0..<enqueueJobs).map { NewJob(url: "http://bench.invalid/\(runID)/images/\($0).jpg") }
        let enqueueStart = Date()
        let counts = try await enqueueStore.enqueue(urls)
        let enqueueSeconds = Date().timeIntervalSince(enqueueStart)
        guard counts.added == enqueueJobs else {
            throw QueueError.invalidArgument("benchmark enqueue added \(counts.added) of \(enqueueJobs) jobs")
        }
        let enqueue = Throughput(jobs: enqueueJobs, seconds: enqueueSeconds)
        // One database for every step on PostgreSQL: these jobs must not be drained by the steps below.
        if location != nil { _ = try await enqueueStore.cancel(.state(.queued)) }
        if vacuumFirst, let postgres = enqueueStore as? PostgresJobStore { try await postgres.vacuumJobs() }
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
                        format: "claim+complete: %d process(es), batch %d: %d jobs in %.3f s, %.0f jobs/s, client CPU %.1f µs a job",
                        processes, batchSize, result.jobs, result.seconds, result.jobsPerSecond, result.clientCPUMicrosecondsPerJob))
            }
        }
        var health: PostgresJobStore.TableHealth?
        if let store = enqueueStore as? PostgresJobStore {
            health = try await store.jobsTableHealth()
            if let health {
                progress(
                    "jobs table after the run: \(health.liveRows) live rows, \(health.deadRows) dead, \(health.hotUpdates) of \(health.updates) updates HOT, table \(health.tableBytes / 1_048_576) MiB, indexes \(health.indexBytes / 1_048_576) MiB"
                )
            }
        }
        return Results(enqueue: enqueue, sequential: sequential, claimComplete: drains, jobsTable: health)
    }

    /// A store for one step: a new SQLite file, or the PostgreSQL database.
    private func open(_ name: String) async throws -> any JobQueue {
        if let location { return try await JobStores.open(location, create: true) }
        return try SQLiteJobStore(path: path(name))
    }

    private func sequentialRoundTrips() async throws -> Throughput {
        let store = try await open("sequential")
        // Three commits per job, each waiting for PostgreSQL's WAL flush: a few thousand jobs say enough.
        let jobs = location == nil ? drainJobs : min(drainJobs, 2_000)
        let start = Date()
        for index in 0..<jobs {
            _ = try await store.enqueue([NewJob(url: "http://bench.invalid/\(runID)/sequential/\(index).jpg")])
            let claimed = try await store.claim(limit: 1, leaseSeconds: 60, owner: "sequential")
            guard let job = claimed.first else { throw QueueError.invalidArgument("sequential benchmark: nothing to claim") }
            guard try await store.complete([JobCompletion(lease: job.lease, result: nil)]).isEmpty else {
                throw QueueError.invalidArgument("sequential benchmark: lost the lease of job \(job.id)")
            }
        }
        return Throughput(jobs: jobs, seconds: Date().timeIntervalSince(start))
    }

    private func drain(processes: Int, batchSize: Int) async throws -> DrainResult {
        let database = location ?? path("drain-p\(processes)-b\(batchSize)")
        let store = try await open("drain-p\(processes)-b\(batchSize)")
        _ = try await store.enqueue(
            (0..<drainJobs).map { NewJob(url: "http://bench.invalid/\(runID)/drain-p\(processes)-b\(batchSize)/\($0).jpg") })
        // PostgreSQL: the steps before left dead entries at the front of the claim index (100,000 cancelled jobs,
        // the drains before), which every claim would walk until autovacuum came by; start where a steady queue
        // is, as the anchor (Benchmarks/queue/postgres_pattern.py) does.
        if vacuumFirst, let postgres = store as? PostgresJobStore { try await postgres.vacuumJobs() }

        let children = try (0..<processes).map { index -> (Process, Pipe, Pipe) in
            let process = Process()
            let output = Pipe(), input = Pipe()
            process.executableURL = executable
            process.arguments = [
                "bench", "queue-drain", "--db", database, "--owner", "bench-\(index)",
                "--batch", String(batchSize), "--json", "--wait-for-start",
            ]
            process.standardOutput = output
            process.standardInput = input
            try process.run()
            return (process, output, input)
        }
        // Every child has opened the store: start them together.
        for (_, output, _) in children {
            var line = Data()
            while !line.contains(0x0A) {
                let byte = output.fileHandleForReading.readData(ofLength: 1)
                guard !byte.isEmpty else { throw QueueError.invalidArgument("a benchmark child process ended before it was ready") }
                line.append(byte)
            }
        }
        for (_, _, input) in children { input.fileHandleForWriting.write(Data("go\n".utf8)) }
        var reports: [QueueDrainer.Report] = []
        for (process, output, _) in children {
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
            jobsPerSecond: Double(completed) / seconds,
            clientCPUMicrosecondsPerJob: reports.reduce(0) { $0 + $1.cpuSeconds } / Double(max(completed, 1)) * 1e6)
    }

    private func path(_ name: String) -> String {
        directory.appendingPathComponent("\(name).sqlite").path
    }
}
