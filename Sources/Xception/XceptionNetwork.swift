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

    /// The `count` most probable of `labels` (the head's outputs, in order), best first; ties keep the
    /// head's order. Labels beyond the head's width are ignored, missing ones are named `classN`.
    public func topLabels(_ count: Int, of labels: [String]) -> [(label: String, probability: Double)] {
        probabilities.enumerated()
            .sorted { $0.element != $1.element ? $0.element > $1.element : $0.offset < $1.offset }
            .prefix(max(0, count))
            .map { (label: $0.offset < labels.count ? labels[$0.offset] : "class\($0.offset)", probability: $0.element) }
    }
}

/// One step of a compiled network, timed (`XceptionNetwork.profile`).
public struct LayerTiming: Sendable, Codable {
    /// The Keras layer it computes ("block4_sepconv1"), or what it serves ("input", "embedding").
    public var layer: String
    /// "conv 3x3", "pointwise", "depthwise", "relu", "max pool", "global pool" or "reorder".
    public var kind: String
    /// Per batch.
    public var milliseconds: Double
    /// Floating-point operations per batch (multiply-adds count two); 0 for steps that are not counted.
    public var flops: Double
}

/// Xception with its head, on oneDNN. Plans (the network compiled for one batch size and input size)
/// are built on first use and kept; calls are serialised.
public final class XceptionNetwork: Sendable {
    public let weights: ModelWeights
    public let precision: Precision
    /// int8's calibrated ranges (nil in fp32 and bf16).
    private let ranges: ActivationRanges?
    private let store: PackedWeightStore?
    private let state: Mutex<State>

    private struct State: ~Copyable {
        var context: DNNLContext
        var plans: [PlanKey: InferencePlan] = [:]
        /// One packed copy of the weights, and one activation arena, for all plans (they run one at a time).
        var packedWeights: PackedWeights
        var arena = SharedArena()
    }

    private struct PlanKey: Hashable {
        var batch: Int
        var size: Int
    }

    /// Floating-point operations per image at `size`x`size` (for GFLOP/s figures).
    public static func flopsPerImage(size: Int) -> Double { Architecture.convolutionFLOPs(size: size) }

    /// - Throws: `ModelError.unsupportedPrecision` where this CPU has no kernels for `precision`; for int8,
    ///   `notCalibrated` or `failedAccuracyGate` where the model's calibration does not allow it.
    /// - Parameter packedWeights: where the weights packed for this CPU are kept between runs; without it
    ///   every process packs its own copy.
    public convenience init(weights: ModelWeights, precision: Precision = .fp32, packedWeights store: PackedWeightStore? = nil) throws {
        var ranges: ActivationRanges?
        if precision == .int8 {
            guard let calibration = weights.calibration else { throw ModelError.notCalibrated }
            guard calibration.gate.passed else { throw ModelError.failedAccuracyGate(calibration.gate.summary) }
            ranges = calibration.ranges
        }
        try self.init(weights: weights, precision: precision, ranges: ranges, packedWeights: store)
    }

    /// With `ranges`, int8 with those scales whatever the model's gate says (calibration measures the gate so).
    init(weights: ModelWeights, precision: Precision, ranges: ActivationRanges?, packedWeights store: PackedWeightStore? = nil) throws {
        let context = try DNNLContext()
        guard precision.isSupported(context: context) else {
            throw ModelError.unsupportedPrecision(precision, instructionSet: DNNL.instructionSet)
        }
        self.weights = weights
        self.precision = precision
        self.ranges = ranges
        self.store = store
        let file = store.flatMap { PackedWeightFile(path: $0.path, fingerprint: $0.fingerprint) }
        state = Mutex(State(context: context, packedWeights: PackedWeights(file: file)))
    }

    /// Runs a batch of images, each `size`x`size`x3 float32 in HWC order, already normalised (x/127.5 - 1).
    public func predict(_ images: [[Float]], size: Int) throws -> [Prediction] {
        guard !images.isEmpty else { return [] }
        try checkInputs(images, size: size)
        return try run(images, size: size) { try $0.run() }
    }

    private func checkInputs(_ images: [[Float]], size: Int) throws {
        let pixels = size * size * 3
        if let bad = images.firstIndex(where: { $0.count != pixels }) {
            throw ModelError.backend("image \(bad) has \(images[bad].count) values, expected \(size)x\(size)x3 = \(pixels)")
        }
    }

    /// Writes `images` into the plan for their batch and size, has `execute` run it, and reads the predictions.
    private func run(_ images: [[Float]], size: Int, _ execute: (InferencePlan) throws -> Void) throws -> [Prediction] {
        let pixels = size * size * 3
        let embeddings: [[Float]] = try state.withLock { state in
            let plan = try plan(batch: images.count, size: size, in: &state)
            let input = plan.input.dataPointer.assumingMemoryBound(to: Float.self)
            for (index, image) in images.enumerated() {
                image.withUnsafeBufferPointer { (input + index * pixels).update(from: $0.baseAddress!, count: pixels) }
            }
            try execute(plan)
            let pooled = plan.pooled.dataPointer.assumingMemoryBound(to: Float.self)
            let width = Architecture.embeddingWidth
            return (0..<images.count).map { Array(UnsafeBufferPointer(start: pooled + $0 * width, count: width)) }
        }
        return embeddings.map { Prediction(embedding: $0, logits: head($0)) }
    }

    /// Runs a batch step by step in fp32, raising `maxima` to the largest magnitude each step's output
    /// reached; returns the batch's predictions, as `predict` would.
    func measureRanges(_ images: [[Float]], size: Int, into maxima: inout ActivationRanges) throws -> [Prediction] {
        precondition(precision == .fp32, "ranges are measured in fp32")
        try checkInputs(images, size: size)
        var measured = maxima
        let predictions = try run(images, size: size) { try $0.measureRanges(into: &measured) }
        maxima = measured
        return predictions
    }

    /// Times each step of the plan for `batch` images of `size`x`size` (inputs in the network's range), each
    /// step run alone, over `iterations` batches after one untimed batch: where a batch's time goes.
    public func profile(batch: Int, size: Int, iterations: Int) throws -> [LayerTiming] {
        try state.withLock { state in
            let plan = try plan(batch: batch, size: size, in: &state)
            let input = plan.input.dataPointer.assumingMemoryBound(to: Float.self)
            for index in 0..<batch * size * size * 3 { input[index] = Float.random(in: -1...1) }
            return try plan.profile(iterations: iterations).map { step, seconds in
                LayerTiming(
                    layer: step.layer, kind: step.kind, milliseconds: seconds * 1000 / Double(iterations), flops: step.flops)
            }
        }
    }

    /// Builds the plan for `batch` images of `size`x`size` now rather than on first use: compiling the
    /// kernels and packing the weights takes a few tenths of a second that the first images would wait.
    public func prepare(batch: Int, size: Int) throws {
        try state.withLock { state in _ = try plan(batch: batch, size: size, in: &state) }
    }

    private func plan(batch: Int, size: Int, in state: inout State) throws -> InferencePlan {
        let key = PlanKey(batch: batch, size: size)
        if let existing = state.plans[key] { return existing }
        let plan = try InferencePlan(
            weights: weights, batch: batch, size: size, context: state.context, precision: precision, ranges: ranges,
            sharedWeights: state.packedWeights, sharedArena: state.arena)
        state.plans[key] = plan
        if let store, state.packedWeights.hasUnsaved {
            do {
                try state.packedWeights.save(to: store)
            } catch {
                store.report(
                    "could not keep the packed weights in \(store.path) (\(error)); every process packs its own copy until it can be written"
                )
            }
        }
        return plan
    }

    /// Packed weight tensors held for all plans (for tests: batch sizes must not multiply them).
    var packedWeightCount: Int { state.withLock { $0.packedWeights.count } }

    /// Of those, the ones read in place from the packed weight file.
    var mappedWeightCount: Int { state.withLock { $0.packedWeights.mappedCount } }

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
