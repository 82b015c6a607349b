/// Errors of model import and inference. Each says what went wrong and what to do about it.
public enum ModelError: Error, Equatable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case missingTensor(path: String, tensor: String)
    case shapeMismatch(tensor: String, expected: [Int], found: [Int])
    case unsupportedModel(path: String, reason: String)
    case inputTooSmall(size: Int, minimum: Int)
    case unsupportedPrecision(Precision, instructionSet: String)
    /// int8 was asked of a model file without calibration.
    case notCalibrated
    /// int8 was asked of a model whose int8 failed its accuracy gate (the figures).
    case failedAccuracyGate(String)
    case backend(String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason):
            return "cannot read the model file \(path): \(reason). Pass a Keras 3 .keras file or a Keras .h5 weights file."
        case let .missingTensor(path, tensor):
            return
                "\(path) has no tensor \(tensor); it is not an Xception model of the expected layout (keras.applications.Xception plus Dense layers)."
        case let .shapeMismatch(tensor, expected, found):
            return "tensor \(tensor) has shape \(found), expected \(expected); the file holds a different network."
        case let .unsupportedModel(path, reason):
            return "\(path) is not a model xceptor can import: \(reason)."
        case let .inputTooSmall(size, minimum):
            return "input size \(size) is too small; Xception needs at least \(minimum)x\(minimum) pixels."
        case let .unsupportedPrecision(precision, instructionSet) where precision == .int8:
            return
                "int8 inference needs a CPU with AVX2 or later (fast with VNNI: AVX-512 VNNI, AVX-VNNI or AMX), "
                + "and this CPU's kernels use \(instructionSet), where oneDNN has only slow reference loops for it; fp32 runs everywhere."
        case let .unsupportedPrecision(precision, instructionSet):
            return
                "\(precision.rawValue) inference needs a CPU with bf16 instructions (AVX512_BF16 or AMX), and this CPU's kernels use "
                + "\(instructionSet) (where oneDNN has no bf16 kernels, or emulates them far slower than fp32); fp32 runs everywhere."
        case .notCalibrated:
            return
                "the model file has no int8 calibration; run 'xceptor model calibrate' on it (with --images DIR of typical images), "
                + "or use --precision fp32, bf16 or auto."
        case let .failedAccuracyGate(figures):
            return
                "the model's int8 failed its accuracy gate (\(figures)), so it does not run in int8; calibrate again with more typical "
                + "images ('xceptor model calibrate --images DIR'), or use --precision fp32, bf16 or auto."
        case let .backend(message):
            return "inference backend error: \(message)"
        }
    }
}
