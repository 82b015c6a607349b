import ArgumentParser
import Fetch
import Foundation

/// Fetch limits and policy as flags; each default is `FetchConfiguration`'s.
struct FetchOptions: ParsableArguments {
    private static let defaults = FetchConfiguration()

    @Option(name: .long, help: "Transfers in flight at once.")
    var fetchConcurrency = defaults.maxInFlight

    @Option(name: .long, help: "Connections per host at once (politeness).")
    var perHostConnections = defaults.maxConnectionsPerHost

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Requests per second to any one host, across the whole worker; a host that answers 429 or 503 is paused for its Retry-After (default: no limit but --per-host-connections).",
            valueName: "rate"))
    var perHostRate: Double?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "The User-Agent sent, and the product token (its part before '/') that robots.txt rules are matched against (default: xceptor/VERSION with a URL for site owners).",
            valueName: "text"))
    var userAgent: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Fetch through this HTTP proxy (http://HOST:PORT). Each target is resolved and checked by the address guard here and the proxy's tunnel pinned to that address; redirects are checked hop by hop. Proxies in the environment are never used.",
            valueName: "url"))
    var proxy: String?

    @Flag(name: .long, help: "Fetch each site's /robots.txt first (once, cached for a day) and skip what it disallows for the user agent.")
    var respectRobotsTxt = false

    @Option(name: .long, help: "Seconds to establish a connection.")
    var connectTimeout = defaults.connectTimeoutSeconds

    @Option(name: .long, help: "Seconds for a whole transfer, redirects included.")
    var fetchTimeout = defaults.totalTimeoutSeconds

    @Option(name: .long, help: "Abandon a transfer slower than this many bytes/s for --low-speed-seconds (stalled servers).")
    var lowSpeedBytes = defaults.lowSpeedBytesPerSecond

    @Option(name: .long, help: "See --low-speed-bytes.")
    var lowSpeedSeconds = defaults.lowSpeedSeconds

    @Option(name: .long, help: "Largest body in bytes, as sent (a larger Content-Length is refused before reading).")
    var maxBodyBytes = defaults.maxBodyBytes

    @Option(name: .long, help: "Largest body in bytes after gzip/deflate decoding (compression bombs).")
    var maxDecodedBytes = defaults.maxDecodedBytes

    @Option(name: .long, help: "Redirects followed.")
    var maxRedirects = defaults.maxRedirects

    @Flag(name: .long, help: "Allow URLs on loopback, private, link-local and other non-public addresses (local tests and demos).")
    var allowPrivateNetworks = false

    @Flag(name: .long, help: "Embed images even when the server says X-Robots-Tag: noai or noimageai.")
    var ignoreOptOut = false

    func validate() throws {
        try requireRange("--fetch-concurrency", fetchConcurrency, 1...4096)
        try requireRange("--per-host-connections", perHostConnections, 1...1024)
        try requireRange("--connect-timeout", connectTimeout, 1...3600)
        try requireRange("--fetch-timeout", fetchTimeout, 1...86_400)
        try requireRange("--max-body-bytes", maxBodyBytes, 1...(1 << 34))
        try requireRange("--max-decoded-bytes", maxDecodedBytes, 1...(1 << 36))
        try requireRange("--max-redirects", maxRedirects, 0...50)
        try requireRange("--low-speed-bytes", lowSpeedBytes, 0...(1 << 40))
        try requireRange("--low-speed-seconds", lowSpeedSeconds, 0...86_400)
        if let proxy {
            let components = URLComponents(string: proxy)
            guard proxy.count <= 2048, proxy.unicodeScalars.allSatisfy({ (0x21...0x7E).contains($0.value) }),
                let scheme = components?.scheme?.lowercased(), scheme == "http" || scheme == "https", components?.host?.isEmpty == false
            else {
                throw ValidationError("--proxy must be an http:// or https:// URL of a proxy, such as http://127.0.0.1:3128")
            }
        }
        if let perHostRate { try requireRange("--per-host-rate", perHostRate, 0.001...10_000) }
        if let userAgent {
            // A header value: printable ASCII only (no line breaks to smuggle headers), and short.
            guard !userAgent.isEmpty, userAgent.count <= 256, userAgent.unicodeScalars.allSatisfy({ (0x20...0x7E).contains($0.value) }),
                userAgent.first != " "
            else {
                throw ValidationError("--user-agent must be 1-256 printable ASCII characters, starting with the product name")
            }
        }
    }

    var configuration: FetchConfiguration {
        var configuration = FetchConfiguration()
        configuration.maxInFlight = fetchConcurrency
        configuration.maxConnectionsPerHost = perHostConnections
        configuration.connectTimeoutSeconds = connectTimeout
        configuration.totalTimeoutSeconds = fetchTimeout
        configuration.lowSpeedBytesPerSecond = lowSpeedBytes
        configuration.lowSpeedSeconds = lowSpeedSeconds
        configuration.maxBodyBytes = maxBodyBytes
        configuration.maxDecodedBytes = maxDecodedBytes
        configuration.maxRedirects = maxRedirects
        configuration.allowPrivateNetworks = allowPrivateNetworks
        configuration.honourOptOut = !ignoreOptOut
        configuration.userAgent = userAgent ?? FetchConfiguration.userAgent(version: Xceptor.version)
        configuration.perHostRequestsPerSecond = perHostRate
        configuration.respectRobotsTxt = respectRobotsTxt
        configuration.proxy = proxy
        return configuration
    }
}
