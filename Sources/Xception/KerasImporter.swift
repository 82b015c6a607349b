import Foundation
import ZIPFoundation

/// Imports `keras.applications.Xception` followed by global average pooling and Dense layers, from a
/// Keras 3 `.keras` file (a zip of `config.json` and `model.weights.h5`) or a Keras 2 `.h5` (full model
/// or weights only, the layout keras.applications publishes), folding each batch norm into the
/// convolution before it. Both layouts feed one walk over `Architecture`.
public struct KerasImporter {
    public init() {}

    /// The architectures a weights-only Keras 3 file (`model.save_weights("x.weights.h5")`) may be read as;
    /// such a file holds weights without saying what they belong to.
    public enum WeightsArchitecture: String, Sendable, CaseIterable {
        /// `keras.applications.Xception`, with its `predictions` top if the file has one.
        case xception
    }

    /// Imports `path`; `labels` names the outputs of the last Dense layer, in index order (nil: "class0",
    /// "class1", ...). `architecture` is needed only for a Keras 3 `.weights.h5`.
    public func importModel(at path: String, labels: [String]? = nil, architecture: WeightsArchitecture? = nil) throws -> ModelWeights {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ModelError.unreadable(
                path: path, reason: FileManager.default.fileExists(atPath: path) ? "permission denied" : "no such file")
        }
        let signature = [UInt8]((try? handle.read(upToCount: 8)) ?? Data())
        try? handle.close()
        if signature.starts(with: [0x50, 0x4B, 0x03, 0x04]) {
            return try importKeras3(path, labels: labels)
        }
        if signature == [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A] {
            let file = try HDF5File(path: path)
            if !file.hasAttribute("layer_names", of: "/") && !file.contains("model_weights") && file.contains("layers") {
                return try importKeras3Weights(file, labels: labels, architecture: architecture)
            }
            var source = try Keras2Source(file: file)
            return try assemble(&source, labels: labels, path: path)
        }
        throw ModelError.unreadable(path: path, reason: "neither a Keras 3 .keras archive nor an HDF5 .h5 file")
    }

    private func importKeras3(_ path: String, labels: [String]?) throws -> ModelWeights {
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

        // libhdf5 reads files, not memory: unpack the weights to a scratch file, deleted afterwards.
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("xceptor-import-\(UUID().uuidString).h5")
        defer { try? FileManager.default.removeItem(at: scratch) }
        _ = try archive.extract(weightsEntry, to: scratch)
        var source = Keras3Source(file: try HDF5File(path: scratch.path), config: config)
        return try assemble(&source, labels: labels, path: path)
    }

    /// Keras 3's `save_weights`: the groups of a `.keras` file's weights, without its config, so the
    /// architecture comes from the caller; the top is there when the file has its Dense group.
    private func importKeras3Weights(_ file: HDF5File, labels: [String]?, architecture: WeightsArchitecture?) throws -> ModelWeights {
        guard architecture == .xception else {
            throw ModelError.unsupportedModel(
                path: file.path,
                reason:
                    "a Keras 3 .weights.h5 holds weights without their architecture; if it is keras.applications.Xception's, say so with --architecture xception"
            )
        }
        var head: [KerasConfig.Dense] = []
        if file.contains("layers/dense/vars/1") {
            head = [KerasConfig.Dense(units: try file.tensor("layers/dense/vars/1").values.count, activation: .softmax)]
        }
        var source = Keras3Source(file: file, config: KerasConfig(inputSize: 299, denseLayers: head, flat: true))
        return try assemble(&source, labels: labels, path: file.path)
    }

    /// The walk both layouts share: Keras order, shapes checked, batch norms folded.
    private func assemble(_ source: inout some KerasWeightSource, labels: [String]?, path: String) throws -> ModelWeights {
        guard Architecture.inputSizes.contains(source.inputSize) else {
            throw ModelError.unsupportedModel(
                path: path,
                reason:
                    "its input is \(source.inputSize) pixels; Xception takes \(Architecture.inputSizes.lowerBound) to \(Architecture.inputSizes.upperBound)"
            )
        }
        var weights = ModelWeights(
            convolutions: [:], depthwise: [:], head: [], labels: [], inputSize: source.inputSize, pooling: source.pooling)
        var inputChannels = 3
        for stem in Architecture.stem {
            let kernel = try source.convolutionKernel(named: stem.name)
            try expectShape(kernel, [3, 3, inputChannels, stem.channels], stem.name)
            weights.convolutions[stem.name] = try source.batchNorm(after: stem.name).fold(hwioKernel: kernel, into: stem.name)
            inputChannels = stem.channels
        }
        for block in Architecture.blocks {
            let blockInput = inputChannels
            for (index, channels) in block.channels.enumerated() {
                let name = Architecture.separableName(block, index)
                let (depthwise, pointwise) = try source.separableKernels(named: name)
                try expectShape(depthwise, [3, 3, inputChannels, 1], name + " depthwise")
                try expectShape(pointwise, [1, 1, inputChannels, channels], name + " pointwise")
                weights.depthwise[name] = WeightValues(transposeHWC(depthwise.values, channels: inputChannels))
                weights.convolutions[name] = try source.batchNorm(after: name).fold(hwioKernel: pointwise, into: name)
                inputChannels = channels
            }
            if block.shortcut == .projection {
                let name = Architecture.shortcutName(block)
                let kernel = try source.shortcutKernel(for: block)
                try expectShape(kernel, [1, 1, blockInput, inputChannels], name)
                weights.convolutions[name] = try source.batchNorm(after: name).fold(hwioKernel: kernel, into: name)
            }
        }
        var width = Architecture.embeddingWidth
        for dense in try source.denseLayers() {
            let units = dense.bias.values.count
            try expectShape(dense.kernel, [width, units], "Dense layer \(weights.head.count + 1)")
            weights.head.append(
                DenseLayer(
                    inputWidth: width, outputWidth: units, kernel: dense.kernel.values,
                    bias: dense.bias.values, activation: dense.activation))
            width = units
        }
        guard !weights.head.dropLast().contains(where: { $0.activation == .softmax }) else {
            throw ModelError.unsupportedModel(path: path, reason: "softmax is only supported on the last Dense layer")
        }
        weights.labels = labels ?? (0..<(weights.head.isEmpty ? 0 : width)).map { "class\($0)" }
        guard weights.labels.count == (weights.head.isEmpty ? 0 : width) else {
            throw ModelError.unsupportedModel(
                path: path, reason: "the model has \(width) outputs but \(weights.labels.count) labels were given")
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

/// Where the importer finds each tensor; called in Keras layer order (each batch norm right after its
/// convolution), which is what Keras 3's numbering depends on.
protocol KerasWeightSource {
    var inputSize: Int { get }
    var pooling: ModelWeights.Pooling { get }
    mutating func convolutionKernel(named name: String) throws -> StoredTensor
    mutating func separableKernels(named name: String) throws -> (depthwise: StoredTensor, pointwise: StoredTensor)
    mutating func shortcutKernel(for block: Architecture.Block) throws -> StoredTensor
    mutating func batchNorm(after layer: String) throws -> BatchNorm
    mutating func denseLayers() throws -> [(kernel: StoredTensor, bias: StoredTensor, activation: DenseLayer.Activation)]
}

/// Keras 3: groups named by class and counter (`conv2d_3`, `batch_normalization_12`), tensors `vars/N`.
struct Keras3Source: KerasWeightSource {
    let file: HDF5File
    let config: KerasConfig
    private var counters: [String: Int] = [:]

    init(file: HDF5File, config: KerasConfig) {
        self.file = file
        self.config = config
    }

    var inputSize: Int { config.inputSize }
    var pooling: ModelWeights.Pooling { config.pooling }

    /// The next group of this class: Keras 3 names weight groups by class and counter, under the nested
    /// Xception model's group (`functional`) or, for the flat graph, at the top; "dense" groups sit at the top.
    private mutating func next(_ className: String) -> String {
        let count = counters[className, default: 0]
        counters[className] = count + 1
        let name = count == 0 ? className : "\(className)_\(count)"
        return className == "dense" || config.flat ? "layers/" + name : "layers/functional/layers/" + name
    }

    mutating func convolutionKernel(named name: String) throws -> StoredTensor { try file.tensor(next("conv2d") + "/vars/0") }

    mutating func separableKernels(named name: String) throws -> (depthwise: StoredTensor, pointwise: StoredTensor) {
        let group = next("separable_conv2d")
        return (try file.tensor(group + "/vars/0"), try file.tensor(group + "/vars/1"))
    }

    mutating func shortcutKernel(for block: Architecture.Block) throws -> StoredTensor { try file.tensor(next("conv2d") + "/vars/0") }

    mutating func batchNorm(after layer: String) throws -> BatchNorm {
        let group = next("batch_normalization")
        return try BatchNorm(name: layer, tensors: (0..<4).map { try file.tensor("\(group)/vars/\($0)") })
    }

    mutating func denseLayers() throws -> [(kernel: StoredTensor, bias: StoredTensor, activation: DenseLayer.Activation)] {
        try config.denseLayers.map { dense in
            let group = next("dense")
            return (try file.tensor(group + "/vars/0"), try file.tensor(group + "/vars/1"), dense.activation)
        }
    }
}

/// Keras 2 (`model.save` or `save_weights`, as keras.applications publishes): the root (or
/// `model_weights/`) lists `layer_names`; each layer group lists `weight_names`, datasets at
/// `layer/weight_name` ("block1_conv1/kernel:0"). The shortcut convolutions and their batch norms have
/// generated names (conv2d_1, batch_normalization_1, ...), so they are taken in order.
struct Keras2Source: KerasWeightSource {
    let file: HDF5File
    let root: String
    private var layers: [String: [String: StoredTensor]] = [:]
    private var order: [String] = []
    private var unnamedConvolutions: [String]
    private var unnamedBatchNorms: [String]
    private var activations: [String: DenseLayer.Activation] = [:]
    private(set) var inputSize = 299
    /// From a full model's config; weights-only files carry none, and embed by average.
    private(set) var pooling = ModelWeights.Pooling.average

    init(file: HDF5File) throws {
        self.file = file
        root = file.contains("model_weights") ? "model_weights" : "/"
        guard file.hasAttribute("layer_names", of: root) else {
            throw ModelError.unsupportedModel(
                path: file.path, reason: "an HDF5 file without Keras 2 'layer_names' (Keras 3 saves .keras files; import that instead)")
        }
        for layer in try file.strings(attribute: "layer_names", of: root) {
            let group = root == "/" ? layer : "\(root)/\(layer)"
            var tensors: [String: StoredTensor] = [:]
            for weight in try file.strings(attribute: "weight_names", of: group) {
                // "block1_conv1/kernel:0" -> "kernel"
                let short = weight.split(separator: "/").last.map { String($0.split(separator: ":")[0]) } ?? weight
                tensors[short] = try file.tensor("\(group)/\(weight)")
            }
            guard !tensors.isEmpty else { continue }
            layers[layer] = tensors
            order.append(layer)
        }
        let (found, generated) = (layers, order.filter { !$0.hasPrefix("block") })
        unnamedConvolutions = generated.filter { found[$0]?["kernel"]?.shape.count == 4 }
        unnamedBatchNorms = generated.filter { found[$0]?["moving_mean"] != nil }
        // A full model carries its config: input size and the Dense activations.
        if let json = try file.string(attribute: "model_config", of: "/"),
            let config = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
            let body = config["config"] as? [String: Any], let configLayers = body["layers"] as? [[String: Any]]
        {
            if KerasConfig.poolsByMaximum(configLayers) { pooling = .maximum }
            for layer in configLayers {
                let settings = layer["config"] as? [String: Any] ?? [:]
                if let shape = (settings["batch_input_shape"] ?? settings["batch_shape"]) as? [Any], shape.count == 4,
                    let side = shape[1] as? Int
                {
                    inputSize = side
                }
                if layer["class_name"] as? String == "Dense", let name = settings["name"] as? String {
                    activations[name] = DenseLayer.Activation(rawValue: settings["activation"] as? String ?? "linear") ?? .linear
                }
            }
        }
    }

    private func layer(_ name: String) throws -> [String: StoredTensor] {
        guard let tensors = layers[name] else { throw ModelError.missingTensor(path: file.path, tensor: name) }
        return tensors
    }

    private func tensor(_ name: String, in layer: String) throws -> StoredTensor {
        guard let found = try self.layer(layer)[name] else { throw ModelError.missingTensor(path: file.path, tensor: "\(layer)/\(name)") }
        return found
    }

    mutating func convolutionKernel(named name: String) throws -> StoredTensor { try tensor("kernel", in: name) }

    mutating func separableKernels(named name: String) throws -> (depthwise: StoredTensor, pointwise: StoredTensor) {
        (try tensor("depthwise_kernel", in: name), try tensor("pointwise_kernel", in: name))
    }

    mutating func shortcutKernel(for block: Architecture.Block) throws -> StoredTensor {
        guard !unnamedConvolutions.isEmpty else {
            throw ModelError.missingTensor(path: file.path, tensor: "shortcut convolution of \(block.name)")
        }
        return try tensor("kernel", in: unnamedConvolutions.removeFirst())
    }

    mutating func batchNorm(after layer: String) throws -> BatchNorm {
        let bnLayer: String
        if layer.hasSuffix("_shortcut") {
            guard !unnamedBatchNorms.isEmpty else { throw ModelError.missingTensor(path: file.path, tensor: "batch norm of \(layer)") }
            bnLayer = unnamedBatchNorms.removeFirst()
        } else {
            bnLayer = layer + "_bn"
        }
        return try BatchNorm(name: layer, tensors: ["gamma", "beta", "moving_mean", "moving_variance"].map { try tensor($0, in: bnLayer) })
    }

    mutating func denseLayers() throws -> [(kernel: StoredTensor, bias: StoredTensor, activation: DenseLayer.Activation)] {
        try order.filter { layers[$0]?["kernel"]?.shape.count == 2 }.map { name in
            (try tensor("kernel", in: name), try tensor("bias", in: name), activations[name] ?? .linear)
        }
    }
}

func expectShape(_ tensor: StoredTensor, _ shape: [Int], _ name: String) throws {
    guard tensor.shape == shape else { throw ModelError.shapeMismatch(tensor: name, expected: shape, found: tensor.shape) }
}

/// A batch norm's four vectors, ready to fold into the convolution before it.
struct BatchNorm {
    var gamma, beta, mean, variance: [Float]

    /// From gamma, beta, moving mean and moving variance, in that order.
    init(name: String, tensors: [StoredTensor]) throws {
        guard tensors.count == 4, Set(tensors.map(\.shape)).count == 1, tensors[0].shape.count == 1 else {
            throw ModelError.shapeMismatch(
                tensor: name + " batch norm", expected: [tensors.first?.values.count ?? 0],
                found: tensors.map(\.shape).flatMap { $0 })
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
        return FoldedConvolution(outputChannels: cout, inputChannels: cin, kernelSize: kh, kernel: WeightValues(folded), bias: bias)
    }
}

/// What the importer needs from config.json: the input size, where the Xception layers sit, and the Dense
/// layers of the head.
struct KerasConfig {
    struct Dense {
        var units: Int
        var activation: DenseLayer.Activation
    }

    var inputSize: Int
    var denseLayers: [Dense]
    var pooling: ModelWeights.Pooling = .average
    /// The Xception layers are the model's own (`keras.applications.Xception(...)` saved as it is), not a
    /// nested base model (an Xception base inside a model with a head).
    var flat: Bool

    init(inputSize: Int, denseLayers: [Dense], flat: Bool) {
        self.inputSize = inputSize
        self.denseLayers = denseLayers
        self.flat = flat
    }

    /// The layer classes keras.applications.Xception is built of, as they appear in a flat graph.
    private static let xceptionClasses: Set = ["Conv2D", "BatchNormalization", "Activation", "SeparableConv2D", "MaxPooling2D", "Add"]

    init(json: Data, path: String) throws {
        guard let root = try? JSONSerialization.jsonObject(with: json) as? [String: Any],
            let config = root["config"] as? [String: Any], let layers = config["layers"] as? [[String: Any]]
        else { throw ModelError.unsupportedModel(path: path, reason: "config.json is not a Keras functional model") }
        var inputSize: Int?
        var dense: [Dense] = []
        var sawXception = false, flat = false
        for layer in layers {
            let settings = layer["config"] as? [String: Any] ?? [:]
            let className = layer["class_name"] as? String ?? "?"
            let name = settings["name"] as? String ?? "?"
            switch className {
            case "InputLayer":
                let shape = (settings["batch_shape"] ?? settings["batch_input_shape"]) as? [Any]
                inputSize = shape?.count == 4 ? shape?[1] as? Int : nil
            case "Functional" where name.hasPrefix("xception"):
                sawXception = true
                // keras.applications.Xception(include_top=False, pooling="max") nested in a model.
                if Self.poolsByMaximum(settings["layers"] as? [[String: Any]] ?? []) { pooling = .maximum }
            case "Conv2D" where name == "block1_conv1" && !sawXception:
                // The flat graph keras.applications.Xception builds: its layers follow at the top level.
                sawXception = true
                flat = true
            case _ where flat && dense.isEmpty && Self.xceptionClasses.contains(className):
                continue
            case "Dense":
                guard let units = settings["units"] as? Int,
                    let activation = DenseLayer.Activation(rawValue: settings["activation"] as? String ?? "linear")
                else {
                    throw ModelError.unsupportedModel(
                        path: path,
                        reason: "Dense layer \(name) has activation \(settings["activation"] ?? "?"); supported: linear, relu, softmax")
                }
                dense.append(Dense(units: units, activation: activation))
            case "GlobalAveragePooling2D", "Dropout", "Functional":
                continue
            case "GlobalMaxPooling2D" where dense.isEmpty:
                pooling = .maximum
            default:
                throw ModelError.unsupportedModel(
                    path: path,
                    reason:
                        "layer \(name) (\(className)) after Xception is not supported: after keras.applications.Xception come only "
                        + "GlobalAveragePooling2D or GlobalMaxPooling2D, Dropout and Dense layers (relu, softmax or linear)")
            }
        }
        guard sawXception else {
            throw ModelError.unsupportedModel(
                path: path,
                reason: "it does not contain keras.applications.Xception (save one with keras.applications.Xception(...).save(\"x.keras\"))"
            )
        }
        self.inputSize = inputSize ?? 299
        self.denseLayers = dense
        self.flat = flat
    }

    /// Whether a list of Keras layer configs (nested models' too) pools by maximum.
    static func poolsByMaximum(_ layers: [[String: Any]]) -> Bool {
        layers.contains { layer in
            layer["class_name"] as? String == "GlobalMaxPooling2D"
                || poolsByMaximum((layer["config"] as? [String: Any])?["layers"] as? [[String: Any]] ?? [])
        }
    }
}
