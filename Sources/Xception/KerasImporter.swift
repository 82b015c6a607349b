import Foundation
import ZIPFoundation

/// Reads a Keras 3 `.keras` file (a zip of `config.json` and `model.weights.h5`) holding
/// `keras.applications.Xception` followed by global average pooling and Dense layers, and folds each
/// batch norm into the convolution before it.
public struct KerasImporter {
    public init() {}

    /// Imports `path`; `labels` names the outputs of the last Dense layer, in index order (nil: "class0",
    /// "class1", ...).
    public func importModel(at path: String, labels: [String]? = nil) throws -> ModelWeights {
        let archive: Archive
        do {
            archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .read)
        } catch {
            throw ModelError.unreadable(path: path, reason: "not a zip archive (\(error))")
        }
        guard let configEntry = archive["config.json"], let weightsEntry = archive["model.weights.h5"] else {
            throw ModelError.unsupportedModel(path: path, reason: "a Keras 3 .keras archive holds config.json and model.weights.h5")
        }
        var configData = Data()
        _ = try archive.extract(configEntry, consumer: { configData.append($0) })
        let config = try KerasConfig(json: configData, path: path)

        // libhdf5 reads files, not memory: unpack the weights next to nothing else, then delete them.
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("xceptor-import-\(UUID().uuidString).h5")
        defer { try? FileManager.default.removeItem(at: scratch) }
        _ = try archive.extract(weightsEntry, to: scratch)
        let file = try HDF5File(path: scratch.path)

        var naming = Keras3Naming()
        var weights = ModelWeights(convolutions: [:], depthwise: [:], head: [], labels: [], inputSize: config.inputSize)
        let bn = { (file: HDF5File, naming: inout Keras3Naming) throws -> BatchNorm in
            try BatchNorm(file: file, group: naming.next("batch_normalization"))
        }

        // Keras 3 numbers each layer class in model order; this walk follows keras.applications' order.
        var inputChannels = 3
        for stem in Architecture.stem {
            let kernel = try file.tensor(naming.next("conv2d") + "/vars/0")
            try expectShape(kernel, [3, 3, inputChannels, stem.channels], stem.name)
            weights.convolutions[stem.name] = try bn(file, &naming).fold(hwioKernel: kernel, into: stem.name)
            inputChannels = stem.channels
        }
        for block in Architecture.blocks {
            let blockInput = inputChannels
            for (index, channels) in block.channels.enumerated() {
                let name = Architecture.separableName(block, index)
                let group = naming.next("separable_conv2d")
                let depthwise = try file.tensor(group + "/vars/0")
                try expectShape(depthwise, [3, 3, inputChannels, 1], name + " depthwise")
                let pointwise = try file.tensor(group + "/vars/1")
                try expectShape(pointwise, [1, 1, inputChannels, channels], name + " pointwise")
                weights.depthwise[name] = transposeHWC(depthwise.values, channels: inputChannels)
                weights.convolutions[name] = try bn(file, &naming).fold(hwioKernel: pointwise, into: name)
                inputChannels = channels
            }
            if block.shortcut == .projection {
                let name = Architecture.shortcutName(block)
                let kernel = try file.tensor(naming.next("conv2d") + "/vars/0")
                try expectShape(kernel, [1, 1, blockInput, inputChannels], name)
                weights.convolutions[name] = try bn(file, &naming).fold(hwioKernel: kernel, into: name)
            }
        }

        var width = Architecture.embeddingWidth
        for dense in config.denseLayers {
            let group = "layers/" + naming.next("dense")
            let kernel = try file.tensor(group + "/vars/0")
            try expectShape(kernel, [width, dense.units], group)
            let bias = try file.tensor(group + "/vars/1")
            try expectShape(bias, [dense.units], group + " bias")
            weights.head.append(DenseLayer(inputWidth: width, outputWidth: dense.units, kernel: kernel.values,
                                           bias: bias.values, activation: dense.activation))
            width = dense.units
        }
        weights.labels = labels ?? (0..<width).map { "class\($0)" }
        guard weights.labels.count == width else {
            throw ModelError.unsupportedModel(path: path, reason: "the model has \(width) outputs but \(weights.labels.count) labels were given")
        }
        return weights
    }

    /// HWC (Keras' depthwise layout, multiplier 1) to [channel][kh][kw].
    private func transposeHWC(_ values: [Float], channels: Int) -> [Float] {
        var out = [Float](repeating: 0, count: values.count)
        for position in 0..<9 {
            for channel in 0..<channels { out[channel * 9 + position] = values[position * channels + channel] }
        }
        return out
    }
}

func expectShape(_ tensor: StoredTensor, _ shape: [Int], _ name: String) throws {
    guard tensor.shape == shape else { throw ModelError.shapeMismatch(tensor: name, expected: shape, found: tensor.shape) }
}

/// Keras 3's h5 group names: snake_case class name plus a per-class counter, in model order.
struct Keras3Naming {
    private var counters: [String: Int] = [:]
    private let prefix = "layers/functional/layers/"

    /// The next group of this class under the Xception sub-model ("dense" groups sit at the top level).
    mutating func next(_ className: String) -> String {
        let count = counters[className, default: 0]
        counters[className] = count + 1
        let name = count == 0 ? className : "\(className)_\(count)"
        return className == "dense" ? name : prefix + name
    }
}

/// A batch norm's four vectors, ready to fold into the convolution before it.
struct BatchNorm {
    var gamma, beta, mean, variance: [Float]

    init(file: HDF5File, group: String) throws {
        let tensors = try (0..<4).map { try file.tensor("\(group)/vars/\($0)") }
        guard Set(tensors.map(\.shape)).count == 1, tensors[0].shape.count == 1 else {
            throw ModelError.shapeMismatch(tensor: group, expected: [tensors[0].values.count], found: tensors.map(\.shape).flatMap { $0 })
        }
        (gamma, beta, mean, variance) = (tensors[0].values, tensors[1].values, tensors[2].values, tensors[3].values)
    }

    /// y = gamma * (conv(x) - mean) / sqrt(variance + eps) + beta, folded into the kernel (HWIO in) and a
    /// bias; computed in double precision so folding adds no rounding of its own beyond the final cast.
    func fold(hwioKernel kernel: StoredTensor, into name: String) throws -> FoldedConvolution {
        let (kh, kw, cin, cout) = (kernel.shape[0], kernel.shape[1], kernel.shape[2], kernel.shape[3])
        guard gamma.count == cout else {
            throw ModelError.shapeMismatch(tensor: name + " batch norm", expected: [cout], found: [gamma.count])
        }
        let scale = (0..<cout).map { Double(gamma[$0]) / (Double(variance[$0]) + Architecture.batchNormEpsilon).squareRoot() }
        var folded = [Float](repeating: 0, count: kernel.values.count)
        for o in 0..<cout {
            for i in 0..<cin {
                for y in 0..<kh {
                    for x in 0..<kw {
                        let source = ((y * kw + x) * cin + i) * cout + o
                        folded[((o * cin + i) * kh + y) * kw + x] = Float(Double(kernel.values[source]) * scale[o])
                    }
                }
            }
        }
        let bias = (0..<cout).map { Float(Double(beta[$0]) - Double(mean[$0]) * scale[$0]) }
        return FoldedConvolution(outputChannels: cout, inputChannels: cin, kernelSize: kh, kernel: folded, bias: bias)
    }
}

/// What the importer needs from config.json: the input size and the Dense layers of the head.
struct KerasConfig {
    struct Dense { var units: Int; var activation: DenseLayer.Activation }

    var inputSize: Int
    var denseLayers: [Dense]

    init(json: Data, path: String) throws {
        guard let root = try? JSONSerialization.jsonObject(with: json) as? [String: Any],
              let config = root["config"] as? [String: Any], let layers = config["layers"] as? [[String: Any]]
        else { throw ModelError.unsupportedModel(path: path, reason: "config.json is not a Keras functional model") }
        var inputSize: Int?
        var dense: [Dense] = []
        var sawXception = false
        for layer in layers {
            let settings = layer["config"] as? [String: Any] ?? [:]
            switch layer["class_name"] as? String {
            case "InputLayer":
                let shape = (settings["batch_shape"] ?? settings["batch_input_shape"]) as? [Any]
                inputSize = shape?.count == 4 ? shape?[1] as? Int : nil
            case "Functional" where (settings["name"] as? String)?.hasPrefix("xception") == true:
                sawXception = true
            case "Dense":
                guard let units = settings["units"] as? Int,
                      let activation = DenseLayer.Activation(rawValue: settings["activation"] as? String ?? "linear")
                else { throw ModelError.unsupportedModel(path: path, reason: "a Dense layer has an unsupported activation") }
                dense.append(Dense(units: units, activation: activation))
            case "GlobalAveragePooling2D", "Dropout", "Functional":
                continue
            case let other:
                throw ModelError.unsupportedModel(path: path, reason: "layer \(other ?? "?") after Xception is not supported (only pooling, dropout and Dense)")
            }
        }
        guard sawXception else { throw ModelError.unsupportedModel(path: path, reason: "it does not contain keras.applications.Xception") }
        guard !dense.isEmpty else { throw ModelError.unsupportedModel(path: path, reason: "it has no Dense head to classify with") }
        // The last layer's softmax is applied when probabilities are asked for; anywhere else it would change the logits.
        guard !dense.dropLast().contains(where: { $0.activation == .softmax }) else {
            throw ModelError.unsupportedModel(path: path, reason: "softmax is only supported on the last Dense layer")
        }
        self.inputSize = inputSize ?? 299
        self.denseLayers = dense
    }
}
