import Foundation
import Testing

@testable import Xception

/// Each oneDNN operator the plan uses, against a plain Swift reference on fresh random data of odd sizes.
@Suite("Operators against plain references")
struct OperatorTests {
    /// Fresh data every run; the seed is in every failure message so a failure can be replayed.
    struct Data {
        var seed = UInt64.random(in: 0...UInt64.max)
        private var generator: SplitMix

        init() { generator = SplitMix(seed: seed) }

        mutating func values(_ count: Int, scale: Float = 1) -> [Float] {
            (0..<count).map { _ in (Float(generator.next() % 2001) / 1000 - 1) * scale }
        }
    }

    struct SplitMix {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// NHWC tensor shape.
    struct Shape {
        var batch, height, width, channels: Int
        var count: Int { batch * height * width * channels }
    }

    static func write(_ values: [Float], into tensor: DNNLTensor) {
        values.withUnsafeBytes { tensor.dataPointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    }

    static func read(_ tensor: DNNLTensor, count: Int) -> [Float] {
        Array(UnsafeBufferPointer(start: tensor.dataPointer.assumingMemoryBound(to: Float.self), count: count))
    }

    static func expectClose(_ ours: [Float], _ reference: [Float], seed: UInt64, _ what: String) {
        #expect(ours.count == reference.count, "\(what): \(ours.count) values, expected \(reference.count)")
        let worst = zip(ours, reference).enumerated().map {
            ($0.offset, abs($0.element.0 - $0.element.1) - (1e-5 + 1e-5 * abs($0.element.1)))
        }
        .max { $0.1 < $1.1 }
        #expect((worst?.1 ?? 0) <= 0, "\(what) (seed \(seed)): value \(worst?.0 ?? -1) off by \(worst?.1 ?? 0) beyond tolerance")
    }

    /// Reference convolution, NHWC in and out, OIHW kernel, symmetric zero padding.
    static func referenceConvolution(
        _ input: [Float], _ shape: Shape, kernel: [Float], bias: [Float], outputChannels: Int,
        size k: Int, stride: Int, padding: Int
    ) -> (values: [Float], shape: Shape) {
        let outH = (shape.height + 2 * padding - k) / stride + 1
        let outW = (shape.width + 2 * padding - k) / stride + 1
        let out = Shape(batch: shape.batch, height: outH, width: outW, channels: outputChannels)
        var values = [Float](repeating: 0, count: out.count)
        for n in 0..<shape.batch {
            for oy in 0..<outH {
                for ox in 0..<outW {
                    for o in 0..<outputChannels {
                        var sum = Double(bias[o])
                        for ky in 0..<k {
                            for kx in 0..<k {
                                let (y, x) = (oy * stride + ky - padding, ox * stride + kx - padding)
                                guard y >= 0, y < shape.height, x >= 0, x < shape.width else { continue }
                                for i in 0..<shape.channels {
                                    sum +=
                                        Double(input[((n * shape.height + y) * shape.width + x) * shape.channels + i])
                                        * Double(kernel[((o * shape.channels + i) * k + ky) * k + kx])
                                }
                            }
                        }
                        values[((n * outH + oy) * outW + ox) * outputChannels + o] = Float(sum)
                    }
                }
            }
        }
        return (values, out)
    }

    @Test(
        "convolutions: 3x3 stride 2 and 1 valid, 1x1 stride 1 and 2; bias, with and without ReLU",
        arguments: [(3, 2, true), (3, 1, false), (1, 1, true), (1, 2, false)])
    func convolution(size k: Int, stride: Int, relu: Bool) throws {
        var data = Data()
        let shape = Shape(batch: 2, height: 11, width: 13, channels: 5)
        let outputChannels = 7
        let input = data.values(shape.count)
        let kernel = data.values(outputChannels * shape.channels * k * k, scale: 0.5)
        let bias = data.values(outputChannels)

        let builder = PlanBuilder(batch: shape.batch, context: try DNNLContext())
        let x = try builder.input(channels: shape.channels, height: shape.height, width: shape.width)
        let weights = FoldedConvolution(
            outputChannels: outputChannels, inputChannels: shape.channels, kernelSize: k, kernel: WeightValues(kernel), bias: bias)
        let y = try builder.convolution(x, weights, name: "test", stride: stride, padding: 0, relu: relu)
        let output = try builder.output(y)
        Self.write(input, into: x.tensor)
        try builder.run()

        var (reference, outShape) = Self.referenceConvolution(
            input, shape, kernel: kernel, bias: bias, outputChannels: outputChannels,
            size: k, stride: stride, padding: 0)
        if relu { reference = reference.map { max(0, $0) } }
        #expect((y.height, y.width) == (outShape.height, outShape.width))
        Self.expectClose(Self.read(output, count: outShape.count), reference, seed: data.seed, "\(k)x\(k)/\(stride) convolution")
    }

    @Test("a convolution with a sum post-op adds the destination's previous contents (the residual)")
    func convolutionAccumulates() throws {
        var data = Data()
        let shape = Shape(batch: 3, height: 9, width: 7, channels: 6)
        let outputChannels = 10
        let input = data.values(shape.count)
        let kernel = data.values(outputChannels * shape.channels, scale: 0.5)
        let bias = data.values(outputChannels)
        let outShape = Shape(batch: 3, height: 5, width: 4, channels: outputChannels)
        let residual = data.values(outShape.count)

        let builder = PlanBuilder(batch: shape.batch, context: try DNNLContext())
        let x = try builder.input(channels: shape.channels, height: shape.height, width: shape.width)
        let target = try builder.input(channels: outputChannels, height: outShape.height, width: outShape.width)
        let weights = FoldedConvolution(
            outputChannels: outputChannels, inputChannels: shape.channels, kernelSize: 1, kernel: WeightValues(kernel), bias: bias)
        let y = try builder.convolution(x, weights, name: "test", stride: 2, padding: 0, relu: false, accumulateInto: target)
        Self.write(input, into: x.tensor)
        Self.write(residual, into: target.tensor)
        try builder.run()

        let convolved = Self.referenceConvolution(
            input, shape, kernel: kernel, bias: bias, outputChannels: outputChannels,
            size: 1, stride: 2, padding: 0
        ).values
        Self.expectClose(
            Self.read(y.tensor, count: outShape.count), zip(convolved, residual).map(+), seed: data.seed, "1x1/2 convolution + sum")
    }

    @Test("depthwise 3x3 convolution, stride 1, same padding")
    func depthwise() throws {
        var data = Data()
        let shape = Shape(batch: 2, height: 10, width: 7, channels: 9)
        let input = data.values(shape.count)
        let kernel = data.values(shape.channels * 9)

        let builder = PlanBuilder(batch: shape.batch, context: try DNNLContext())
        let x = try builder.input(channels: shape.channels, height: shape.height, width: shape.width)
        let output = try builder.output(try builder.depthwise(x, WeightValues(kernel), name: "test"))
        Self.write(input, into: x.tensor)
        try builder.run()

        var reference = [Float](repeating: 0, count: shape.count)
        for n in 0..<shape.batch {
            for y in 0..<shape.height {
                for x in 0..<shape.width {
                    for c in 0..<shape.channels {
                        var sum: Float = 0
                        for ky in 0..<3 {
                            for kx in 0..<3 {
                                let (iy, ix) = (y + ky - 1, x + kx - 1)
                                guard iy >= 0, iy < shape.height, ix >= 0, ix < shape.width else { continue }
                                sum +=
                                    input[((n * shape.height + iy) * shape.width + ix) * shape.channels + c] * kernel[c * 9 + ky * 3 + kx]
                            }
                        }
                        reference[((n * shape.height + y) * shape.width + x) * shape.channels + c] = sum
                    }
                }
            }
        }
        Self.expectClose(Self.read(output, count: shape.count), reference, seed: data.seed, "depthwise")
    }

    @Test("ReLU")
    func relu() throws {
        var data = Data()
        let shape = Shape(batch: 2, height: 5, width: 3, channels: 11)
        let input = data.values(shape.count)
        let builder = PlanBuilder(batch: shape.batch, context: try DNNLContext())
        let x = try builder.input(channels: shape.channels, height: shape.height, width: shape.width)
        let output = try builder.output(try builder.relu(x, layer: "relu"))
        Self.write(input, into: x.tensor)
        try builder.run()
        Self.expectClose(Self.read(output, count: shape.count), input.map { max(0, $0) }, seed: data.seed, "ReLU")
        #expect(Self.read(x.tensor, count: shape.count) == input, "ReLU must leave its input intact for the shortcut")
    }

    @Test("3x3/2 max pool with TensorFlow's 'same' padding, on even and odd sizes", arguments: [(8, 8), (9, 7), (5, 6)])
    func maxPool(height: Int, width: Int) throws {
        var data = Data()
        let shape = Shape(batch: 2, height: height, width: width, channels: 4)
        let input = data.values(shape.count)
        let builder = PlanBuilder(batch: shape.batch, context: try DNNLContext())
        let x = try builder.input(channels: shape.channels, height: shape.height, width: shape.width)
        let y = try builder.maxPool(x, layer: "pool")
        let output = try builder.output(y)
        Self.write(input, into: x.tensor)
        try builder.run()

        let (outH, outW) = ((height + 1) / 2, (width + 1) / 2)
        let (padTop, padLeft) = (max(0, (outH - 1) * 2 + 3 - height) / 2, max(0, (outW - 1) * 2 + 3 - width) / 2)
        var reference: [Float] = []
        for n in 0..<shape.batch {
            for oy in 0..<outH {
                for ox in 0..<outW {
                    for c in 0..<shape.channels {
                        var best = -Float.infinity
                        for ky in 0..<3 {
                            for kx in 0..<3 {
                                let (iy, ix) = (oy * 2 + ky - padTop, ox * 2 + kx - padLeft)
                                guard iy >= 0, iy < height, ix >= 0, ix < width else { continue }  // padding never wins
                                best = max(best, input[((n * height + iy) * width + ix) * shape.channels + c])
                            }
                        }
                        reference.append(best)
                    }
                }
            }
        }
        #expect((y.height, y.width) == (outH, outW))
        Self.expectClose(Self.read(output, count: reference.count), reference, seed: data.seed, "max pool \(height)x\(width)")
    }

    @Test("global average and max pools to a plain [batch][channels] matrix", arguments: [false, true])
    func globalPool(maximum: Bool) throws {
        var data = Data()
        let shape = Shape(batch: 3, height: 5, width: 3, channels: 13)
        let input = data.values(shape.count)
        let builder = PlanBuilder(batch: shape.batch, context: try DNNLContext())
        let x = try builder.input(channels: shape.channels, height: shape.height, width: shape.width)
        let output = try builder.globalPool(x, maximum: maximum)
        Self.write(input, into: x.tensor)
        try builder.run()

        var reference = [Float](repeating: 0, count: shape.batch * shape.channels)
        for n in 0..<shape.batch {
            for c in 0..<shape.channels {
                let values = (0..<(shape.height * shape.width)).map {
                    Double(input[(n * shape.height * shape.width + $0) * shape.channels + c])
                }
                reference[n * shape.channels + c] = Float(maximum ? values.max()! : values.reduce(0, +) / Double(values.count))
            }
        }
        Self.expectClose(
            Self.read(output, count: reference.count), reference, seed: data.seed, maximum ? "global max pool" : "global average pool")
    }
}
