/// Politeness per host, kept by the transfer thread alone: how many transfers each host has open, when
/// the next may start (`--per-host-rate`), and until when the host asked to be left alone (429 or 503,
/// with or without Retry-After). Transfers that may not start yet stay in the fetcher's own queue, never
/// in libcurl's, so a pause holds back every request not yet on the wire.
struct HostPacing {
    struct Host {
        var open = 0
        var nextStart: ContinuousClock.Instant?
        var pausedUntil: ContinuousClock.Instant?
        /// 429/503 answers in a row, for the backoff when the server gives no Retry-After.
        var refusals = 0
    }

    enum Decision: Equatable {
        case start
        /// Not before this instant (nil: when one of the host's transfers ends).
        case wait(until: ContinuousClock.Instant?)
    }

    /// Longest pause a host gets, whatever its Retry-After says.
    static let longestPauseSeconds = 3600.0
    /// A server that refuses without Retry-After is left alone 1, 2, 4 ... up to this many seconds.
    static let longestBackoffSeconds = 60.0

    /// Time between two starts to one host. A little over 1/rate, so that a server counting requests in
    /// any second never sees more than `rate` of them, network jitter included.
    let interval: Duration?
    let maxOpen: Int
    private var hosts: [String: Host] = [:]
    private var lastForget = ContinuousClock.now

    init(requestsPerSecond: Double?, maxOpenPerHost: Int) {
        interval = requestsPerSecond.map { .seconds(1.05 / $0) }
        maxOpen = maxOpenPerHost
    }

    func decision(for host: String, now: ContinuousClock.Instant) -> Decision {
        guard let state = hosts[host] else { return .start }
        if let pausedUntil = state.pausedUntil, pausedUntil > now { return .wait(until: pausedUntil) }
        if state.open >= maxOpen { return .wait(until: nil) }
        if let nextStart = state.nextStart, nextStart > now { return .wait(until: nextStart) }
        return .start
    }

    /// Seconds the host has asked to be left alone from `now`, or 0.
    func pauseSeconds(for host: String, now: ContinuousClock.Instant) -> Double {
        guard let pausedUntil = hosts[host]?.pausedUntil, pausedUntil > now else { return 0 }
        return (pausedUntil - now).seconds
    }

    mutating func started(_ host: String, now: ContinuousClock.Instant) {
        hosts[host, default: Host()].open += 1
        if let interval { hosts[host]!.nextStart = now + interval }
    }

    /// A transfer to `host` ended with `status` (0 when no response came).
    mutating func finished(_ host: String, status: Int, retryAfterSeconds: Double?, now: ContinuousClock.Instant) {
        guard var state = hosts[host] else { return }
        state.open -= 1
        if status == 429 || status == 503 {
            state.refusals += 1
            let backoff = min(Self.longestBackoffSeconds, Double(1 << min(state.refusals - 1, 6)))
            let pause = min(Self.longestPauseSeconds, retryAfterSeconds ?? backoff)
            state.pausedUntil = max(state.pausedUntil ?? now, now + .seconds(pause))
        } else if (200..<400).contains(status) {
            state.refusals = 0
        }
        hosts[host] = state
    }

    /// Forgets hosts with nothing open and nothing pending in time, so a crawl over millions of hosts
    /// keeps only the busy ones (looked at once a second at most: the transfer thread calls this often).
    mutating func forgetIdle(now: ContinuousClock.Instant) {
        guard hosts.count > 4096, now - lastForget >= .seconds(1) else { return }
        lastForget = now
        hosts = hosts.filter { _, state in
            state.open > 0 || (state.pausedUntil.map { $0 > now } ?? false) || (state.nextStart.map { $0 > now } ?? false)
        }
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
