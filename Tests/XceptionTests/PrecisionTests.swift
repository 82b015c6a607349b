import Foundation
import Testing

@testable import Xception

/// bf16 is refused with a clear error on CPUs without bf16 instructions (oneDNN has no kernels there, or
/// emulates them slowly), and elsewhere stays close to the fp32 Keras outputs.
@Suite("bf16 precision", .serialized)
struct PrecisionTests {
    @Test("bf16 is refused with advice, or agrees with Keras to bf16 accuracy")
    func bf16AgainstGolden() throws {
        let weights = try Golden.network.get().weights
        let network: XceptionNetwork
        do {
            network = try XceptionNetwork(weights: weights, precision: .bf16)
        } catch let error as ModelError {
            #expect(!Precision.bf16.isSupported(context: try DNNLContext()))
            #expect(error == .unsupportedPrecision(.bf16, instructionSet: DNNL.instructionSet))
            #expect(error.description.contains("fp32 runs everywhere"))
            return
        }
        #expect(network.precision == .bf16)
        for size in [150, 299] {
            let names = try Golden.names(size: size)
            let predictions = try network.predict(try names.map { try Golden.floats($0, "input", size: size) }, size: size)
            for (name, prediction) in zip(names, predictions) {
                let embedding = try Golden.floats(name, "embedding", size: size)
                let logits = try Golden.floats(name, "logits", size: size)
                // Eight bits of mantissa through 36 layers: on a Xeon with AMX the lowest cosine over these
                // images was 0.9994.
                #expect(cosine(prediction.embedding, embedding) >= 0.998, "\(name)@\(size)")
                // The top label must agree wherever Keras' top two logits are not close to a tie.
                let ranked = logits.indices.sorted { logits[$0] > logits[$1] }
                if logits[ranked[0]] - logits[ranked[1]] >= 1 {
                    let ours = prediction.logits.indices.max { prediction.logits[$0] < prediction.logits[$1] }
                    #expect(ours == ranked[0], "\(name)@\(size) top label")
                }
            }
        }
    }

    private func cosine(_ a: [Float], _ b: [Float]) -> Double {
        let dot = zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        let norms = (a.reduce(0.0) { $0 + Double($1) * Double($1) } * b.reduce(0.0) { $0 + Double($1) * Double($1) }).squareRoot()
        return dot / norms
    }
}
