import CDNNL
import Foundation

/// libFuzzer entry point for xceptor's model file and packed-weights file as a forger makes them: byte 0
/// picks the model file (even) or the packed-weights file (odd), unless XCEPTOR_FUZZ_ONLY names one; bytes 1-2 the size of the blob area after
/// the description (in 64 KiB, at most 128 MiB, left sparse), the rest is the JSON description. The
/// harness writes the fixed header with the right magic, version, length and checksum, so every input
/// reaches the readers' own checks of shapes, counts and offsets. A file that reads is then used: every
/// weight summed, every packed tensor looked up as the engine would and read through. Each input must end
/// in a value or an error: a trap or a sanitizer report is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size >= 3 else { return 0 }
    let input = UnsafeBufferPointer(start: data, count: size)
    let blobBytes = min(Int(input[1]) << 8 | Int(input[2]), 2048) << 16
    let json = Array(input[3...])
    if FormatFiles.isModel(input[0]) {
        guard
            FormatFiles.write(
                magic: ModelFile.magic, version: ModelFile.formatVersion, json: json, blobBytes: blobBytes, to: FormatFiles.model)
        else { return 0 }
        do {
            FormatFiles.consume(try ModelFile.read(FormatFiles.model))
            FormatFiles.explain("model file read")
        } catch {
            FormatFiles.explain("model file refused: \(error)")
        }
    } else {
        guard
            FormatFiles.write(
                magic: PackedWeightFile.magic, version: PackedWeightFile.formatVersion, json: json, blobBytes: blobBytes,
                to: FormatFiles.packed)
        else { return 0 }
        guard let file = PackedWeightFile(path: FormatFiles.packed, fingerprint: FormatFiles.fingerprint) else {
            FormatFiles.explain("packed file ignored")
            return 0
        }
        for (name, layout) in FormatFiles.lookups {
            if let tensor = try? file.tensor(name, layout: layout, context: FormatFiles.context) {
                FormatFiles.consume(UnsafeRawBufferPointer(start: tensor.dataPointer, count: tensor.byteCount))
                FormatFiles.explain("packed tensor \(name) mapped")
            }
        }
    }
    return 0
}

/// Writes the seeds: `FormatFuzzer -seeds DIR` writes a packed-weights file through the product's own
/// writer (three tensors in the layouts the harness looks up) and turns it and any model files named after
/// it into inputs.
@_cdecl("LLVMFuzzerInitialize")
public func initialize(
    _ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>
) -> Int32 {
    guard let (directory, models) = seedArguments(argc, argv) else { return 0 }
    do {
        let packedPath = FormatFiles.packed + ".seed"
        let tensors = try FormatFiles.lookups.map { name, layout in
            let tensor = try DNNLTensor(layout, context: FormatFiles.context)
            memset(tensor.dataPointer, 0x3F, tensor.byteCount)
            return (name: name, tensor: tensor)
        }
        try PackedWeightFile.write(to: packedPath, fingerprint: FormatFiles.fingerprint, keeping: nil, adding: tensors)
        try FormatFiles.seed(from: packedPath, kind: 1, to: "\(directory)/packed-seed")
        for (index, model) in models.enumerated() {
            try FormatFiles.seed(from: model, kind: 0, to: "\(directory)/model-seed-\(index)")
        }
    } catch {
        print("could not write the seeds: \(error)")
        exit(1)
    }
    exit(0)
}

enum FormatFiles {
    static let model = FileManager.default.temporaryDirectory.appendingPathComponent("xceptor-format-fuzz-\(getpid()).xcm").path
    static let packed = model + ".packed"
    static let fingerprint = "0123456789abcdef"
    /// XCEPTOR_FUZZ_ONLY=model or packed gives one reader the whole run; otherwise byte 0 picks.
    static let only = ProcessInfo.processInfo.environment["XCEPTOR_FUZZ_ONLY"]

    static func isModel(_ selector: UInt8) -> Bool {
        switch only {
        case "model": return true
        case "packed": return false
        default: return selector % 2 == 0
        }
    }
    static let context = try! DNNLContext()
    /// Tensors as the engine asks for them: a plain bias, a plain kernel, a blocked kernel.
    static let lookups: [(String, dnnl_memory_desc_t)] = [
        ("block1_conv1/bias", try! DNNL.descriptor([32], dnnl_a)),
        ("block1_conv1/kernel", try! DNNL.descriptor([32, 3, 3, 3], dnnl_oihw)),
        ("block2_sepconv1/kernel", try! DNNL.descriptor([128, 64, 1, 1], dnnl_OIhw8i8o)),
    ]

    /// Header, `json`, then `blobBytes` of zeros (a hole), with the checksum the reader will compute.
    static func write(magic: [UInt8], version: UInt32, json: [UInt8], blobBytes: Int, to path: String) -> Bool {
        var header = magic
        withUnsafeBytes(of: version.littleEndian) { header += $0 }
        withUnsafeBytes(of: UInt32(json.count).littleEndian) { header += $0 }
        withUnsafeBytes(of: checksum(json, zeros: blobBytes).littleEndian) { header += $0 }
        return FileManager.default.createFile(atPath: path, contents: Data(header + json))
            && truncate(path, off_t(header.count + json.count + blobBytes)) == 0
    }

    /// `BlobFile.checksum` of `bytes` followed by `zeros` zero bytes, without a pass over the zeros: FNV-1a
    /// xors each word in (a zero word changes nothing) and multiplies by the prime, so a run of zero words
    /// and bytes is one multiplication by a power of the prime.
    static func checksum(_ bytes: [UInt8], zeros: Int) -> UInt64 {
        let total = bytes.count + zeros
        let head = min(total, (bytes.count + 7) / 8 * 8)  // the words that hold `bytes`, zero-filled
        let padded = bytes + [UInt8](repeating: 0, count: head - bytes.count)
        var hash = padded.withUnsafeBytes { BlobFile.checksum($0) }
        let remaining = total - head
        var power: UInt64 = 1, base: UInt64 = 0x0000_0100_0000_01B3
        var exponent = remaining / 8 + remaining % 8
        while exponent > 0 {
            if exponent & 1 == 1 { power = power &* base }
            base = base &* base
            exponent >>= 1
        }
        hash = hash &* power
        return hash
    }

    /// An input made from a real file: its kind, its blob area's size, its description.
    static func seed(from path: String, kind: UInt8, to output: String) throws {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let jsonLength = bytes.withUnsafeBytes { Int($0.loadUnaligned(fromByteOffset: 12, as: UInt32.self).littleEndian) }
        let blobUnits = min((bytes.count - BlobFile.fixedHeaderSize - jsonLength + 0xFFFF) >> 16, 2048)
        let seed =
            [kind, UInt8(blobUnits >> 8), UInt8(blobUnits & 0xFF)] + bytes[BlobFile.fixedHeaderSize..<BlobFile.fixedHeaderSize + jsonLength]
        try Data(seed).write(to: URL(fileURLWithPath: output))
    }

    /// Reads each tensor's first and last value: the reader's bounds are where a forged extent would show.
    static func consume(_ weights: ModelWeights) {
        var sum: Float = 0
        func touch(_ values: some RandomAccessCollection<Float>) { sum += (values.first ?? 0) + (values.last ?? 0) }
        for convolution in weights.convolutions.values {
            touch(convolution.kernel)
            touch(convolution.bias)
        }
        weights.depthwise.values.forEach(touch)
        for dense in weights.head {
            touch(dense.kernel)
            touch(dense.bias)
        }
        blackHole(sum)
    }

    static func consume(_ bytes: UnsafeRawBufferPointer) { blackHole(bytes.reduce(0) { $0 &+ $1 }) }

    /// With XCEPTOR_FUZZ_EXPLAIN set (running one input by hand), says how the input ended.
    static func explain(_ outcome: @autoclosure () -> String) {
        if ProcessInfo.processInfo.environment["XCEPTOR_FUZZ_EXPLAIN"] != nil { print(outcome()) }
    }

    @inline(never) static func blackHole<T>(_ value: T) { _ = value }
}
