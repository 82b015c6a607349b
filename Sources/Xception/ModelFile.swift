import Foundation

/// xceptor's own model file: what `model import` writes and inference loads.
///
/// Layout (little-endian): the 8-byte magic "XCPTMDL1", a UInt32 format version, a UInt32 length of the
/// JSON description that follows, a UInt64 checksum of every byte after the 24-byte fixed header, then
/// the JSON (architecture, input size, labels, head, and a table of tensors with their shapes and
/// offsets), then the float32 tensors, each 64-byte aligned. Batch norms are already folded into the
/// convolutions. Loading memory-maps the file and leaves the kernels there; the engine packs them into
/// the layout of this CPU's kernels and keeps that in a second mapped file beside this one
/// (`PackedWeightFile`), so N processes on a host share one copy of both.
public enum ModelFile {
    public static let magic = Array("XCPTMDL1".utf8)
    public static let formatVersion: UInt32 = 1
    static let fixedHeaderSize = 24
    static let alignment = 64

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
    }

    /// Writes `weights` to `path` (atomically: a reader never sees half a file).
    public static func write(_ weights: ModelWeights, to path: String, source: String? = nil) throws {
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

        // Offsets depend on the JSON length, which depends on the offsets: lay out with a generous JSON
        // slot, then pad the JSON to fill it exactly.
        var description = Description(
            architecture: "xception", inputSize: weights.inputSize, labels: weights.labels,
            head: weights.head.map { Description.Dense(inputWidth: $0.inputWidth, outputWidth: $0.outputWidth, activation: $0.activation.rawValue) },
            tensors: [], source: source)
        // Sorted keys: the same weights must give the same bytes (and so the same model id) in any process;
        // dictionary order changes from run to run.
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let provisional = try encoder.encode(description).count + tensors.count * 160 + 4096
        let dataStart = align(fixedHeaderSize + provisional)
        var offset = dataStart
        for tensor in tensors {
            description.tensors.append(Description.Tensor(name: tensor.name, shape: tensor.shape, offset: offset))
            offset = align(offset + tensor.values.count * 4)
        }
        var json = try encoder.encode(description)
        guard fixedHeaderSize + json.count <= dataStart else { throw ModelError.backend("model header overflowed its slot") }
        json.append(contentsOf: [UInt8](repeating: 0x20, count: dataStart - fixedHeaderSize - json.count))

        var body = [UInt8](repeating: 0, count: offset - fixedHeaderSize)
        body.replaceSubrange(0..<json.count, with: json)
        for (tensor, entry) in zip(tensors, description.tensors) {
            tensor.values.withUnsafeBufferPointer { floats in
                let bytes = UnsafeRawBufferPointer(floats)
                body.replaceSubrange(entry.offset - fixedHeaderSize..<entry.offset - fixedHeaderSize + bytes.count, with: bytes)
            }
        }
        var file = magic
        append(formatVersion, to: &file)
        append(UInt32(json.count), to: &file)
        append(body.withUnsafeBytes { checksum($0) }, to: &file)
        file += body
        do {
            try Data(file).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw ModelError.unreadable(path: path, reason: "could not write it (\(error.localizedDescription))")
        }
    }

    /// A name for the weights in a model file at one input size, from the file's checksum: results are
    /// stored under it, so the same image embedded by the same weights at the same size is stored once,
    /// whatever the file is called, and embeddings made at different sizes are never mixed in a search.
    public static func identifier(_ path: String, inputSize: Int) throws -> String {
        "xception-" + (try fingerprint(path)) + "@\(inputSize)"
    }

    /// The file's checksum from its header, in hex: what names these weights.
    static func fingerprint(_ path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ModelError.unreadable(path: path, reason: "cannot open it")
        }
        defer { try? handle.close() }
        let header = [UInt8](handle.readData(ofLength: fixedHeaderSize))
        guard header.count == fixedHeaderSize, Array(header[0..<8]) == magic else {
            throw ModelError.unreadable(path: path, reason: "not an xceptor model file (run 'xceptor model import' on a .keras file)")
        }
        let checksum = header[16..<24].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return String(checksum, radix: 16).leftPadded(to: 16)
    }

    /// Reads a model file, checking its magic, version and checksum. The convolution kernels stay in the
    /// mapped file rather than being copied, so processes that load the same file share those pages.
    public static func read(_ path: String) throws -> ModelWeights {
        let file = try MappedFile(path: path)
        let bytes = file.bytes
        guard bytes.count >= fixedHeaderSize, Array(bytes[0..<8]) == magic else {
            throw ModelError.unreadable(path: path, reason: "not an xceptor model file (run 'xceptor model import' on a .keras file)")
        }
        let version = bytes.loadUnaligned(fromByteOffset: 8, as: UInt32.self).littleEndian
        guard version == formatVersion else {
            throw ModelError.unreadable(path: path, reason: "model file format \(version); this xceptor reads format \(formatVersion). Import the model again with this version")
        }
        let jsonLength = Int(bytes.loadUnaligned(fromByteOffset: 12, as: UInt32.self).littleEndian)
        let stored = bytes.loadUnaligned(fromByteOffset: 16, as: UInt64.self).littleEndian
        guard checksum(UnsafeRawBufferPointer(rebasing: bytes[fixedHeaderSize...])) == stored else {
            throw ModelError.unreadable(path: path, reason: "its checksum does not match (the file is damaged or truncated); import the model again")
        }
        guard fixedHeaderSize + jsonLength <= bytes.count,
              let description = try? JSONDecoder().decode(Description.self, from: Data(bytes[fixedHeaderSize..<fixedHeaderSize + jsonLength]))
        else { throw ModelError.unreadable(path: path, reason: "its description is unreadable") }

        var values: [String: WeightValues] = [:]
        for tensor in description.tensors {
            let count = tensor.shape.reduce(1, *)
            guard tensor.offset >= fixedHeaderSize, tensor.offset % 4 == 0, count >= 0, tensor.offset + count * 4 <= bytes.count else {
                throw ModelError.unreadable(path: path, reason: "tensor \(tensor.name) lies outside the file")
            }
            values[tensor.name] = WeightValues(mapping: file, offset: tensor.offset, count: count)
        }
        func tensor(_ name: String) throws -> WeightValues {
            guard let found = values[name] else { throw ModelError.missingTensor(path: path, tensor: name) }
            return found
        }
        var weights = ModelWeights(convolutions: [:], depthwise: [:], head: [], labels: description.labels, inputSize: description.inputSize)
        for entry in description.tensors where entry.name.hasSuffix("/kernel") && !entry.name.hasPrefix("head") {
            let name = String(entry.name.dropLast("/kernel".count))
            weights.convolutions[name] = FoldedConvolution(outputChannels: entry.shape[0], inputChannels: entry.shape[1], kernelSize: entry.shape[2],
                                                           kernel: try tensor(entry.name), bias: Array(try tensor("\(name)/bias")))
        }
        for entry in description.tensors where entry.name.hasSuffix("/depthwise") {
            weights.depthwise[String(entry.name.dropLast("/depthwise".count))] = try tensor(entry.name)
        }
        for (index, dense) in description.head.enumerated() {
            guard let activation = DenseLayer.Activation(rawValue: dense.activation) else {
                throw ModelError.unreadable(path: path, reason: "unknown activation \(dense.activation)")
            }
            weights.head.append(DenseLayer(inputWidth: dense.inputWidth, outputWidth: dense.outputWidth,
                                           kernel: Array(try tensor("head\(index)/kernel")), bias: Array(try tensor("head\(index)/bias")), activation: activation))
        }
        return weights
    }

    private static func align(_ value: Int) -> Int { (value + alignment - 1) / alignment * alignment }

    private static func append<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
    }

    /// FNV-1a over 64-bit words (and the tail bytes): fast enough to check 90 MB at load, and it catches
    /// truncation and corruption, which is all it is for (it is not a cryptographic signature).
    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        let words = bytes.count / 8
        for index in 0..<words {
            hash = (hash ^ bytes.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self)) &* 0x0000_0100_0000_01B3
        }
        for index in words * 8..<bytes.count {
            hash = (hash ^ UInt64(bytes[index])) &* 0x0000_0100_0000_01B3
        }
        return hash
    }
}

private extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
