import Testing

@testable import Imaging

@Suite("Thumbnails and the vectorised resize")
struct ThumbnailTests {
    /// Noise-like pixels from a seed (a multiplicative hash of seed and position), so a failure replays.
    static func randomImage(width: Int, height: Int, seed: UInt64) -> RGBImage {
        RGBImage(
            width: width, height: height,
            pixels: (0..<UInt64(width * height * 3)).map {
                UInt8(truncatingIfNeeded: (($0 &+ seed) &* 0x9E37_79B9_7F4A_7C15) >> 56)
            })
    }

    /// A smooth image (a colour gradient): two resampling paths must agree closely on it; noise would not
    /// tell them apart.
    static func gradient(width: Int, height: Int) -> RGBImage {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                pixels[(y * width + x) * 3] = UInt8(x * 255 / (width - 1))
                pixels[(y * width + x) * 3 + 1] = UInt8(y * 255 / (height - 1))
                pixels[(y * width + x) * 3 + 2] = UInt8((x + y) * 255 / (width + height - 2))
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    @Test("a reduced pixel is its block's rounded mean, edge blocks included (odd sizes, against a plain loop)")
    func reduceMatchesReference() {
        let seed = UInt64.random(in: 0...UInt64.max)
        for (width, height, factor) in [(7, 5, 2), (37, 23, 3), (101, 67, 4), (64, 64, 8), (5, 3, 7)] {
            let image = Self.randomImage(width: width, height: height, seed: seed &+ UInt64(width))
            let reduced = image.reduced(by: factor)
            #expect(reduced.width == (width + factor - 1) / factor && reduced.height == (height + factor - 1) / factor)
            for y in 0..<reduced.height {
                for x in 0..<reduced.width {
                    for channel in 0..<3 {
                        var total = 0
                        var count = 0
                        for sourceY in y * factor..<min(height, (y + 1) * factor) {
                            for sourceX in x * factor..<min(width, (x + 1) * factor) {
                                total += Int(image.pixels[(sourceY * width + sourceX) * 3 + channel])
                                count += 1
                            }
                        }
                        let expected = UInt8((total + count / 2) / count)
                        let actual = reduced.pixels[(y * reduced.width + x) * 3 + channel]
                        #expect(actual == expected, "seed \(seed), \(width)x\(height) by \(factor), pixel \(x),\(y) channel \(channel)")
                    }
                }
            }
        }
    }

    @Test("a thumbnail has the fitted size and stays close to the direct bilinear resize")
    func thumbnailSizeAndContent() throws {
        let image = Self.gradient(width: 997, height: 611)
        let thumbnail = image.thumbnail(maxSide: 128)
        let direct = image.fitting(maxSide: 128)
        #expect(thumbnail.width == 128 && thumbnail.height == 78)
        #expect(direct.width == thumbnail.width && direct.height == thumbnail.height)
        let worst = zip(thumbnail.pixels, direct.pixels).map { abs(Int($0) - Int($1)) }.max() ?? 0
        #expect(worst <= 3, "largest difference to the direct resize: \(worst) levels")
        // Small images are left alone, and images just above the size are resized directly.
        #expect(RGBImage(width: 100, height: 50, pixels: [UInt8](repeating: 7, count: 100 * 50 * 3)).thumbnail(maxSide: 128).width == 100)
        let slightlyLarger = Self.randomImage(width: 200, height: 150, seed: 1)
        #expect(slightlyLarger.thumbnail(maxSide: 128) == slightlyLarger.fitting(maxSide: 128))
    }

    @Test("a thumbnail resampled from the model's square input has the fitted size and stays close to the direct resize")
    func thumbnailFromSquareCopy() {
        let image = Self.gradient(width: 997, height: 611)
        let square = BilinearResize.resize(image, width: 150, height: 150)
        let thumbnail = image.thumbnail(maxSide: 128, resampling: square)
        let direct = image.fitting(maxSide: 128)
        #expect(thumbnail.width == 128 && thumbnail.height == 78)
        let worst = zip(thumbnail.pixels, direct.pixels).map { abs(Int($0) - Int($1)) }.max() ?? 0
        #expect(worst <= 3, "largest difference to the direct resize: \(worst) levels")
        // A copy with fewer pixels than the thumbnail needs along an axis is not used: the full image is.
        let tooSmall = BilinearResize.resize(image, width: 100, height: 100)
        #expect(image.thumbnail(maxSide: 128, resampling: tooSmall) == image.thumbnail(maxSide: 128))
        // An image that already fits is its own thumbnail.
        let small = Self.randomImage(width: 100, height: 50, seed: 3)
        #expect(small.thumbnail(maxSide: 128, resampling: square) == small)
    }

    @Test("the vectorised passes give the plain loops' bytes: few and many taps, both pass orders, upscaling")
    func vectorisedResizeIsExact() {
        let seed = UInt64.random(in: 0...UInt64.max)
        // (source, target): 700 -> 150 has 11 taps, 3001 -> 61 has 101 (seven 16-tap blocks), 37 -> 150 enlarges;
        // 40x3001 -> 30x20 runs the vertical pass first. With AVX-512BW, eight outputs whose taps lie within 64
        // pixels go through one vector: all of 1050 -> 150's do (15 taps), 11 of 1074 -> 150's 18 do, and none of
        // 3001 -> 61's.
        let cases = [
            (700, 523, 150, 150), (3001, 37, 61, 17), (37, 29, 150, 150), (40, 3001, 30, 20), (5, 5, 3, 3), (1, 1, 4, 4),
            (1050, 9, 150, 9), (1074, 7, 150, 7),
        ]
        for (index, (width, height, targetWidth, targetHeight)) in cases.enumerated() {
            let image = Self.randomImage(width: width, height: height, seed: seed &+ UInt64(index))
            let plain = BilinearResize.resize(image, width: targetWidth, height: targetHeight, kernels: .plain)
            for kernels in [BilinearResize.Kernels.avx2, .widest] {
                let vectorised = BilinearResize.resize(image, width: targetWidth, height: targetHeight, kernels: kernels)
                #expect(vectorised == plain, "\(kernels), seed \(seed): \(width)x\(height) -> \(targetWidth)x\(targetHeight)")
            }
        }
    }
}
