import Foundation
import Imaging
import Testing

/// PNG, GIF, WebP (an animation's first frame) and the less common JPEGs (Adobe CMYK, grey, progressive)
/// decode to the pixels Pillow's `convert("RGB")` gives (fixtures made by Fixtures/formats/make_fixtures.py),
/// JPEGs are turned upright by their EXIF orientation, and formats this build does not decode are named.
@Suite("Other image formats and EXIF orientation")
struct FormatTests {
    static let formats = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../Fixtures/formats")
        .standardizedFileURL

    static func fixture(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: formats.appendingPathComponent(name)))
    }

    @Test(
        "each format decodes to the reference pixels, and its header gives its size",
        arguments: [
            ("rgb.png", 0), ("rgba.png", 0), ("palette.png", 0), ("grey.png", 0), ("grey16.png", 1),
            ("interlaced.gif", 0), ("lossless.webp", 0), ("lossy.webp", 2), ("cmyk.jpg", 0), ("grey.jpg", 0), ("progressive.jpg", 0),
            ("animated.webp", 0), ("transparent.gif", 0), ("grey-alpha.png", 0), ("palette-trns.png", 0),
        ])
    func decodes(name: String, tolerance: Int) throws {
        let image = try ImageDecoder().decode(try Self.fixture(name))
        #expect(image.width == 64 && image.height == 48)
        let header = try ImageDecoder().dimensions(try Self.fixture(name))
        #expect(header.width == 64 && header.height == 48, "\(name): the header's size")
        let expected = try Self.fixture(name + ".rgb")
        let worst = zip(image.pixels, expected).map { abs(Int($0) - Int($1)) }.max() ?? .max
        #expect(image.pixels.count == expected.count && worst <= tolerance, "\(name): worst difference \(worst)")
    }

    @Test("truncated PNG, GIF, WebP and progressive or CMYK JPEG files fail as corrupt, naming the format")
    func truncated() throws {
        let files = [
            ("rgb.png", "PNG"), ("interlaced.gif", "GIF"), ("lossless.webp", "WEBP"), ("progressive.jpg", "JPEG"), ("cmyk.jpg", "JPEG"),
        ]
        for (name, expected) in files {
            let bytes = try Self.fixture(name)
            #expect {
                try ImageDecoder().decode(Array(bytes.prefix(bytes.count / 2)))
            } throws: { error in
                guard case let .corrupt(format, _) = error as? ImageError else { return false }
                return format.uppercased() == expected
            }
        }
    }

    @Test("TIFF, AVIF, ICO (written by Pillow) and HEIC are refused by name, saying what to convert them to")
    func unsupportedFormats() throws {
        // No HEIC writer here: the start of one (a "ftyp" box with the brand "heic") stands in for it.
        let heic: [UInt8] = [0, 0, 0, 24] + Array("ftypheic".utf8) + [0, 0, 0, 0] + Array("mif1heic".utf8)
        let files = [
            ("TIFF", try Self.fixture("unsupported.tiff")), ("AVIF", try Self.fixture("unsupported.avif")),
            ("ICO", try Self.fixture("unsupported.ico")), ("HEIC", heic),
        ]
        for (format, bytes) in files {
            let refused = #expect(throws: ImageError.unsupportedFormat(format)) { try ImageDecoder().decode(bytes) }
            #expect(refused?.description == "\(format) images cannot be decoded; convert them to JPEG, PNG, WebP or GIF")
            #expect(throws: ImageError.unsupportedFormat(format)) { try ImageDecoder().dimensions(bytes) }
        }
    }

    @Test("PNG, GIF and WebP headers claiming too many pixels are refused before decoding")
    func pixelLimit() throws {
        for name in ["rgb.png", "interlaced.gif", "lossy.webp"] {
            #expect(throws: ImageError.tooManyPixels(width: 64, height: 48, limit: 1000)) {
                try ImageDecoder(maxPixels: 1000).decode(try Self.fixture(name))
            }
        }
    }

    @Test("a PNG header claiming 4294967295 x 4294967295 is refused, not overflowed (a fuzzer finding)")
    func overflowingHeader() {
        let png: [UInt8] =
            [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13] + Array("IHDR".utf8)
            + [UInt8](repeating: 0xFF, count: 25) + [0xD1, 0x10] + [UInt8](repeating: 0, count: 11)
        #expect(throws: ImageError.tooManyPixels(width: 4_294_967_295, height: 4_294_967_295, limit: ImageDecoder.defaultMaxPixels)) {
            try ImageDecoder().decode(png)
        }
    }

    @Test("a JPEG's EXIF orientation turns it upright", arguments: [1, 3, 6, 8])
    func exifOrientation(orientation: Int) throws {
        // The tagged file has the same image data as the untagged one: it must decode to those pixels, turned.
        let source = RGBImage(width: 48, height: 32, pixels: (0..<48 * 32 * 3).map { UInt8(truncatingIfNeeded: $0 * 7) })
        let plain = try source.jpegData(quality: 95)
        let stored = try ImageDecoder().decode(plain)
        let tagged = try ImageDecoder().decode(Self.withOrientation(plain, orientation))
        let (w, h) = (stored.width, stored.height)
        func pixel(_ image: RGBImage, _ x: Int, _ y: Int) -> [UInt8] {
            Array(image.pixels[(y * image.width + x) * 3..<(y * image.width + x) * 3 + 3])
        }
        for (x, y) in [(0, 0), (5, 3), (w - 1, h - 1), (10, h - 2)] {
            switch orientation {
            case 3: #expect(pixel(tagged, w - 1 - x, h - 1 - y) == pixel(stored, x, y))
            case 6: #expect(tagged.width == h && pixel(tagged, h - 1 - y, x) == pixel(stored, x, y))
            case 8: #expect(tagged.width == h && pixel(tagged, y, w - 1 - x) == pixel(stored, x, y))
            default: #expect(tagged == stored)
            }
        }
    }

    /// `jpeg` with an APP1 Exif segment (big-endian TIFF, one IFD entry: orientation) after its SOI.
    static func withOrientation(_ jpeg: [UInt8], _ orientation: Int) -> [UInt8] {
        let tiff: [UInt8] = [0x4D, 0x4D, 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, UInt8(orientation), 0, 0, 0, 0, 0, 0]
        let body: [UInt8] = Array("Exif".utf8) + [0, 0] + tiff
        let length = body.count + 2
        return Array(jpeg[0..<2]) + [0xFF, 0xE1, UInt8(length >> 8), UInt8(length & 0xFF)] + body + Array(jpeg[2...])
    }
}
