import CDNNL

/// The number format of the network's activations and weights. fp32 matches the Keras reference to
/// about 1e-5; bf16 halves the bytes every layer moves and, on CPUs with bf16 instructions (AVX512_BF16,
/// AMX), doubles the arithmetic rate, at about three significant digits per value; int8 quarters the bytes
/// and, on CPUs with VNNI, multiplies four times as many values per instruction as fp32, with scales the
/// model file's calibration measured (and an accuracy gate it passed). Biases, the pooled embedding and the
/// head stay fp32 in every format.
public enum Precision: String, Sendable, CaseIterable {
    case fp32, bf16, int8

    var dataType: dnnl_data_type_t {
        switch self {
        case .fp32: return dnnl_f32
        case .bf16: return dnnl_bf16
        // Of the layers an int8 plan keeps float: bf16 where the CPU computes it natively (at about a tenth
        // of int8's error), else fp32.
        case .int8: return Self.cpuComputesBF16 ? dnnl_bf16 : dnnl_f32
        }
    }

    /// Whether this CPU runs this format, and runs it well enough to be worth asking for: bf16 where it has
    /// bf16 instructions (AVX512_BF16 or AMX; on plain AVX-512 oneDNN emulates bf16, its depthwise
    /// convolutions in reference loops, and a batch took 35 times fp32's time), int8 wherever oneDNN has int8
    /// kernels (AVX2 and later; with VNNI's dot products where the CPU has them), not in its reference loops.
    func isSupported(context: DNNLContext) -> Bool {
        switch self {
        case .fp32: return true
        case .bf16:
            guard Self.cpuComputesBF16, let kernel = try? PlanBuilder.probeConvolution(dataType: dnnl_bf16, context: context) else {
                return false
            }
            return !kernel.hasPrefix("ref")
        case .int8:
            guard let kernel = try? PlanBuilder.probeConvolution(dataType: dnnl_u8, context: context) else { return false }
            return !kernel.hasPrefix("ref")
        }
    }

    /// Whether this CPU has bf16 instructions (AVX512_BF16 or AMX), which double the arithmetic rate.
    static var cpuComputesBF16: Bool { ["avx512_core_amx", "avx512_core_bf16"].contains(DNNL.instructionSetTag) }

    /// Whether this CPU has int8 dot-product instructions (AVX-512 VNNI, AVX-VNNI or AMX): where int8 runs
    /// at several times fp32's rate rather than about fp32's.
    static var cpuHasInt8DotProducts: Bool {
        ["avx512_core_amx", "avx512_core_bf16", "avx512_core_vnni", "avx2_vnni"].contains(DNNL.instructionSetTag)
    }

    /// What `auto` picks for a model: int8 where the model's int8 passed its accuracy gate and the CPU either
    /// has int8 dot products or, without them, ran int8 at least `int8Margin` times as fast as fp32 on a
    /// timed pair of layers just now; else bf16 where the CPU has bf16 instructions (AVX512_BF16 or AMX, which
    /// double the arithmetic rate); else fp32. With the reason, for logs.
    public static func automatic(for calibration: Calibration?) -> (precision: Precision, reason: String) {
        let cpu = DNNL.instructionSet
        var int8Note = ""
        switch calibration {
        case let calibration? where calibration.gate.passed:
            if cpuHasInt8DotProducts {
                return (.int8, "this CPU (\(cpu)) has int8 dot products and the model's int8 passed its accuracy gate")
            }
            if let context = try? DNNLContext(), Precision.int8.isSupported(context: context),
                let speedup = try? PlanBuilder.measuredInt8Speedup(context: context)
            {
                let measured = "int8 ran \(String(format: "%.2f", speedup))x as fast as fp32 on a timed pair of the network's layers"
                if speedup >= int8Margin {
                    return (
                        .int8, "this CPU (\(cpu)) has no int8 dot products, but \(measured), and the model's int8 passed its accuracy gate"
                    )
                }
                int8Note = "; without int8 dot products, \(measured) (int8 is picked from \(String(format: "%.2f", int8Margin))x)"
            }
        case .some: int8Note = "; the model's int8 failed its accuracy gate"
        case nil: int8Note = "; the model has no int8 calibration (run `xceptor model calibrate`)"
        }
        if cpuComputesBF16 {
            return (.bf16, "this CPU (\(cpu)) computes bf16 natively" + int8Note)
        }
        return (.fp32, "this CPU (\(cpu)) has no bf16 instructions" + int8Note)
    }

    /// How much faster int8 must run than fp32 on the timed layers for `auto` to pick it on a CPU without int8
    /// dot products: those layers are most of the network's time, but not all (the float blocks run the same
    /// in both), and a small lead could be the probe's noise.
    static let int8Margin = 1.2
}
