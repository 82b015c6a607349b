import Foundation
import Testing

@testable import Fetch

/// The address guard against IANA's IPv4 and IPv6 Special-Purpose Address Registries, transcribed here as
/// the registries print them (address block, "Globally Reachable"), independently of the guard's own byte
/// tables: for every block, its first, middle and last address.
@Suite("Special-purpose address registries")
struct SpecialPurposeRegistryTests {
    /// (block, globally reachable); "embedded" blocks carry an IPv4 address judged on its own.
    static let ipv4Registry: [(String, Bool)] = [
        ("0.0.0.0/8", false), ("0.0.0.0/32", false), ("10.0.0.0/8", false), ("100.64.0.0/10", false), ("127.0.0.0/8", false),
        ("169.254.0.0/16", false), ("172.16.0.0/12", false), ("192.0.0.0/24", false), ("192.0.0.0/29", false),
        ("192.0.0.8/32", false), ("192.0.0.9/32", true), ("192.0.0.10/32", true), ("192.0.0.170/32", false),
        ("192.0.0.171/32", false), ("192.0.2.0/24", false), ("192.31.196.0/24", true), ("192.52.193.0/24", true),
        ("192.88.99.0/24", false), ("192.168.0.0/16", false), ("192.175.48.0/24", true), ("198.18.0.0/15", false),
        ("198.51.100.0/24", false), ("203.0.113.0/24", false), ("240.0.0.0/4", false), ("255.255.255.255/32", false),
        // Not in the special-purpose registry, refused all the same: multicast.
        ("224.0.0.0/4", false),
    ]

    static let ipv6Registry: [(String, Bool?)] = [
        ("::1/128", false), ("::/128", false), ("::ffff:0:0/96", nil), ("64:ff9b::/96", nil), ("64:ff9b:1::/48", false),
        ("100::/64", false), ("100:0:0:1::/64", false), ("2001::/23", false), ("2001::/32", false),
        ("2001:1::1/128", true), ("2001:1::2/128", true), ("2001:1::3/128", true), ("2001:2::/48", false),
        ("2001:3::/32", true), ("2001:4:112::/48", true), ("2001:10::/28", false), ("2001:20::/28", true),
        ("2001:30::/28", true), ("2001:db8::/32", false), ("2002::/16", nil), ("2620:4f:8000::/48", true),
        ("3fff::/20", false), ("5f00::/16", false), ("fc00::/7", false), ("fe80::/10", false),
        // Refused all the same: multicast, deprecated site-local and IPv4-compatible addresses.
        ("ff00::/8", false), ("fec0::/10", false), ("::/96", false),
    ]

    /// Address bytes and prefix length of "ADDRESS/LENGTH".
    static func block(_ text: String) -> (bytes: [UInt8], length: Int) {
        let parts = text.split(separator: "/")
        let ipv6 = parts[0].contains(":")
        var bytes = [UInt8](repeating: 0, count: ipv6 ? 16 : 4)
        _ = bytes.withUnsafeMutableBytes { inet_pton(ipv6 ? AF_INET6 : AF_INET, String(parts[0]), $0.baseAddress) }
        return (bytes, Int(parts[1])!)
    }

    /// The block's first, middle and last addresses.
    static func samples(_ text: String) -> [[UInt8]] {
        let (bytes, length) = block(text)
        func filled(_ fill: (Int) -> Bool) -> [UInt8] {
            bytes.enumerated().map { index, byte in
                (0..<8).reduce(byte) { value, bit in
                    let position = index * 8 + bit
                    guard position >= length else { return value }
                    let mask = UInt8(0x80) >> bit
                    return fill(position) ? value | mask : value & ~mask
                }
            }
        }
        return [filled { _ in false }, filled { $0 == length }, filled { _ in true }]
    }

    /// What the registry says of `address`: its most specific block decides.
    static func expectedPrivate(_ address: [UInt8]) -> Bool {
        let registry: [(String, Bool?)] = address.count == 4 ? ipv4Registry.map { ($0.0, $0.1) } : ipv6Registry
        let holding = registry.filter { entry in
            let (prefix, length) = block(entry.0)
            return (0..<length).allSatisfy { bit in (address[bit / 8] ^ prefix[bit / 8]) & (UInt8(0x80) >> (bit % 8)) == 0 }
        }
        guard let decisive = holding.max(by: { block($0.0).length < block($1.0).length }) else { return false }
        if let reachable = decisive.1 { return !reachable }
        let offset = decisive.0.hasPrefix("2002:") ? 2 : 12
        return expectedPrivate(Array(address[offset..<offset + 4]))
    }

    @Test("IPv4: the first, middle and last address of every block is refused unless globally reachable")
    func ipv4() {
        for (text, _) in Self.ipv4Registry {
            for address in Self.samples(text) {
                #expect(AddressPolicy.isPrivate(ipv4: address) == Self.expectedPrivate(address), "\(text): \(address)")
            }
        }
        for publicAddress in [[8, 8, 8, 8], [151, 101, 1, 1], [1, 1, 1, 1]] as [[UInt8]] {
            #expect(!AddressPolicy.isPrivate(ipv4: publicAddress))
        }
    }

    @Test("IPv6: every block likewise; IPv4-mapped, NAT64 and 6to4 addresses are judged by the IPv4 address they carry")
    func ipv6() {
        for (text, _) in Self.ipv6Registry {
            for address in Self.samples(text) {
                #expect(AddressPolicy.isPrivate(ipv6: address) == Self.expectedPrivate(address), "\(text): \(address)")
            }
        }
        // NAT64 to a private and to a public IPv4 address (the check once compared the wrong bytes).
        #expect(AddressPolicy.isPrivate(ipv6: Self.block("64:ff9b::10.0.0.1/128").bytes))
        #expect(AddressPolicy.isPrivate(ipv6: Self.block("64:ff9b::127.0.0.1/128").bytes))
        #expect(!AddressPolicy.isPrivate(ipv6: Self.block("64:ff9b::8.8.8.8/128").bytes))
        #expect(AddressPolicy.isPrivate(ipv6: Self.block("2002:c0a8:0101::1/128").bytes), "6to4 of 192.168.1.1")
        #expect(!AddressPolicy.isPrivate(ipv6: Self.block("2606:4700::1111/128").bytes))
    }
}
