import Foundation

/// Defaults shared by the store, the CLI and the worker; one place for each number.
public enum QueueDefaults {
    /// Attempts before a job with transient failures is declared dead.
    public static let maxAttempts = 5
    /// How long a claimed job stays leased without a heartbeat.
    public static let leaseSeconds = 120.0
    /// Longest a URL may be, in bytes (longer ones are refused at enqueue).
    public static let maxURLBytes = 4096
    /// How long a writer waits for another process's write lock before giving up, in milliseconds.
    public static let busyTimeoutMilliseconds = 10_000
}

/// How long to wait before retrying a job after a transient failure: exponential, capped, with jitter so
/// that jobs failed together (a server that went down) do not all come back in the same instant.
public struct RetryPolicy: Sendable, Equatable {
    /// Delay after the first failed attempt.
    public var baseDelaySeconds: Double
    /// Each further failed attempt multiplies the delay by this.
    public var multiplier: Double
    /// The delay never exceeds this (before jitter).
    public var maxDelaySeconds: Double
    /// The delay is spread uniformly over ±this fraction of itself.
    public var jitterFraction: Double
    /// A server's Retry-After is honoured up to this.
    public var maxRetryAfterSeconds: Double

    public init(
        baseDelaySeconds: Double = 30, multiplier: Double = 2, maxDelaySeconds: Double = 3600,
        jitterFraction: Double = 0.2, maxRetryAfterSeconds: Double = 86_400
    ) {
        self.baseDelaySeconds = baseDelaySeconds
        self.multiplier = multiplier
        self.maxDelaySeconds = maxDelaySeconds
        self.jitterFraction = jitterFraction
        self.maxRetryAfterSeconds = maxRetryAfterSeconds
    }

    /// The delay before the next attempt after `failedAttempts` attempts have failed.
    /// - Parameter unitRandom: a number in [0, 1); 0.5 means no jitter.
    public func delaySeconds(afterFailedAttempts failedAttempts: Int, retryAfterSeconds: Double? = nil, unitRandom: Double) -> Double {
        let exponent = Double(max(0, failedAttempts - 1))
        let backoff = min(maxDelaySeconds, baseDelaySeconds * pow(multiplier, exponent))
        let jittered = backoff * (1 + jitterFraction * (2 * unitRandom - 1))
        guard let retryAfterSeconds, retryAfterSeconds > jittered else { return jittered }
        return min(retryAfterSeconds, maxRetryAfterSeconds)
    }
}

/// Settings of a job store.
public struct QueueConfiguration: Sendable {
    public var retryPolicy: RetryPolicy
    public var busyTimeoutMilliseconds: Int
    public var clock: any QueueClock
    /// Source of jitter in [0, 1); injectable so tests can pin it.
    public var unitRandom: @Sendable () -> Double

    public init(
        retryPolicy: RetryPolicy = RetryPolicy(),
        busyTimeoutMilliseconds: Int = QueueDefaults.busyTimeoutMilliseconds,
        clock: any QueueClock = SystemClock(),
        unitRandom: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }
    ) {
        self.retryPolicy = retryPolicy
        self.busyTimeoutMilliseconds = busyTimeoutMilliseconds
        self.clock = clock
        self.unitRandom = unitRandom
    }
}
