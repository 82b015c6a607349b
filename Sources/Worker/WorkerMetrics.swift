import Metrics
import Queue
import Synchronization

/// What a worker reports through swift-metrics (the CLI exports it in Prometheus format), plus the few
/// totals the progress display reads back.
final class WorkerMetrics: Sendable {
    enum Stage: String, CaseIterable {
        case fetch, decode, inference, store
    }

    let claimed = Counter(label: "xceptor_jobs_claimed_total")
    let done = Counter(label: "xceptor_jobs_done_total")
    let failedTransient = Counter(label: "xceptor_jobs_failed_total", dimensions: [("class", "transient")])
    let failedPermanent = Counter(label: "xceptor_jobs_failed_total", dimensions: [("class", "permanent")])
    let reusedResults = Counter(label: "xceptor_results_reused_total")
    let lostLeases = Counter(label: "xceptor_leases_lost_total")
    let releasedJobs = Counter(label: "xceptor_jobs_released_total")
    /// Jobs sent back to the queue for later because their host asked for a pause (or is at its rate).
    let deferredJobs = Counter(label: "xceptor_jobs_deferred_total")
    let fetchedBytes = Counter(label: "xceptor_fetched_bytes_total")
    let inferenceBatchSize = Recorder(label: "xceptor_inference_batch_size", aggregate: true)
    /// Seconds the network spent computing batches: its rate is the engine's utilisation (1 = always busy).
    let inferenceBusy = FloatingPointCounter(label: "xceptor_inference_busy_seconds_total")
    let jobsInFlight = Gauge(label: "xceptor_jobs_in_flight")
    private let stageTimers: [Stage: Metrics.Timer]
    private let queueDepth: [JobState: Gauge]
    private let totals = Mutex(WorkerTotals())

    init() {
        stageTimers = Dictionary(
            uniqueKeysWithValues: Stage.allCases.map {
                ($0, Metrics.Timer(label: "xceptor_stage_duration_seconds", dimensions: [("stage", $0.rawValue)]))
            })
        queueDepth = Dictionary(
            uniqueKeysWithValues: JobState.allCases.map {
                ($0, Gauge(label: "xceptor_queue_jobs", dimensions: [("state", $0.rawValue)]))
            })
    }

    func record(_ stage: Stage, since start: ContinuousClock.Instant) {
        stageTimers[stage]!.recordNanoseconds(Int64((ContinuousClock.now - start) / .nanoseconds(1)))
    }

    func batchRan(images: Int, seconds: Double) {
        inferenceBatchSize.record(images)
        inferenceBusy.increment(by: seconds)
        totals.withLock { $0.inferenceSeconds += seconds }
    }

    func recordQueue(_ status: QueueStatus) {
        for (state, gauge) in queueDepth { gauge.record(status.counts[state] ?? 0) }
    }

    func jobsDone(_ count: Int) {
        done.increment(by: count)
        totals.withLock { $0.done += count }
    }

    func jobFailed(_ errorClass: ErrorClass) {
        (errorClass == .transient ? failedTransient : failedPermanent).increment()
        totals.withLock { $0.failed += 1 }
    }

    func jobsReleased(_ count: Int) {
        releasedJobs.increment(by: count)
        totals.withLock { $0.released += count }
    }

    func setJobsInFlight(_ count: Int) {
        jobsInFlight.record(count)
        totals.withLock { $0.inFlight = count }
    }

    var jobsInFlightNow: Int { totals.withLock { $0.inFlight } }

    var snapshot: WorkerTotals { totals.withLock { $0 } }
}

/// What one worker process did.
public struct WorkerTotals: Sendable, Equatable {
    /// Jobs this worker finished and stored.
    public var done = 0
    /// Failures this worker recorded (retried later or final).
    public var failed = 0
    /// Jobs handed back to the queue at shutdown, attempts not counted.
    public var released = 0
    /// Jobs between claim and store right now.
    public var inFlight = 0
    /// Seconds the shared engine spent computing batches while this worker ran.
    public var inferenceSeconds = 0.0
}

/// A finished run in figures: the worker's last log line, and `worker --json`.
public struct WorkerSummary: Sendable, Equatable, Encodable {
    public var done: Int
    public var failed: Int
    public var released: Int
    public var elapsedSeconds: Double
    public var imagesPerSecond: Double
    /// The share of the run the network was computing (0 to 1): what the pipeline around it did not hide.
    public var engineBusy: Double
    /// The CPU time the process used during the run, and of it what the network's threads used: the rest is
    /// the pipeline's (claims, fetches, decoding, storing).
    public var cpuSeconds: Double
    public var engineCPUSeconds: Double

    private enum CodingKeys: String, CodingKey {
        case done, failed, released
        case elapsedSeconds = "elapsed_seconds"
        case imagesPerSecond = "images_per_second"
        case engineBusy = "engine_busy"
        case cpuSeconds = "cpu_seconds"
        case engineCPUSeconds = "engine_cpu_seconds"
    }

    init(_ totals: WorkerTotals, seconds: Double, cpuSeconds: Double, engineCPUSeconds: Double) {
        done = totals.done
        failed = totals.failed
        released = totals.released
        elapsedSeconds = seconds
        imagesPerSecond = Double(totals.done) / max(seconds, 0.001)
        engineBusy = totals.inferenceSeconds / max(seconds, 0.001)
        self.cpuSeconds = cpuSeconds
        self.engineCPUSeconds = engineCPUSeconds
    }
}
