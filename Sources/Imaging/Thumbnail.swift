import CImageCodecs
import Foundation

extension RGBImage {
    /// A copy that fits in `maxSide`x`maxSide`, aspect ratio kept (never enlarged).
    public func fitting(maxSide: Int) -> RGBImage {
        guard let size = fittingSize(maxSide: maxSide) else { return self }
        return BilinearResize.resize(self, width: size.width, height: size.height)
    }

    /// The size that fits in `maxSide`x`maxSide` with the aspect ratio kept; nil when the image already fits.
    private func fittingSize(maxSide: Int) -> (width: Int, height: Int)? {
        let longest = max(width, height)
        guard longest > maxSide else { return nil }
        let scale = Double(maxSide) / Double(longest)
        return (max(1, Int((Double(width) * scale).rounded())), max(1, Int((Double(height) * scale).rounded())))
    }

    /// A preview that fits in `maxSide`x`maxSide`, aspect ratio kept, made as Pillow's `Image.thumbnail`
    /// makes one (reducing gap 2): first a box average over whole `factor`x`factor` blocks while the result
    /// stays at least twice the target, then the bilinear filter. Several times cheaper than `fitting` on
    /// large images, and as smooth; not meant to be bit-exact with anything.
    public func thumbnail(maxSide: Int) -> RGBImage {
        guard let size = fittingSize(maxSide: maxSide) else { return self }
        let factor = min(256, max(width, height) / (2 * maxSide))
        return BilinearResize.resize(factor > 1 ? reduced(by: factor) : self, width: size.width, height: size.height)
    }

    /// The same preview, resampled from `copy`: a smaller version of this whole image at any aspect ratio
    /// (such as the model's square input, already made). Reading that copy instead of the full image again
    /// saves most of a thumbnail's cost (about a fifth of a photo's decode step at 150 px input). The copy
    /// is used only when it has at least the preview's pixels along both axes; otherwise, as `thumbnail(maxSide:)`.
    public func thumbnail(maxSide: Int, resampling copy: RGBImage) -> RGBImage {
        guard let size = fittingSize(maxSide: maxSide) else { return self }
        guard copy.width >= size.width, copy.height >= size.height else { return thumbnail(maxSide: maxSide) }
        return BilinearResize.resize(copy, width: size.width, height: size.height)
    }

    /// Each `factor`x`factor` block averaged into one pixel (rounded); blocks cut by the right or bottom
    /// edge average the pixels they have.
    func reduced(by factor: Int) -> RGBImage {
        precondition(factor >= 1 && factor <= 256, "reduce factors are 1...256")
        let outputWidth = (width + factor - 1) / factor
        let outputHeight = (height + factor - 1) / factor
        let rowValues = width * 3
        var sums = [UInt32](repeating: 0, count: rowValues)
        let output = [UInt8](unsafeUninitializedCapacity: outputWidth * outputHeight * 3) { output, initialized in
            pixels.withUnsafeBufferPointer { input in
                sums.withUnsafeMutableBufferPointer { sums in
                    for outputRow in 0..<outputHeight {
                        // Column sums over the block's rows (vectorised), then across each block's columns.
                        let rows = outputRow * factor..<min(height, (outputRow + 1) * factor)
                        for index in 0..<rowValues { sums[index] = 0 }
                        for row in rows {
                            let source = input.baseAddress! + row * rowValues
                            for index in 0..<rowValues { sums[index] &+= UInt32(source[index]) }
                        }
                        let target = output.baseAddress! + outputRow * outputWidth * 3
                        for outputColumn in 0..<outputWidth {
                            let columns = outputColumn * factor..<min(width, (outputColumn + 1) * factor)
                            let count = UInt32(columns.count * rows.count)
                            var block: (UInt32, UInt32, UInt32) = (count / 2, count / 2, count / 2)
                            for column in columns {
                                block.0 &+= sums[column * 3]
                                block.1 &+= sums[column * 3 + 1]
                                block.2 &+= sums[column * 3 + 2]
                            }
                            target[outputColumn * 3] = UInt8(truncatingIfNeeded: block.0 / count)
                            target[outputColumn * 3 + 1] = UInt8(truncatingIfNeeded: block.1 / count)
                            target[outputColumn * 3 + 2] = UInt8(truncatingIfNeeded: block.2 / count)
                        }
                    }
                }
            }
            initialized = outputWidth * outputHeight * 3
        }
        return RGBImage(width: outputWidth, height: outputHeight, pixels: output)
    }

    /// The image as a baseline JPEG (`quality` 1-100).
    public func jpegData(quality: Int = 80) throws -> [UInt8] {
        var message = [CChar](repeating: 0, count: 256)
        var output: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        guard xceptor_jpeg_encode(pixels, Int32(width), Int32(height), Int32(quality), &output, &size, &message) == 0,
            let output
        else { throw ImageError.corrupt(format: "JPEG", reason: "could not encode: \(String(cString: message))") }
        defer { free(output) }
        return Array(UnsafeBufferPointer(start: output, count: Int(size)))
    }
}
