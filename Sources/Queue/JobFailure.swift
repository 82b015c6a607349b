/// Why a leased job did not finish.
public struct JobFailure: Error, Sendable, Equatable {
    /// A short reason people can act on ("HTTP 404 Not Found", "not an image: HTML").
    public var message: String
    public var errorClass: ErrorClass
    public var httpStatus: Int?
    /// The server's Retry-After, honoured when longer than the backoff.
    public var retryAfterSeconds: Double?

    public init(message: String, errorClass: ErrorClass, httpStatus: Int? = nil, retryAfterSeconds: Double? = nil) {
        self.message = message
        self.errorClass = errorClass
        self.httpStatus = httpStatus
        self.retryAfterSeconds = retryAfterSeconds
    }
}
