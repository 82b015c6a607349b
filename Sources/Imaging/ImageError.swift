/// Why bytes could not become an image. Each says what was wrong; none of them is worth retrying.
public enum ImageError: Error, Equatable, CustomStringConvertible {
    case empty
    case unrecognizedFormat(firstBytes: String)
    case unsupportedFormat(String)
    case tooManyPixels(width: Int, height: Int, limit: Int)
    case corrupt(format: String, reason: String)

    public var description: String {
        switch self {
        case .empty:
            return "the file is empty (0 bytes)"
        case let .unrecognizedFormat(firstBytes):
            return "not an image: the bytes do not start like JPEG, PNG, GIF or WebP (first bytes: \(firstBytes))"
        case let .unsupportedFormat(format):
            return "\(format) images cannot be decoded; convert them to JPEG, PNG, WebP or GIF"
        case let .tooManyPixels(width, height, limit):
            return "the image claims \(width)x\(height) pixels, over the limit of \(limit / 1_000_000) megapixels; refused before decoding"
        case let .corrupt(format, reason):
            return "corrupt or truncated \(format): \(reason)"
        }
    }
}
