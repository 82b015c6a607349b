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
///
/// Tensors carry their scales per channel (`Activation.scales`) because oneDNN's reorders and output scales
/// take them so; calibration sets one value for all channels of a tensor.
extension PlanBuilder {
    /// The entry-flow blocks (from block 1, the stem) an int8 plan computes in float: their errors pass
    /// through every later layer, and int8 weights and activations there cost the embedding most, for a
    /// fifth of the arithmetic.
    static let floatBlocks = 3

    static func staysFloat(_ layer: String) -> Bool {
        guard layer.hasPrefix("block"), let block = Int(layer.dropFirst(5).prefix { $0.isNumber }) else { return false }
        return block <= floatBlocks
    }

    /// The scales of step `key`'s output ("block4_sepconv1/depthwise"), one per channel: its calibrated
    /// range mapped to 127, or to 255 for uint8.
    func quantizationScales(for key: String, channels: Int, unsigned: Bool) throws -> [Float] {
        guard let range = ranges?.tensors[key] else {
            throw ModelError.backend("the model's calibration has no range for \(key); run `xceptor model calibrate` again")
        }
        // A step that was zero on every calibration image: any scale represents it; avoid dividing by zero.
        return [Float](repeating: (unsigned ? 255 : 127) / max(range, 1e-6), count: channels)
    }

    /// A float tensor quantized to int8, channel by channel (counted to `layer`).
    func quantized(_ x: Activation, scales: [Float], for layer: String) throws -> Activation {
        var layout = x.tensor.descriptor
        layout.data_type = dnnl_s8
        let tensor = try conformed(x.tensor, to: layout, for: layer, channelScales: scales)
        return Activation(tensor: tensor, channels: x.channels, height: x.height, width: x.width, scales: scales)
    }

    /// `x` as an int8 convolution's input: itself if already int8 or uint8, else quantized by its ranges.
    private func int8Input(_ x: Activation, for layer: String) throws -> Activation {
        if x.scales != nil { return x }
        guard let key = x.rangeKey else { throw ModelError.backend("\(layer) got a float input without a range in an int8 plan") }
        return try quantized(x, scales: quantizationScales(for: key, channels: x.channels, unsigned: false), for: layer)
    }

    /// `values` (output channel first) with each input channel's weights divided by that channel's scale,
    /// then for each output channel 127 over its largest magnitude: the weights to quantize, and their
    /// per-output-channel scales. A depthwise kernel's input channel is its output channel.
    static func foldedWeights(_ values: WeightValues, outputs: Int, inputScales: [Float], depthwise: Bool) -> (
        values: WeightValues, scales: [Float]
    ) {
        var folded = Array(values)
        let inputs = depthwise ? 1 : inputScales.count
        let perInput = folded.count / (outputs * inputs)
        for index in folded.indices {
            let channel = depthwise ? index / perInput : (index / perInput) % inputs
            folded[index] /= inputScales[channel]
        }
        let perOutput = folded.count / outputs
        let scales = (0..<outputs).map { output in
            let largest = folded[output * perOutput..<(output + 1) * perOutput].reduce(Float(0)) { max($0, abs($1)) }
            return largest > 0 ? 127 / largest : 1
        }
        return (WeightValues(folded), scales)
    }

    func quantizedConvolution(
        _ x: Activation, _ weights: FoldedConvolution, name: String, stride: Int, padding: Int, relu: Bool,
        accumulateInto target: Activation?, floatOutput: Bool
    ) throws -> Activation {
        let x = try int8Input(x, for: name)
        let kind = Self.kind(weights)
        // After a ReLU, uint8 for the next convolution; else float: the residual stream (or an addition to
        // it), or the last layer.
        let unsigned = target == nil && relu && !floatOutput
        let outputScales =
            unsigned
            ? try quantizationScales(for: "\(name)/\(kind)", channels: weights.outputChannels, unsigned: true)
            : [Float](repeating: 1, count: weights.outputChannels)
        let (kernel, weightScales) = Self.foldedWeights(
            weights.kernel, outputs: weights.outputChannels, inputScales: x.scales!, depthwise: false)
        // oneDNN 2 adds the bias to the int32 sum before the output scales, so it is given in the sum's scale
        // (the input's scales are in the weights).
        let bias = try DNNLTensor(DNNL.descriptor([weights.outputChannels], dnnl_x), context: context)
        let biasValues = bias.dataPointer.assumingMemoryBound(to: Float.self)
        for channel in 0..<weights.outputChannels { biasValues[channel] = weights.bias[channel] * weightScales[channel] }
        let numerics = ConvolutionNumerics(
            source: x.tensor.descriptor.data_type, weights: dnnl_s8, destination: unsigned ? dnnl_u8 : dnnl_f32, kernel: kernel,
            weightScales: weightScales, outputScales: zip(outputScales, weightScales).map { $0 / $1 }, bias: bias)
        let (output, height, width) = try appendConvolution(
            x, name: name, shape: .init(weights), stride: stride, padding: padding, relu: relu, accumulateInto: target, numerics)
        return Activation(
            tensor: output, channels: weights.outputChannels, height: height, width: width, scales: unsigned ? outputScales : nil,
            rangeKey: unsigned ? nil : "\(name)/\(kind)")
    }

    func quantizedDepthwise(_ x: Activation, _ kernel: WeightValues, name: String) throws -> Activation {
        let x = try int8Input(x, for: name)
        let outputScales = try quantizationScales(for: "\(name)/depthwise", channels: x.channels, unsigned: false)
        let (folded, weightScales) = Self.foldedWeights(kernel, outputs: x.channels, inputScales: x.scales!, depthwise: true)
        let numerics = ConvolutionNumerics(
            source: x.tensor.descriptor.data_type, weights: dnnl_s8, destination: dnnl_s8, kernel: folded, weightScales: weightScales,
            outputScales: zip(outputScales, weightScales).map { $0 / $1 })
        let (output, _, _) = try appendConvolution(
            x, name: name, shape: .depthwise(channels: x.channels), stride: 1, padding: 1, relu: false, accumulateInto: nil, numerics)
        return Activation(tensor: output, channels: x.channels, height: x.height, width: x.width, scales: outputScales)
    }

    /// ReLU of the float residual stream into a new uint8 tensor: a reorder that quantizes, whose conversion
    /// to uint8 saturates every negative value to zero.
    func quantizedRelu(_ x: Activation, layer: String) throws -> Activation {
        guard x.scales == nil else { throw ModelError.backend("\(layer) got an int8 input for its ReLU in an int8 plan") }
        let outputScales = try quantizationScales(for: "\(layer)/relu", channels: x.channels, unsigned: true)
        var layout = x.tensor.descriptor
        layout.data_type = dnnl_u8
        let output = try DNNLTensor(layout, context: context, deferred: true)
        let reorder = try DNNLPrimitive(
            reorderFrom: x.tensor.descriptor, to: layout, context: context,
            attributes: DNNLAttributes(outputScales: outputScales, scaleMask: 1 << 1))
        append(reorder, [(DNNL_ARG_FROM, x.tensor), (DNNL_ARG_TO, output)], layer: layer, kind: "relu")
        return Activation(tensor: output, channels: x.channels, height: x.height, width: x.width, scales: outputScales)
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
