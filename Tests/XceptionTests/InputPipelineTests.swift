import Foundation
import Imaging
import Testing
import Xception

/// The network's input pipeline reproduces the reference (Pillow decode, BILINEAR resize, Keras'
/// `preprocess_input`), so the model sees the very tensors the golden outputs were made from.
@Suite("Input pipeline against the golden inputs")
struct InputPipelineTests {
    static func jpeg(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: Golden.directory.appendingPathComponent("images/\(name).jpg")))
    }

    @Test("bytes become the golden input bit for bit, at 150 and 299; the prepared image keeps its own size")
    func matchesGoldenInputs() throws {
        for size in [150, 299] {
            let names = try Golden.names(size: size)
            #expect(!names.isEmpty)
            for name in names {
                let prepared = try InputPipeline(size: size).prepare(try Self.jpeg(name))
                let expected = try Golden.floats(name, "input", size: size)
                let differing = zip(prepared.input, expected).filter { $0 != $1 }.count
                #expect(prepared.input.count == expected.count && differing == 0, "\(name)@\(size): \(differing) values differ")
                #expect(prepared.width == prepared.decoded.width && prepared.height == prepared.decoded.height)
                #expect(prepared.resized.width == size && prepared.resized.height == size)
            }
        }
    }

    @Test("with DCT-domain downscaling the input stays close to the golden one, and the image keeps its own size")
    func dctDownscale() throws {
        var worstMean = 0.0
        for name in try Golden.names(size: 150) {
            let bytes = try Self.jpeg(name)
            let prepared = try InputPipeline(size: 150, dctDownscale: true).prepare(bytes)
            let exact = try InputPipeline(size: 150).prepare(bytes)
            #expect(prepared.width == exact.width && prepared.height == exact.height, "\(name): the stored size is the image's own")
            let golden = try Golden.floats(name, "input", size: 150)
            let differences = zip(prepared.input, golden).map { abs($0 - $1) }
            worstMean = max(worstMean, differences.reduce(0.0) { $0 + Double($1) } / Double(differences.count))
        }
        // Measured: worst mean 0.016 (about 2 grey levels); a wrong scale or channel order is far beyond this.
        #expect(worstMean < 0.03)
    }

    @Test(
        "every decoding option works on every format (files Pillow wrote), and the prepared image keeps its own size",
        arguments: ["rgb.png", "grey16.png", "palette.png", "interlaced.gif", "lossless.webp", "lossy.webp", "jpeg"],
        [false, true])
    func optionsOnEveryFormat(file: String, dctDownscale: Bool) throws {
        let formats = Golden.directory.appendingPathComponent("../formats").standardizedFileURL
        let bytes =
            file == "jpeg"
            ? try Self.jpeg(try #require(try Golden.names(size: 150).first))
            : [UInt8](try Data(contentsOf: formats.appendingPathComponent(file)))
        let own = try ImageDecoder().decode(bytes)
        let prepared = try InputPipeline(size: 32, dctDownscale: dctDownscale).prepare(bytes)
        #expect(prepared.width == own.width && prepared.height == own.height && prepared.input.count == 32 * 32 * 3)
    }

    @Test("normalisation is x/127.5 - 1 for every byte value")
    func normalisation() {
        let image = RGBImage(width: 256, height: 1, pixels: (0..<256).flatMap { [UInt8($0), UInt8($0), UInt8($0)] })
        let values = InputPipeline.normalized(image)
        #expect(values.count == 768 && values[0] == -1 && values[765] == 1)
        #expect(zip(values, image.pixels).allSatisfy { $0 == Float($1) / 127.5 - 1 })
    }
}
