import Foundation

/// Which IP addresses may be connected to. Checked on the address actually being connected to, so a
/// DNS name resolving to a private address, or a redirect to one, is refused too.
enum AddressPolicy {
    /// Loopback, private (RFC 1918, unique local), link-local, multicast, unspecified, CGNAT and the other
    /// special-purpose ranges a public image URL has no business pointing at.
    static func isPrivate(ipv4 bytes: [UInt8]) -> Bool {
        let (a, b) = (bytes[0], bytes[1])
        return a == 0 || a == 10 || a == 127 || (a == 100 && (64...127).contains(b)) || (a == 169 && b == 254)
            || (a == 172 && (16...31).contains(b)) || (a == 192 && b == 168) || (a == 192 && b == 0 && bytes[2] == 0)
            || (a == 198 && (b == 18 || b == 19)) || a >= 224
    }

    static func isPrivate(ipv6 bytes: [UInt8]) -> Bool {
        if bytes.allSatisfy({ $0 == 0 }) { return true }  // ::
        if bytes[0..<15].allSatisfy({ $0 == 0 }) && bytes[15] == 1 { return true }  // ::1
        if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF {
            return isPrivate(ipv4: Array(bytes[12..<16]))  // IPv4-mapped
        }
        if bytes[0] == 0x64 && bytes[1] == 0xFF && bytes[2] == 0x9B { return isPrivate(ipv4: Array(bytes[12..<16])) }  // NAT64
        return bytes[0] == 0xFF || (bytes[0] & 0xFE) == 0xFC || (bytes[0] == 0xFE && (bytes[1] & 0xC0) == 0x80)
    }
}
