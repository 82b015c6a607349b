import Foundation
import Logging
import Metrics
import Queue

/// Commits finished jobs in batches (one transaction per batch, or per interval when work is slow), and
/// records failures as they come. Writes are serialised, so a shutdown that flushes and then releases the
/// remaining leases never races a batch still being written.
actor ResultWriter {
    private let store: any JobQueue
    private let leases: LeaseRegistry
    private let metrics: WorkerMetrics
    private let logger: Logger
    private let batchSize: Int
    private var pending: [JobCompletion] = []
    private var lastWrite: Task<Void, Error>?

    init(store: any JobQueue, leases: LeaseRegistry, metrics: WorkerMetrics, logger: Logger, batchSize: Int) {
        self.store = store
        self.leases = leases
        self.metrics = metrics
        self.logger = logger
        self.batchSize = max(1, batchSize)
    }

    func finished(_ lease: JobLease, _ outcome: JobOutcome) async throws {
        switch outcome {
        case let .done(result):
            pending.append(JobCompletion(lease: lease, result: result))
            if pending.count >= batchSize { try await flush() }
        case let .failed(failure):
            let state = try await StoreRetry.run(logger: logger) { [store] in try await store.fail(lease, failure) }
            leases.remove([lease])
            if let state {
                metrics.jobFailed(failure.errorClass)
                logger.debug(
                    "job failed", metadata: ["job": "\(lease.jobID)", "state": "\(state.rawValue)", "error": "\(failure.message)"])
            } else {
                metrics.lostLeases.increment()
            }
        case let .deferred(seconds, reason):
            let released = try await StoreRetry.run(logger: logger) { [store] in try await store.release([lease], delaySeconds: seconds) }
            leases.remove([lease])
            if released == 1 {
                metrics.deferredJobs.increment()
                logger.debug(
                    "job deferred", metadata: ["job": "\(lease.jobID)", "seconds": "\(Int(seconds.rounded(.up)))", "reason": "\(reason)"])
            } else {
                metrics.lostLeases.increment()
            }
        }
    }

    /// Writes what is pending, after any write already under way.
    func flush() async throws {
        _ = try await write(claiming: 0, leaseSeconds: 0, owner: "")
    }

    /// Claims up to `limit` jobs in the same store call (one transaction, one round trip) that writes what
    /// is pending, after any write already under way: a busy worker's claims carry its finished jobs.
    func claim(limit: Int, leaseSeconds: Double, owner: String) async throws -> [ClaimedJob] {
        try await write(claiming: limit, leaseSeconds: leaseSeconds, owner: owner)
    }

    private func write(claiming limit: Int, leaseSeconds: Double, owner: String) async throws -> [ClaimedJob] {
        let batch = pending
        pending = []
        let previous = lastWrite
        let write = Task { [store, leases, metrics, logger] () async throws -> [ClaimedJob] in
            _ = try? await previous?.value
            guard !batch.isEmpty || limit > 0 else { return [] }
            let start = ContinuousClock.now
            let (lost, claimed) = try await StoreRetry.run(logger: logger) {
                try await store.complete(batch, thenClaim: limit, leaseSeconds: leaseSeconds, owner: owner)
            }
            metrics.record(.store, since: start)
            leases.remove(batch.map(\.lease))
            metrics.jobsDone(batch.count - lost.count)
            if !lost.isEmpty {
                // Expired and re-claimed elsewhere, or released: the other holder's result counts.
                metrics.lostLeases.increment(by: lost.count)
                logger.warning(
                    "leases lost before results were written; other workers redo those jobs",
                    metadata: ["jobs": "\(lost.map(\.jobID))"])
            }
            return claimed
        }
        lastWrite = Task { _ = try await write.value }
        return try await write.value
    }
}

/// Store calls that fail (disk full, the database restarting) are retried a few times with a growing
/// pause; after that the worker stops, and its leased jobs return to the queue when the leases expire.
/// A database another process holds locked (a long enqueue, a backup, an operator's shell) is waited for
/// as long as it takes: that is not a failure, and the worker carries on when the lock is released.
enum StoreRetry {
    /// Seconds store calls spent waiting, by why: `locked` (another process's write lock) or `unreachable`.
    static let waitSeconds = (
        locked: FloatingPointCounter(label: "xceptor_store_wait_seconds_total", dimensions: [("reason", "locked")]),
        unreachable: FloatingPointCounter(label: "xceptor_store_wait_seconds_total", dimensions: [("reason", "unreachable")])
    )

    static let pauses: [Double] = [0.1, 0.3, 1, 3]
    /// A database server that cannot be reached (restarting, failing over, a network cut) is waited for
    /// this long, with growing pauses, before the worker gives up.
    static let outageSeconds = 300.0

    static func run<T: Sendable>(logger: Logger, _ call: @Sendable () async throws -> T) async throws -> T {
        var failures = 0, outageFailures = 0
        var outageStart: ContinuousClock.Instant?, lockedStart: ContinuousClock.Instant?
        while true {
            let attemptStart = ContinuousClock.now
            do {
                let value = try await call()
                if outageStart != nil { logger.notice("the job store is reachable again") }
                if lockedStart != nil { logger.notice("the job store's lock was released; carrying on") }
                return value
            } catch let error as QueueError where error.isLocked {
                // The call itself waited the busy timeout for the lock; look again after a breath, forever.
                let start = lockedStart ?? attemptStart
                lockedStart = start
                waitSeconds.locked.increment(by: Double((ContinuousClock.now - attemptStart) / .milliseconds(1)) / 1000 + 1)
                logger.warning(
                    "another process holds the job store's write lock; waiting for it",
                    metadata: ["error": "\(error)", "waited_s": "\(Int(Double((ContinuousClock.now - start) / .milliseconds(1)) / 1000))"])
                try await Task.sleep(for: .seconds(1))
            } catch let error as QueueError where error.isUnavailable {
                let start = outageStart ?? .now
                outageStart = start
                let waited = Double((ContinuousClock.now - start) / .milliseconds(1)) / 1000
                guard waited < outageSeconds else { throw WorkerError.storeUnavailable(underlying: "\(error)") }
                outageFailures += 1
                let pause = min(15, 0.25 * Double(1 << min(outageFailures, 6)))
                waitSeconds.unreachable.increment(by: Double((ContinuousClock.now - attemptStart) / .milliseconds(1)) / 1000 + pause)
                logger.warning(
                    "the job store cannot be reached; waiting for it",
                    metadata: ["error": "\(error)", "retry_in_s": "\(pause)", "waited_s": "\(Int(waited))"])
                try await Task.sleep(for: .seconds(pause))
            } catch {
                guard failures < pauses.count else { throw WorkerError.storeUnavailable(underlying: "\(error)") }
                let pause = pauses[failures]
                failures += 1
                logger.warning("store call failed; retrying", metadata: ["error": "\(error)", "retry_in_s": "\(pause)"])
                try await Task.sleep(for: .seconds(pause))
            }
        }
    }
}

/// Why a worker stopped early.
public enum WorkerError: Error, CustomStringConvertible {
    case storeUnavailable(underlying: String)

    public var description: String {
        switch self {
        case let .storeUnavailable(underlying):
            return
                "the job store kept failing (\(underlying)); stopped. Fix the database (disk space, permissions, server), then start the worker again: jobs it held return to the queue when their leases expire"
        }
    }
}
