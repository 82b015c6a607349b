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
        try requireRange("--fetch-concurrency", fetchConcurrency, 1...4096)
        try requireRange("--per-host-connections", perHostConnections, 1...1024)
        try requireRange("--connect-timeout", connectTimeout, 1...3600)
        try requireRange("--fetch-timeout", fetchTimeout, 1...86_400)
        try requireRange("--max-body-bytes", maxBodyBytes, 1...(1 << 34))
        try requireRange("--max-decoded-bytes", maxDecodedBytes, 1...(1 << 36))
        try requireRange("--max-redirects", maxRedirects, 0...50)
        try requireRange("--low-speed-bytes", lowSpeedBytes, 0...(1 << 40))
        try requireRange("--low-speed-seconds", lowSpeedSeconds, 0...86_400)
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
