import FileMapping
import Foundation

/// xceptor's own model file: what `model import` writes and inference loads.
///
/// Layout: a `BlobFile` with the magic "XCPTMDL1", whose JSON gives the architecture, input size, labels,
/// head, and a table of tensors with their shapes and offsets, and whose blobs are the float32 tensors.
/// Format 2 adds int8 calibration (`model calibrate`) and the fingerprint of the weights it was calibrated
/// for, which names the model as before (embeddings stay comparable); files without calibration are
/// written as format 1, which earlier xceptors read, and those refuse format 2 with advice.
/// Batch norms are already folded into the
/// convolutions. Loading memory-maps the file and leaves the kernels there; the engine packs them into
/// the layout of this CPU's kernels and keeps that in a second mapped file beside this one
/// (`PackedWeightFile`), so N processes on a host share one copy of both.
public enum ModelFile {
    public static let magic = Array("XCPTMDL1".utf8)
    /// The newest format this xceptor reads and writes (format 1 files are read too).
    public static let formatVersion: UInt32 = 2
    static let uncalibratedFormatVersion: UInt32 = 1

    /// The JSON part of the header.
    struct Description: Codable {
        struct Tensor: Codable {
            var name: String
            var shape: [Int]
            var offset: Int  // from the start of the file, in bytes
        }

        struct Dense: Codable {
            var inputWidth: Int
            var outputWidth: Int
            var activation: String
        }

        var architecture: String
        var inputSize: Int
        var labels: [String]
        var head: [Dense]
        var tensors: [Tensor]
        var source: String?
        /// "max" for global max pooling; absent for average pooling, so such files keep their bytes and id.
        var pooling: String?
        /// Format 2: int8 scales and accuracy gate, and the fingerprint of the uncalibrated file, which
        /// names the weights whatever calibration is added.
        var calibration: Calibration?
        var weightsFingerprint: String?
    }

    /// Writes `weights` to `path` (atomically: a reader never sees half a file); with calibration, as format 2
    /// naming the weights by `weightsFingerprint` (the uncalibrated file's).
    public static func write(_ weights: ModelWeights, to path: String, source: String? = nil, weightsFingerprint: String? = nil) throws {
        precondition((weights.calibration == nil) == (weightsFingerprint == nil), "calibrated files name their weights")
        var tensors: [(name: String, shape: [Int], values: WeightValues)] = []
        for name in weights.convolutions.keys.sorted() {
            let conv = weights.convolutions[name]!
            tensors.append(("\(name)/kernel", [conv.outputChannels, conv.inputChannels, conv.kernelSize, conv.kernelSize], conv.kernel))
            tensors.append(("\(name)/bias", [conv.outputChannels], WeightValues(conv.bias)))
        }
        for name in weights.depthwise.keys.sorted() {
            tensors.append(("\(name)/depthwise", [weights.depthwise[name]!.count / 9, 3, 3], weights.depthwise[name]!))
        }
        for (index, dense) in weights.head.enumerated() {
            tensors.append(("head\(index)/kernel", [dense.inputWidth, dense.outputWidth], WeightValues(dense.kernel)))
            tensors.append(("head\(index)/bias", [dense.outputWidth], WeightValues(dense.bias)))
        }

        let description = Description(
            architecture: "xception", inputSize: weights.inputSize, labels: weights.labels,
            head: weights.head.map {
                Description.Dense(inputWidth: $0.inputWidth, outputWidth: $0.outputWidth, activation: $0.activation.rawValue)
            },
            tensors: [], source: source, pooling: weights.pooling == .average ? nil : weights.pooling.rawValue,
            calibration: weights.calibration, weightsFingerprint: weightsFingerprint)
        // Sorted keys: the same weights must give the same bytes (and so the same model id) in any process;
        // dictionary order changes from run to run.
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let (header, body) = try BlobFile.encode(
            magic: magic, version: weights.calibration == nil ? uncalibratedFormatVersion : formatVersion,
            sizes: tensors.map { $0.values.count * 4 }, bytesPerEntry: 160,
            describe: { offsets in
                var described = description
                described.tensors = zip(tensors, offsets).map { Description.Tensor(name: $0.name, shape: $0.shape, offset: $1) }
                return try encoder.encode(described)
            },
            fill: { index, destination in
                tensors[index].values.withUnsafeBufferPointer { destination.copyMemory(from: UnsafeRawBufferPointer($0)) }
            })
        try BlobFile.write(header: header, body: body, to: path)
    }

    /// A name for the weights in a model file at one input size, from the file's checksum: results are
    /// stored under it, so the same image embedded by the same weights at the same size is stored once,
    /// whatever the file is called, and embeddings made at different sizes are never mixed in a search.
    public static func identifier(_ path: String, inputSize: Int) throws -> String {
        "xception-" + (try weightsFingerprint(path)) + "@\(inputSize)"
    }

    /// Writes the model file at `path` again with `calibration` (replacing any it had) to `output`, keeping
    /// its weights' name, so that embeddings made before and after stay comparable.
    public static func writeCalibrated(_ calibration: Calibration, from path: String, to output: String) throws {
        var weights = try read(path)
        weights.calibration = calibration
        let name = try weightsFingerprint(path)
        try write(weights, to: output, source: try header(path).description?.source, weightsFingerprint: name)
    }

    /// What names the weights of the file at `path`: its checksum, or for a calibrated file (format 2) the
    /// checksum of the file it was calibrated from, read from its description.
    public static func weightsFingerprint(_ path: String) throws -> String {
        let (checksum, description) = try header(path)
        guard let description else { throw ModelError.unreadable(path: path, reason: "its description is unreadable") }
        guard description.calibration != nil else { return checksum }
        guard let stored = description.weightsFingerprint, stored.count == 16, stored.allSatisfy(\.isHexDigit) else {
            throw ModelError.unreadable(
                path: path, reason: "its description does not name its weights; calibrate or import the model again")
        }
        return stored
    }

    /// The input size an identifier was made at ("xception-…@150"), or nil for an id of another form.
    public static func inputSize(ofIdentifier identifier: String) -> Int? {
        guard identifier.hasPrefix("xception-"), let at = identifier.lastIndex(of: "@") else { return nil }
        return Int(identifier[identifier.index(after: at)...])
    }

    /// The file's checksum from its header, in hex: what packed weights are matched against (`weightsFingerprint`
    /// names the weights).
    static func fingerprint(_ path: String) throws -> String { try header(path).checksum }

    /// The file's checksum from its header, in hex, and the JSON description after it (unchecked: `read`
    /// checks the whole file; nil if it does not decode).
    private static func header(_ path: String) throws -> (checksum: String, description: Description?) {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ModelError.unreadable(path: path, reason: "cannot open it")
        }
        defer { try? handle.close() }
        let header = [UInt8](handle.readData(ofLength: BlobFile.fixedHeaderSize))
        guard header.count == BlobFile.fixedHeaderSize, Array(header[0..<8]) == magic else {
            throw ModelError.unreadable(path: path, reason: "not an xceptor model file (import a .keras file to make one)")
        }
        let checksum = header[16..<24].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let length = Int(header[12..<16].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
        let description = try? JSONDecoder().decode(Description.self, from: handle.readData(ofLength: length))
        return (String(checksum, radix: 16).leftPadded(to: 16), description)
    }

    /// Reads a model file, checking its magic, version and checksum. The convolution kernels stay in the
    /// mapped file rather than being copied, so processes that load the same file share those pages.
    public static func read(_ path: String) throws -> ModelWeights {
        let file: MappedFile
        do {
            file = try MappedFile(path: path)
        } catch {
            throw ModelError.unreadable(path: path, reason: error.reason)
        }
        guard file.bytes.count > 0 else { throw ModelError.unreadable(path: path, reason: "it is empty") }
        let bytes = file.bytes
        let json: Data
        do {
            json = try BlobFile.description(of: bytes, magic: magic, versions: uncalibratedFormatVersion...formatVersion)
        } catch .foreign {
            throw ModelError.unreadable(path: path, reason: "not an xceptor model file (import a .keras file to make one)")
        } catch let .version(version) {
            throw ModelError.unreadable(
                path: path,
                reason: "model file format \(version); this xceptor reads format \(formatVersion). Import the model again with this version"
            )
        } catch .checksum {
            throw ModelError.unreadable(
                path: path, reason: "its checksum does not match (the file is damaged or truncated); import the model again")
        } catch .description {
            throw ModelError.unreadable(path: path, reason: "its description is unreadable")
        }
        guard let description = try? JSONDecoder().decode(Description.self, from: json) else {
            throw ModelError.unreadable(path: path, reason: "its description is unreadable")
        }

        // Shapes, offsets and counts come from the file: every one is checked against the architecture and
        // the file's size before anything is mapped or copied (a checksum only proves the file is whole).
        if let problem = problem(in: description, fileSize: bytes.count, descriptionEnd: BlobFile.fixedHeaderSize + json.count) {
            throw ModelError.unreadable(
                path: path, reason: "\(problem); it was not written by `xceptor model import` or was edited since. Import the model again")
        }
        var values: [String: WeightValues] = [:]
        for tensor in description.tensors {
            values[tensor.name] = WeightValues(mapping: file, offset: tensor.offset, count: tensor.shape.reduce(1, *))
        }
        func tensor(_ name: String) throws -> WeightValues {
            guard let found = values[name] else { throw ModelError.missingTensor(path: path, tensor: name) }
            return found
        }
        guard let pooling = ModelWeights.Pooling(rawValue: description.pooling ?? "avg") else {
            throw ModelError.unreadable(
                path: path,
                reason: "unknown pooling '\(String((description.pooling ?? "").prefix(40)))'; import the model again with this xceptor")
        }
        var weights = ModelWeights(
            convolutions: [:], depthwise: [:], head: [], labels: description.labels, inputSize: description.inputSize, pooling: pooling,
            calibration: description.calibration)
        for entry in description.tensors where entry.name.hasSuffix("/kernel") && !entry.name.hasPrefix("head") {
            let name = String(entry.name.dropLast("/kernel".count))
            weights.convolutions[name] = FoldedConvolution(
                outputChannels: entry.shape[0], inputChannels: entry.shape[1], kernelSize: entry.shape[2],
                kernel: try tensor(entry.name), bias: Array(try tensor("\(name)/bias")))
        }
        for entry in description.tensors where entry.name.hasSuffix("/depthwise") {
            weights.depthwise[String(entry.name.dropLast("/depthwise".count))] = try tensor(entry.name)
        }
        for (index, dense) in description.head.enumerated() {
            guard let activation = DenseLayer.Activation(rawValue: dense.activation) else {
                throw ModelError.unreadable(path: path, reason: "unknown activation \(dense.activation)")
            }
            weights.head.append(
                DenseLayer(
                    inputWidth: dense.inputWidth, outputWidth: dense.outputWidth,
                    kernel: Array(try tensor("head\(index)/kernel")), bias: Array(try tensor("head\(index)/bias")), activation: activation))
        }
        return weights
    }

    /// Widest Dense layer a model file may hold.
    static let maximumDenseWidth = 1 << 20

    /// Every tensor the architecture and `description`'s head call for, with its shape: stem and pointwise
    /// kernels [out, in, k, k], depthwise [channels, 3, 3], Dense kernels [in, out], biases [out].
    static func expectedShapes(head: [Description.Dense]) -> [String: [Int]] {
        var shapes: [String: [Int]] = [:]
        func convolution(_ name: String, out: Int, in inputs: Int, kernel: Int) {
            shapes["\(name)/kernel"] = [out, inputs, kernel, kernel]
            shapes["\(name)/bias"] = [out]
        }
        var channels = 3
        for stem in Architecture.stem {
            convolution(stem.name, out: stem.channels, in: channels, kernel: 3)
            channels = stem.channels
        }
        for block in Architecture.blocks {
            let blockInput = channels
            for (index, width) in block.channels.enumerated() {
                let name = Architecture.separableName(block, index)
                shapes["\(name)/depthwise"] = [channels, 3, 3]
                convolution(name, out: width, in: channels, kernel: 1)
                channels = width
            }
            if block.shortcut == .projection {
                convolution(Architecture.shortcutName(block), out: channels, in: blockInput, kernel: 1)
            }
        }
        for (index, dense) in head.enumerated() {
            shapes["head\(index)/kernel"] = [dense.inputWidth, dense.outputWidth]
            shapes["head\(index)/bias"] = [dense.outputWidth]
        }
        return shapes
    }

    /// What is wrong with a description read from a file of `fileSize` bytes, or nil: the architecture,
    /// input size, head widths and activations, labels, and each tensor's name, shape and place in the file.
    static func problem(in description: Description, fileSize: Int, descriptionEnd: Int) -> String? {
        guard description.architecture == "xception" else {
            return "its architecture is '\(String(description.architecture.prefix(40)))', not xception"
        }
        guard Architecture.inputSizes.contains(description.inputSize) else {
            return
                "its input size \(description.inputSize) is outside \(Architecture.inputSizes.lowerBound) to \(Architecture.inputSizes.upperBound)"
        }
        var width = Architecture.embeddingWidth
        for (index, dense) in description.head.enumerated() {
            guard dense.inputWidth == width, (1...maximumDenseWidth).contains(dense.outputWidth) else {
                return "Dense layer \(index + 1) is \(dense.inputWidth) to \(dense.outputWidth) wide, after a layer \(width) wide"
            }
            guard let activation = DenseLayer.Activation(rawValue: dense.activation) else {
                return "Dense layer \(index + 1) has an unknown activation '\(String(dense.activation.prefix(40)))'"
            }
            guard activation != .softmax || index == description.head.count - 1 else {
                return "Dense layer \(index + 1) has softmax, which only the last may have"
            }
            width = dense.outputWidth
        }
        let outputs = description.head.isEmpty ? 0 : width
        guard description.labels.count == outputs else {
            return "it has \(description.labels.count) labels for \(outputs) outputs"
        }
        if let calibration = description.calibration {
            guard calibration.ranges.tensors.count <= 1000,
                calibration.ranges.tensors.values.allSatisfy({ $0.isFinite && $0 >= 0 }),
                Architecture.inputSizes.contains(calibration.inputSize)
            else { return "its int8 calibration holds ranges that are not finite, positive sizes; calibrate it again" }
            guard let name = description.weightsFingerprint, name.count == 16, name.allSatisfy(\.isHexDigit) else {
                return "its int8 calibration does not name the weights it was made for; calibrate it again"
            }
        }
        let expected = expectedShapes(head: description.head)
        var seen = Set<String>()
        for tensor in description.tensors {
            guard let shape = expected[tensor.name], seen.insert(tensor.name).inserted else {
                return "it holds an unexpected or repeated tensor '\(String(tensor.name.prefix(60)))'"
            }
            guard tensor.shape == shape else {
                return "tensor \(tensor.name) has shape \(tensor.shape), expected \(shape)"
            }
            // The shapes are the architecture's, so the count cannot overflow; the offset is the file's.
            let bytes = shape.reduce(1, *) * MemoryLayout<Float>.size
            let (end, overflow) = tensor.offset.addingReportingOverflow(bytes)
            guard tensor.offset >= descriptionEnd, tensor.offset % MemoryLayout<Float>.alignment == 0, !overflow, end <= fileSize
            else {
                return "tensor \(tensor.name) lies outside the file"
            }
        }
        guard seen.count == expected.count else {
            let missing = expected.keys.filter { !seen.contains($0) }.sorted()
            return "it lacks tensor \(missing[0])" + (missing.count > 1 ? " and \(missing.count - 1) more" : "")
        }
        return nil
    }
}

private extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
