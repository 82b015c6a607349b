import CImageCodecs
import CPNG
import CWebP
import Foundation

/// PNG, WebP and GIF through their libraries; each checks the claimed size against the pixel limit
/// before allocating.
extension ImageDecoder {
    func decodePNG(_ bytes: [UInt8]) throws -> RGBImage {
        // libpng reads past the header before it reports the size: refuse a bomb from IHDR first.
        if let (width, height) = Self.claimedSize(bytes, format: .png) { try checkPixels(width: width, height: height) }
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        defer { png_image_free(&image) }
        guard bytes.withUnsafeBytes({ png_image_begin_read_from_memory(&image, $0.baseAddress, $0.count) }) != 0 else {
            throw ImageError.corrupt(format: "PNG", reason: Self.pngMessage(image))
        }
        try checkPixels(width: Int(image.width), height: Int(image.height))
        // Read as RGBA and drop the alpha (what Pillow's convert("RGB") does); palette, grey and 16-bit
        // images are expanded by libpng.
        image.format = xceptor_png_format_rgba
        image.flags |= xceptor_png_flag_16bit_srgb
        let (width, height) = (Int(image.width), Int(image.height))
        var rgba = [UInt8](repeating: 0, count: width * height * 4)
        guard rgba.withUnsafeMutableBytes({ png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) }) != 0 else {
            throw ImageError.corrupt(format: "PNG", reason: Self.pngMessage(image))
        }
        return RGBImage(width: width, height: height, pixels: Self.droppingAlpha(rgba))
    }

    private static func pngMessage(_ image: png_image) -> String {
        withUnsafeBytes(of: image.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    /// Width and height from a WebP header (simple or extended), without decoding.
    static func webpSize(_ bytes: [UInt8]) -> (Int, Int)? {
        var (width, height): (Int32, Int32) = (0, 0)
        guard WebPGetInfo(bytes, bytes.count, &width, &height) != 0 else { return nil }
        return (Int(width), Int(height))
    }

    func decodeWebP(_ bytes: [UInt8]) throws -> RGBImage {
        var features = WebPBitstreamFeatures()
        guard WebPGetFeatures(bytes, bytes.count, &features) == VP8_STATUS_OK else {
            throw ImageError.corrupt(format: "WebP", reason: "unreadable header")
        }
        let (width, height) = (features.width, features.height)
        try checkPixels(width: Int(width), height: Int(height))
        if features.has_animation != 0 { return try decodeAnimatedWebP(bytes) }
        var pixels = [UInt8](repeating: 0, count: Int(width) * Int(height) * 3)
        let decoded = pixels.withUnsafeMutableBufferPointer {
            WebPDecodeRGBInto(bytes, bytes.count, $0.baseAddress, $0.count, width * 3)
        }
        guard decoded != nil else { throw ImageError.corrupt(format: "WebP", reason: "the image data does not decode") }
        return RGBImage(width: Int(width), height: Int(height), pixels: pixels)
    }

    /// An animated WebP's first frame, on its canvas (what Pillow's `Image.open` shows before any `seek`),
    /// alpha dropped. The frame decoder reads `bytes` in place, so all of it runs while they stay pinned.
    private func decodeAnimatedWebP(_ bytes: [UInt8]) throws -> RGBImage {
        var options = WebPAnimDecoderOptions()
        guard WebPAnimDecoderOptionsInit(&options) != 0 else {
            throw ImageError.corrupt(format: "WebP", reason: "this libwebp cannot decode animations")
        }
        options.color_mode = MODE_RGBA
        options.use_threads = 0
        return try bytes.withUnsafeBufferPointer { buffer in
            var data = WebPData(bytes: buffer.baseAddress, size: buffer.count)
            guard let decoder = WebPAnimDecoderNew(&data, &options) else {
                throw ImageError.corrupt(format: "WebP", reason: "the animation's frames do not decode")
            }
            defer { WebPAnimDecoderDelete(decoder) }
            var info = WebPAnimInfo()
            guard WebPAnimDecoderGetInfo(decoder, &info) != 0 else {
                throw ImageError.corrupt(format: "WebP", reason: "the animation's frames do not decode")
            }
            let (width, height) = (Int(info.canvas_width), Int(info.canvas_height))
            try checkPixels(width: width, height: height)
            var frame: UnsafeMutablePointer<UInt8>?
            var timestamp: Int32 = 0
            guard WebPAnimDecoderGetNext(decoder, &frame, &timestamp) != 0, let frame else {
                throw ImageError.corrupt(format: "WebP", reason: "the animation's first frame does not decode")
            }
            return RGBImage(
                width: width, height: height,
                pixels: Self.droppingAlpha(UnsafeBufferPointer(start: frame, count: width * height * 4)))
        }
    }

    func decodeGIF(_ bytes: [UInt8]) throws -> RGBImage {
        var message = [CChar](repeating: 0, count: 256)
        var (width, height): (Int32, Int32) = (0, 0)
        guard xceptor_gif_screen_size(bytes, bytes.count, &width, &height, &message) == 0 else {
            throw ImageError.corrupt(format: "GIF", reason: String(cString: message))
        }
        guard width > 0, height > 0 else { throw ImageError.corrupt(format: "GIF", reason: "zero width or height") }
        try checkPixels(width: Int(width), height: Int(height))
        var pixels = [UInt8](repeating: 0, count: Int(width) * Int(height) * 3)
        var (frameWidth, frameHeight): (Int32, Int32) = (0, 0)
        let status = pixels.withUnsafeMutableBufferPointer {
            xceptor_gif_decode_first_frame(bytes, bytes.count, $0.baseAddress, $0.count, maxPixels, &frameWidth, &frameHeight, &message)
        }
        if status == 2 { throw ImageError.tooManyPixels(width: Int(frameWidth), height: Int(frameHeight), limit: maxPixels) }
        guard status == 0 else { throw ImageError.corrupt(format: "GIF", reason: String(cString: message)) }
        return RGBImage(width: Int(width), height: Int(height), pixels: pixels)
    }

    func checkPixels(width: Int, height: Int) throws {
        guard width > 0, height > 0 else { throw ImageError.corrupt(format: "image", reason: "zero width or height") }
        guard !exceedsPixelLimit(width: width, height: height) else {
            throw ImageError.tooManyPixels(width: width, height: height, limit: maxPixels)
        }
    }

    /// Whether `width` x `height` is over the limit; a product too large for an Int (a hostile header's
    /// 4294967295 x 4294967295, found by the fuzzer) is over it too.
    func exceedsPixelLimit(width: Int, height: Int) -> Bool {
        let (pixels, overflow) = width.multipliedReportingOverflow(by: height)
        return overflow || pixels > maxPixels
    }

    static func droppingAlpha(_ rgba: [UInt8]) -> [UInt8] {
        rgba.withUnsafeBufferPointer { droppingAlpha($0) }
    }

    /// From memory a library owns (an animation's frame), without copying it first.
    static func droppingAlpha(_ rgba: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: rgba.count / 4 * 3) { rgb, initialized in
            for pixel in 0..<rgba.count / 4 {
                rgb[pixel * 3] = rgba[pixel * 4]
                rgb[pixel * 3 + 1] = rgba[pixel * 4 + 1]
                rgb[pixel * 3 + 2] = rgba[pixel * 4 + 2]
            }
            initialized = rgba.count / 4 * 3
        }
    }
}
