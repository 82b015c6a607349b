import Foundation
import Imaging
import Testing
import Xception

/// Model files written by Keras itself (`Tests/Fixtures/keras/make_fixtures.py`, run by scripts/test.sh with
/// tensorflow-cpu from PyPI): every form a user may hold imports, and what the imported network computes
/// matches what Keras computed from the same file, embedding and outputs, within 1e-4 + 1e-4|x|.
@Suite("Keras-written model files", .serialized)
struct KerasFixtureTests {
    struct Form: Decodable {
        var file: String
        var size: Int
        var images: [String]
        var head: Bool
        var embeddings: [[Float]]
        var outputs: [[Float]]?
        /// What to tell the importer a weights-only Keras 3 file holds.
        var architecture: String?
    }

    struct Manifest: Decodable {
        var keras: String
        var forms: [Form]
    }

    static let directory: Result<URL, Error> = Result {
        guard let path = ProcessInfo.processInfo.environment["XCEPTOR_KERAS_FIXTURES"],
            FileManager.default.fileExists(atPath: path + "/manifest.json")
        else { throw FixtureMissing() }
        return URL(fileURLWithPath: path)
    }

    struct FixtureMissing: Error, CustomStringConvertible {
        var description: String {
            "XCEPTOR_KERAS_FIXTURES does not name a directory of Keras-written fixtures. Run the tests with scripts/test.sh, which "
                + "installs tensorflow-cpu from PyPI into a cached environment and runs Tests/Fixtures/keras/make_fixtures.py"
        }
    }

    static func manifest() throws -> Manifest {
        try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: try directory.get().appendingPathComponent("manifest.json")))
    }

    @Test("a Keras 3 .weights.h5 without --architecture is refused with what to say")
    func weightsNeedArchitecture() throws {
        let directory = try Self.directory.get()
        let form = try #require(try Self.manifest().forms.first { $0.architecture != nil })
        #expect(throws: ModelError.self) { try KerasImporter().importModel(at: directory.appendingPathComponent(form.file).path) }
        do {
            _ = try KerasImporter().importModel(at: directory.appendingPathComponent(form.file).path)
        } catch {
            #expect("\(error)".contains("--architecture xception"), "\(error)")
        }
    }

    @Test("a dataset that claims 2^40 values is refused before anything is allocated for it")
    func hugeShape() throws {
        let file = try Self.directory.get().appendingPathComponent("huge_shape.h5").path
        #expect(throws: ModelError.self) { try KerasImporter().importModel(at: file) }
        do {
            _ = try KerasImporter().importModel(at: file)
        } catch {
            #expect("\(error)".contains("claims shape [1048576, 1048576]"), "\(error)")
        }
    }

    @Test("every form Keras writes imports and computes what Keras computed from it")
    func everyForm() throws {
        let directory = try Self.directory.get()
        let manifest = try Self.manifest()
        #expect(Set(manifest.forms.map(\.size)).count == 2, "two input sizes")
        for kind in [
            "flat_top", "flat_notop_avg", "flat_notop_none", "flat_notop_max", "nested", "nested_max", "weights_top", "weights_notop",
            "notop",
        ] {
            #expect(manifest.forms.contains { $0.file.hasPrefix(kind) }, "no \(kind) fixture")
        }
        for form in manifest.forms {
            let weights = try KerasImporter().importModel(
                at: directory.appendingPathComponent(form.file).path,
                architecture: form.architecture.flatMap(KerasImporter.WeightsArchitecture.init(rawValue:)))
            #expect(weights.head.isEmpty == !form.head, "\(form.file)")
            let network = try XceptionNetwork(weights: weights)
            let inputs = try form.images.map { name in
                let pixels = [UInt8](try Data(contentsOf: directory.appendingPathComponent(name)))
                return InputPipeline.normalized(RGBImage(width: form.size, height: form.size, pixels: pixels))
            }
            let predictions = try network.predict(inputs, size: form.size)
            for (index, prediction) in predictions.enumerated() {
                let embedding = worstExcess(prediction.embedding, form.embeddings[index])
                #expect(embedding.excess <= 0, "\(form.file) image \(index): embedding[\(embedding.index)] off by \(embedding.excess)")
                guard let outputs = form.outputs?[index] else { continue }
                let probabilities = prediction.probabilities.map(Float.init)
                #expect(probabilities.count == outputs.count, "\(form.file)")
                let output = worstExcess(probabilities, outputs)
                #expect(output.excess <= 0, "\(form.file) image \(index): output[\(output.index)] off by \(output.excess)")
                let best = { (values: [Float]) in values.indices.max { values[$0] < values[$1] } }
                #expect(best(probabilities) == best(outputs), "\(form.file) image \(index): top class")
            }
        }
    }
}
