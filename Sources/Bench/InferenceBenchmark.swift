import CVectorKernels
import Foundation
import Synchronization
import Xception

/// Throughput of the network alone, on synthetic inputs: images/s, ms per batch, GFLOP/s.
public struct InferenceBenchmark: Sendable {
    public var network: XceptionNetwork
    public var size: Int
    public var batch: Int
    /// Timed batches, after one untimed batch that builds the plan and warms the caches.
    public var iterations: Int

    public init(network: XceptionNetwork, size: Int, batch: Int, iterations: Int) {
        self.network = network
        self.size = size
        self.batch = batch
        self.iterations = iterations
    }

    public struct Result: Sendable, Codable {
        public var size: Int
        public var batch: Int
        public var precision: String
        public var threads: Int
        public var imagesPerSecond: Double
        public var millisecondsPerBatch: Double
        public var gflops: Double
    }

    public func run(threads: Int) throws -> Result {
        // Inputs in the network's range (x/127.5 - 1); the values do not change the work done.
        let images = (0..<batch).map { _ in (0..<size * size * 3).map { _ in Float(UInt8.random(in: 0...255)) / 127.5 - 1 } }
        _ = try network.predict(images, size: size)
        let start = Date()
        for _ in 0..<iterations { _ = try network.predict(images, size: size) }
        let seconds = Date().timeIntervalSince(start)
        let imagesPerSecond = Double(batch * iterations) / seconds
        return Result(
            size: size, batch: batch, precision: network.precision.rawValue, threads: threads, imagesPerSecond: imagesPerSecond,
            millisecondsPerBatch: seconds * 1000 / Double(iterations),
            gflops: imagesPerSecond * XceptionNetwork.flopsPerImage(size: size) / 1e9)
    }
}

/// Where a batch's time goes: each step of the compiled network timed alone, the totals by kind of step,
/// and the network's arithmetic rate next to the most these cores can do (an FMA loop, same run).
extension InferenceBenchmark {
    public struct KindTotal: Sendable, Codable {
        public var kind: String
        public var milliseconds: Double
        public var gflops: Double
        public var share: Double
    }

    public struct LayerProfile: Sendable, Codable {
        public var size: Int
        public var batch: Int
        public var precision: String
        public var threads: Int
        public var steps: [LayerTiming]
        public var kinds: [KindTotal]
        /// The steps' times added up (each step run alone, so a little over a whole batch's run).
        public var millisecondsPerBatch: Double
        public var gflops: Double
        /// The float32 FMA loop's rate on `threads` threads, and the network's share of it (bf16's dot
        /// products do twice the float32 rate where the CPU has them, so bf16 can pass 100%).
        public var peakGflops: Double
        public var peakFraction: Double
    }

    public func profileLayers(threads: Int) throws -> LayerProfile {
        let steps = try network.profile(batch: batch, size: size, iterations: iterations)
        let total = steps.reduce(0) { $0 + $1.milliseconds }
        var kinds: [KindTotal] = []
        for kind in Array(Set(steps.map(\.kind))) {
            let matching = steps.filter { $0.kind == kind }
            let milliseconds = matching.reduce(0) { $0 + $1.milliseconds }
            let flops = matching.reduce(0) { $0 + $1.flops }
            kinds.append(KindTotal(kind: kind, milliseconds: milliseconds, gflops: flops / milliseconds / 1e6, share: milliseconds / total))
        }
        kinds.sort { $0.milliseconds > $1.milliseconds }
        let gflops = steps.reduce(0) { $0 + $1.flops } / total / 1e6
        let peak = FMAPeak.gflops(threads: threads)
        return LayerProfile(
            size: size, batch: batch, precision: network.precision.rawValue, threads: threads, steps: steps, kinds: kinds,
            millisecondsPerBatch: total, gflops: gflops, peakGflops: peak, peakFraction: peak > 0 ? gflops / peak : 0)
    }
}

/// The most float32 arithmetic these cores do: independent FMA chains at the widest width the CPU has, on
/// `threads` threads at once, best of three rounds. 0 on a CPU without FMA.
enum FMAPeak {
    static func gflops(threads: Int) -> Double {
        guard xceptor_fma_lanes() > 0 else { return 0 }
        let rounds = 50_000_000
        var best = 0.0
        for _ in 0..<3 {
            let flops = Mutex(0.0)
            let start = ContinuousClock.now
            DispatchQueue.concurrentPerform(iterations: max(1, threads)) { _ in
                var sink: Float = 0
                let done = xceptor_fma_loop(rounds, &sink)
                flops.withLock { $0 += done }
            }
            let seconds = Double((ContinuousClock.now - start) / .nanoseconds(1)) / 1e9
            best = max(best, flops.withLock { $0 } / seconds / 1e9)
        }
        return best
    }
}
