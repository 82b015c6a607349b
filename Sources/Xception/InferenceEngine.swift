import Foundation

/// The shared inference core: one per process, called from any number of tasks at once. Callers submit
/// one image each; a dedicated thread gathers what is waiting into batches (up to `maxBatch`, or whatever
/// arrived within `maxWait` of the first) and runs them on the network, so concurrent jobs share the cores
/// efficiently. The queue is bounded: when `queueCapacity` images wait, submitters wait for room
/// (backpressure) instead of piling up memory.
public final class InferenceEngine: Sendable {
    public struct Configuration: Sendable {
        public var maxBatch: Int
        public var maxWaitSeconds: Double
        public var queueCapacity: Int
        /// Told, after each batch, its size and the seconds the network took for it (for metrics); called
        /// on the engine thread, so keep it cheap.
        public var batchObserver: (@Sendable (_ images: Int, _ seconds: Double) -> Void)?
        /// What shares the cores with the network and must hear when batches run (the worker's decoding).
        public var coreSharing: (any CoreSharing)?

        public init(
            maxBatch: Int = 8, maxWaitSeconds: Double = 0.005, queueCapacity: Int = 64,
            batchObserver: (@Sendable (_ images: Int, _ seconds: Double) -> Void)? = nil,
            coreSharing: (any CoreSharing)? = nil
        ) {
            self.maxBatch = maxBatch
            self.maxWaitSeconds = maxWaitSeconds
            self.queueCapacity = queueCapacity
            self.batchObserver = batchObserver
            self.coreSharing = coreSharing
        }
    }

    /// Counters for tests, benchmarks and metrics.
    public struct Statistics: Sendable, Equatable {
        public var batches = 0
        public var images = 0
        public var largestBatch = 0
        public var deepestQueue = 0
    }

    public let network: XceptionNetwork
    public let configuration: Configuration
    private let state: EngineState

    public init(network: XceptionNetwork, configuration: Configuration = Configuration()) {
        precondition(configuration.maxBatch >= 1 && configuration.queueCapacity >= 1)
        self.network = network
        self.configuration = configuration
        state = EngineState()
        let thread = Thread { [state, network, configuration] in
            // Named for top -H and perf (Foundation's Thread.name does not reach the OS thread on Linux);
            // the kernel threads oneDNN starts from here inherit the name.
            try? Self.threadName.write(toFile: "/proc/thread-self/comm", atomically: false, encoding: .utf8)
            Self.serve(state: state, network: network, configuration: configuration)
            state.served()
        }
        thread.start()
    }

    deinit { state.stop() }

    /// Runs one image (`size`x`size`x3, HWC, normalised) and returns its prediction.
    public func predict(_ image: [Float], size: Int) async throws -> Prediction {
        try await state.waitForRoom(capacity: configuration.queueCapacity)
        return try await withCheckedThrowingContinuation { continuation in
            state.submit(EngineState.Request(image: image, size: size, continuation: continuation))
        }
    }

    public var statistics: Statistics { state.statistics }

    /// The CPU time, user and system, of this process's engine threads so far: each engine's own thread and
    /// the kernel threads oneDNN started from it (they inherit its name). What the network cost, measured
    /// rather than derived from busy time: at int8 speeds parts of a batch (the head, small layers) leave
    /// cores idle, so busy time x cores overstates it. 0 where /proc is not there.
    public static var threadsCPUSeconds: Double { CPUTime.threads(named: threadName) }

    /// The engine thread's name, for top -H, perf and `threadsCPUSeconds`.
    static let threadName = "xc-inference"

    /// Stops the engine: images still queued fail, later calls fail, and this waits (up to 30 s) for the
    /// batch running now, so that the process never exits with the network's threads mid-batch (oneDNN's
    /// memory freed under them crashed a worker stopped by SIGTERM).
    public func shutdown() {
        state.stop()
        state.waitUntilServed(timeout: 30)
    }

    private static func serve(state: EngineState, network: XceptionNetwork, configuration: Configuration) {
        let sharing = configuration.coreSharing
        while let batch = state.nextBatch(
            max: configuration.maxBatch, wait: configuration.maxWaitSeconds,
            whileWaiting: { sharing?.networkIdle() })
        {
            sharing?.networkWillRun()
            let started = ContinuousClock.now
            let outcome = Result { try network.predict(batch.map(\.image), size: batch[0].size) }
            let seconds = Double((ContinuousClock.now - started) / .microseconds(1)) / 1e6
            configuration.batchObserver?(batch.count, seconds)
            switch outcome {
            case let .success(predictions):
                for (request, prediction) in zip(batch, predictions) { request.continuation.resume(returning: prediction) }
            case let .failure(error):
                for request in batch { request.continuation.resume(throwing: error) }
            }
            sharing?.networkDidRun(images: batch.count, longest: seconds)
        }
    }
}

/// Work beside the engine that takes turns with its batches: the network's kernel threads split each layer
/// across every core and meet at a barrier, so a thread that takes a core mid-batch stalls them all.
public protocol CoreSharing: Sendable {
    /// The network waits for images: side work may run freely.
    func networkIdle()
    /// A batch is about to run: hold side work back (and wait for what is running).
    func networkWillRun()
    /// A batch of `images` ran for `longest` seconds: side work may have its turn now.
    func networkDidRun(images: Int, longest: Double)
}

/// The engine's queue, guarded by one condition variable (the engine thread sleeps on it).
private final class EngineState: @unchecked Sendable {
    // @unchecked: every property is touched only with `condition` locked.
    struct Request {
        var image: [Float]
        var size: Int
        var continuation: CheckedContinuation<Prediction, Error>
    }

    private let condition = NSCondition()
    private var pending: [Request] = []
    private var roomWaiters: [CheckedContinuation<Void, Error>] = []
    private var reserved = 0
    private var stopped = false
    private var serving = true
    private var counters = InferenceEngine.Statistics()

    var statistics: InferenceEngine.Statistics { condition.withLock { counters } }

    /// Reserves a place in the queue, waiting while it is full.
    func waitForRoom(capacity: Int) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            condition.withLock {
                if stopped {
                    continuation.resume(throwing: ModelError.backend("the inference engine has shut down"))
                } else if reserved < capacity {
                    reserved += 1
                    continuation.resume()
                } else {
                    roomWaiters.append(continuation)
                }
            }
        }
    }

    func submit(_ request: Request) {
        condition.withLock {
            if stopped {
                request.continuation.resume(throwing: ModelError.backend("the inference engine has shut down"))
                return
            }
            pending.append(request)
            counters.deepestQueue = max(counters.deepestQueue, pending.count)
            condition.signal()
        }
    }

    /// Waits for work, then for up to `wait` seconds more while the batch is not full; nil once stopped. Requests of another input size wait for a later batch. `whileWaiting` is called
    /// before any wait.
    func nextBatch(max maxBatch: Int, wait: Double, whileWaiting: () -> Void) -> [Request]? {
        condition.lock()
        defer { condition.unlock() }
        if pending.count < maxBatch, !stopped { whileWaiting() }
        while pending.isEmpty {
            if stopped { return nil }
            condition.wait()
        }
        let deadline = Date().addingTimeInterval(wait)
        while pending.count < maxBatch, !stopped, condition.wait(until: deadline) {}
        let size = pending[0].size
        var batch: [Request] = []
        var rest: [Request] = []
        for request in pending {
            if batch.count < maxBatch, request.size == size { batch.append(request) } else { rest.append(request) }
        }
        pending = rest
        // Hand the freed places to waiting submitters.
        reserved -= batch.count
        for _ in 0..<min(batch.count, roomWaiters.count) {
            reserved += 1
            roomWaiters.removeFirst().resume()
        }
        counters.batches += 1
        counters.images += batch.count
        counters.largestBatch = max(counters.largestBatch, batch.count)
        return batch
    }

    func stop() {
        condition.withLock {
            stopped = true
            let shutDown = ModelError.backend("the inference engine has shut down")
            for waiter in roomWaiters { waiter.resume(throwing: shutDown) }
            for request in pending { request.continuation.resume(throwing: shutDown) }
            roomWaiters.removeAll()
            pending.removeAll()
            condition.broadcast()
        }
    }

    /// The engine thread has left its loop.
    func served() {
        condition.withLock {
            serving = false
            condition.broadcast()
        }
    }

    func waitUntilServed(timeout: Double) {
        let deadline = Date().addingTimeInterval(timeout)
        condition.withLock {
            while serving, condition.wait(until: deadline) {}
        }
    }
}
