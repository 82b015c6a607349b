import ArgumentParser
import Foundation
import Xception

/// What the command line takes for `--precision`: a number format, or `auto`.
enum PrecisionChoice: String, ExpressibleByArgument, CaseIterable {
    case fp32, bf16, auto
}

/// `--precision` for every command that runs the network, else `$XCEPTOR_PRECISION`, else fp32.
struct PrecisionOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Number format of activations and weights: fp32 (exact; runs everywhere), bf16 (needs AVX-512; about twice as fast where the CPU has bf16 instructions) or auto (bf16 where the CPU computes it natively, else fp32). Default: $XCEPTOR_PRECISION, else fp32.",
            valueName: "precision"))
    var precision: PrecisionChoice?

    /// The precision to run in and, for `auto`, why; a bad `$XCEPTOR_PRECISION` is a usage error.
    func resolve() throws -> (precision: Precision, reason: String?) {
        let choice: PrecisionChoice
        if let precision {
            choice = precision
        } else if let value = ProcessInfo.processInfo.environment["XCEPTOR_PRECISION"], !value.isEmpty {
            guard let parsed = PrecisionChoice(rawValue: value.lowercased()) else {
                throw ValidationError(
                    "XCEPTOR_PRECISION must be fp32, bf16 or auto, not \(FailureMessage.printable(String(value.prefix(40))))")
            }
            choice = parsed
        } else {
            choice = .fp32
        }
        switch choice {
        case .fp32: return (.fp32, nil)
        case .bf16: return (.bf16, nil)
        case .auto:
            let picked = Precision.automatic()
            return (picked.precision, "--precision auto chose \(picked.precision.rawValue): \(picked.reason)")
        }
    }
}
