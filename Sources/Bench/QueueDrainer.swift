import Foundation
import Queue
import Xception

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
        /// When its work ended: the return of the first claim that found nothing after its last completion.
        public var finishedAt: Double
        /// The process's CPU time, user and system, from the start to `finishedAt`: the client's cost of the
        /// queue (a benchmark child does nothing else).
        public var cpuSeconds: Double
    }

    /// Drains the queue; `onCompleted` sees the ids of each batch whose completion committed.
    public func run(onCompleted: ([JobID]) -> Void = { _ in }) async throws -> Report {
        let startedAt = Date().timeIntervalSince1970, startCPU = CPUTime.process
        var completed = 0
        var lostLeaseCount = 0
        // Each round trip hands back the last batch and takes the next, as a worker's claims carry its
        // finished jobs (`complete(_:thenClaim:)`).
        var held: [ClaimedJob] = []
        // The end of this drain's work (time, and CPU so far): the first claim that found nothing after its last
        // completion, as the anchor's drain ends at its first empty claim. Waiting for other processes' leases comes after it.
        var finished: (at: Double, cpu: Double)?
        while true {
            let (lost, jobs) = try await store.complete(
                held.map { JobCompletion(lease: $0.lease, result: nil) }, thenClaim: batchSize, leaseSeconds: leaseSeconds, owner: owner)
            let lostLeases = Set(lost)
            let done = held.filter { !lostLeases.contains($0.lease) }.map(\.id)
            completed += done.count
            lostLeaseCount += lost.count
            if !done.isEmpty || !lost.isEmpty { onCompleted(done) }
            if !held.isEmpty || !jobs.isEmpty { finished = nil }
            held = jobs
            if jobs.isEmpty {
                if finished == nil { finished = (Date().timeIntervalSince1970, CPUTime.process) }
                // Jobs leased by another process may come back when that lease expires.
                guard try await store.hasUnfinishedJobs() else { break }
                try await Task.sleep(for: .seconds(idlePollSeconds))
            }
        }
        let end = finished ?? (Date().timeIntervalSince1970, CPUTime.process)
        return Report(
            completed: completed, lostLeases: lostLeaseCount, startedAt: startedAt, finishedAt: end.at, cpuSeconds: end.cpu - startCPU)
    }
}
