import Foundation
import Testing
import ZIPFoundation

@testable import Xception

/// The Keras 2 .h5 path, on files this test writes in keras.applications' layout from the kitchenware
/// model's own tensors: the import must equal the Keras 3 import of the same weights. The evidence that the
/// files Keras itself writes import is `KerasFixtureTests`; these files serve the layout's edge cases.
@Suite("Keras 2 .h5 import", .serialized)
struct Keras2ImportTests {
    /// The raw (unfolded) tensors of the kitchenware model, by Keras 2 layer name, in Keras order.
    static func kerasLayers() throws -> [(name: String, weights: [(String, StoredTensor)])] {
        let keras = try #require(ProcessInfo.processInfo.environment["XCEPTOR_TEST_MODEL"])
        let archive = try Archive(url: URL(fileURLWithPath: keras), accessMode: .read)
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("xceptor-k3-\(UUID().uuidString).h5")
        defer { try? FileManager.default.removeItem(at: scratch) }
        _ = try archive.extract(try #require(archive["model.weights.h5"]), to: scratch)
        let file = try HDF5File(path: scratch.path)

        var layers: [(String, [(String, StoredTensor)])] = []
        var counters: [String: Int] = [:]
        func group(_ kind: String) -> String {
            let n = counters[kind, default: 0]
            counters[kind] = n + 1
            return "layers/functional/layers/" + (n == 0 ? kind : "\(kind)_\(n)")
        }
        func batchNorm(_ name: String) throws {
            let g = group("batch_normalization")
            layers.append(
                (
                    name,
                    try zip(["gamma", "beta", "moving_mean", "moving_variance"], 0..<4).map { ($0.0, try file.tensor("\(g)/vars/\($0.1)")) }
                ))
        }
        for stem in Architecture.stem {
            layers.append((stem.name, [("kernel", try file.tensor(group("conv2d") + "/vars/0"))]))
            try batchNorm(stem.name + "_bn")
        }
        var shortcuts = 0
        for block in Architecture.blocks {
            for index in block.channels.indices {
                let name = Architecture.separableName(block, index)
                let g = group("separable_conv2d")
                layers.append(
                    (name, [("depthwise_kernel", try file.tensor(g + "/vars/0")), ("pointwise_kernel", try file.tensor(g + "/vars/1"))]))
                try batchNorm(name + "_bn")
            }
            if block.shortcut == .projection {
                shortcuts += 1  // keras.applications leaves these unnamed: Keras 2 generates conv2d_N / batch_normalization_N
                layers.append(("conv2d_\(shortcuts)", [("kernel", try file.tensor(group("conv2d") + "/vars/0"))]))
                try batchNorm("batch_normalization_\(shortcuts)")
            }
        }
        for (index, name) in ["dense_1", "dense_2"].enumerated() {
            let g = "layers/dense" + (index == 0 ? "" : "_\(index)")
            layers.append((name, [("kernel", try file.tensor(g + "/vars/0")), ("bias", try file.tensor(g + "/vars/1"))]))
        }
        return layers
    }

    static func scratch() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("xceptor-k2-\(UUID().uuidString).h5").path
    }

    @Test("a Keras 2 full-model .h5 imports to exactly the weights of the Keras 3 import")
    func fullModel() throws {
        let path = Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let writer = try Keras2FileWriter(path: path)
        for layer in try Self.kerasLayers() { try writer.addLayer(layer.name, weights: layer.weights) }
        let config =
            #"{"class_name": "Functional", "config": {"layers": [{"class_name": "InputLayer", "config": {"batch_input_shape": [null, 150, 150, 3], "name": "input_1"}}, {"class_name": "Dense", "config": {"name": "dense_1", "units": 100, "activation": "relu"}}, {"class_name": "Dense", "config": {"name": "dense_2", "units": 6, "activation": "linear"}}]}}"#
        try writer.close(modelConfig: config)

        let imported = try KerasImporter().importModel(at: path, labels: Golden.labels)
        #expect(imported == (try Golden.network.get().weights))
    }

    @Test("a Keras 2 weights-only file without the head (like keras.applications' notop weights) gives the golden embedding")
    func notop() throws {
        let path = Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let writer = try Keras2FileWriter(path: path)
        for layer in try Self.kerasLayers() where !layer.name.hasPrefix("dense") { try writer.addLayer(layer.name, weights: layer.weights) }
        try writer.close(modelConfig: nil)

        let imported = try KerasImporter().importModel(at: path)
        #expect(imported.head.isEmpty && imported.labels.isEmpty && imported.inputSize == 299)
        let prediction = try XceptionNetwork(weights: imported).predict([Golden.floats("0004", "input", size: 299)], size: 299)[0]
        #expect(worstExcess(prediction.embedding, try Golden.floats("0004", "embedding", size: 299)).excess <= 0)
    }

    @Test("an HDF5 file that is not a Keras 2 model is refused, saying what to import instead")
    func foreignHDF5() throws {
        let path = Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let writer = try Keras2FileWriter(path: path)
        try writer.addLayer("something", weights: [("kernel", StoredTensor(shape: [2], values: [1, 2]))])
        writer.abandon()
        let error = #expect(throws: ModelError.self) { try KerasImporter().importModel(at: path) }
        #expect(error?.description.contains("layer_names") == true)
    }
}
