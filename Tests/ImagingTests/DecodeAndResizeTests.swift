import Digests
import Foundation
import Imaging
import Testing

/// Decoding and resizing reproduce the reference pipeline (Pillow decode + BILINEAR resize), so the
/// model sees the very tensors the golden outputs were made from.
@Suite("JPEG decoding and Pillow-exact resizing against the golden inputs")
struct DecodeAndResizeTests {
    static let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../Fixtures/golden")
        .standardizedFileURL

    static func manifest() throws -> [[String: Any]] {
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: golden.appendingPathComponent("manifest.json")))
        return ((object as? [String: Any])?["images"] as? [[String: Any]]) ?? []
    }

    static func jpeg(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: golden.appendingPathComponent("images/\(name).jpg")))
    }

    static func goldenInput(_ name: String, size: Int) throws -> [Float]? {
        let url = golden.appendingPathComponent("\(name).input\(size).f32")
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        return try Data(contentsOf: url).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    @Test("every sample decodes to Pillow's exact pixels (SHA-256) and resizes to the golden input bit for bit, at 150 and 299")
    func matchesGoldenInputs() throws {
        let entries = try Self.manifest()
        #expect(entries.count == 18)
        for entry in entries {
            let name = try #require(entry["name"] as? String)
            let image = try ImageDecoder().decode(try Self.jpeg(name))
            let size = try #require(entry["source_size_wh"] as? [Int])
            #expect([image.width, image.height] == size, "\(name) size")
            // Pillow's decode, byte for byte (same IDCT and upsampling as Pillow's libjpeg-turbo).
            #expect(SHA256.hex(image.pixels) == entry["decoded_rgb_sha256"] as? String, "\(name) decoded pixels")

            for size in [150, 299] {
                guard let expected = try Self.goldenInput(name, size: size) else { continue }
                let resized = BilinearResize.resize(image, width: size, height: size)
                let expectedBytes = expected.map { UInt8(((Double($0) + 1) * 127.5).rounded()) }
                let differing = zip(resized.pixels, expectedBytes).filter { $0 != $1 }.count
                #expect(differing == 0, "\(name)@\(size): \(differing) of \(expectedBytes.count) resized bytes differ from Pillow's")
            }
        }
    }

    @Test("DCT-domain downscaling shrinks by Pillow's draft rule")
    func dctDownscale() throws {
        for entry in try Self.manifest() {
            let name = try #require(entry["name"] as? String)
            let bytes = try Self.jpeg(name)
            let full = try ImageDecoder().decode(bytes)
            let small = try ImageDecoder().decode(bytes, atLeast: 150)
            // Pillow's draft: the largest of 8, 4, 2 that keeps both sides >= 150 (libjpeg rounds up).
            let factor = [8, 4, 2, 1].first { full.width / $0 >= 150 && full.height / $0 >= 150 }!
            #expect(small.width == (full.width + factor - 1) / factor && small.height == (full.height + factor - 1) / factor, "\(name)")
        }
    }

    @Test(
        "other sizes and pass orders match Pillow 13 bit for bit (fixtures made by Fixtures/pillow-resize/make_fixtures.py)",
        arguments: [
            "down-horizontal-first_37x211", "down-vertical-first_500x60", "wider-shorter_820x150",
            "narrower-taller_90x1010", "up-from-40x30_97x61",
        ])
    func matchesPillow(fixture: String) throws {
        let size = try #require(fixture.split(separator: "_").last?.split(separator: "x").compactMap { Int($0) })
        let expected = [UInt8](try Data(contentsOf: Self.golden.appendingPathComponent("../pillow-resize/\(fixture).rgb")))
        var source = try ImageDecoder().decode(try Self.jpeg("0412"))
        if fixture.hasPrefix("up-from-40x30") { source = BilinearResize.resize(source, width: 40, height: 30) }
        let resized = BilinearResize.resize(source, width: size[0], height: size[1])
        #expect((resized.width, resized.height) == (size[0], size[1]))
        let differing = zip(resized.pixels, expected).filter { $0 != $1 }.count
        #expect(expected.count == resized.pixels.count && differing == 0, "\(fixture): \(differing) bytes differ from Pillow's")
    }

    @Test("resizing to the same size is an exact copy")
    func identity() throws {
        let image = try ImageDecoder().decode(try Self.jpeg("0412"))
        #expect(BilinearResize.resize(image, width: image.width, height: image.height) == image)
    }

    @Test("empty, HTML, truncated and unsupported inputs fail with a clear error")
    func badInputs() throws {
        #expect(throws: ImageError.empty) { try ImageDecoder().decode([]) }
        let html = Array("<!DOCTYPE html><html><body>Not found</body></html>".utf8)
        let notImage = #expect(throws: ImageError.self) { try ImageDecoder().decode(html) }
        #expect(notImage?.description.hasPrefix("not an image") == true)

        let full = try Self.jpeg("0020")
        let truncated = #expect(throws: ImageError.self) { try ImageDecoder().decode(Array(full.prefix(full.count / 2))) }
        guard case .corrupt(format: "JPEG", _)? = truncated else {
            Issue.record("expected a corrupt JPEG error, got \(String(describing: truncated))")
            return
        }

        let bmp: [UInt8] =
            Array("BM".utf8) + [UInt8](repeating: 0, count: 16) + [16, 0, 0, 0, 16, 0, 0, 0] + [UInt8](repeating: 0, count: 16)
        let unsupported = #expect(throws: ImageError.unsupportedFormat("BMP")) { try ImageDecoder().decode(bmp) }
        #expect(unsupported?.description.contains("convert them to JPEG") == true)
    }

    @Test("a JPEG whose header claims 60000x60000 pixels is refused before anything is allocated")
    func decompressionBomb() throws {
        var bytes = try Self.jpeg("0020")
        // Patch the frame header (SOF0/SOF2: FF C0 / FF C2, length, precision, height, width).
        let marker = try #require(bytes.indices.dropLast().first { bytes[$0] == 0xFF && (bytes[$0 + 1] == 0xC0 || bytes[$0 + 1] == 0xC2) })
        for offset in [marker + 5, marker + 7] {
            bytes[offset] = 0xEA
            bytes[offset + 1] = 0x60
        }  // 60000
        #expect(throws: ImageError.tooManyPixels(width: 60000, height: 60000, limit: ImageDecoder.defaultMaxPixels)) {
            try ImageDecoder().decode(bytes)
        }
    }

    @Test("a PNG whose header claims 100000x100000 pixels is refused as a decompression bomb")
    func pngBomb() {
        var png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13] + Array("IHDR".utf8)
        png += [0x00, 0x01, 0x86, 0xA0, 0x00, 0x01, 0x86, 0xA0, 8, 2, 0, 0, 0]  // 100000 x 100000, 8-bit RGB
        #expect(throws: ImageError.tooManyPixels(width: 100_000, height: 100_000, limit: ImageDecoder.defaultMaxPixels)) {
            try ImageDecoder().decode(png)
        }
    }

    @Test("a GIF whose small screen carries a 60000x60000 frame is refused by the frame's size, not decoded row by row")
    func gifFrameBomb() {
        // GIF89a, a 16x16 screen without a colour table; one image descriptor of 60000x60000 with a local
        // table of 2 colours, then the start of its LZW data (the rest never comes: it must not be needed).
        var gif: [UInt8] = Array("GIF89a".utf8) + [16, 0, 16, 0, 0x00, 0, 0]
        gif += [0x2C, 0, 0, 0, 0, 0x60, 0xEA, 0x60, 0xEA, 0x80] + [0, 0, 0, 255, 255, 255]
        gif += [2, 2, 0x44, 0x01, 0, 0x3B]
        #expect(throws: ImageError.tooManyPixels(width: 60000, height: 60000, limit: ImageDecoder.defaultMaxPixels)) {
            try ImageDecoder().decode(gif)
        }
    }

    @Test("a progressive JPEG of 66 scans (jpegtran with a scan script) is refused; jpegtran -progressive's ten decode")
    func progressiveScanLimit() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("xceptor-scans-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        // One DC scan, each AC coefficient of the first component in a scan of its own, the others' in one each.
        var script = "0,1,2: 0-0, 0, 0;\n"
        for coefficient in 1...63 { script += "0: \(coefficient)-\(coefficient), 0, 0;\n" }
        script += "1: 1-63, 0, 0;\n2: 1-63, 0, 0;\n"
        try script.write(to: directory.appendingPathComponent("scans.txt"), atomically: true, encoding: .utf8)
        let source = Self.golden.appendingPathComponent("images/0020.jpg").path
        func jpegtran(_ arguments: [String], output: String) throws -> [UInt8] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/jpegtran")
            process.arguments = arguments + ["-outfile", directory.appendingPathComponent(output).path, source]
            try process.run()
            process.waitUntilExit()
            try #require(process.terminationStatus == 0, "jpegtran (Debian's libjpeg-turbo-progs; scripts/install-deps.sh installs it)")
            return [UInt8](try Data(contentsOf: directory.appendingPathComponent(output)))
        }
        let manyScans = try jpegtran(["-scans", directory.appendingPathComponent("scans.txt").path], output: "many.jpg")
        let refused = #expect(throws: ImageError.self) { try ImageDecoder().decode(manyScans) }
        #expect(refused?.description.contains("more than 64 scans") == true, "\(String(describing: refused))")
        let progressive = try jpegtran(["-progressive"], output: "progressive.jpg")
        #expect(try ImageDecoder().decode(progressive) == (try ImageDecoder().decode(try Self.jpeg("0020"))))
    }

    @Test("CMYK to RGB follows Pillow, for plain and Adobe-inverted CMYK")
    func cmyk() {
        // c, m, y, k = 0, 128, 255, 0 -> (255, 127, 0); k = 255 -> black; inverted stores 255 - value.
        #expect(ImageDecoder.cmykToRGBForTesting([0, 128, 255, 0], inverted: false) == [255, 127, 0])
        #expect(ImageDecoder.cmykToRGBForTesting([10, 20, 30, 255], inverted: false) == [0, 0, 0])
        #expect(ImageDecoder.cmykToRGBForTesting([255, 127, 0, 255], inverted: true) == [255, 127, 0])
    }
}
