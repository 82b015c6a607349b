import Foundation
import Testing

@testable import Xception

/// Files a careful attacker makes: a real model file, or the packed weights beside it, whose description
/// is edited and whose checksum is then recomputed, so that only the reader's own checks stand between the
/// edited shapes, counts and offsets and the memory they would reach. Each is refused with a reason (the
/// packed file is ignored and rebuilt), never a trap or an out-of-bounds read.
@Suite("Crafted model and packed-weights files", .serialized)
struct CraftedFileTests {
    /// Rewrites the JSON description of the BlobFile at `path` with `edit`, pads it into its slot and
    /// recomputes the checksum, as someone forging a file would.
    static func forge(_ path: String, edit: (inout [String: Any]) -> Void) throws {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let slot = bytes.withUnsafeBytes { Int($0.loadUnaligned(fromByteOffset: 12, as: UInt32.self).littleEndian) }
        let start = BlobFile.fixedHeaderSize
        var description = try #require(try JSONSerialization.jsonObject(with: Data(bytes[start..<start + slot])) as? [String: Any])
        edit(&description)
        let json = [UInt8](try JSONSerialization.data(withJSONObject: description, options: [.sortedKeys]))
        try #require(json.count <= slot, "the edited description fits its slot")
        bytes.replaceSubrange(start..<start + slot, with: json + [UInt8](repeating: 0x20, count: slot - json.count))
        let checksum = bytes.withUnsafeBytes { BlobFile.checksum(UnsafeRawBufferPointer(rebasing: $0[start...])) }
        withUnsafeBytes(of: checksum.littleEndian) { bytes.replaceSubrange(16..<24, with: $0) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    /// Edits the tensor entry called `name`.
    static func editTensor(_ name: String, in description: inout [String: Any], _ edit: (inout [String: Any]) -> Void) {
        var tensors = description["tensors"] as! [[String: Any]]
        let index = tensors.firstIndex { $0["name"] as? String == name }!
        edit(&tensors[index])
        description["tensors"] = tensors
    }

    @Test(
        "a model file with an edited shape, count, offset, size or head is refused with what is wrong",
        arguments: [
            // A kernel's shape that no longer matches the architecture (its bytes still lie inside the file).
            ("kernel shape", "tensor block1_conv1/kernel has shape [16, 3, 3, 3], expected [32, 3, 3, 3]"),
            // A bias so long that its byte count overflows.
            ("bias length", "tensor block1_conv1/bias has shape [4611686018427387904], expected [32]"),
            // Too few dimensions for a kernel (they were indexed without a check).
            ("dimension count", "tensor block2_sepconv1/kernel has shape [128, 64], expected [128, 64, 1, 1]"),
            // An offset whose end overflows.
            ("offset", "tensor block14_sepconv2/bias lies outside the file"),
            ("input size", "its input size 9999999 is outside 71 to 2048"),
            ("head width", "Dense layer 1 is 4096 to 100 wide, after a layer 2048 wide"),
            ("labels", "it has 7 labels for 6 outputs"),
            ("missing tensor", "it lacks tensor block7_sepconv3/depthwise"),
        ])
    func craftedModel(field: String, reason: String) throws {
        let path = try ModelFileTests.scratch("crafted.xcm")
        defer { ModelFileTests.removeScratch(path) }
        try ModelFile.write(try Golden.network.get().weights, to: path)
        try Self.forge(path) { description in
            switch field {
            case "kernel shape": Self.editTensor("block1_conv1/kernel", in: &description) { $0["shape"] = [16, 3, 3, 3] }
            case "bias length": Self.editTensor("block1_conv1/bias", in: &description) { $0["shape"] = [1 << 62] }
            case "dimension count": Self.editTensor("block2_sepconv1/kernel", in: &description) { $0["shape"] = [128, 64] }
            case "offset": Self.editTensor("block14_sepconv2/bias", in: &description) { $0["offset"] = Int.max - 7 }
            case "input size": description["inputSize"] = 9_999_999
            case "head width":
                var head = description["head"] as! [[String: Any]]
                head[0]["inputWidth"] = 4096
                description["head"] = head
            case "labels": description["labels"] = (description["labels"] as! [String]) + ["spork"]
            case "missing tensor":
                description["tensors"] = (description["tensors"] as! [[String: Any]]).filter {
                    $0["name"] as? String != "block7_sepconv3/depthwise"
                }
            default: Issue.record("no edit for \(field)")
            }
        }
        let refused = #expect(throws: ModelError.self) { try ModelFile.read(path) }
        #expect(refused?.description.contains(reason) == true, "\(refused?.description ?? "read without error")")
        #expect(refused?.description.contains("Import the model again") == true)
    }

    @Test(
        "a packed-weights file with an overflowing offset or an impossible descriptor is ignored and rebuilt",
        arguments: ["offset", "descriptor"])
    func craftedPackedWeights(field: String) throws {
        let path = try ModelFileTests.scratch("kitchenware.xcm")
        defer { ModelFileTests.removeScratch(path) }
        try ModelFile.write(try Golden.network.get().weights, to: path)
        let weights = try ModelFile.read(path)
        let store = try PackedWeightStore(modelPath: path)
        let input = try Golden.floats("0412", "input", size: 150)
        let reference = try XceptionNetwork(weights: weights, packedWeights: store).predict([input], size: 150)[0]

        try Self.forge(store.path) { description in
            var entries = description["entries"] as! [[String: Any]]
            switch field {
            case "offset":
                entries[0]["offset"] = Int.max - 63
            default:
                // Dimension and block counts far past oneDNN's arrays of 12.
                var layout = [UInt8](Data(base64Encoded: entries[0]["layout"] as! String)!)
                layout.withUnsafeMutableBytes { $0.storeBytes(of: Int32(100_000), toByteOffset: 0, as: Int32.self) }
                entries[0]["layout"] = Data(layout).base64EncodedString()
            }
            description["entries"] = entries
        }
        let network = try XceptionNetwork(weights: weights, packedWeights: store)
        #expect(network.mappedWeightCount == 0, "the crafted file is not used")
        #expect(try network.predict([input], size: 150)[0] == reference)
        let rebuilt = try XceptionNetwork(weights: weights, packedWeights: store)
        #expect(try rebuilt.predict([input], size: 150)[0] == reference)
        #expect(rebuilt.mappedWeightCount == rebuilt.packedWeightCount, "the file was rebuilt whole")
    }
}
