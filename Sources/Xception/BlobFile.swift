import Foundation

/// The layout xceptor's two binary files share (the model file and the packed weights beside it), little-
/// endian: an 8-byte magic, a UInt32 format version, a UInt32 length of the JSON description that
/// follows, a UInt64 checksum of every byte after these 24, the JSON (padded with spaces to fill its
/// slot), then the blobs, each 64-byte aligned, at offsets the JSON gives from the start of the file.
enum BlobFile {
    static let fixedHeaderSize = 24
    static let alignment = 64

    /// Why bytes are not a readable file of the kind asked for.
    enum Problem: Error {
        case foreign
        case version(UInt32)
        case checksum
        case description
    }

    /// Lays out blobs of `sizes` bytes after the JSON that `describe` makes from their offsets, has `fill`
    /// write each into its place, and returns the fixed header and everything after it. The JSON's length
    /// depends on the offsets and the offsets on its length, so its slot is sized from `describe([])` plus
    /// `bytesPerEntry` for each blob's entry (plus room to spare), and the JSON is padded to fill it.
    static func encode(
        magic: [UInt8], version: UInt32, sizes: [Int], bytesPerEntry: Int, describe: ([Int]) throws -> Data,
        fill: (Int, UnsafeMutableRawBufferPointer) -> Void
    ) throws -> (header: [UInt8], body: [UInt8]) {
        let dataStart = align(fixedHeaderSize + (try describe([])).count + sizes.count * bytesPerEntry + 4096)
        var offsets: [Int] = []
        var end = dataStart
        for size in sizes {
            offsets.append(end)
            end = align(end + size)
        }
        var json = try describe(offsets)
        guard fixedHeaderSize + json.count <= dataStart else { throw ModelError.backend("a file header overflowed its slot") }
        json.append(contentsOf: [UInt8](repeating: 0x20, count: dataStart - fixedHeaderSize - json.count))

        var body = [UInt8](repeating: 0, count: end - fixedHeaderSize)
        body.replaceSubrange(0..<json.count, with: json)
        body.withUnsafeMutableBytes { body in
            for (index, offset) in offsets.enumerated() {
                fill(
                    index, UnsafeMutableRawBufferPointer(rebasing: body[offset - fixedHeaderSize..<offset - fixedHeaderSize + sizes[index]])
                )
            }
        }
        var header = magic
        withUnsafeBytes(of: version.littleEndian) { header += $0 }
        withUnsafeBytes(of: UInt32(json.count).littleEndian) { header += $0 }
        withUnsafeBytes(of: body.withUnsafeBytes { checksum($0) }.littleEndian) { header += $0 }
        return (header, body)
    }

    /// Writes `header` then `body` to `path` through a temporary file beside it and a rename, so a reader
    /// (or a process that maps the old file) never sees half a file.
    static func write(header: [UInt8], body: [UInt8], to path: String) throws {
        let temporary = "\(path).\(getpid()).\(UUID().uuidString).tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: nil), let handle = FileHandle(forWritingAtPath: temporary) else {
            throw ModelError.unreadable(path: path, reason: "could not write it (cannot create \(temporary) beside it)")
        }
        defer { try? FileManager.default.removeItem(atPath: temporary) }
        do {
            try handle.write(contentsOf: Data(header))
            try body.withUnsafeBytes {
                try handle.write(
                    contentsOf: Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: $0.baseAddress!), count: $0.count, deallocator: .none))
            }
            try handle.close()
        } catch {
            try? handle.close()
            throw ModelError.unreadable(path: path, reason: "could not write it (\(error.localizedDescription))")
        }
        guard rename(temporary, path) == 0 else {
            throw ModelError.unreadable(path: path, reason: "could not move \(temporary) over it (\(String(cString: strerror(errno))))")
        }
    }

    /// The JSON description of `bytes`, once the magic, version (one of `versions`) and checksum are checked.
    static func description(of bytes: UnsafeRawBufferPointer, magic: [UInt8], versions: ClosedRange<UInt32>) throws(Problem) -> Data {
        guard bytes.count >= fixedHeaderSize, Array(bytes[0..<8]) == magic else { throw .foreign }
        let found = bytes.loadUnaligned(fromByteOffset: 8, as: UInt32.self).littleEndian
        guard versions.contains(found) else { throw .version(found) }
        let jsonLength = Int(bytes.loadUnaligned(fromByteOffset: 12, as: UInt32.self).littleEndian)
        let stored = bytes.loadUnaligned(fromByteOffset: 16, as: UInt64.self).littleEndian
        guard checksum(UnsafeRawBufferPointer(rebasing: bytes[fixedHeaderSize...])) == stored else { throw .checksum }
        guard fixedHeaderSize + jsonLength <= bytes.count else { throw .description }
        return Data(bytes[fixedHeaderSize..<fixedHeaderSize + jsonLength])
    }

    static func align(_ value: Int) -> Int { (value + alignment - 1) / alignment * alignment }

    /// FNV-1a over 64-bit words (and the tail bytes): fast enough to check 90 MB at load, and it catches
    /// truncation and corruption, which is all it is for (it is not a cryptographic signature).
    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        let words = bytes.count / 8
        for index in 0..<words {
            hash = (hash ^ bytes.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self)) &* 0x0000_0100_0000_01B3
        }
        for index in words * 8..<bytes.count {
            hash = (hash ^ UInt64(bytes[index])) &* 0x0000_0100_0000_01B3
        }
        return hash
    }
}
