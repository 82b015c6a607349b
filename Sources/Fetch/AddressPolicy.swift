import Foundation

/// Which IP addresses may be connected to. Checked on the address actually being connected to, so a
/// DNS name resolving to a private address, or a redirect to one, is refused too.
///
/// The rule: every range of IANA's IPv4 and IPv6 Special-Purpose Address Registries is refused unless the
/// registry marks it globally reachable (the most specific range decides), and so are multicast,
/// reserved and deprecated ranges. Addresses that carry an IPv4 address (IPv4-mapped, NAT64's well-known
/// prefix, 6to4) are judged by that IPv4 address.
enum AddressPolicy {
    /// One registry range: a prefix, and what an address in it is.
    struct Range {
        enum Verdict {
            case refused, reachable
            /// Judged by the IPv4 address at these bytes of the IPv6 address.
            case embeddedIPv4(at: Int)
        }

        var prefix: [UInt8]
        var length: Int
        var verdict: Verdict

        func contains(_ address: [UInt8]) -> Bool {
            let whole = length / 8, rest = length % 8
            guard address[..<whole].elementsEqual(prefix[..<whole]) else { return false }
            guard rest > 0 else { return true }
            let mask = UInt8(0xFF) << (8 - rest)
            return address[whole] & mask == prefix[whole] & mask
        }
    }

    /// IANA's IPv4 Special-Purpose Address Registry (2024), with multicast and the limited broadcast.
    static let ipv4Ranges: [Range] = [
        v4([0, 0, 0, 0], 8, .refused),  // "this network"
        v4([10, 0, 0, 0], 8, .refused),  // private
        v4([100, 64, 0, 0], 10, .refused),  // shared address space (CGNAT)
        v4([127, 0, 0, 0], 8, .refused),  // loopback
        v4([169, 254, 0, 0], 16, .refused),  // link-local
        v4([172, 16, 0, 0], 12, .refused),  // private
        v4([192, 0, 0, 0], 24, .refused),  // IETF protocol assignments
        v4([192, 0, 0, 9], 32, .reachable),  // PCP anycast
        v4([192, 0, 0, 10], 32, .reachable),  // TURN anycast
        v4([192, 0, 2, 0], 24, .refused),  // documentation (TEST-NET-1)
        v4([192, 31, 196, 0], 24, .reachable),  // AS112-v4
        v4([192, 52, 193, 0], 24, .reachable),  // AMT
        v4([192, 88, 99, 0], 24, .refused),  // deprecated 6to4 relay anycast
        v4([192, 168, 0, 0], 16, .refused),  // private
        v4([192, 175, 48, 0], 24, .reachable),  // direct delegation AS112
        v4([198, 18, 0, 0], 15, .refused),  // benchmarking
        v4([198, 51, 100, 0], 24, .refused),  // documentation (TEST-NET-2)
        v4([203, 0, 113, 0], 24, .refused),  // documentation (TEST-NET-3)
        v4([224, 0, 0, 0], 4, .refused),  // multicast
        v4([240, 0, 0, 0], 4, .refused),  // reserved, and 255.255.255.255 (limited broadcast)
    ]

    /// IANA's IPv6 Special-Purpose Address Registry (2024), with multicast and the deprecated site-local
    /// and IPv4-compatible ranges.
    static let ipv6Ranges: [Range] = [
        v6([], 96, .refused),  // ::/96: unspecified, loopback, deprecated IPv4-compatible
        v6([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF], 96, .embeddedIPv4(at: 12)),  // IPv4-mapped
        v6([0, 0x64, 0xFF, 0x9B], 96, .embeddedIPv4(at: 12)),  // NAT64 well-known prefix
        v6([0, 0x64, 0xFF, 0x9B, 0, 1], 48, .refused),  // local-use IPv4/IPv6 translation
        v6([0x01, 0x00], 64, .refused),  // discard-only
        v6([0x01, 0x00, 0, 0, 0, 0, 0, 1], 64, .refused),  // dummy IPv6 prefix
        v6([0x20, 0x01], 23, .refused),  // IETF protocol assignments (Teredo, 2001::/32, among them)
        v6([0x20, 0x01, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 128, .reachable),  // PCP anycast
        v6([0x20, 0x01, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2], 128, .reachable),  // TURN anycast
        v6([0x20, 0x01, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3], 128, .reachable),  // DNS-SD SRP anycast
        v6([0x20, 0x01, 0, 2, 0, 0], 48, .refused),  // benchmarking
        v6([0x20, 0x01, 0, 3], 32, .reachable),  // AMT
        v6([0x20, 0x01, 0, 4, 1, 0x12], 48, .reachable),  // AS112-v6
        v6([0x20, 0x01, 0, 0x10], 28, .refused),  // deprecated ORCHID
        v6([0x20, 0x01, 0, 0x20], 28, .reachable),  // ORCHIDv2
        v6([0x20, 0x01, 0, 0x30], 28, .reachable),  // drone remote ID
        v6([0x20, 0x01, 0x0D, 0xB8], 32, .refused),  // documentation
        v6([0x20, 0x02], 16, .embeddedIPv4(at: 2)),  // 6to4
        v6([0x26, 0x20, 0, 0x4F, 0x80, 0], 48, .reachable),  // direct delegation AS112
        v6([0x3F, 0xFF], 20, .refused),  // documentation
        v6([0x5F, 0x00], 16, .refused),  // segment routing SIDs
        v6([0xFC], 7, .refused),  // unique local
        v6([0xFE, 0x80], 10, .refused),  // link-local
        v6([0xFE, 0xC0], 10, .refused),  // deprecated site-local
        v6([0xFF], 8, .refused),  // multicast
    ]

    static func isPrivate(ipv4 bytes: [UInt8]) -> Bool {
        guard bytes.count == 4 else { return true }
        if case .refused? = verdict(bytes, ipv4Ranges) { return true }
        return false
    }

    static func isPrivate(ipv6 bytes: [UInt8]) -> Bool {
        guard bytes.count == 16 else { return true }
        switch verdict(bytes, ipv6Ranges) {
        case nil, .reachable?: return false
        case .refused?: return true
        case let .embeddedIPv4(at)?: return isPrivate(ipv4: Array(bytes[at..<at + 4]))
        }
    }

    /// The verdict of the most specific range holding `address`, or nil when none does (a public address).
    static func verdict(_ address: [UInt8], _ ranges: [Range]) -> Range.Verdict? {
        ranges.filter { $0.contains(address) }.max { $0.length < $1.length }?.verdict
    }

    private static func v4(_ prefix: [UInt8], _ length: Int, _ verdict: Range.Verdict) -> Range {
        Range(prefix: prefix, length: length, verdict: verdict)
    }

    private static func v6(_ head: [UInt8], _ length: Int, _ verdict: Range.Verdict) -> Range {
        Range(prefix: head + [UInt8](repeating: 0, count: 16 - head.count), length: length, verdict: verdict)
    }

    /// The text and class of an IPv4 or IPv6 socket address of `family` (nil for other families): what the
    /// connect-time guard and the proxy's target check both judge.
    static func describe(family: Int32, _ socketAddress: UnsafeRawPointer) -> (text: String, isPrivate: Bool)? {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        switch family {
        case AF_INET:
            var ip = socketAddress.loadUnaligned(as: sockaddr_in.self).sin_addr
            inet_ntop(AF_INET, &ip, &text, socklen_t(text.count))
            return (String(cString: text), isPrivate(ipv4: withUnsafeBytes(of: &ip) { Array($0) }))
        case AF_INET6:
            var ip = socketAddress.loadUnaligned(as: sockaddr_in6.self).sin6_addr
            inet_ntop(AF_INET6, &ip, &text, socklen_t(text.count))
            return (String(cString: text), isPrivate(ipv6: withUnsafeBytes(of: &ip) { Array($0) }))
        default:
            return nil
        }
    }
}
