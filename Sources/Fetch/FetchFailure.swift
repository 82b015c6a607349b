/// Why a fetch failed, classified for the queue: transient failures are worth retrying later.
public struct FetchFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: String, Sendable {
        case httpStatus, timeout, stalled, connection, dns, privateAddress, badScheme, tooManyRedirects
        case tooLarge, decodedTooLarge, truncated, optOut, tls, badEncoding, invalidURL, other
    }

    public var reason: Reason
    public var message: String
    public var isTransient: Bool
    public var httpStatus: Int?
    public var retryAfterSeconds: Double?

    public var description: String { message }
}
