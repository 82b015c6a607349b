import Foundation

/// tinyproxy (Debian's package) on a free loopback port, logging every request, for the tests of fetching
/// through a proxy. It stops when this object goes or this test process ends, however it ends: a shell
/// keeps it, and kills it (SIGKILL: it outlives SIGTERM) once its standard input, a pipe only this process
/// writes, closes.
public final class ProxyServer: @unchecked Sendable {
    public let port: Int
    public let log: URL
    private let process: Process
    private let lifeline = Pipe()

    public init() throws {
        let directory = try makeScratchDirectory("xceptor-proxy")
        log = directory.appendingPathComponent("tinyproxy.log")
        port = try PostgresTestServer.freePort()
        let configuration = directory.appendingPathComponent("tinyproxy.conf")
        // No Allow and no ConnectPort lines: every client on loopback, and tunnels to any port.
        try """
        Port \(port)
        Listen 127.0.0.1
        Timeout 30
        LogFile "\(log.path)"
        LogLevel Info
        MaxClients 50
        """.write(to: configuration, atomically: true, encoding: .utf8)
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = [
            "-c", "/usr/bin/tinyproxy -d -c \"$1\" & proxy=$!; cat >/dev/null; kill -KILL $proxy", "sh", configuration.path,
        ]
        process.standardInput = lifeline
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Ready once it accepts connections.
        for _ in 0..<100 {
            if Self.accepts(port) { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw CocoaError(
            .fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "tinyproxy did not start (scripts/install-deps.sh installs it)"])
    }

    deinit { try? lifeline.fileHandleForWriting.close() }

    public var url: String { "http://127.0.0.1:\(port)" }

    /// The tunnels it opened, as "HOST:PORT", from its log.
    public func tunnels() throws -> [String] {
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            guard let range = line.range(of: "): CONNECT ") else { return nil }
            return line[range.upperBound...].split(separator: " ").first.map(String.init)
        }
    }

    private static func accepts(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}
