import CCurl
import Foundation

/// Turns libcurl's result and the HTTP status into success or a classified `FetchFailure`.
enum FetchClassifier {
    static func classify(code: CURLcode, status: Int, transfer: Transfer) -> Result<Void, FetchFailure> {
        let limits = transfer.configuration
        if let failure = transfer.failure { return .failure(failure) }  // a callback said why it aborted
        if code == CURLE_COULDNT_CONNECT, let refused = transfer.refusedAddress { return .failure(refused) }
        switch code {
        case CURLE_OK:
            break
        case CURLE_OPERATION_TIMEDOUT:
            let stalled = transfer.body.isEmpty && status != 0
            return .failure(
                FetchFailure(
                    reason: stalled ? .stalled : .timeout,
                    message: stalled
                        ? "the server sent headers, then no body for \(limits.lowSpeedSeconds) s"
                        : "timed out (connect \(limits.connectTimeoutSeconds) s, whole transfer \(limits.totalTimeoutSeconds) s, or slower than \(limits.lowSpeedBytesPerSecond) B/s for \(limits.lowSpeedSeconds) s)",
                    isTransient: true, httpStatus: status == 0 ? nil : status))
        case CURLE_COULDNT_RESOLVE_HOST:
            return .failure(FetchFailure(reason: .dns, message: "the host name did not resolve (DNS)", isTransient: true))
        case CURLE_COULDNT_CONNECT:
            return .failure(FetchFailure(reason: .connection, message: "could not connect to the server", isTransient: true))
        case CURLE_UNSUPPORTED_PROTOCOL:
            return .failure(FetchFailure(reason: .badScheme, message: "redirected to a URL that is not http or https", isTransient: false))
        case CURLE_TOO_MANY_REDIRECTS:
            return .failure(
                FetchFailure(reason: .tooManyRedirects, message: "more than \(limits.maxRedirects) redirects (a loop?)", isTransient: false)
            )
        case CURLE_FILESIZE_EXCEEDED:
            return .failure(
                FetchFailure(
                    reason: .tooLarge, message: "the server announced a body over \(limits.maxBodyBytes >> 20) MiB; not downloaded",
                    isTransient: false, httpStatus: status))
        case CURLE_PARTIAL_FILE:
            return .failure(
                FetchFailure(
                    reason: .truncated, message: "the connection closed before the announced Content-Length arrived",
                    isTransient: true, httpStatus: status))
        case CURLE_URL_MALFORMAT:
            return .failure(FetchFailure(reason: .invalidURL, message: "libcurl cannot parse the URL", isTransient: false))
        case CURLE_BAD_CONTENT_ENCODING:
            return .failure(
                FetchFailure(
                    reason: .badEncoding, message: "the body's Content-Encoding is corrupt", isTransient: false, httpStatus: status))
        case CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CONNECT_ERROR, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CACERT_BADFILE:
            return .failure(
                FetchFailure(reason: .tls, message: "TLS failed: \(String(cString: curl_easy_strerror(code)))", isTransient: false))
        default:
            return .failure(
                FetchFailure(
                    reason: .connection, message: "transfer failed: \(String(cString: curl_easy_strerror(code)))",
                    isTransient: true, httpStatus: status == 0 ? nil : status))
        }

        guard (200..<300).contains(status) else {
            let transient = status == 408 || status == 429 || status >= 500
            return .failure(
                FetchFailure(
                    reason: .httpStatus, message: "HTTP \(status)" + (reasonPhrases[status].map { " \($0)" } ?? ""),
                    isTransient: transient, httpStatus: status,
                    retryAfterSeconds: transient ? retryAfter(transfer.headers["retry-after"]) : nil))
        }
        if let optOut = optOut(transfer) { return .failure(optOut) }
        return .success(())
    }

    /// The refusal of a response whose X-Robots-Tag opts out of AI use (noai, noimageai), unless the
    /// configuration ignores it.
    static func optOut(_ transfer: Transfer) -> FetchFailure? {
        guard transfer.configuration.honourOptOut, let robots = transfer.headers["x-robots-tag"]?.lowercased(),
            robots.split(whereSeparator: { ",: ".contains($0) }).contains(where: { $0 == "noai" || $0 == "noimageai" })
        else { return nil }
        return FetchFailure(
            reason: .optOut, message: "the server opted out of AI use (X-Robots-Tag: \(robots)); not embedded",
            isTransient: false, httpStatus: transfer.status)
    }

    static let reasonPhrases = [
        400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 408: "Request Timeout",
        410: "Gone", 429: "Too Many Requests", 451: "Unavailable For Legal Reasons", 500: "Internal Server Error",
        502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
    ]

    /// Retry-After as seconds: a number, or an HTTP date.
    static func retryAfter(_ value: String?) -> Double? {
        guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        if let seconds = Double(value), seconds >= 0 { return seconds }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter.date(from: value).map { max(0, $0.timeIntervalSinceNow) }
    }
}
