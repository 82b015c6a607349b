import CDNNL

/// The network compiled for one batch size and input size: oneDNN primitives in execution order, each
/// with the memories it reads and writes. Activations stay in the layouts oneDNN picks (blocked, for
/// AVX-512 / AVX2) from the first convolution to the global pool; bias, ReLU and residual additions are
/// fused into the convolutions as post-ops. Not thread-safe: one caller at a time.
final class InferencePlan {
    let batch: Int
    let size: Int
    private let context: DNNLContext
    private var steps: [(DNNLPrimitive, [(Int32, DNNLTensor)])] = []
    /// The input, NHWC float32 as the caller lays it out.
    let input: DNNLTensor
    /// The pooled embeddings, [batch][2048] float32.
    private(set) var pooled: DNNLTensor!

    /// A tensor with its logical NCHW dims, which layouts do not tell.
    private struct Activation {
        var tensor: DNNLTensor
        var channels: Int
        var height: Int
        var width: Int
    }

    init(weights: ModelWeights, batch: Int, size: Int, context: DNNLContext) throws {
        guard size >= Architecture.minimumInputSize else {
            throw ModelError.inputTooSmall(size: size, minimum: Architecture.minimumInputSize)
        }
        self.batch = batch
        self.size = size
        self.context = context
        input = try DNNLTensor(DNNL.descriptor([batch, 3, size, size], dnnl_nhwc), context: context)
        var x = Activation(tensor: input, channels: 3, height: size, width: size)

        for stem in Architecture.stem {
            x = try convolution(x, try Self.weights(weights, stem.name), stride: stem.stride, padding: 0, relu: true)
        }
        for block in Architecture.blocks {
            let blockInput = x
            var reluPending = block.reluBefore[0]
            for (index, _) in block.channels.enumerated() {
                let name = Architecture.separableName(block, index)
                if reluPending { x = try relu(x) }
                x = try depthwise(x, try Self.depthwise(weights, name))
                let isLast = index == block.channels.count - 1
                // Between two separable convolutions the pre-activation value is used by nothing else, so
                // the next ReLU is fused here; the block input, which the shortcut needs, is never.
                let fuseRelu = block.reluAfter || (!isLast && block.reluBefore[index + 1])
                reluPending = !isLast && block.reluBefore[index + 1] && !fuseRelu
                let pointwise = try Self.weights(weights, name)
                if isLast, block.shortcut == .identity {
                    // x + f(x), written over the block input, which nothing needs afterwards.
                    x = try convolution(x, pointwise, stride: 1, padding: 0, relu: false, accumulateInto: blockInput)
                } else {
                    x = try convolution(x, pointwise, stride: 1, padding: 0, relu: fuseRelu)
                }
            }
            if block.shortcut == .projection {
                x = try maxPool(x)
                let shortcut = try Self.weights(weights, Architecture.shortcutName(block))
                x = try convolution(blockInput, shortcut, stride: 2, padding: 0, relu: false, accumulateInto: x)
            }
        }
        pooled = try globalAveragePool(x)
    }

    /// Runs the network on the batch already written into `input`.
    func run() throws {
        for (primitive, arguments) in steps { try primitive.execute(arguments, context: context) }
        try DNNL.check(dnnl_stream_wait(context.stream), "waiting for the stream")
    }

    // MARK: Building blocks

    /// A convolution plus bias, then optionally the previous contents of `accumulateInto`, then ReLU.
    private func convolution(_ x: Activation, _ weights: FoldedConvolution, stride: Int, padding: Int, relu: Bool,
                             accumulateInto target: Activation? = nil) throws -> Activation {
        let k = weights.kernelSize
        let outHeight = (x.height + 2 * padding - k) / stride + 1
        let outWidth = (x.width + 2 * padding - k) / stride + 1
        var source = try DNNL.descriptor([batch, weights.inputChannels, x.height, x.width], dnnl_format_tag_any)
        var kernel = try DNNL.descriptor([weights.outputChannels, weights.inputChannels, k, k], dnnl_format_tag_any)
        var bias = try DNNL.descriptor([weights.outputChannels], dnnl_x)
        var destination = try target.map(\.tensor.descriptor)
            ?? DNNL.descriptor([batch, weights.outputChannels, outHeight, outWidth], dnnl_format_tag_any)
        var operation = dnnl_convolution_desc_t()
        let strides: [Int64] = [Int64(stride), Int64(stride)]
        let pads: [Int64] = [Int64(padding), Int64(padding)]
        try DNNL.check(dnnl_convolution_forward_desc_init(&operation, dnnl_forward_inference, dnnl_convolution_direct,
                                                          &source, &kernel, &bias, &destination, strides, pads, pads),
                       "describing a \(k)x\(k) convolution")
        let attributes = try DNNLAttributes(sum: target != nil, relu: relu)
        let primitive = try DNNLPrimitive(operation: &operation, attributes: attributes.attributes, context: context,
                                          what: "a \(k)x\(k) convolution")
        let output = try target?.tensor ?? DNNLTensor(primitive.layout(dnnl_query_dst_md), context: context)
        steps.append((primitive, [
            (DNNL_ARG_SRC, try conformed(x.tensor, to: primitive.layout(dnnl_query_src_md))),
            (DNNL_ARG_WEIGHTS, try constant(weights.kernel, dims: [weights.outputChannels, weights.inputChannels, k, k],
                                            tag: dnnl_oihw, as: primitive.layout(dnnl_query_weights_md))),
            (DNNL_ARG_BIAS, try constant(weights.bias, dims: [weights.outputChannels], tag: dnnl_x, as: bias)),
            (DNNL_ARG_DST, output),
        ]))
        return Activation(tensor: output, channels: weights.outputChannels, height: outHeight, width: outWidth)
    }

    /// A 3x3 depthwise convolution, stride 1, 'same' padding, no bias (its batch norm follows the pointwise half).
    private func depthwise(_ x: Activation, _ kernel: [Float]) throws -> Activation {
        var source = x.tensor.descriptor
        var weights = try DNNL.descriptor([x.channels, 1, 1, 3, 3], dnnl_format_tag_any)
        var destination = try DNNL.descriptor([batch, x.channels, x.height, x.width], dnnl_format_tag_any)
        var operation = dnnl_convolution_desc_t()
        let ones: [Int64] = [1, 1]
        try DNNL.check(dnnl_convolution_forward_desc_init(&operation, dnnl_forward_inference, dnnl_convolution_direct,
                                                          &source, &weights, nil, &destination, ones, ones, ones),
                       "describing a depthwise convolution")
        let primitive = try DNNLPrimitive(operation: &operation, attributes: nil, context: context, what: "a depthwise convolution")
        let output = try DNNLTensor(primitive.layout(dnnl_query_dst_md), context: context)
        steps.append((primitive, [
            (DNNL_ARG_SRC, try conformed(x.tensor, to: primitive.layout(dnnl_query_src_md))),
            (DNNL_ARG_WEIGHTS, try constant(kernel, dims: [x.channels, 1, 1, 3, 3], tag: dnnl_goihw,
                                            as: primitive.layout(dnnl_query_weights_md))),
            (DNNL_ARG_DST, output),
        ]))
        return Activation(tensor: output, channels: x.channels, height: x.height, width: x.width)
    }

    /// ReLU into a new tensor (the block input stays intact for the shortcut).
    private func relu(_ x: Activation) throws -> Activation {
        var data = x.tensor.descriptor
        var operation = dnnl_eltwise_desc_t()
        try DNNL.check(dnnl_eltwise_forward_desc_init(&operation, dnnl_forward_inference, dnnl_eltwise_relu, &data, 0, 0),
                       "describing a ReLU")
        let primitive = try DNNLPrimitive(operation: &operation, attributes: nil, context: context, what: "a ReLU")
        let output = try DNNLTensor(primitive.layout(dnnl_query_dst_md), context: context)
        steps.append((primitive, [(DNNL_ARG_SRC, x.tensor), (DNNL_ARG_DST, output)]))
        return Activation(tensor: output, channels: x.channels, height: x.height, width: x.width)
    }

    /// 3x3 max pool, stride 2, TensorFlow's 'same' padding (the extra row or column, if any, at the end).
    private func maxPool(_ x: Activation) throws -> Activation {
        let outHeight = (x.height + 1) / 2
        let outWidth = (x.width + 1) / 2
        let padBottom = max(0, (outHeight - 1) * 2 + 3 - x.height)
        let padRight = max(0, (outWidth - 1) * 2 + 3 - x.width)
        var source = x.tensor.descriptor
        var destination = try DNNL.descriptor([batch, x.channels, outHeight, outWidth], dnnl_format_tag_any)
        var operation = dnnl_pooling_v2_desc_t()
        let (strides, kernel, dilation): ([Int64], [Int64], [Int64]) = ([2, 2], [3, 3], [0, 0])
        let padLeft: [Int64] = [Int64(padBottom / 2), Int64(padRight / 2)]
        let padRightSide: [Int64] = [Int64(padBottom - padBottom / 2), Int64(padRight - padRight / 2)]
        try DNNL.check(dnnl_pooling_v2_forward_desc_init(&operation, dnnl_forward_inference, dnnl_pooling_max, &source,
                                                         &destination, strides, kernel, dilation, padLeft, padRightSide),
                       "describing a max pool")
        let primitive = try DNNLPrimitive(operation: &operation, attributes: nil, context: context, what: "a max pool")
        let output = try DNNLTensor(primitive.layout(dnnl_query_dst_md), context: context)
        steps.append((primitive, [(DNNL_ARG_SRC, x.tensor), (DNNL_ARG_DST, output)]))
        return Activation(tensor: output, channels: x.channels, height: outHeight, width: outWidth)
    }

    /// Mean over the whole grid, reordered to a plain [batch][channels] matrix.
    private func globalAveragePool(_ x: Activation) throws -> DNNLTensor {
        var source = x.tensor.descriptor
        var destination = try DNNL.descriptor([batch, x.channels, 1, 1], dnnl_format_tag_any)
        var operation = dnnl_pooling_v2_desc_t()
        let ones: [Int64] = [1, 1]
        let zeros: [Int64] = [0, 0]
        let kernel: [Int64] = [Int64(x.height), Int64(x.width)]
        try DNNL.check(dnnl_pooling_v2_forward_desc_init(&operation, dnnl_forward_inference, dnnl_pooling_avg_exclude_padding,
                                                         &source, &destination, ones, kernel, zeros, zeros, zeros),
                       "describing the global average pool")
        let primitive = try DNNLPrimitive(operation: &operation, attributes: nil, context: context, what: "the global average pool")
        let output = try DNNLTensor(primitive.layout(dnnl_query_dst_md), context: context)
        steps.append((primitive, [(DNNL_ARG_SRC, x.tensor), (DNNL_ARG_DST, output)]))
        return try conformed(output, to: DNNL.descriptor([batch, x.channels, 1, 1], dnnl_nchw))
    }

    // MARK: Memory

    /// `tensor` itself if it already has `layout`, else a reorder step into a new tensor that has.
    private func conformed(_ tensor: DNNLTensor, to layout: dnnl_memory_desc_t) throws -> DNNLTensor {
        if tensor.matches(layout) { return tensor }
        let output = try DNNLTensor(layout, context: context)
        let reorder = try DNNLPrimitive(reorderFrom: tensor.descriptor, to: layout, context: context)
        steps.append((reorder, [(DNNL_ARG_FROM, tensor), (DNNL_ARG_TO, output)]))
        return output
    }

    /// Weights written once, in the layout the primitive wants (reordered now, not at every run).
    private func constant(_ values: [Float], dims: [Int], tag: dnnl_format_tag_t, as layout: dnnl_memory_desc_t) throws -> DNNLTensor {
        let plain = try DNNLTensor(DNNL.descriptor(dims, tag), context: context)
        values.withUnsafeBytes { plain.dataPointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        if plain.matches(layout) { return plain }
        let packed = try DNNLTensor(layout, context: context)
        let reorder = try DNNLPrimitive(reorderFrom: plain.descriptor, to: layout, context: context)
        try reorder.execute([(DNNL_ARG_FROM, plain), (DNNL_ARG_TO, packed)], context: context)
        try DNNL.check(dnnl_stream_wait(context.stream), "packing weights")
        return packed
    }

    private static func weights(_ model: ModelWeights, _ name: String) throws -> FoldedConvolution {
        guard let weights = model.convolutions[name] else { throw ModelError.backend("no weights for \(name)") }
        return weights
    }

    private static func depthwise(_ model: ModelWeights, _ name: String) throws -> [Float] {
        guard let kernel = model.depthwise[name] else { throw ModelError.backend("no depthwise weights for \(name)") }
        return kernel
    }
}
