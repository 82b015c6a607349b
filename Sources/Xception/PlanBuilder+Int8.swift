import CDNNL

/// The int8 steps of a plan. Convolution inputs are int8 (depthwise outputs) or uint8 (after a ReLU),
/// scaled so that the largest magnitude calibration saw maps to 127 or 255; weights are int8 with one scale
/// per output channel, and oneDNN's output scales take the int32 sums straight to the next tensor's scale.
/// The residual stream (block outputs, which later blocks add to) stays float, as do the last layer's
/// output, which the embedding averages, and the first blocks (below).
///
/// Measured on the kitchenware model (18 golden images, a third held out from calibration): all int8 gave
/// embeddings at a cosine of 0.96 to fp32; a float residual stream, 0.98; the stem and blocks 2-3 in float,
/// 0.9945 at worst. Scales per channel (folded into the weights that read them) fit the calibration images
/// better but clipped held-out images badly (0.79 at worst): a few images do not show a channel's reach.
extension PlanBuilder {
    /// The entry-flow blocks (from block 1, the stem) an int8 plan computes in float: their errors pass
    /// through every later layer, and int8 weights and activations there cost the embedding most, for a
    /// fifth of the arithmetic.
    static let floatBlocks = 3

    static func staysFloat(_ layer: String) -> Bool {
        guard layer.hasPrefix("block"), let block = Int(layer.dropFirst(5).prefix { $0.isNumber }) else { return false }
        return block <= floatBlocks
    }

    /// The scale of step `key`'s output ("block4_sepconv1/depthwise"): its calibrated range mapped to 127, or
    /// to 255 for uint8.
    func quantizationScale(for key: String, unsigned: Bool) throws -> Float {
        guard let range = ranges?.tensors[key] else {
            throw ModelError.backend("the model's calibration has no range for \(key); run `xceptor model calibrate` again")
        }
        // A step that was zero on every calibration image: any scale represents it; avoid dividing by zero.
        return (unsigned ? 255 : 127) / max(range, 1e-6)
    }

    /// A float tensor quantized to int8 at `scale` (counted to `layer`).
    func quantized(_ x: Activation, scale: Float, for layer: String) throws -> Activation {
        var layout = x.tensor.descriptor
        layout.data_type = dnnl_s8
        let tensor = try conformed(x.tensor, to: layout, for: layer, scale: scale)
        return Activation(tensor: tensor, channels: x.channels, height: x.height, width: x.width, scale: scale)
    }

    /// `x` as an int8 convolution's input: itself if already int8 or uint8, else quantized by its range.
    private func int8Input(_ x: Activation, for layer: String) throws -> (activation: Activation, scale: Float) {
        if let scale = x.scale { return (x, scale) }
        guard let key = x.rangeKey else { throw ModelError.backend("\(layer) got a float input without a range in an int8 plan") }
        let scale = try quantizationScale(for: key, unsigned: false)
        return (try quantized(x, scale: scale, for: layer), scale)
    }

    /// For each of `channels` equal slices of `values` (one output channel's weights), 127 over its
    /// largest magnitude: the per-channel weight scales.
    static func channelScales(_ values: WeightValues, channels: Int) -> [Float] {
        let perChannel = values.count / channels
        return values.withUnsafeBufferPointer { buffer in
            (0..<channels).map { channel in
                let largest = buffer[channel * perChannel..<(channel + 1) * perChannel].reduce(Float(0)) { max($0, abs($1)) }
                return largest > 0 ? 127 / largest : 1
            }
        }
    }

    func quantizedConvolution(
        _ x: Activation, _ weights: FoldedConvolution, name: String, stride: Int, padding: Int, relu: Bool,
        accumulateInto target: Activation?, floatOutput: Bool
    ) throws -> Activation {
        let (x, inputScale) = try int8Input(x, for: name)
        let shape = ConvolutionShape(weights)
        // After a ReLU, uint8 for the next convolution; else float: the residual stream (or an addition to
        // it), or the last layer.
        let unsigned = target == nil && relu && !floatOutput
        let outputScale: Float = unsigned ? try quantizationScale(for: "\(name)/\(shape.kind)", unsigned: true) : 1
        let weightScales = Self.channelScales(weights.kernel, channels: weights.outputChannels)
        // oneDNN 2 adds the bias to the int32 sum before the output scales, so it is given in the sum's scale.
        let bias = try DNNLTensor(DNNL.descriptor([weights.outputChannels], dnnl_x), context: context)
        let biasValues = bias.dataPointer.assumingMemoryBound(to: Float.self)
        for channel in 0..<weights.outputChannels { biasValues[channel] = weights.bias[channel] * inputScale * weightScales[channel] }
        let numerics = ConvolutionNumerics(
            source: x.tensor.descriptor.data_type, weights: dnnl_s8, destination: unsigned ? dnnl_u8 : dnnl_f32,
            weightScales: weightScales, outputScales: weightScales.map { outputScale / (inputScale * $0) }, bias: bias)
        let (output, height, width) = try appendConvolution(
            x, weights.kernel, name: name, shape: shape, stride: stride, padding: padding, relu: relu, accumulateInto: target, numerics)
        return Activation(
            tensor: output, channels: weights.outputChannels, height: height, width: width, scale: unsigned ? outputScale : nil,
            rangeKey: unsigned ? nil : "\(name)/\(shape.kind)")
    }

    func quantizedDepthwise(_ x: Activation, _ kernel: WeightValues, name: String) throws -> Activation {
        let (x, inputScale) = try int8Input(x, for: name)
        let outputScale = try quantizationScale(for: "\(name)/depthwise", unsigned: false)
        let weightScales = Self.channelScales(kernel, channels: x.channels)
        let numerics = ConvolutionNumerics(
            source: x.tensor.descriptor.data_type, weights: dnnl_s8, destination: dnnl_s8, weightScales: weightScales,
            outputScales: weightScales.map { outputScale / (inputScale * $0) })
        let (output, _, _) = try appendConvolution(
            x, kernel, name: name, shape: .depthwise(channels: x.channels), stride: 1, padding: 1, relu: false, accumulateInto: nil,
            numerics)
        return Activation(tensor: output, channels: x.channels, height: x.height, width: x.width, scale: outputScale)
    }

    /// ReLU of the float residual stream into a new uint8 tensor: a reorder that quantizes, whose conversion
    /// to uint8 saturates every negative value to zero.
    func quantizedRelu(_ x: Activation, layer: String) throws -> Activation {
        guard x.scale == nil else { throw ModelError.backend("\(layer) got an int8 input for its ReLU in an int8 plan") }
        let outputScale = try quantizationScale(for: "\(layer)/relu", unsigned: true)
        var layout = x.tensor.descriptor
        layout.data_type = dnnl_u8
        let output = try DNNLTensor(layout, context: context, deferred: true)
        let reorder = try DNNLPrimitive(
            reorderFrom: x.tensor.descriptor, to: layout, context: context,
            attributes: DNNLAttributes(outputScales: [outputScale]))
        append(reorder, [(DNNL_ARG_FROM, x.tensor), (DNNL_ARG_TO, output)], layer: layer, kind: "relu")
        return Activation(tensor: output, channels: x.channels, height: x.height, width: x.width, scale: outputScale)
    }

    /// Runs every step once, in order, and raises `maxima` to the largest magnitude each float step wrote:
    /// what calibration measures (the padding of blocked layouts is zero, so reading the whole buffer is safe).
    func measureRanges(into maxima: inout ActivationRanges) throws {
        try finalize()
        try bindArena()
        for step in steps {
            try step.primitive.execute(step.arguments, context: context)
            try DNNL.check(dnnl_stream_wait(context.stream), "waiting for the stream")
            guard step.kind != "reorder", step.kind != "global pool",
                let destination = step.arguments.first(where: { $0.0 == DNNL_ARG_DST })?.1,
                destination.descriptor.data_type == dnnl_f32
            else { continue }
            let values = UnsafeBufferPointer(
                start: destination.dataPointer.assumingMemoryBound(to: Float.self), count: destination.byteCount / 4)
            let key = "\(step.layer)/\(step.kind)"
            maxima.tensors[key] = max(maxima.tensors[key] ?? 0, values.reduce(Float(0)) { max($0, abs($1)) })
        }
    }
}
