import CDNNL

/// A tensor with its logical NCHW dims, which oneDNN layouts do not tell.
struct Activation {
    var tensor: DNNLTensor
    var channels: Int
    var height: Int
    var width: Int
    /// For an int8 or uint8 tensor, what its real values were multiplied by (q = x * scale); nil for floats.
    var scale: Float? = nil
    /// For a float tensor of an int8 plan (the residual stream), the calibration key ("layer/kind") of the
    /// step that wrote it, whose ranges quantize it for an int8 consumer.
    var rangeKey: String? = nil
}

/// One activation arena for all plans of a network, which run one at a time: it grows to the largest
/// plan's need instead of every batch size keeping its own.
final class SharedArena {
    private(set) var base: UnsafeMutableRawPointer?
    private(set) var capacity = 0

    /// Memory of at least `bytes`, growing (and moving) when needed.
    func reserve(_ bytes: Int) -> UnsafeMutableRawPointer {
        if let base, capacity >= bytes { return base }
        base?.deallocate()
        capacity = max(bytes, 64)
        base = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 64)
        return base!
    }

    deinit { base?.deallocate() }
}

/// One step of a plan: a oneDNN primitive with its memories, and what it is, for per-layer profiles.
struct PlanStep {
    var primitive: DNNLPrimitive
    var arguments: [(Int32, DNNLTensor)]
    /// The Keras layer it computes ("block4_sepconv1"), or what it serves ("input", "embedding").
    var layer: String
    /// "conv 3x3", "pointwise", "depthwise", "relu", "max pool", "global pool" or "reorder".
    var kind: String
    /// Floating-point operations of the whole batch (multiply-adds count two); 0 where none are counted.
    var flops: Double
}

/// Records oneDNN primitives and their memories in execution order. Activations stay in the layouts
/// oneDNN picks (blocked, for AVX2 or AVX-512) and are reordered only where a consumer chose differently;
/// weights are packed once, when the step is added.
final class PlanBuilder {
    let batch: Int
    let context: DNNLContext
    /// Of activations and weights; biases stay float32.
    let dataType: dnnl_data_type_t
    /// Where packed weights are shared between plans (nil: this plan packs its own).
    let sharedWeights: PackedWeights?
    /// For an int8 plan, the calibrated largest magnitude of each step's output, by "layer/kind"; nil for
    /// a floating-point plan.
    let ranges: ActivationRanges?
    private(set) var steps: [PlanStep] = []
    /// First and last step using each activation (by identity); `Int.max` for pinned ones.
    private var lifetimes: [ObjectIdentifier: (tensor: DNNLTensor, first: Int, last: Int)] = [:]
    /// Where activations live: a shared arena, or this plan's own.
    private let sharedArena: SharedArena
    private var placements: [(DNNLTensor, Int)]?
    private var placedAt: UnsafeMutableRawPointer?
    private(set) var arenaBytes = 0
    /// What the activations would take without sharing, and the most that is ever live at once (the
    /// least any placement can use); for tests and reports.
    private(set) var unsharedActivationBytes = 0
    private(set) var peakLiveActivationBytes = 0

    init(
        batch: Int, context: DNNLContext, precision: Precision = .fp32, ranges: ActivationRanges? = nil,
        sharedWeights: PackedWeights? = nil, sharedArena: SharedArena? = nil
    ) {
        precondition((precision == .int8) == (ranges != nil), "an int8 plan needs calibrated ranges, and only it")
        self.batch = batch
        self.context = context
        self.dataType = precision.dataType
        self.ranges = ranges
        self.sharedWeights = sharedWeights
        self.sharedArena = sharedArena ?? SharedArena()
    }

    func append(
        _ primitive: DNNLPrimitive, _ arguments: [(Int32, DNNLTensor)], layer: String, kind: String, flops: Double = 0
    ) {
        precondition(placements == nil, "a finalized plan cannot grow")
        let index = steps.count
        steps.append(PlanStep(primitive: primitive, arguments: arguments, layer: layer, kind: kind, flops: flops))
        for (_, tensor) in arguments where tensor.deferred {
            let key = ObjectIdentifier(tensor)
            let previous = lifetimes[key]
            lifetimes[key] = (tensor, previous?.first ?? index, max(previous?.last ?? index, index))
        }
    }

    /// Keeps `tensor` intact after the last step (the caller reads it after `run`).
    func pin(_ tensor: DNNLTensor) {
        guard tensor.deferred, let lifetime = lifetimes[ObjectIdentifier(tensor)] else { return }
        lifetimes[ObjectIdentifier(tensor)] = (tensor, lifetime.first, .max)
    }

    /// Places every activation in one arena: tensors whose lifetimes do not overlap share bytes
    /// (greedy, largest first). Without this, batch 8 at 299x299 held every intermediate tensor of the
    /// network at once (1.36 GiB resident instead of a few hundred MiB).
    func finalize() throws {
        guard placements == nil else { return }
        let alignment = 64
        var placed: [(offset: Int, bytes: Int, first: Int, last: Int)] = []
        var offsets: [(DNNLTensor, Int)] = []
        // Largest first, ties by first use: deterministic, so a plan's footprint does not vary run to run.
        let ordered = lifetimes.values.sorted { ($0.tensor.byteCount, $1.first) > ($1.tensor.byteCount, $0.first) }
        for step in steps.indices {
            let live = ordered.filter { $0.first <= step && step <= $0.last }.reduce(0) { $0 + $1.tensor.byteCount }
            peakLiveActivationBytes = max(peakLiveActivationBytes, live)
        }
        for lifetime in ordered {
            let bytes = (lifetime.tensor.byteCount + alignment - 1) / alignment * alignment
            let conflicts = placed.filter { $0.first <= lifetime.last && lifetime.first <= $0.last }.sorted { $0.offset < $1.offset }
            var offset = 0
            for other in conflicts where offset + bytes > other.offset && other.offset + other.bytes > offset {
                offset = other.offset + other.bytes
            }
            placed.append((offset, bytes, lifetime.first, lifetime.last))
            unsharedActivationBytes += bytes
            offsets.append((lifetime.tensor, offset))
            arenaBytes = max(arenaBytes, offset + bytes)
        }
        placements = offsets
        try bindArena()
    }

    /// Points every activation into the arena, again whenever another plan made the shared arena move.
    func bindArena() throws {
        let base = sharedArena.reserve(arenaBytes)
        guard base != placedAt, let placements else { return }
        for (tensor, offset) in placements { try tensor.place(at: base + offset) }
        placedAt = base
    }

    /// A caller-written input, NHWC float32.
    func input(channels: Int, height: Int, width: Int) throws -> Activation {
        let tensor = try DNNLTensor(DNNL.descriptor([batch, channels, height, width], dnnl_nhwc), context: context)
        return Activation(tensor: tensor, channels: channels, height: height, width: width)
    }

    /// `x` reordered into a caller-readable NHWC float32 tensor.
    func output(_ x: Activation) throws -> DNNLTensor {
        let tensor = try conformed(x.tensor, to: DNNL.descriptor([batch, x.channels, x.height, x.width], dnnl_nhwc), for: "output")
        pin(tensor)
        return tensor
    }

    /// Runs every step in order and waits for them.
    func run() throws {
        try finalize()
        try bindArena()
        for step in steps { try step.primitive.execute(step.arguments, context: context) }
        try DNNL.check(dnnl_stream_wait(context.stream), "waiting for the stream")
    }

    /// Runs every step `iterations` times, each alone (waiting for it before the next), after one
    /// untimed run; returns each step's total seconds, in execution order.
    func profile(iterations: Int) throws -> [Double] {
        try run()
        var seconds = [Double](repeating: 0, count: steps.count)
        for _ in 0..<iterations {
            for (index, step) in steps.enumerated() {
                let start = ContinuousClock.now
                try step.primitive.execute(step.arguments, context: context)
                try DNNL.check(dnnl_stream_wait(context.stream), "waiting for the stream")
                seconds[index] += Double((ContinuousClock.now - start) / .nanoseconds(1)) / 1e9
            }
        }
        return seconds
    }

    /// A convolution plus bias, then optionally the previous contents of `accumulateInto`, then ReLU.
    /// `name` keys the packed weights shared between plans. `floatOutput`: in an int8 plan, a float output
    /// even after a ReLU (the last layer's, which the embedding averages).
    func convolution(
        _ x: Activation, _ weights: FoldedConvolution, name: String, stride: Int, padding: Int, relu: Bool,
        accumulateInto target: Activation? = nil, floatOutput: Bool = false
    ) throws -> Activation {
        if ranges != nil, !Self.staysFloat(name) {
            return try quantizedConvolution(
                x, weights, name: name, stride: stride, padding: padding, relu: relu, accumulateInto: target, floatOutput: floatOutput)
        }
        let numerics = ConvolutionNumerics(
            source: dataType, weights: dataType, destination: dataType,
            bias: try biasValues(WeightValues(weights.bias), key: name + "/bias"))
        let shape = ConvolutionShape(weights)
        let (output, height, width) = try appendConvolution(
            x, weights.kernel, name: name, shape: shape, stride: stride, padding: padding, relu: relu, accumulateInto: target, numerics)
        return Activation(tensor: output, channels: weights.outputChannels, height: height, width: width, rangeKey: "\(name)/\(shape.kind)")
    }

    /// A 3x3 depthwise convolution, stride 1, 'same' padding, no bias (its batch norm follows the pointwise half).
    func depthwise(_ x: Activation, _ kernel: WeightValues, name: String) throws -> Activation {
        if ranges != nil, !Self.staysFloat(name) { return try quantizedDepthwise(x, kernel, name: name) }
        // The float kernels read the layout the previous step wrote (no reorder between them).
        let numerics = ConvolutionNumerics(source: dataType, weights: dataType, destination: dataType, sourceLayout: x.tensor.descriptor)
        let (output, _, _) = try appendConvolution(
            x, kernel, name: name, shape: .depthwise(channels: x.channels), stride: 1, padding: 1, relu: false, accumulateInto: nil,
            numerics)
        return Activation(tensor: output, channels: x.channels, height: x.height, width: x.width, rangeKey: "\(name)/depthwise")
    }

    /// The dimensions of a convolution's weights.
    struct ConvolutionShape {
        var outputChannels: Int
        var inputChannels: Int
        var kernelSize: Int
        /// Depthwise: one 3x3 filter per channel (oneDNN's grouped weights, [channels][1][1][3][3]).
        var isDepthwise = false

        init(_ weights: FoldedConvolution) {
            outputChannels = weights.outputChannels
            inputChannels = weights.inputChannels
            kernelSize = weights.kernelSize
        }

        private init(depthwiseChannels: Int) {
            outputChannels = depthwiseChannels
            inputChannels = depthwiseChannels
            kernelSize = 3
            isDepthwise = true
        }

        static func depthwise(channels: Int) -> ConvolutionShape { ConvolutionShape(depthwiseChannels: channels) }

        var weightDims: [Int] { isDepthwise ? [outputChannels, 1, 1, 3, 3] : [outputChannels, inputChannels, kernelSize, kernelSize] }
        var weightTag: dnnl_format_tag_t { isDepthwise ? dnnl_goihw : dnnl_oihw }
        /// What the step is, for profiles and calibration keys: "depthwise", "pointwise" or "conv 3x3".
        var kind: String { isDepthwise ? "depthwise" : kernelSize == 1 ? "pointwise" : "conv \(kernelSize)x\(kernelSize)" }
    }

    /// How a convolution step computes: its tensors' data types, the weights' per-output-channel scales and
    /// the output scales (int8 only), the bias tensor, and the layout the source must have (nil: the
    /// kernel's choice).
    struct ConvolutionNumerics {
        var source: dnnl_data_type_t
        var weights: dnnl_data_type_t
        var destination: dnnl_data_type_t
        var weightScales: [Float]? = nil
        var outputScales: [Float]? = nil
        var bias: DNNLTensor? = nil
        var sourceLayout: dnnl_memory_desc_t? = nil
    }

    /// Appends one convolution step (plus bias, then optionally the previous contents of `target`, then
    /// ReLU) and returns its output tensor and grid. `kernel` is packed once, under `name`, shared by plans.
    func appendConvolution(
        _ x: Activation, _ kernel: WeightValues, name: String, shape: ConvolutionShape, stride: Int, padding: Int, relu: Bool,
        accumulateInto target: Activation?, _ numerics: ConvolutionNumerics
    ) throws -> (output: DNNLTensor, height: Int, width: Int) {
        let k = shape.kernelSize
        let outHeight = (x.height + 2 * padding - k) / stride + 1
        let outWidth = (x.width + 2 * padding - k) / stride + 1
        var source =
            try numerics.sourceLayout
            ?? DNNL.descriptor([batch, shape.inputChannels, x.height, x.width], dnnl_format_tag_any, numerics.source)
        var kernelLayout = try DNNL.descriptor(shape.weightDims, dnnl_format_tag_any, numerics.weights)
        var bias = numerics.bias?.descriptor ?? dnnl_memory_desc_t()
        var destination =
            try target.map(\.tensor.descriptor)
            ?? DNNL.descriptor([batch, shape.outputChannels, outHeight, outWidth], dnnl_format_tag_any, numerics.destination)
        var operation = dnnl_convolution_desc_t()
        let strides: [Int64] = [Int64(stride), Int64(stride)]
        let pads: [Int64] = [Int64(padding), Int64(padding)]
        let what = shape.isDepthwise ? "a depthwise convolution" : "a \(k)x\(k) convolution"
        try withUnsafeMutablePointer(to: &bias) { biasPointer in
            try DNNL.check(
                dnnl_convolution_forward_desc_init(
                    &operation, dnnl_forward_inference, dnnl_convolution_direct,
                    &source, &kernelLayout, numerics.bias == nil ? nil : biasPointer, &destination, strides, pads, pads),
                "describing \(what)")
        }
        let attributes = try DNNLAttributes(sum: target != nil, relu: relu, outputScales: numerics.outputScales, scaleMask: 1 << 1)
        let primitive = try DNNLPrimitive(operation: &operation, attributes: attributes.attributes, context: context, what: what)
        let output = try target?.tensor ?? DNNLTensor(primitive.layout(dnnl_query_dst_md), context: context, deferred: true)
        let input = try conformed(x.tensor, to: primitive.layout(dnnl_query_src_md), for: name)
        let weights = try constant(
            kernel, key: name + (shape.isDepthwise ? "/depthwise" : "/kernel"), dims: shape.weightDims, tag: shape.weightTag,
            as: primitive.layout(dnnl_query_weights_md), channelScales: numerics.weightScales)
        let perOutput = shape.isDepthwise ? 9 : shape.inputChannels * k * k
        append(
            primitive,
            [(DNNL_ARG_SRC, input), (DNNL_ARG_WEIGHTS, weights)] + (numerics.bias.map { [(DNNL_ARG_BIAS, $0)] } ?? [])
                + [(DNNL_ARG_DST, output)],
            layer: name, kind: shape.kind,
            flops: 2.0 * Double(batch * shape.outputChannels * outHeight * outWidth) * Double(perOutput))
        return (output, outHeight, outWidth)
    }

    /// A float bias, shared between plans under `key`.
    private func biasValues(_ values: WeightValues, key: String) throws -> DNNLTensor {
        let layout = try DNNL.descriptor([values.count], dnnl_x)
        return try constant(values, key: key, dims: [values.count], tag: dnnl_x, as: layout)
    }

    /// ReLU into a new tensor (the block input stays intact for the shortcut).
    func relu(_ x: Activation, layer: String) throws -> Activation {
        if ranges != nil, !Self.staysFloat(layer) { return try quantizedRelu(x, layer: layer) }
        var data = x.tensor.descriptor
        var operation = dnnl_eltwise_desc_t()
        try DNNL.check(
            dnnl_eltwise_forward_desc_init(&operation, dnnl_forward_inference, dnnl_eltwise_relu, &data, 0, 0),
            "describing a ReLU")
        let primitive = try DNNLPrimitive(operation: &operation, attributes: nil, context: context, what: "a ReLU")
        let output = try DNNLTensor(primitive.layout(dnnl_query_dst_md), context: context, deferred: true)
        append(primitive, [(DNNL_ARG_SRC, x.tensor), (DNNL_ARG_DST, output)], layer: layer, kind: "relu")
        return Activation(tensor: output, channels: x.channels, height: x.height, width: x.width, rangeKey: "\(layer)/relu")
    }

    /// 3x3 max pool, stride 2, TensorFlow's 'same' padding (the extra row or column, if any, at the end).
    func maxPool(_ x: Activation, layer: String) throws -> Activation {
        let outHeight = (x.height + 1) / 2
        let outWidth = (x.width + 1) / 2
        let padBottom = max(0, (outHeight - 1) * 2 + 3 - x.height)
        let padRight = max(0, (outWidth - 1) * 2 + 3 - x.width)
        var source = x.tensor.descriptor
        var destination = try DNNL.descriptor(
            [batch, x.channels, outHeight, outWidth], dnnl_format_tag_any, x.tensor.descriptor.data_type)
        var operation = dnnl_pooling_v2_desc_t()
        let (strides, kernel, dilation): ([Int64], [Int64], [Int64]) = ([2, 2], [3, 3], [0, 0])
        let padLeft: [Int64] = [Int64(padBottom / 2), Int64(padRight / 2)]
        let padRightSide: [Int64] = [Int64(padBottom - padBottom / 2), Int64(padRight - padRight / 2)]
        try DNNL.check(
            dnnl_pooling_v2_forward_desc_init(
                &operation, dnnl_forward_inference, dnnl_pooling_max, &source,
                &destination, strides, kernel, dilation, padLeft, padRightSide),
            "describing a max pool")
        let primitive = try DNNLPrimitive(operation: &operation, attributes: nil, context: context, what: "a max pool")
        let output = try DNNLTensor(primitive.layout(dnnl_query_dst_md), context: context, deferred: true)
        append(primitive, [(DNNL_ARG_SRC, x.tensor), (DNNL_ARG_DST, output)], layer: layer, kind: "max pool")
        // The largest value passes through unchanged, so an int8 tensor keeps its scale.
        return Activation(
            tensor: output, channels: x.channels, height: outHeight, width: outWidth, scale: x.scale, rangeKey: x.rangeKey)
    }

    /// Mean (or maximum) over the whole grid, reordered to a plain [batch][channels] matrix.
    func globalPool(_ x: Activation, maximum: Bool) throws -> DNNLTensor {
        // In float32 whatever the plan's precision: the mean of a few hundred values is the embedding,
        // and bf16 would round it to three digits.
        var float32 = x.tensor.descriptor
        float32.data_type = dnnl_f32
        let input = try conformed(x.tensor, to: float32, for: "embedding", scale: x.scale.map { 1 / $0 } ?? 1)
        var source = input.descriptor
        var destination = try DNNL.descriptor([batch, x.channels, 1, 1], dnnl_format_tag_any)
        var operation = dnnl_pooling_v2_desc_t()
        let ones: [Int64] = [1, 1]
        let zeros: [Int64] = [0, 0]
        let kernel: [Int64] = [Int64(x.height), Int64(x.width)]
        try DNNL.check(
            dnnl_pooling_v2_forward_desc_init(
                &operation, dnnl_forward_inference, maximum ? dnnl_pooling_max : dnnl_pooling_avg_exclude_padding,
                &source, &destination, ones, kernel, zeros, zeros, zeros),
            "describing the global pool")
        let primitive = try DNNLPrimitive(operation: &operation, attributes: nil, context: context, what: "the global pool")
        let output = try DNNLTensor(primitive.layout(dnnl_query_dst_md), context: context, deferred: true)
        append(primitive, [(DNNL_ARG_SRC, input), (DNNL_ARG_DST, output)], layer: "embedding", kind: "global pool")
        let plain = try conformed(output, to: DNNL.descriptor([batch, x.channels, 1, 1], dnnl_nchw), for: "embedding")
        pin(plain)
        return plain
    }

    /// Creates (and drops) a small convolution primitive with `dataType` activations (int8 weights with
    /// uint8 or int8 ones): throws where this CPU has no kernel for it, else names the kernel oneDNN chose.
    static func probeConvolution(dataType: dnnl_data_type_t, context: DNNLContext) throws -> String {
        let weightType = [dnnl_u8, dnnl_s8].contains(dataType) ? dnnl_s8 : dataType
        return try standaloneConvolution(
            source: ([1, 16, 8, 8], dataType), weights: ([16, 16, 1, 1], weightType), destination: dataType, padding: 0,
            context: context, what: "a probe convolution"
        ).implementation
    }

    /// A stride-1 convolution without bias outside any plan (probes, timings), every layout the kernel's
    /// choice; the destination has the source's dimensions (1x1, or 3x3 with `padding` 1).
    private static func standaloneConvolution(
        source: (dims: [Int], type: dnnl_data_type_t), weights: (dims: [Int], type: dnnl_data_type_t), destination: dnnl_data_type_t,
        padding: Int64, attributes: DNNLAttributes? = nil, context: DNNLContext, what: String
    ) throws -> DNNLPrimitive {
        var sourceLayout = try DNNL.descriptor(source.dims, dnnl_format_tag_any, source.type)
        var kernel = try DNNL.descriptor(weights.dims, dnnl_format_tag_any, weights.type)
        var destinationLayout = try DNNL.descriptor(source.dims, dnnl_format_tag_any, destination)
        let pads: [Int64] = [padding, padding]
        var operation = dnnl_convolution_desc_t()
        try DNNL.check(
            dnnl_convolution_forward_desc_init(
                &operation, dnnl_forward_inference, dnnl_convolution_direct, &sourceLayout, &kernel, nil, &destinationLayout, [1, 1],
                pads, pads),
            "describing \(what)")
        return try DNNLPrimitive(operation: &operation, attributes: attributes?.attributes, context: context, what: what)
    }

    /// How many times as fast int8 ran as fp32 on this CPU, each timed on a 3x3 depthwise and a 1x1
    /// convolution like the middle flow's (728 channels, a 10x10 grid, batch 4): the best of 5 runs each, after
    /// one untimed run. About 50 ms; for `auto` on CPUs without int8 dot products, where int8 may or may not
    /// beat fp32.
    static func measuredInt8Speedup(context: DNNLContext) throws -> Double {
        func pair(int8: Bool) throws -> [(DNNLPrimitive, [(Int32, DNNLTensor)])] {
            let (activations, weights) = int8 ? (dnnl_u8, dnnl_s8) : (dnnl_f32, dnnl_f32)
            let channels = 728
            let grid: [Int] = [4, channels, 10, 10]
            func convolution(depthwise: Bool, output: dnnl_data_type_t) throws -> (DNNLPrimitive, [(Int32, DNNLTensor)]) {
                let primitive = try standaloneConvolution(
                    source: (grid, activations), weights: (depthwise ? [channels, 1, 1, 3, 3] : [channels, channels, 1, 1], weights),
                    destination: output, padding: depthwise ? 1 : 0, attributes: int8 ? DNNLAttributes(outputScales: [1 / 64]) : nil,
                    context: context, what: "a timed convolution")
                let tensors = try [DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST].map { argument in
                    let tensor = try DNNLTensor(primitive.layout(ofArgument: argument), context: context)
                    // Zeros: whatever the allocation held could be denormal floats, which would slow fp32.
                    tensor.dataPointer.initializeMemory(as: UInt8.self, repeating: 0, count: tensor.byteCount)
                    return (argument, tensor)
                }
                return (primitive, tensors)
            }
            // As in an int8 plan: the depthwise half writes int8, the pointwise half uint8 (a ReLU follows it).
            return [
                try convolution(depthwise: true, output: int8 ? dnnl_s8 : dnnl_f32), try convolution(depthwise: false, output: activations),
            ]
        }
        func bestSeconds(_ steps: [(DNNLPrimitive, [(Int32, DNNLTensor)])]) throws -> Double {
            var best = Double.infinity
            for run in 0..<6 {
                let start = ContinuousClock.now
                for (primitive, arguments) in steps { try primitive.execute(arguments, context: context) }
                try DNNL.check(dnnl_stream_wait(context.stream), "waiting for the stream")
                if run > 0 { best = min(best, Double((ContinuousClock.now - start) / .nanoseconds(1)) / 1e9) }
            }
            return best
        }
        let fp32 = try pair(int8: false)
        let int8 = try pair(int8: true)
        return try bestSeconds(fp32) / bestSeconds(int8)
    }

    /// `tensor` itself if it already has `layout`, else a reorder step (counted to `layer`) into a new tensor that
    /// has, its values multiplied by `scale` (which quantizes or dequantizes between float and int8).
    func conformed(_ tensor: DNNLTensor, to layout: dnnl_memory_desc_t, for layer: String, scale: Float = 1) throws -> DNNLTensor {
        if tensor.matches(layout) && scale == 1 { return tensor }
        let output = try DNNLTensor(layout, context: context, deferred: true)
        let reorder = try DNNLPrimitive(
            reorderFrom: tensor.descriptor, to: layout, context: context,
            attributes: scale == 1 ? nil : DNNLAttributes(outputScales: [scale]))
        append(reorder, [(DNNL_ARG_FROM, tensor), (DNNL_ARG_TO, output)], layer: layer, kind: "reorder")
        return output
    }

    /// Weights written once, in the layout the primitive wants (reordered now, not at every run), and
    /// reused from `sharedWeights` under `key` when another plan already packed them that way.
    /// With `channelScales`, int8 weights: each output channel (the first dimension) multiplied by its scale
    /// and rounded, which depends on the weights alone, so such packings are shared like float ones.
    func constant(
        _ values: WeightValues, key: String, dims: [Int], tag: dnnl_format_tag_t, as layout: dnnl_memory_desc_t,
        channelScales: [Float]? = nil
    ) throws -> DNNLTensor {
        if let shared = sharedWeights?.lookup(key, layout: layout, context: context) { return shared }
        let tensor = try pack(values, dims: dims, tag: tag, as: layout, channelScales: channelScales)
        sharedWeights?.store(tensor, for: key)
        return tensor
    }

    private func pack(
        _ values: WeightValues, dims: [Int], tag: dnnl_format_tag_t, as layout: dnnl_memory_desc_t, channelScales: [Float]?
    ) throws -> DNNLTensor {
        let plain = try DNNLTensor(DNNL.descriptor(dims, tag), context: context)
        values.withUnsafeBufferPointer { plain.dataPointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count * 4) }
        if plain.matches(layout) { return plain }
        let packed = try DNNLTensor(layout, context: context)
        let reorder = try DNNLPrimitive(
            reorderFrom: plain.descriptor, to: layout, context: context,
            attributes: try channelScales.map { try DNNLAttributes(outputScales: $0, scaleMask: 1 << 0) })
        try reorder.execute([(DNNL_ARG_FROM, plain), (DNNL_ARG_TO, packed)], context: context)
        try DNNL.check(dnnl_stream_wait(context.stream), "packing weights")
        return packed
    }

}
