/// Limits and policy for fetching; every number has a default here and a flag in the worker.
public struct FetchConfiguration: Sendable {
    public var connectTimeoutSeconds = 10
    /// Whole transfer, redirects included.
    public var totalTimeoutSeconds = 60
    /// A transfer slower than `lowSpeedBytesPerSecond` for `lowSpeedSeconds` is abandoned (stalled servers).
    public var lowSpeedBytesPerSecond = 1024
    public var lowSpeedSeconds = 10
    /// Bytes on the wire; a larger Content-Length is refused before the body is read.
    public var maxBodyBytes = 32 << 20
    /// Bytes after gzip/deflate decoding (compression bombs).
    public var maxDecodedBytes = 64 << 20
    public var maxRedirects = 5
    public var maxInFlight = 64
    public var maxConnectionsPerHost = 4
    /// Requests started per second to one host, across the whole worker (nil: no limit).
    public var perHostRequestsPerSecond: Double?
    /// A request that would wait longer than this for its host (a pause it asked for, or its rate) goes
    /// back to the queue instead, so jobs of other hosts are not held up behind it.
    public var longestHostWaitSeconds = 30.0
    /// Fetch each site's /robots.txt once (cached for a day) and skip what it disallows for `userAgent`.
    public var respectRobotsTxt = false
    /// Fetching from loopback, private, link-local, multicast or unspecified addresses is refused unless true.
    public var allowPrivateNetworks = false
    /// Addresses allowed even though private (tests, or one internal mirror), e.g. "127.0.0.1".
    public var allowedPrivateAddresses: Set<String> = []
    /// Names answered without DNS, as curl's `--resolve` takes them: "HOST:PORT:ADDRESS[,ADDRESS...]".
    public var pinnedAddresses: [String] = []
    /// An HTTP proxy every request goes through ("http://HOST:PORT"), or nil for direct connections (the
    /// environment's proxies are never used). Through a proxy each request is a CONNECT tunnel to an address
    /// the fetcher resolved and checked itself, and redirects are followed hop by hop, each checked again.
    public var proxy: String?
    /// Refuse responses carrying `X-Robots-Tag: noai` or `noimageai`.
    public var honourOptOut = true
    public var userAgent = FetchConfiguration.userAgent(version: "0.1.0")

    /// The default User-Agent: the product token robots.txt rules name, and where site owners read what
    /// it does and how to opt out.
    public static func userAgent(version: String) -> String {
        "xceptor/\(version) (image embedding worker; +https://github.com/xceptor/xceptor/blob/main/README.md#for-site-owners)"
    }

    public init() {}

    /// The longest the transfer thread's poll sleeps when nothing wakes it (curl's own timers, a new or
    /// finished transfer and a host's pacing all do). Tests stretch it to show that nothing waits for it.
    var idlePollMilliseconds: Int32 = 1000
}
