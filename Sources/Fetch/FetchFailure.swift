/// Why a fetch failed, classified for the queue: transient failures are worth retrying later.
public struct FetchFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: String, Sendable {
        case httpStatus, timeout, stalled, connection, dns, privateAddress, badScheme, tooManyRedirects
        case tooLarge, decodedTooLarge, truncated, optOut, tls, badEncoding, invalidURL, other
        /// The host asked for a pause (429, 503), or has more jobs waiting than its rate lets through soon.
        case hostBusy
        /// The site's robots.txt disallows the URL for this user agent, or could not be read.
        case robotsDisallowed, robotsUnavailable
    }

    public var reason: Reason
    public var message: String
    public var isTransient: Bool
    public var httpStatus: Int?
    public var retryAfterSeconds: Double?
    /// Set when the job is not at fault and should wait its turn in the queue this long, without an
    /// attempt counted (a host that asked for a pause).
    public var deferSeconds: Double? = nil

    public var description: String { message }
}
