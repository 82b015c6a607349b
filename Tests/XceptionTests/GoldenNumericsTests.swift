import Foundation
import Testing
import Xception

/// The embedding and logits of every golden input match Keras element by element within
/// 1e-4 + 1e-4*|golden|, with the same top label, at batch 1 and batch 8, in fp32.
@Suite("Xception numerics against TensorFlow/Keras", .serialized)
struct GoldenNumericsTests {
    @Test("every golden input at batch 1", arguments: [150, 299])
    func batchOfOne(size: Int) throws {
        let network = try Golden.network.get()
        for name in try Golden.names(size: size) {
            let prediction = try #require(try network.predict([Golden.floats(name, "input", size: size)], size: size).first)
            try expectMatches(prediction, name: name, size: size)
        }
    }

    @Test("golden inputs in batches of 8", arguments: [150, 299])
    func batchesOfEight(size: Int) throws {
        let network = try Golden.network.get()
        var names = try Golden.names(size: size)
        // Fill the last batch (and the 4-image 299 set) by repeating images from the start.
        while names.count % 8 != 0 { names.append(names[names.count % max(1, names.count)]) }
        for start in stride(from: 0, to: names.count, by: 8) {
            let batch = Array(names[start..<start + 8])
            let predictions = try network.predict(try batch.map { try Golden.floats($0, "input", size: size) }, size: size)
            #expect(predictions.count == 8)
            for (name, prediction) in zip(batch, predictions) { try expectMatches(prediction, name: name, size: size) }
        }
    }

    private func expectMatches(_ prediction: Prediction, name: String, size: Int) throws {
        let embedding = try Golden.floats(name, "embedding", size: size)
        let logits = try Golden.floats(name, "logits", size: size)
        #expect(prediction.embedding.count == 2048)
        let embeddingWorst = worstExcess(prediction.embedding, embedding)
        #expect(
            embeddingWorst.excess <= 0,
            "\(name)@\(size) embedding[\(embeddingWorst.index)] off by \(embeddingWorst.excess) beyond tolerance")
        let logitsWorst = worstExcess(prediction.logits, logits)
        #expect(logitsWorst.excess <= 0, "\(name)@\(size) logits \(prediction.logits) vs \(logits)")
        let ours = prediction.logits.indices.max { prediction.logits[$0] < prediction.logits[$1] }
        let theirs = logits.indices.max { logits[$0] < logits[$1] }
        #expect(ours == theirs, "\(name)@\(size) top label")
    }
}
