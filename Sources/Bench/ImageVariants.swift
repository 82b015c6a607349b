import Foundation
import Imaging

/// Distinct JPEGs made from a few sources (crops, mirror images, brightness and colour shifts), so that
/// demos and benchmarks have many images whose bytes differ and content dedupe cannot short-circuit.
/// Deterministic: variant `index` of the same sources is always the same image.
public enum ImageVariants {
    /// Writes `count` variants of `sources` to `directory` as NNNNN.jpg; returns their file names.
    public static func write(count: Int, from sources: [RGBImage], to directory: URL) throws -> [String] {
        precondition(!sources.isEmpty)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return try (0..<count).map { index in
            let name = String(format: "%05d.jpg", index)
            let variant = make(index, from: sources[index % sources.count])
            try Data(try variant.jpegData(quality: 85 + index % 8)).write(to: directory.appendingPathComponent(name))
            return name
        }
    }

    static func make(_ index: Int, from source: RGBImage) -> RGBImage {
        // Evenly spread parameters from the golden ratio sequence: no two variants of one source alike.
        func spread(_ salt: Int) -> Double { (Double(index * 7 + salt) * 0.618_033_988_75).truncatingRemainder(dividingBy: 1) }
        let width = max(1, Int(Double(source.width) * (0.6 + 0.4 * spread(1))))
        let height = max(1, Int(Double(source.height) * (0.6 + 0.4 * spread(2))))
        let left = Int(Double(source.width - width) * spread(3)), top = Int(Double(source.height - height) * spread(4))
        let mirrored = index / 2 % 2 == 1
        let gains = (0..<3).map { 0.75 + 0.5 * spread(5 + $0) }

        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let sourceX = left + (mirrored ? width - 1 - x : x)
                let from = ((top + y) * source.width + sourceX) * 3, to = (y * width + x) * 3
                for channel in 0..<3 {
                    pixels[to + channel] = UInt8(min(255, Double(source.pixels[from + channel]) * gains[channel]))
                }
            }
        }
        // Long side 400-1000 px, as photos on the web tend to be.
        return RGBImage(width: width, height: height, pixels: pixels).fitting(maxSide: 400 + Int(600 * spread(8)))
    }
}
