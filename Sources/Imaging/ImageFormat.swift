/// Image formats, recognised by their first bytes (never by the URL or the Content-Type).
public enum ImageFormat: String, Sendable {
    case jpeg = "JPEG"
    case png = "PNG"
    case gif = "GIF"
    case webp = "WebP"
    // Recognised so that the error names them, but not decoded (users are told to convert them).
    case bmp = "BMP"
    case tiff = "TIFF"
    case avif = "AVIF"
    case heic = "HEIC"
    case ico = "ICO"

    /// Whether this build decodes the format (the others are refused by name).
    public var isDecodable: Bool {
        switch self {
        case .jpeg, .png, .gif, .webp: return true
        case .bmp, .tiff, .avif, .heic, .ico: return false
        }
    }

    public static func sniff(_ bytes: [UInt8]) -> ImageFormat? {
        func starts(_ prefix: [UInt8], at offset: Int = 0) -> Bool {
            bytes.count >= offset + prefix.count && Array(bytes[offset..<offset + prefix.count]) == prefix
        }
        if starts([0xFF, 0xD8, 0xFF]) { return .jpeg }
        if starts([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        if starts(Array("GIF87a".utf8)) || starts(Array("GIF89a".utf8)) { return .gif }
        if starts(Array("RIFF".utf8)), starts(Array("WEBP".utf8), at: 8) { return .webp }
        if starts(Array("BM".utf8)), bytes.count >= 26 { return .bmp }
        if starts([0x49, 0x49, 0x2A, 0x00]) || starts([0x4D, 0x4D, 0x00, 0x2A]) { return .tiff }
        // ISO base media files: a "ftyp" box first, whose major brand names the kind.
        if starts(Array("ftyp".utf8), at: 4), bytes.count >= 12 {
            switch String(decoding: bytes[8..<12], as: UTF8.self) {
            case "avif", "avis": return .avif
            case "heic", "heix", "heim", "heis", "hevc", "hevx", "mif1", "msf1": return .heic
            default: return nil
            }
        }
        if starts([0x00, 0x00, 0x01, 0x00]), bytes.count >= 6, bytes[4] != 0 || bytes[5] != 0 { return .ico }
        return nil
    }
}
