import Testing

@testable import Fetch

@Suite("Private address ranges")
struct AddressPolicyTests {
    @Test(
        "IPv4: loopback, RFC 1918, link-local, CGNAT, multicast, unspecified are private; public addresses are not",
        arguments: [
            ([127, 0, 0, 1], true), ([10, 1, 2, 3], true), ([172, 16, 0, 1], true), ([172, 31, 255, 255], true),
            ([192, 168, 1, 1], true), ([169, 254, 169, 254], true), ([100, 64, 0, 1], true), ([0, 0, 0, 0], true),
            ([224, 0, 0, 1], true), ([255, 255, 255, 255], true), ([198, 18, 0, 1], true),
            ([8, 8, 8, 8], false), ([172, 32, 0, 1], false), ([100, 128, 0, 1], false), ([151, 101, 1, 1], false),
        ] as [([UInt8], Bool)])
    func ipv4(address: [UInt8], isPrivate: Bool) {
        #expect(AddressPolicy.isPrivate(ipv4: address) == isPrivate, "\(address)")
    }

    @Test("IPv6: ::1, ::, fc00::/7, fe80::/10, ff00::/8 and IPv4-mapped private addresses are private")
    func ipv6() {
        func v6(_ head: [UInt8], tail: [UInt8] = []) -> [UInt8] { head + [UInt8](repeating: 0, count: 16 - head.count - tail.count) + tail }
        #expect(AddressPolicy.isPrivate(ipv6: v6([], tail: [1])))
        #expect(AddressPolicy.isPrivate(ipv6: v6([])))
        #expect(AddressPolicy.isPrivate(ipv6: v6([0xFD, 0x12])))
        #expect(AddressPolicy.isPrivate(ipv6: v6([0xFE, 0x80])))
        #expect(AddressPolicy.isPrivate(ipv6: v6([0xFF, 0x02])))
        #expect(AddressPolicy.isPrivate(ipv6: v6([], tail: [0xFF, 0xFF, 10, 0, 0, 1])))
        #expect(!AddressPolicy.isPrivate(ipv6: v6([], tail: [0xFF, 0xFF, 8, 8, 8, 8])))
        #expect(!AddressPolicy.isPrivate(ipv6: v6([0x26, 0x06, 0x47, 0x00])))
    }
}
