import Foundation

/// Validation and normalisation of the URLs a job may fetch. Only absolute http(s) URLs with a host are
/// queued; the stored form is normalised (lower-case scheme and host, no default port, no fragment,
/// non-ASCII percent-encoded or punycoded), so one image is not queued twice under trivially different
/// spellings. Where the URL points (private networks) is the fetcher's business, checked at fetch time.
public enum JobURL {
    /// Why a URL was refused; `description` is the reason shown to people.
    public enum Rejection: Error, Equatable, CustomStringConvertible {
        case empty
        case tooLong(bytes: Int, limit: Int)
        case controlCharacter
        case missingScheme
        case unsupportedScheme(String)
        case missingHost
        case invalidPort
        case malformed
        case credentials

        public var description: String {
            switch self {
            case .empty: return "empty URL"
            case let .tooLong(bytes, limit): return "URL is \(bytes) bytes, over the \(limit / 1024) KiB limit"
            case .controlCharacter: return "URL contains a control character (tab, NUL, ...); percent-encode it"
            case .missingScheme: return "no scheme; only absolute http:// or https:// URLs can be fetched"
            case let .unsupportedScheme(scheme): return "scheme '\(scheme)' is not supported; only http and https URLs can be fetched"
            case .missingHost: return "no host; write the URL as http(s)://HOST/PATH"
            case .invalidPort: return "port is not a number between 1 and 65535"
            case .malformed: return "not a valid URL (RFC 3986)"
            case .credentials:
                return "URL carries credentials (user:password@), which would be stored and exported in clear text; "
                    + "serve the images without them, or from a location that needs none"
            }
        }
    }

    /// `text` without leading and trailing spaces and tabs. Foundation's `trimmingCharacters(in:)` goes
    /// through NSString and UTF-16 and was most of the cost of reading a 100k-line list.
    public static func trimmed(_ text: String) -> Substring {
        let isBlank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = text.firstIndex(where: { !isBlank($0) }) else { return "" }
        let last = text.lastIndex(where: { !isBlank($0) })!
        return text[first...last]
    }

    /// Returns the normalised URL, or why it cannot be queued.
    public static func normalize(_ raw: String, maxBytes: Int = QueueDefaults.maxURLBytes) -> Result<String, Rejection> {
        let text = String(trimmed(raw))
        if text.isEmpty { return .failure(.empty) }
        if text.utf8.count > maxBytes { return .failure(.tooLong(bytes: text.utf8.count, limit: maxBytes)) }
        if text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            return .failure(.controlCharacter)
        }
        guard let colon = text.firstIndex(of: ":"),
            text[..<colon].allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+-.".contains($0)) }),
            text[..<colon].first?.isLetter == true
        else { return .failure(.missingScheme) }
        let scheme = text[..<colon].lowercased()
        guard scheme == "http" || scheme == "https" else { return .failure(.unsupportedScheme(scheme)) }
        guard text[text.index(after: colon)...].hasPrefix("//") else { return .failure(.missingHost) }
        guard var components = URLComponents(string: text) else {
            return .failure(text.contains(where: { $0 == " " }) ? .malformed : Self.portOrMalformed(text))
        }
        guard let host = components.host, !host.isEmpty else { return .failure(.missingHost) }
        if let port = components.port, !(1...65535).contains(port) { return .failure(.invalidPort) }
        // Never stored: the queue, exports, logs and the search page would all show them.
        if components.percentEncodedUser != nil || components.percentEncodedPassword != nil { return .failure(.credentials) }

        components.scheme = scheme
        components.host = host.lowercased()
        if components.port == (scheme == "http" ? 80 : 443) { components.port = nil }
        components.fragment = nil
        if components.percentEncodedPath.isEmpty { components.percentEncodedPath = "/" }
        guard let normalized = components.string else { return .failure(.malformed) }
        if normalized.utf8.count > maxBytes { return .failure(.tooLong(bytes: normalized.utf8.count, limit: maxBytes)) }
        return .success(normalized)
    }

    /// URLComponents refuses a non-numeric port and a bad host alike; tell the two apart for the message.
    private static func portOrMalformed(_ text: String) -> Rejection {
        let afterScheme = text.split(separator: "/", maxSplits: 3, omittingEmptySubsequences: false)
        guard afterScheme.count > 2 else { return .malformed }
        let authority = afterScheme[2].split(separator: "@").last ?? ""
        if !authority.hasPrefix("["), let portStart = authority.lastIndex(of: ":"),
            !authority[authority.index(after: portStart)...].allSatisfy(\.isNumber)
        {
            return .invalidPort
        }
        return .malformed
    }
}
