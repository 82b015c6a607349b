import Foundation
import Testing

@testable import Xception

/// The model file's kernels stay in its mapping, and the weights packed for this CPU are kept in a file
/// beside it that later networks (later processes) map instead of packing their own copy.
@Suite("Packed weight file", .serialized)
struct PackedWeightFileTests {
    /// The golden weights in a model file of their own, read back (mapped), with the store beside it.
    private func modelFile() throws -> (weights: ModelWeights, store: PackedWeightStore, reports: Reports) {
        let path = try ModelFileTests.scratch("kitchenware.xcm")
        try ModelFile.write(try Golden.network.get().weights, to: path)
        let reports = Reports()
        return (try ModelFile.read(path), try PackedWeightStore(modelPath: path) { reports.append($0) }, reports)
    }

    final class Reports: @unchecked Sendable {
        private let lock = NSLock()
        private var messages: [String] = []
        func append(_ message: String) { lock.withLock { messages.append(message) } }
        var all: [String] { lock.withLock { messages } }
    }

    private func predict(_ network: XceptionNetwork) throws -> Prediction {
        try network.predict([Golden.floats("0412", "input", size: 150)], size: 150)[0]
    }

    @Test("reading a model file copies no kernel; a second network maps what the first packed and predicts the same bits")
    func sharedBetweenNetworks() throws {
        let (weights, store, reports) = try modelFile()
        defer { ModelFileTests.removeScratch(store.path) }
        #expect(weights.convolutions.values.allSatisfy { $0.kernel.isMapped })
        #expect(weights.depthwise.values.allSatisfy { $0.isMapped })
        #expect(!FileManager.default.fileExists(atPath: store.path))

        let first = try XceptionNetwork(weights: weights, packedWeights: store)
        let packedByFirst = try predict(first)
        #expect(FileManager.default.fileExists(atPath: store.path))
        #expect(first.mappedWeightCount == 0 && first.packedWeightCount > 0)

        let second = try XceptionNetwork(weights: weights, packedWeights: store)
        let mapped = try predict(second)
        #expect(second.mappedWeightCount == second.packedWeightCount)
        #expect(second.packedWeightCount == first.packedWeightCount)
        #expect(mapped == packedByFirst)
        #expect(worstExcess(mapped.embedding, try Golden.floats("0412", "embedding", size: 150)).excess <= 0)
        #expect(reports.all.isEmpty)
    }

    @Test("a damaged packed file, or one made for other weights, is ignored and replaced")
    func damagedOrForeign() throws {
        let (weights, store, _) = try modelFile()
        defer { ModelFileTests.removeScratch(store.path) }
        let reference = try predict(try XceptionNetwork(weights: weights, packedWeights: store))

        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: store.path)))
        bytes[bytes.count - 100] ^= 0x40
        try Data(bytes).write(to: URL(fileURLWithPath: store.path))
        let afterDamage = try XceptionNetwork(weights: weights, packedWeights: store)
        #expect(try predict(afterDamage) == reference)
        #expect(afterDamage.mappedWeightCount == 0)
        let rewritten = try XceptionNetwork(weights: weights, packedWeights: store)
        #expect(try predict(rewritten) == reference)
        #expect(rewritten.mappedWeightCount == rewritten.packedWeightCount)

        // Other weights (one bias changed) with this model's packed file copied beside them.
        var other = try Golden.network.get().weights
        other.convolutions["block1_conv1"]!.bias[0] += 1
        let otherPath = try ModelFileTests.scratch("other.xcm")
        defer { ModelFileTests.removeScratch(otherPath) }
        try ModelFile.write(other, to: otherPath)
        let otherStore = try PackedWeightStore(modelPath: otherPath)
        try FileManager.default.copyItem(atPath: store.path, toPath: otherStore.path)
        let otherNetwork = try XceptionNetwork(weights: try ModelFile.read(otherPath), packedWeights: otherStore)
        #expect(try predict(otherNetwork) != reference)
        #expect(otherNetwork.mappedWeightCount == 0)
    }

    @Test("where the packed file cannot be written, the network says so and works from its own copy")
    func unwritable() throws {
        let (weights, store, reports) = try modelFile()
        defer { ModelFileTests.removeScratch(store.path) }
        try FileManager.default.createDirectory(atPath: store.path, withIntermediateDirectories: false)
        let network = try XceptionNetwork(weights: weights, packedWeights: store)
        #expect(worstExcess(try predict(network).embedding, try Golden.floats("0412", "embedding", size: 150)).excess <= 0)
        #expect(reports.all.count == 1)
        #expect(reports.all.first?.contains(store.path) == true)
        #expect(reports.all.first?.contains("every process packs its own copy") == true)
    }
}
