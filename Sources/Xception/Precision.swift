import CDNNL

/// The number format of the network's activations and weights. fp32 matches the Keras reference to
/// about 1e-5; bf16 halves the bytes every layer moves and, on CPUs with bf16 instructions (AVX512_BF16,
/// AMX), doubles the arithmetic rate, at about three significant digits per value. Biases, the pooled
/// embedding and the head stay fp32 either way.
public enum Precision: String, Sendable, CaseIterable {
    case fp32, bf16

    var dataType: dnnl_data_type_t { self == .fp32 ? dnnl_f32 : dnnl_bf16 }

    /// Whether oneDNN has kernels for this format on this CPU: it builds bf16 convolutions on AVX-512
    /// (natively with AVX512_BF16 or AMX, emulated without) and none on AVX2.
    func isSupported(context: DNNLContext) -> Bool {
        guard self == .bf16 else { return true }
        return (try? PlanBuilder.probeConvolution(dataType: dataType, context: context)) != nil
    }

    /// What `auto` picks here: bf16 where the CPU has bf16 instructions (AVX512_BF16 or AMX, which double
    /// the arithmetic rate), else fp32 (bf16 emulated on plain AVX-512 is no faster). With the reason, for logs.
    public static func automatic() -> (precision: Precision, reason: String) {
        if ["avx512_core_amx", "avx512_core_bf16"].contains(DNNL.instructionSetTag) {
            return (.bf16, "this CPU (\(DNNL.instructionSet)) computes bf16 natively")
        }
        return (.fp32, "this CPU (\(DNNL.instructionSet)) has no bf16 instructions")
    }
}
