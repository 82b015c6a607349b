import ArgumentParser
import Foundation
import Xception

/// What the command line takes for `--precision`: a number format, or `auto`.
enum PrecisionChoice: String, ExpressibleByArgument, CaseIterable {
    case fp32, bf16, int8, auto

    /// The precision to run `weights` in and, for `auto`, why.
    func resolve(for weights: ModelWeights) -> (precision: Precision, reason: String?) {
        switch self {
        case .fp32: return (.fp32, nil)
        case .bf16: return (.bf16, nil)
        case .int8: return (.int8, nil)
        case .auto:
            let picked = Precision.automatic(for: weights.calibration)
            return (picked.precision, "--precision auto chose \(picked.precision.rawValue): \(picked.reason)")
        }
    }
}

/// `--precision` for every command that runs the network, else `$XCEPTOR_PRECISION`, else fp32.
struct PrecisionOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Number format of activations and weights: fp32 (exact; runs everywhere), bf16 (needs bf16 instructions, AVX512_BF16 or AMX; about twice as fast), int8 (needs a model calibrated by 'xceptor model calibrate' whose int8 passed its accuracy gate; fastest where the CPU has VNNI) or auto (int8 where the model allows it and the CPU has VNNI or measures it faster, else bf16 where native, else fp32). Default: $XCEPTOR_PRECISION, else fp32.",
            valueName: "precision"))
    var precision: PrecisionChoice?

    /// The choice from the flag, else `$XCEPTOR_PRECISION`, else fp32; a bad `$XCEPTOR_PRECISION` is a usage error.
    func choice() throws -> PrecisionChoice {
        if let precision { return precision }
        guard let value = ProcessInfo.processInfo.environment["XCEPTOR_PRECISION"], !value.isEmpty else { return .fp32 }
        guard let parsed = PrecisionChoice(rawValue: value.lowercased()) else {
            throw ValidationError(
                "XCEPTOR_PRECISION must be fp32, bf16, int8 or auto, not \(FailureMessage.printable(String(value.prefix(40))))")
        }
        return parsed
    }
}
