import Foundation
import Queue

/// Claims and completes jobs until none is left: the queue half of a worker, without fetching or
/// inference. Benchmarks and the multi-process tests run it in child processes.
public struct QueueDrainer: Sendable {
    public var store: any JobQueue
    public var owner: String
    public var batchSize: Int
    public var leaseSeconds: Double
    /// How long to wait before looking again when the only jobs left are leased by others.
    public var idlePollSeconds: Double

    public init(store: any JobQueue, owner: String, batchSize: Int, leaseSeconds: Double, idlePollSeconds: Double = 0.05) {
        self.store = store
        self.owner = owner
        self.batchSize = batchSize
        self.leaseSeconds = leaseSeconds
        self.idlePollSeconds = idlePollSeconds
    }

    /// What one drain did.
    public struct Report: Sendable, Codable {
        public var completed: Int
        public var lostLeases: Int
        public var startedAt: Double
        public var finishedAt: Double
    }

    /// Drains the queue; `onCompleted` sees the ids of each batch whose completion committed.
    public func run(onCompleted: ([JobID]) -> Void = { _ in }) async throws -> Report {
        let startedAt = Date().timeIntervalSince1970
        var completed = 0
        var lostLeases = 0
        while true {
            let jobs = try await store.claim(limit: batchSize, leaseSeconds: leaseSeconds, owner: owner)
            if jobs.isEmpty {
                // Jobs leased by another process may come back when that lease expires.
                guard try await store.hasUnfinishedJobs() else { break }
                try await Task.sleep(for: .seconds(idlePollSeconds))
                continue
            }
            let lost = Set(try await store.complete(jobs.map { JobCompletion(lease: $0.lease, result: nil) }))
            let done = jobs.filter { !lost.contains($0.lease) }.map(\.id)
            completed += done.count
            lostLeases += lost.count
            onCompleted(done)
        }
        return Report(completed: completed, lostLeases: lostLeases, startedAt: startedAt, finishedAt: Date().timeIntervalSince1970)
    }
}
