import CImageCodecs
import Foundation

/// Decodes image bytes to RGB, refusing decompression bombs from the header, before allocating.
public struct ImageDecoder: Sendable {
    /// Largest image decoded, in pixels (width x height as the header claims them).
    public var maxPixels: Int

    public static let defaultMaxPixels = 64_000_000

    public init(maxPixels: Int = ImageDecoder.defaultMaxPixels) {
        self.maxPixels = maxPixels
    }

    /// Decodes at full size (what Pillow does, so the pixels match the reference pipeline exactly).
    public func decode(_ bytes: [UInt8]) throws -> RGBImage {
        try decode(bytes, atLeast: nil)
    }

    /// Decodes, letting a JPEG shrink in the DCT domain (by 1/2, 1/4 or 1/8) as far as it stays at least
    /// `minimumSide` pixels on both sides, as Pillow's draft mode does: several times less work for a photo
    /// much larger than the model input, at the price of pixels slightly different from a full decode.
    public func decode(_ bytes: [UInt8], atLeast minimumSide: Int?) throws -> RGBImage {
        guard !bytes.isEmpty else { throw ImageError.empty }
        guard let format = ImageFormat.sniff(bytes) else {
            throw ImageError.unrecognizedFormat(firstBytes: bytes.prefix(8).map { String(format: "%02x", $0) }.joined(separator: " "))
        }
        switch format {
        case .jpeg:
            let image = try decodeJPEG(bytes, minimumSide: minimumSide)
            return ExifOrientation.read(jpeg: bytes).map { image.orientedUpright($0) } ?? image
        case .png:
            return try decodePNG(bytes)
        case .gif:
            return try decodeGIF(bytes)
        case .webp:
            return try decodeWebP(bytes)
        case .bmp, .tiff, .avif, .heic, .ico:
            // Not decodable, but a bomb is still refused as one, from the header's claimed size (BMP's).
            if let (width, height) = Self.claimedSize(bytes, format: format), exceedsPixelLimit(width: width, height: height) {
                throw ImageError.tooManyPixels(width: width, height: height, limit: maxPixels)
            }
            throw ImageError.unsupportedFormat(format.rawValue)
        }
    }

    /// Width and height as the header states them, without decoding.
    public func dimensions(_ bytes: [UInt8]) throws -> (width: Int, height: Int) {
        guard let format = ImageFormat.sniff(bytes) else { throw ImageError.unrecognizedFormat(firstBytes: "") }
        if format == .jpeg {
            var message = [CChar](repeating: 0, count: 256)
            var (width, height, components): (Int32, Int32, Int32) = (0, 0, 0)
            guard xceptor_jpeg_header(bytes, bytes.count, &width, &height, &components, &message) == 0 else {
                throw ImageError.corrupt(format: "JPEG", reason: String(cString: message))
            }
            // Upright, as `decode` returns it: orientations 5 to 8 swap the sides.
            let turned = (ExifOrientation.read(jpeg: bytes) ?? 1) >= 5
            return turned ? (Int(height), Int(width)) : (Int(width), Int(height))
        }
        if format == .webp {
            guard let size = Self.webpSize(bytes) else { throw ImageError.corrupt(format: format.rawValue, reason: "unreadable header") }
            return size
        }
        guard let size = Self.claimedSize(bytes, format: format) else {
            throw format.isDecodable
                ? ImageError.corrupt(format: format.rawValue, reason: "no size in the header")
                : ImageError.unsupportedFormat(format.rawValue)
        }
        return size
    }

    /// Width and height from a PNG, GIF or BMP header.
    static func claimedSize(_ bytes: [UInt8], format: ImageFormat) -> (Int, Int)? {
        func bigEndian(_ offset: Int) -> Int { bytes[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) } }
        func littleEndian(_ offset: Int, _ count: Int) -> Int { bytes[offset..<offset + count].reversed().reduce(0) { $0 << 8 | Int($1) } }
        switch format {
        case .png where bytes.count >= 24 && bytes[12..<16].elementsEqual("IHDR".utf8):
            return (bigEndian(16), bigEndian(20))
        case .gif where bytes.count >= 10:
            return (littleEndian(6, 2), littleEndian(8, 2))
        case .bmp where bytes.count >= 26:
            return (littleEndian(18, 4), abs(Int(Int32(truncatingIfNeeded: littleEndian(22, 4)))))
        default:
            return nil
        }
    }

    private func decodeJPEG(_ bytes: [UInt8], minimumSide: Int?) throws -> RGBImage {
        var message = [CChar](repeating: 0, count: 256)
        var (width, height, components): (Int32, Int32, Int32) = (0, 0, 0)
        guard xceptor_jpeg_header(bytes, bytes.count, &width, &height, &components, &message) == 0 else {
            throw ImageError.corrupt(format: "JPEG", reason: String(cString: message))
        }
        guard width > 0, height > 0 else { throw ImageError.corrupt(format: "JPEG", reason: "zero width or height") }
        guard !exceedsPixelLimit(width: Int(width), height: Int(height)) else {
            throw ImageError.tooManyPixels(width: Int(width), height: Int(height), limit: maxPixels)
        }
        let denominator = minimumSide.map { Self.dctScaleDenominator(width: Int(width), height: Int(height), minimumSide: $0) } ?? 1
        if denominator > 1 {
            guard xceptor_jpeg_scaled_size(bytes, bytes.count, Int32(denominator), &width, &height, &message) == 0 else {
                throw ImageError.corrupt(format: "JPEG", reason: String(cString: message))
            }
        }
        let outputComponents = components == 4 ? 4 : 3
        var inverted: Int32 = 0
        var status: Int32 = 0
        // Not zero-filled first: a successful decode writes every scanline.
        var output = [UInt8](unsafeUninitializedCapacity: Int(width) * Int(height) * outputComponents) { buffer, initialized in
            status = xceptor_jpeg_decode(
                bytes, bytes.count, Int32(denominator), buffer.baseAddress, buffer.count, &width, &height,
                &components, &inverted, &message)
            initialized = status == 0 ? buffer.count : 0
        }
        guard status == 0 else { throw ImageError.corrupt(format: "JPEG", reason: String(cString: message)) }
        if components == 4 { output = Self.cmykToRGB(output, inverted: inverted != 0) }
        return RGBImage(width: Int(width), height: Int(height), pixels: output)
    }

    /// Pillow's draft rule: the largest of 8, 4 and 2 by which both sides can shrink and stay at least `minimumSide`.
    static func dctScaleDenominator(width: Int, height: Int, minimumSide: Int) -> Int {
        let room = min(width / max(minimumSide, 1), height / max(minimumSide, 1))
        return [8, 4, 2].first { $0 <= room } ?? 1
    }

    /// Exposed for tests: the conversion is not reachable without a CMYK JPEG fixture.
    public static func cmykToRGBForTesting(_ cmyk: [UInt8], inverted: Bool) -> [UInt8] { cmykToRGB(cmyk, inverted: inverted) }

    /// Pillow's CMYK to RGB: each channel (255 - k) * (255 - c) / 255 with its rounding. Adobe files store
    /// CMYK inverted.
    static func cmykToRGB(_ cmyk: [UInt8], inverted: Bool) -> [UInt8] {
        var rgb = [UInt8](repeating: 0, count: cmyk.count / 4 * 3)
        for pixel in 0..<cmyk.count / 4 {
            let value = { (index: Int) -> Int in
                let stored = Int(cmyk[pixel * 4 + index])
                return inverted ? 255 - stored : stored
            }
            let notBlack = 255 - value(3)
            for channel in 0..<3 {
                let product = value(channel) * notBlack + 128
                rgb[pixel * 3 + channel] = UInt8(clamping: notBlack - (((product >> 8) + product) >> 8))
            }
        }
        return rgb
    }
}
