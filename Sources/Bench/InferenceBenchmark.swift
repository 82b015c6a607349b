import Foundation
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
