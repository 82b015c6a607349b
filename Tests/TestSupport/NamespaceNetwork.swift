import Foundation
import Synchronization

/// Hosts for a multi-host test on one machine: Linux network namespaces, each with its own network stack,
/// joined to the test's own namespace by a bridge. The test's side is `gateway`; a process started with
/// `launcher(host:)` sees only its namespace's interfaces and reaches the gateway over TCP, as another host
/// would. Needs root and iproute2: `make` throws when they are missing, so the caller can say so and fall back.
public final class NamespaceNetwork: Sendable {
    /// The test's own address on the bridge ("10.N.0.1").
    public let gateway: String
    /// The bridge's network, for a server's access rules ("10.N.0.0/16").
    public let subnet: String
    public let namespaces: [String]
    private let bridge: String

    public static func make(hosts: Int) throws -> NamespaceNetwork {
        guard getuid() == 0 else { throw TestServerError("network namespaces need root") }
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") || FileManager.default.isExecutableFile(atPath: "/sbin/ip")
        else { throw TestServerError("iproute2's ip is missing") }
        return try NamespaceNetwork(hosts: hosts)
    }

    private init(hosts: Int) throws {
        // Names of at most 15 characters, distinct per test process; a /16 that differs between processes.
        let tag = String(getpid() % 100_000)
        let octet = 200 + Int(getpid() % 50)
        bridge = "xcb\(tag)"
        gateway = "10.\(octet).0.1"
        subnet = "10.\(octet).0.0/16"
        namespaces = (0..<hosts).map { "xc\(tag)-\($0)" }
        Self.made.withLock { $0.append((bridge, namespaces)) }
        if Self.made.withLock({ $0.count }) == 1 { atexit { NamespaceNetwork.removeAll() } }
        try Self.ip(["link", "add", bridge, "type", "bridge"])
        try Self.ip(["addr", "add", "\(gateway)/16", "dev", bridge])
        try Self.ip(["link", "set", bridge, "up"])
        for (index, namespace) in namespaces.enumerated() {
            let outside = "xv\(tag)h\(index)", inside = "xv\(tag)n\(index)"
            try Self.ip(["netns", "add", namespace])
            try Self.ip(["link", "add", outside, "type", "veth", "peer", "name", inside])
            try Self.ip(["link", "set", inside, "netns", namespace])
            try Self.ip(["link", "set", outside, "master", bridge])
            try Self.ip(["link", "set", outside, "up"])
            try Self.ip(["-n", namespace, "addr", "add", "10.\(octet).0.\(10 + index)/16", "dev", inside])
            try Self.ip(["-n", namespace, "link", "set", inside, "up"])
            try Self.ip(["-n", namespace, "link", "set", "lo", "up"])
        }
    }

    /// The command prefix that runs a program on host `index`.
    public func launcher(host index: Int) -> [String] {
        [Self.ipPath, "netns", "exec", namespaces[index]]
    }

    /// Removes the namespaces and the bridge (the veth pairs go with them).
    public func remove() {
        for namespace in namespaces { try? Self.ip(["netns", "del", namespace]) }
        try? Self.ip(["link", "del", bridge])
        Self.made.withLock { $0.removeAll { $0.bridge == bridge } }
    }

    private static let made = Mutex<[(bridge: String, namespaces: [String])]>([])

    private static func removeAll() {
        for (bridge, namespaces) in made.withLock({ $0 }) {
            for namespace in namespaces { try? ip(["netns", "del", namespace]) }
            try? ip(["link", "del", bridge])
        }
    }

    private static var ipPath: String { FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") ? "/usr/sbin/ip" : "/sbin/ip" }

    private static func ip(_ arguments: [String]) throws {
        try PostgresTestServer.run(ipPath, arguments)
    }
}
