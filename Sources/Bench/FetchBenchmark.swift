import Fetch
import Foundation
import Imaging
import Xception

/// Fetch + decode + resize to the model input, for a list of URLs: the input side of a worker on its own
/// (no queue, no inference), to compare with Python's urllib + Pillow on the same files.
public struct FetchBenchmark: Sendable {
    public struct Result: Codable, Sendable {
        public var kind: String
        public var images: Int
        public var failures: Int
        public var size: Int
        public var imagesPerSecond: Double
        /// User + system CPU time of this process per image.
        public var cpuMsPerImage: Double
    }

    public var urls: [String]
    public var size: Int
    public var dctDownscale: Bool
    public var configuration: FetchConfiguration

    public init(urls: [String], size: Int, dctDownscale: Bool, configuration: FetchConfiguration) {
        self.urls = urls
        self.size = size
        self.dctDownscale = dctDownscale
        self.configuration = configuration
    }

    public func run() async -> Result {
        let fetcher = Fetcher(configuration: configuration)
        defer { fetcher.shutdown() }
        let pipeline = InputPipeline(size: size, dctDownscale: dctDownscale)
        let (size, dctDownscale, window) = (size, dctDownscale, configuration.maxInFlight)
        let cpuBefore = CPUTime.process
        let start = ContinuousClock.now
        // Up to `window` images between request and model input; decoding runs on the calling tasks.
        let done = await withTaskGroup(of: Bool.self) { group in
            var succeeded = 0
            for (index, url) in urls.enumerated() {
                if index >= window, await group.next() == true { succeeded += 1 }
                group.addTask {
                    guard let resource = try? await fetcher.fetch(url),
                        let input = try? pipeline.input(from: resource.body)
                    else { return false }
                    return input.count == size * size * 3
                }
            }
            for await ok in group where ok { succeeded += 1 }
            return succeeded
        }
        let seconds = Double((ContinuousClock.now - start) / .microseconds(1)) / 1e6
        let cpu = CPUTime.process - cpuBefore
        return Result(
            kind: dctDownscale ? "xceptor-dct" : "xceptor", images: done, failures: urls.count - done, size: size,
            imagesPerSecond: Double(done) / seconds, cpuMsPerImage: cpu * 1000 / Double(max(done, 1)))
    }
}
