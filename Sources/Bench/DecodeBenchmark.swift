import Digests
import Foundation
import Imaging
import Xception

/// The CPU each step of the worker's decode pool takes per image, on files already in memory, one thread:
/// content hash, decode, the Pillow-exact resize, normalisation, and the thumbnail (resampled and encoded).
/// With fetching and storing it is what a worker spends outside the network, step by step, with the same
/// calls the worker makes (`JobProcessor`, `DecodedImage`).
public struct DecodeBenchmark: Sendable {
    public struct Step: Codable, Sendable {
        public var step: String
        public var msPerImage: Double
        public var share: Double
    }

    public struct Result: Codable, Sendable {
        public var images: Int
        public var meanMegapixels: Double
        public var size: Int
        public var thumbnailSide: Int
        public var rounds: Int
        public var steps: [Step]
        public var totalMsPerImage: Double
    }

    public var files: [[UInt8]]
    public var size: Int
    public var thumbnailSide: Int
    public var rounds: Int

    public init(files: [[UInt8]], size: Int, thumbnailSide: Int, rounds: Int) {
        self.files = files
        self.size = size
        self.thumbnailSide = thumbnailSide
        self.rounds = rounds
    }

    static let stepNames = ["sha256", "decode", "resize", "normalize", "thumbnail"]

    /// A file that failed a step: its position in `files`, and why.
    public struct FileFailure: Error {
        public var index: Int
        public var error: Error
    }

    /// Runs every file through every step `rounds` times; each step's figure is its CPU time (this thread's)
    /// per image, from the best round, since other processes on a shared host only ever add time.
    public func run() throws -> Result {
        let decoder = ImageDecoder()
        var best = [Double](repeating: .infinity, count: Self.stepNames.count)
        var pixels = 0
        for _ in 0..<rounds {
            var spent = [Double](repeating: 0, count: Self.stepNames.count)
            pixels = 0
            for (index, bytes) in files.enumerated() {
                do {
                    var last = CPUTime.currentThread
                    func lap(_ step: Int) {
                        let now = CPUTime.currentThread
                        spent[step] += now - last
                        last = now
                    }
                    let digest = SHA256.hash(bytes)
                    lap(0)
                    let image = try decoder.decode(bytes, atLeast: nil)
                    lap(1)
                    let resized = BilinearResize.resize(image, width: size, height: size)
                    lap(2)
                    let input = InputPipeline.normalized(resized)
                    lap(3)
                    let thumbnail = thumbnailSide > 0 ? try image.thumbnail(maxSide: thumbnailSide, resampling: resized).jpegData() : []
                    lap(4)
                    // Results kept alive to here, so that no step is optimised away.
                    precondition(digest.count == 32 && input.count == size * size * 3 && (thumbnailSide == 0 || !thumbnail.isEmpty))
                    pixels += image.width * image.height
                } catch {
                    throw FileFailure(index: index, error: error)
                }
            }
            for index in best.indices { best[index] = min(best[index], spent[index]) }
        }
        let count = Double(files.count)
        let total = best.reduce(0, +)
        return Result(
            images: files.count, meanMegapixels: Double(pixels) / count / 1e6, size: size, thumbnailSide: thumbnailSide, rounds: rounds,
            steps: zip(Self.stepNames, best).map { Step(step: $0, msPerImage: $1 * 1000 / count, share: total > 0 ? $1 / total : 0) },
            totalMsPerImage: total * 1000 / count)
    }
}
