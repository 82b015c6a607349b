/// The network compiled for one batch size and input size, from the architecture table: bias, ReLU and
/// residual additions are fused into the convolutions as post-ops. Not thread-safe: one caller at a time.
final class InferencePlan {
    let batch: Int
    let size: Int
    private let builder: PlanBuilder
    /// The input, NHWC float32 as the caller lays it out.
    let input: DNNLTensor
    /// The pooled embeddings, [batch][2048] float32.
    let pooled: DNNLTensor

    init(
        weights: ModelWeights, batch: Int, size: Int, context: DNNLContext, precision: Precision = .fp32,
        ranges: ActivationRanges? = nil, sharedWeights: PackedWeights? = nil, sharedArena: SharedArena? = nil
    ) throws {
        guard size >= Architecture.minimumInputSize else {
            throw ModelError.inputTooSmall(size: size, minimum: Architecture.minimumInputSize)
        }
        self.batch = batch
        self.size = size
        let builder = PlanBuilder(
            batch: batch, context: context, precision: precision, ranges: ranges, sharedWeights: sharedWeights,
            sharedArena: sharedArena)
        self.builder = builder
        var x = try builder.input(channels: 3, height: size, width: size)
        input = x.tensor
        // Normalised pixels lie in [-1, 1].
        if ranges != nil, !PlanBuilder.staysFloat(Architecture.stem[0].name) {
            x = try builder.quantized(x, scale: 127, for: "input")
        }

        for stem in Architecture.stem {
            x = try builder.convolution(
                x, try Self.weights(weights, stem.name), name: stem.name, stride: stem.stride, padding: 0, relu: true)
        }
        for block in Architecture.blocks {
            let blockInput = x
            for index in block.channels.indices {
                let name = Architecture.separableName(block, index)
                // The block input keeps its value for the shortcut, so its ReLU writes a new tensor.
                if index == 0, block.reluBefore[0] { x = try builder.relu(x, layer: name) }
                x = try builder.depthwise(x, try Self.depthwise(weights, name), name: name)
                let isLast = index == block.channels.count - 1
                // Between two separable convolutions the pre-activation value feeds nothing else, so the
                // next ReLU is fused into this convolution.
                let fuseRelu = block.reluAfter || (!isLast && block.reluBefore[index + 1])
                let pointwise = try Self.weights(weights, name)
                if isLast, block.shortcut == .identity {
                    // x + f(x), written over the block input, which nothing needs afterwards.
                    x = try builder.convolution(x, pointwise, name: name, stride: 1, padding: 0, relu: false, accumulateInto: blockInput)
                } else {
                    // The last layer's output is what the embedding averages: int8 plans keep it float.
                    let isLastLayer = isLast && block.name == Architecture.blocks.last?.name
                    x = try builder.convolution(
                        x, pointwise, name: name, stride: 1, padding: 0, relu: fuseRelu, floatOutput: isLastLayer)
                }
            }
            if block.shortcut == .projection {
                x = try builder.maxPool(x, layer: "\(block.name)_pool")
                let shortcutName = Architecture.shortcutName(block)
                x = try builder.convolution(
                    blockInput, try Self.weights(weights, shortcutName), name: shortcutName,
                    stride: 2, padding: 0, relu: false, accumulateInto: x)
            }
        }
        pooled = try builder.globalPool(x, maximum: weights.pooling == .maximum)
        try builder.finalize()
    }

    /// Bytes of the shared activation arena, the least any placement needs (the peak of live tensors),
    /// and what the activations would take unshared.
    var activationBytes: (arena: Int, peakLive: Int, unshared: Int) {
        (builder.arenaBytes, builder.peakLiveActivationBytes, builder.unsharedActivationBytes)
    }

    /// Runs the network on the batch already written into `input`, step by step, raising `maxima` to the
    /// largest magnitude each step's output reached (calibration; fp32 plans only).
    func measureRanges(into maxima: inout ActivationRanges) throws {
        try builder.measureRanges(into: &maxima)
    }

    /// Runs the network on the batch already written into `input`.
    func run() throws {
        try builder.run()
    }

    /// Each step's layer, kind, batch FLOPs and seconds over `iterations` runs (`PlanBuilder.profile`).
    func profile(iterations: Int) throws -> [(step: PlanStep, seconds: Double)] {
        Array(zip(builder.steps, try builder.profile(iterations: iterations)))
    }

    private static func weights(_ model: ModelWeights, _ name: String) throws -> FoldedConvolution {
        guard let weights = model.convolutions[name] else { throw ModelError.backend("no weights for \(name)") }
        return weights
    }

    private static func depthwise(_ model: ModelWeights, _ name: String) throws -> WeightValues {
        guard let kernel = model.depthwise[name] else { throw ModelError.backend("no depthwise weights for \(name)") }
        return kernel
    }
}
