import CImageCodecs
import Foundation

extension RGBImage {
    /// A copy that fits in `maxSide`x`maxSide`, aspect ratio kept (never enlarged).
    public func fitting(maxSide: Int) -> RGBImage {
        let longest = max(width, height)
        guard longest > maxSide else { return self }
        let scale = Double(maxSide) / Double(longest)
        return BilinearResize.resize(self, width: max(1, Int((Double(width) * scale).rounded())),
                                     height: max(1, Int((Double(height) * scale).rounded())))
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
