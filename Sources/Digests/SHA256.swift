import COpenSSL
import Foundation

/// SHA-256 through OpenSSL's libcrypto (hardware-accelerated where the CPU has SHA extensions).
public enum SHA256 {
    /// The 32-byte digest of `bytes`.
    public static func hash(_ bytes: some ContiguousBytes) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let status = bytes.withUnsafeBytes { input in
            EVP_Digest(input.baseAddress, input.count, &digest, &length, EVP_sha256(), nil)
        }
        precondition(status == 1 && length == 32, "OpenSSL's SHA-256 failed")
        return digest
    }

    /// The digest as 64 lower-case hex digits.
    public static func hex(_ bytes: some ContiguousBytes) -> String {
        hash(bytes).map { String(format: "%02x", $0) }.joined()
    }
}
