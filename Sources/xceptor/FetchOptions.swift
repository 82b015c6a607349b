import ArgumentParser
import Fetch

/// Fetch limits and policy as flags; each default is `FetchConfiguration`'s.
struct FetchOptions: ParsableArguments {
    private static let defaults = FetchConfiguration()

    @Option(name: .long, help: "Transfers in flight at once.")
    var fetchConcurrency = defaults.maxInFlight

    @Option(name: .long, help: "Connections per host at once (politeness).")
    var perHostConnections = defaults.maxConnectionsPerHost

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
        for (name, value) in [
            ("--fetch-concurrency", fetchConcurrency), ("--per-host-connections", perHostConnections),
            ("--connect-timeout", connectTimeout), ("--fetch-timeout", fetchTimeout),
            ("--max-body-bytes", maxBodyBytes), ("--max-decoded-bytes", maxDecodedBytes),
        ] where value < 1 {
            throw ValidationError("\(name) must be at least 1, got \(value)")
        }
        guard maxRedirects >= 0, lowSpeedBytes >= 0, lowSpeedSeconds >= 0 else {
            throw ValidationError("--max-redirects, --low-speed-bytes and --low-speed-seconds cannot be negative")
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
        configuration.userAgent = "xceptor/\(Xceptor.version) (image embedding worker)"
        return configuration
    }
}
