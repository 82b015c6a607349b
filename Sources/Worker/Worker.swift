import Fetch
import Foundation
import Imaging
import Logging
import Queue
import ServiceLifecycle
import Synchronization
import Xception

/// One worker process's pipeline: claim jobs in batches under a lease -> fetch concurrently -> decode on a
/// pool -> the shared inference engine (dynamic batches) -> a writer committing results in batches.
/// Every stage is bounded by the number of jobs in flight, so a slow stage pushes back on claiming.
///
/// As a `Service`: a graceful shutdown stops claiming, lets the jobs in flight finish within the grace
/// period, writes their results, releases the rest without burning an attempt, and returns.
public final class Worker: Service, Sendable {
    private let store: any JobQueue
    private let configuration: WorkerConfiguration
    private let logger: Logger
    private let processor: JobProcessor
    private let pool: DecodePool
    private let leases = LeaseRegistry()
    private let metrics = WorkerMetrics()
    private let progress: ProgressReporter
    private let writer: ResultWriter
    private let stopping = Atomic<Bool>(false)
    private let finished = Mutex<WorkerSummary?>(nil)
    /// Set when the store kept failing: the worker stops and `run` throws it after cleaning up.
    private let storeFailure = Mutex<WorkerError?>(nil)

    /// - Parameters:
    ///   - labels: the model's output names, in index order.
    ///   - modelID: what results are stored under (the same bytes under the same model are embedded once).
    public init(
        store: any JobQueue, fetcher: Fetcher, engine: InferenceEngine, coreTurns: CoreTurns, labels: [String],
        modelID: String, configuration: WorkerConfiguration, progress: ProgressStyle = .none, logger: Logger
    ) {
        self.store = store
        self.configuration = configuration
        self.logger = logger
        pool = DecodePool(threads: configuration.decodeThreads, turns: coreTurns)
        processor = JobProcessor(
            fetcher: fetcher, engine: engine, store: store, pool: pool,
            pipeline: InputPipeline(size: configuration.inputSize, dctDownscale: configuration.dctDownscale), labels: labels,
            modelID: modelID, configuration: configuration, metrics: metrics, recentContent: RecentContent(),
            bodyMemory: MemoryPool(capacity: configuration.bodyMemoryBytes),
            decodeMemory: MemoryPool(capacity: configuration.decodeMemoryBytes))
        self.progress = ProgressReporter(store: store, metrics: metrics, logger: logger, style: progress)
        writer = ResultWriter(store: store, leases: leases, metrics: metrics, logger: logger, batchSize: configuration.writeBatch)
    }

    /// Feeds the engine's batches (size, seconds) into the metrics (the engine reports them through its observer).
    public var batchObserver: @Sendable (Int, Double) -> Void {
        { [metrics] images, seconds in metrics.batchRan(images: images, seconds: seconds) }
    }

    /// What this worker did so far.
    public var totals: WorkerTotals { metrics.snapshot }

    /// What the run did, once it has ended; nil before.
    public var summary: WorkerSummary? { finished.withLock { $0 } }

    public func run() async throws {
        defer { pool.shutdown() }
        let started = ContinuousClock.now
        let (cpuBefore, engineCPUBefore) = (CPUTime.process, InferenceEngine.threadsCPUSeconds)
        try await withGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { helpers in
                helpers.addTask { await self.keepLeasesAlive() }
                helpers.addTask { await self.flushPeriodically() }
                helpers.addTask { await self.progress.run() }
                defer { helpers.cancelAll() }
                try await runPipeline()
            }
            try await writer.flush()
            let remaining = leases.all
            if !remaining.isEmpty {
                let released = try await StoreRetry.run(logger: logger) { [store] in try await store.release(remaining) }
                leases.remove(remaining)
                metrics.jobsReleased(released)
                logger.info("released unfinished jobs back to the queue", metadata: ["jobs": "\(released)"])
            }
            await progress.finish()
            if let fatal = storeFailure.withLock({ $0 }) { throw fatal }
            let summary = WorkerSummary(
                metrics.snapshot, seconds: Double((ContinuousClock.now - started) / .milliseconds(1)) / 1000,
                cpuSeconds: CPUTime.process - cpuBefore, engineCPUSeconds: InferenceEngine.threadsCPUSeconds - engineCPUBefore)
            finished.withLock { $0 = summary }
            logger.info(
                "worker stopped",
                metadata: [
                    "done": "\(summary.done)", "failed": "\(summary.failed)", "released": "\(summary.released)",
                    "elapsed_s": "\(String(format: "%.2f", summary.elapsedSeconds))",
                    "images_per_s": "\(String(format: "%.1f", summary.imagesPerSecond))",
                    // The share of the run the network was computing: what the pipeline around it did not hide.
                    "engine_busy": "\(String(format: "%.1f%%", 100 * summary.engineBusy))",
                    "cpu_s": "\(String(format: "%.2f", summary.cpuSeconds))",
                    "engine_cpu_s": "\(String(format: "%.2f", summary.engineCPUSeconds))",
                    "peak_rss_mib": "\(MemoryBudget.peakResidentBytes >> 20)",
                ])
        } onGracefulShutdown: {
            self.stopping.store(true, ordering: .relaxed)
        }
    }

    private enum Event: Sendable { case jobEnded, tick, jobsMayHaveArrived, graceOver }

    /// How long an idle worker waits for a store's announcement of new jobs before it looks anyway.
    static let arrivalsFallbackSeconds = 2.0

    private func runPipeline() async throws {
        try await withThrowingTaskGroup(of: Event.self) { group in
            var inFlight = 0
            var tickPending = false
            var graceStarted = false
            var nextClaim = ContinuousClock.now
            let claimBatch = min(configuration.claimBatch, configuration.maxJobsInFlight)
            defer { group.cancelAll() }

            while true {
                if stopping.load(ordering: .relaxed) {
                    if inFlight == 0 { return }
                    if !graceStarted {
                        graceStarted = true
                        logger.info(
                            "stopping: finishing jobs in flight",
                            metadata: [
                                "jobs": "\(inFlight)", "grace_s": "\(configuration.gracePeriodSeconds)",
                            ])
                        group.addTask { [grace = configuration.gracePeriodSeconds] in
                            try? await Task.sleep(for: .seconds(grace))
                            return .graceOver
                        }
                    }
                } else if configuration.maxJobsInFlight - inFlight >= claimBatch || inFlight == 0, ContinuousClock.now >= nextClaim {
                    let room = configuration.maxJobsInFlight - inFlight
                    // Through the writer: the claim hands back the finished jobs waiting there in the same call.
                    let jobs = try await writer.claim(
                        limit: min(room, configuration.claimBatch), leaseSeconds: configuration.leaseSeconds, owner: configuration.owner)
                    metrics.claimed.increment(by: jobs.count)
                    for job in jobs {
                        leases.add(job.lease)
                        group.addTask {
                            await self.handle(job)
                            return .jobEnded
                        }
                    }
                    inFlight += jobs.count
                    metrics.setJobsInFlight(inFlight)
                    if !jobs.isEmpty { continue }
                    if configuration.untilEmpty, inFlight == 0 {
                        // This worker's own finished jobs count as running until they are written.
                        try await writer.flush()
                        if try await !StoreRetry.run(logger: logger, { [store] in try await store.hasUnfinishedJobs() }) {
                            logger.info("queue is empty; stopping")
                            return
                        }
                    }
                    nextClaim = ContinuousClock.now + .seconds(configuration.idlePollSeconds)
                }

                // Wait for a job to end, or for the next look at the queue (and at the stop flag).
                if !tickPending {
                    tickPending = true
                    // Idle on a store that announces new jobs: wait for the announcement instead of polling.
                    let arrivals = inFlight == 0 && !stopping.load(ordering: .relaxed) ? store as? any JobArrivals : nil
                    group.addTask { [poll = configuration.idlePollSeconds] in
                        if let arrivals {
                            await arrivals.waitForJobs(upTo: max(poll, Self.arrivalsFallbackSeconds))
                            return .jobsMayHaveArrived
                        }
                        try? await Task.sleep(for: .seconds(poll))
                        return .tick
                    }
                }
                switch try await group.next() {
                case .jobEnded:
                    inFlight -= 1
                    metrics.setJobsInFlight(inFlight)
                    // Out of work: look at the queue now (and, with --until-empty, whether it is done).
                    if inFlight == 0 { nextClaim = ContinuousClock.now }
                case .tick:
                    tickPending = false
                case .jobsMayHaveArrived:
                    tickPending = false
                    nextClaim = ContinuousClock.now
                case .graceOver:
                    logger.warning("grace period over; releasing the jobs still in flight", metadata: ["jobs": "\(inFlight)"])
                    group.cancelAll()
                case nil:
                    return
                }
            }
        }
    }

    private func handle(_ job: ClaimedJob) async {
        let outcome: JobOutcome
        do {
            outcome = try await processor.process(job)
        } catch {
            return  // Cancelled past the grace period: the lease stays registered and is released.
        }
        do {
            try await writer.finished(job.lease, outcome)
        } catch {
            stop(because: error)
        }
    }

    /// The store failed past its retries: stop claiming, and fail the run once the rest is cleaned up.
    private func stop(because error: Error) {
        guard let failure = error as? WorkerError else { return }  // cancellation at shutdown
        logger.error("stopping: \(failure)")
        storeFailure.withLock { $0 = $0 ?? failure }
        stopping.store(true, ordering: .relaxed)
    }

    /// Extends the leases of every job in flight, every third of the lease.
    private func keepLeasesAlive() async {
        let interval = configuration.leaseSeconds / 3
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(interval))
            let held = leases.all
            guard !held.isEmpty, !Task.isCancelled else { continue }
            do {
                let lost = try await store.heartbeat(held, leaseSeconds: configuration.leaseSeconds)
                if !lost.isEmpty {
                    leases.remove(lost)
                    metrics.lostLeases.increment(by: lost.count)
                    logger.warning(
                        "leases lost (expired and re-claimed elsewhere); their results will not be written",
                        metadata: ["jobs": "\(lost.map(\.jobID))"])
                }
            } catch {
                logger.warning("heartbeat failed; retrying at the next beat", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Writes finished jobs at least every `writeIntervalSeconds`, so a slow trickle is not held back.
    private func flushPeriodically() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(configuration.writeIntervalSeconds))
            do {
                try await writer.flush()
            } catch {
                stop(because: error)
            }
        }
    }
}
