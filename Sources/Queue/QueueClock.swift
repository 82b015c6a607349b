import Foundation
import Synchronization

/// The store's notion of now; injected so that leases and backoff can be tested without sleeping.
public protocol QueueClock: Sendable {
    func now() -> Date
}

/// The wall clock. Leases compare wall-clock times across processes and hosts, so keep hosts in NTP sync.
public struct SystemClock: QueueClock {
    public init() {}
    public func now() -> Date { Date() }
}

/// A clock that moves only when told to (tests, simulations).
public final class ManualClock: QueueClock {
    private let current: Mutex<Date>

    public init(_ start: Date = Date(timeIntervalSince1970: 1_800_000_000)) {
        current = Mutex(start)
    }

    public func now() -> Date { current.withLock { $0 } }

    /// Moves the clock forward.
    public func advance(bySeconds seconds: Double) {
        current.withLock { $0 = $0.addingTimeInterval(seconds) }
    }
}

extension Date {
    /// The store keeps instants as integer milliseconds since the Unix epoch.
    public var storeMilliseconds: Int64 { Int64((timeIntervalSince1970 * 1000).rounded()) }

    public init(storeMilliseconds: Int64) {
        self.init(timeIntervalSince1970: Double(storeMilliseconds) / 1000)
    }
}
