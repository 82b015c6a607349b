import ArgumentParser
import Fetch
import Foundation
import Logging
import Metrics
import Prometheus
import Queue
import Server
import ServiceLifecycle
import Synchronization
import UnixSignals
import Worker
import Xception

struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Claim queued jobs, fetch and embed their images, and store the results.",
        discussion: """
            Runs until stopped (SIGTERM or SIGINT: stop claiming, finish the jobs in flight within the grace \
            period, release the rest without burning an attempt, exit 0; a second signal exits at once), or \
            with --until-empty until nothing is queued, waiting for a retry or running. Several workers, on \
            one host or many, can share one queue. With --json, the summary at the end on standard output: \
            {"done", "failed", "released", "elapsed_seconds", "images_per_second", "engine_busy", "cpu_seconds", \
            "engine_cpu_seconds"} (engine_busy: the share of the run the network was computing, 0 to 1; \
            cpu_seconds: the process's CPU time during the run, engine_cpu_seconds: the part the network's threads used).
            """
    )

    @OptionGroup var store: StoreOptions
    @OptionGroup var model: ModelOptions
    @OptionGroup var precision: PrecisionOptions
    @OptionGroup var fetch: FetchOptions

    @Option(name: .long, help: "Input size in pixels (default: the size the model's head was trained at).")
    var size: Int?

    @Flag(
        name: .long,
        help:
            "Let large JPEGs shrink while decoding (DCT domain, like Pillow's draft mode): less decode work, inputs slightly off the reference pipeline."
    )
    var dctDownscale = false

    @Option(name: .long, help: "Longest side of the JPEG thumbnail stored with each image (0: none).")
    var thumbnailSize = 128

    @Option(name: .long, help: "Largest inference batch.")
    var batch = 8

    @Option(name: .long, help: "Inference threads (default: $OMP_NUM_THREADS, else the cores).")
    var threads: Int?

    @Option(name: .long, help: "Decode threads (default: the cores).")
    var decodeThreads: Int?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Memory the whole worker may use, e.g. 4G or 1500M (default: 80% of its cgroup's memory limit, such as systemd's MemoryMax, else half the machine's memory). Image bodies and decodes reserve from it before they start; large ones wait.",
            valueName: "size"))
    var memoryBudget: ByteSize?

    @Option(name: .long, help: "Seconds a claimed job stays leased without a heartbeat (heartbeats come every third).")
    var leaseSeconds = QueueDefaults.leaseSeconds

    @Option(name: .long, help: "Seconds jobs in flight may take to finish after a stop signal.")
    var graceSeconds = 30.0

    @Flag(name: .long, help: "Exit once nothing is queued, waiting for a retry or running.")
    var untilEmpty = false

    @Option(name: .long, help: "Serve Prometheus metrics at /metrics (and /healthz) on this port.")
    var metricsPort: Int?

    @Option(name: .long, help: "Address the metrics server binds (default: loopback only).")
    var metricsHost = "127.0.0.1"

    @Option(name: .long, help: "This worker's name in leases (default: host name and process id); unique per process.")
    var id: String?

    @Option(name: .long, help: "Progress display: auto (a bar on a terminal with --until-empty, else log lines), bar, log or none.")
    var progress = ProgressChoice.auto

    @Option(name: .long, help: "Seconds between progress log lines.")
    var progressInterval = 5.0

    @OptionGroup var logging: LoggingOptions

    @Flag(name: .long, help: "When the worker stops, print its summary as one JSON object on standard output.")
    var json = false

    enum ProgressChoice: String, ExpressibleByArgument, CaseIterable { case auto, bar, log, none }

    func validate() throws {
        // Upper bounds too: a number from a typo (1e300, NaN) would trap where it becomes a Duration or a
        // thread count, and a day is longer than any lease or pause a worker needs.
        if let size { try requireRange("--size", size, 71...2048) }
        try requireRange("--batch", batch, 1...1024)
        try requireRange("--thumbnail-size", thumbnailSize, 0...4096)
        if let threads { try requireRange("--threads", threads, 1...1024) }
        if let decodeThreads { try requireRange("--decode-threads", decodeThreads, 1...1024) }
        try requireRange("--lease-seconds", leaseSeconds, 1...86_400)
        try requireRange("--grace-seconds", graceSeconds, 0...86_400)
        try requireRange("--progress-interval", progressInterval, 0.1...86_400)
        if let metricsPort, !(0...65535).contains(metricsPort) { throw ValidationError("--metrics-port must be 0-65535") }
        if let id, id.isEmpty { throw ValidationError("--id cannot be empty") }
        if let memoryBudget { try requireRange("--memory-budget", memoryBudget.bytes, (256 << 20)...(1 << 50)) }
    }

    func run() async throws {
        let logger = logging.bootstrap(label: "xceptor.worker")
        let precisionChoice = try self.precision.choice()  // a usage mistake, found before any work
        let registry = PrometheusCollectorRegistry()
        if metricsPort != nil { MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry)) }

        _ = KernelThreads.configure(threads)
        let jobStore = try await store.openWaiting(logger: logger)
        let weights = try model.load()
        let inputSize = size ?? weights.inputSize

        var configuration = WorkerConfiguration(owner: id ?? WorkerConfiguration.defaultOwner, inputSize: inputSize)
        configuration.leaseSeconds = leaseSeconds
        configuration.untilEmpty = untilEmpty
        configuration.dctDownscale = dctDownscale
        configuration.thumbnailSide = thumbnailSize
        configuration.gracePeriodSeconds = graceSeconds
        configuration.decodeThreads = decodeThreads ?? ProcessInfo.processInfo.activeProcessorCount
        // Room for every transfer, plus what waits for and sits in the engine and the decoders.
        configuration.maxJobsInFlight = fetch.fetchConcurrency + 4 * batch + configuration.decodeThreads

        let fetcher = Fetcher(configuration: fetch.configuration)
        let batches = BatchRelay()
        let turns = CoreTurns()
        let (precision, note) = precisionChoice.resolve(for: weights)
        if let note { logger.notice("\(note)") }
        let network = try model.network(weights, precision: precision) { [logger] in logger.warning("\($0)") }
        // Full batches are the steady state: their kernels are compiled before the first job is claimed.
        try network.prepare(batch: batch, size: inputSize)
        keepImageBuffersOnHeap()
        let budget = memoryBudget.map { MemoryBudget(totalBytes: $0.bytes) } ?? .machineDefault
        let baseline = MemoryBudget.residentBytes
        let engineRoom = Self.engineRoom(batch: batch, size: inputSize)
        guard let pools = budget.pools(baseline: baseline, engineRoom: engineRoom) else {
            throw CommandFailure(
                "--memory-budget \(budget.totalBytes >> 20) MiB leaves too little for images once the model and engine hold \(baseline >> 20) MiB; give at least \((baseline + engineRoom) >> 20 + 128) MiB"
            )
        }
        configuration.bodyMemoryBytes = pools.bodies
        configuration.decodeMemoryBytes = pools.decodes
        // Each fetch reserves the largest body it may bring: the budget may allow fewer at once than asked.
        let fetchesInBudget = pools.bodies / fetch.maxDecodedBytes
        if fetchesInBudget < fetch.fetchConcurrency {
            logger.notice(
                "the memory budget allows \(max(1, fetchesInBudget)) fetches at once, each reserving --max-decoded-bytes (\(fetch.maxDecodedBytes >> 20) MiB); lower that or raise --memory-budget for up to --fetch-concurrency \(fetch.fetchConcurrency)"
            )
        }
        let engine = InferenceEngine(
            network: network,
            configuration: .init(
                maxBatch: batch, queueCapacity: 4 * batch, batchObserver: { batches.report(images: $0, seconds: $1) }, coreSharing: turns))
        defer {
            engine.shutdown()
            fetcher.shutdown()
        }
        let worker = Worker(
            store: jobStore, fetcher: fetcher, engine: engine, coreTurns: turns, labels: weights.labels,
            modelID: try ModelFile.identifier(model.path, inputSize: inputSize), configuration: configuration,
            progress: progressStyle, logger: logger)
        batches.forward(to: worker.batchObserver)

        // Services stop in reverse order: the worker drains first, the metrics stay up while it does.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let metricsPort {
            services.append(
                .init(service: MetricsServer.application(registry: registry, host: metricsHost, port: metricsPort, logger: logger)))
        }
        services.append(
            .init(
                service: worker, successTerminationBehavior: .gracefullyShutdownGroup,
                failureTerminationBehavior: .gracefullyShutdownGroup))
        var groupConfiguration = ServiceGroupConfiguration(
            services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(graceSeconds + 15)

        await exitOnSecondSignal(logger: logger)
        logger.info(
            "worker started",
            metadata: [
                "owner": "\(configuration.owner)", "store": "\(store.displayName)", "input_size": "\(inputSize)",
                "batch": "\(batch)", "fetch_concurrency": "\(fetch.fetchConcurrency)",
                "memory_budget_mib": "\(budget.totalBytes >> 20)", "resident_mib": "\(baseline >> 20)",
            ])
        try await ServiceGroup(configuration: groupConfiguration).run()
        if json, let summary = worker.summary { try printJSON(summary) }
    }

    /// What the engine's batches may add to the process once it is loaded: a generous 768 bytes per input
    /// pixel of a full batch for the activations and their reorders, and room for the runtime.
    static func engineRoom(batch: Int, size: Int) -> Int {
        let perImage = size * size * 3 * 4 * 64
        return 256 << 20 + batch * perImage
    }

    private var progressStyle: ProgressStyle {
        switch progress {
        case .bar: return .bar
        case .log: return .logLines(intervalSeconds: progressInterval)
        case .none: return .none
        case .auto: return untilEmpty && isatty(STDERR_FILENO) == 1 ? .bar : .logLines(intervalSeconds: progressInterval)
        }
    }

    /// The first SIGTERM/SIGINT starts a graceful shutdown (the service group's); a second one means "now".
    /// Leased jobs then return to the queue when their leases expire, and others redo them.
    private func exitOnSecondSignal(logger: Logger) async {
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        Task.detached {
            var seen = 0
            for await signal in signals {
                seen += 1
                if seen >= 2 {
                    logger.warning("second \(signal): exiting now; unfinished jobs return to the queue when their leases expire")
                    Foundation.exit(130)
                }
            }
        }
    }
}

/// The engine is built before the worker whose metrics take its batches (size, seconds); this passes them on.
private final class BatchRelay: Sendable {
    private let target = Mutex<(@Sendable (Int, Double) -> Void)?>(nil)
    func forward(to observer: @escaping @Sendable (Int, Double) -> Void) { target.withLock { $0 = observer } }
    func report(images: Int, seconds: Double) { target.withLock { $0 }?(images, seconds) }
}
