/// The importer's error type names a precision; the harness leaves oneDNN out, so it gets the enum alone.
public enum Precision: String, Sendable, CaseIterable {
    case fp32, bf16
}
