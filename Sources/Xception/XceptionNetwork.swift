import Foundation
import Synchronization

/// What the network says about one image.
public struct Prediction: Sendable, Equatable {
    /// The 2048-d global-average-pooled embedding, as computed (not normalised).
    public var embedding: [Float]
    /// The head's last layer, before softmax.
    public var logits: [Float]

    /// Softmax of the logits, computed in double precision.
    public var probabilities: [Double] {
        let largest = logits.max().map(Double.init) ?? 0
        let exponentials = logits.map { exp(Double($0) - largest) }
        let total = exponentials.reduce(0, +)
        return exponentials.map { $0 / total }
    }
}

/// Xception with its head, on oneDNN. Plans (the network compiled for one batch size and input size)
/// are built on first use and kept; calls are serialised.
public final class XceptionNetwork: Sendable {
    public let weights: ModelWeights
    private let state: Mutex<State>

    private struct State: ~Copyable {
        var context: DNNLContext
        var plans: [PlanKey: InferencePlan] = [:]
        /// One packed copy of the weights, and one activation arena, for all plans (they run one at a time).
        var packedWeights = PackedWeights()
        var arena = SharedArena()
    }

    private struct PlanKey: Hashable {
        var batch: Int
        var size: Int
    }

    /// Floating-point operations per image at `size`x`size` (for GFLOP/s figures).
    public static func flopsPerImage(size: Int) -> Double { Architecture.convolutionFLOPs(size: size) }

    public init(weights: ModelWeights) throws {
        self.weights = weights
        state = Mutex(State(context: try DNNLContext()))
    }

    /// Runs a batch of images, each `size`x`size`x3 float32 in HWC order, already normalised (x/127.5 - 1).
    public func predict(_ images: [[Float]], size: Int) throws -> [Prediction] {
        guard !images.isEmpty else { return [] }
        let pixels = size * size * 3
        if let bad = images.firstIndex(where: { $0.count != pixels }) {
            throw ModelError.backend("image \(bad) has \(images[bad].count) values, expected \(size)x\(size)x3 = \(pixels)")
        }
        let embeddings: [[Float]] = try state.withLock { state in
            let plan = try Self.plan(batch: images.count, size: size, weights: weights, in: &state)
            let input = plan.input.dataPointer.assumingMemoryBound(to: Float.self)
            for (index, image) in images.enumerated() {
                image.withUnsafeBufferPointer { (input + index * pixels).update(from: $0.baseAddress!, count: pixels) }
            }
            try plan.run()
            let pooled = plan.pooled.dataPointer.assumingMemoryBound(to: Float.self)
            let width = Architecture.embeddingWidth
            return (0..<images.count).map { Array(UnsafeBufferPointer(start: pooled + $0 * width, count: width)) }
        }
        return embeddings.map { Prediction(embedding: $0, logits: head($0)) }
    }

    /// Builds the plan for `batch` images of `size`x`size` now rather than on first use: compiling the
    /// kernels and packing the weights takes a few tenths of a second that the first images would wait.
    public func prepare(batch: Int, size: Int) throws {
        try state.withLock { state in _ = try Self.plan(batch: batch, size: size, weights: weights, in: &state) }
    }

    private static func plan(batch: Int, size: Int, weights: ModelWeights, in state: inout State) throws -> InferencePlan {
        let key = PlanKey(batch: batch, size: size)
        if let existing = state.plans[key] { return existing }
        let plan = try InferencePlan(weights: weights, batch: batch, size: size, context: state.context,
                                     sharedWeights: state.packedWeights, sharedArena: state.arena)
        state.plans[key] = plan
        return plan
    }

    /// Packed weight tensors held for all plans (for tests: batch sizes must not multiply them).
    var packedWeightCount: Int { state.withLock { $0.packedWeights.count } }

    /// The Dense layers, in plain Swift: a few hundred thousand multiply-adds per image.
    private func head(_ embedding: [Float]) -> [Float] {
        weights.head.reduce(embedding) { input, layer in
            var output = layer.bias
            for i in 0..<layer.inputWidth where input[i] != 0 {
                let value = input[i]
                let row = i * layer.outputWidth
                for o in 0..<layer.outputWidth { output[o] += value * layer.kernel[row + o] }
            }
            switch layer.activation {
            case .relu: return output.map { max(0, $0) }
            case .linear, .softmax: return output  // softmax (last layer only) is applied by `probabilities`
            }
        }
    }
}
