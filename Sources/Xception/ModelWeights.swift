/// A convolution with batch norm folded in: `kernel` in OIHW order ([out][in][kh][kw]) and a bias.
public struct FoldedConvolution: Sendable, Equatable {
    public var outputChannels: Int
    public var inputChannels: Int
    public var kernelSize: Int
    public var kernel: WeightValues
    public var bias: [Float]
}

/// A fully connected layer: `kernel` is [input][output] (Keras' layout), then bias, then the activation.
public struct DenseLayer: Sendable, Equatable {
    public enum Activation: String, Sendable { case linear, relu, softmax }

    public var inputWidth: Int
    public var outputWidth: Int
    public var kernel: [Float]
    public var bias: [Float]
    public var activation: Activation
}

/// Everything inference needs, framework-free: the Xception base with batch norms folded, the head, the
/// label names and the input size the head was trained at.
public struct ModelWeights: Sendable, Equatable {
    /// Stem convolutions, pointwise halves of the separable convolutions and the shortcut convolutions,
    /// by Keras name ("block1_conv1", "block4_sepconv2", "block4_shortcut").
    public var convolutions: [String: FoldedConvolution]
    /// Depthwise 3x3 kernels of the separable convolutions, [channel][kh][kw], by Keras name.
    public var depthwise: [String: WeightValues]
    public var head: [DenseLayer]
    public var labels: [String]
    public var inputSize: Int
    /// How the last feature map becomes the 2048-d embedding the head reads.
    public var pooling: Pooling = .average
    /// int8 scales and accuracy gate, once `model calibrate` has measured them; nil before.
    public var calibration: Calibration? = nil

    /// Keras's global pooling after the base: `pooling="avg"` (and every full Xception), or `pooling="max"`.
    public enum Pooling: String, Sendable {
        case average = "avg"
        case maximum = "max"
    }

    /// Parameters in the network (after folding), for `model info`.
    public var parameterCount: Int {
        convolutions.values.reduce(0) { $0 + $1.kernel.count + $1.bias.count }
            + depthwise.values.reduce(0) { $0 + $1.count }
            + head.reduce(0) { $0 + $1.kernel.count + $1.bias.count }
    }
}
