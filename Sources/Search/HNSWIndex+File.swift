import Foundation

/// The index on disk, beside the database it was built from: a fixed header, then the ids, the vectors,
/// each node's level, the bottom-level links and the upper-level links, all little-endian. `key` is the
/// caller's bookmark (the last stored result indexed), and `label` names what was indexed (the model id),
/// so a stale or foreign index is recognised. Written to a temporary file and renamed, so a reader never
/// sees half an index.
extension HNSWIndex {
    static let magic = Array("XCPTHNS1".utf8)
    static let formatVersion: UInt32 = 1

    public struct FileHeader: Sendable, Equatable {
        public var label: String
        public var key: Int64
        public var count: Int
        public var dimensions: Int
        public var parameters: Parameters
    }

    public func write(to url: URL, label: String, key: Int64) throws {
        var header = Self.magic
        func append<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { header += $0 } }
        let labelBytes = Array(label.utf8)
        append(Self.formatVersion)
        append(UInt32(dimensions))
        append(UInt32(parameters.m))
        append(UInt32(parameters.efConstruction))
        append(UInt64(count))
        append(Int64(entryPoint))
        append(key)
        append(UInt32(labelBytes.count))
        header += labelBytes

        let temporary = url.appendingPathExtension("partial-\(ProcessInfo.processInfo.processIdentifier)")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: temporary.path])
        }
        let handle = try FileHandle(forWritingTo: temporary)
        do {
            try handle.write(contentsOf: header)
            try ids.withUnsafeBytes { try handle.write(contentsOf: Data($0)) }
            try values.withUnsafeBytes { try handle.write(contentsOf: Data($0)) }
            try handle.write(contentsOf: Data(levels))
            try handle.write(contentsOf: Data(bottomCounts))
            try bottomLinks.withUnsafeBytes { try handle.write(contentsOf: Data($0)) }
            for node in 0..<count where levels[node] > 0 {
                for links in upperLinks[Int32(node)]! {
                    var slots = links + [Int32](repeating: -1, count: parameters.m - links.count)
                    slots.insert(Int32(links.count), at: 0)
                    try slots.withUnsafeBytes { try handle.write(contentsOf: Data($0)) }
                }
            }
            try handle.close()
            // rename(2) replaces the old file in one step.
            guard rename(temporary.path, url.path) == 0 else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: url.path, NSLocalizedDescriptionKey: String(cString: strerror(errno))])
            }
        } catch {
            try? handle.close()
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
    }

    /// The header alone (for status), without reading the rest.
    public static func header(of url: URL) throws -> FileHeader {
        let data = try Data(contentsOf: url, options: .alwaysMapped)
        var reader = Reader(data: data, path: url.path)
        return try reader.header()
    }

    public static func read(from url: URL) throws -> (index: HNSWIndex, header: FileHeader) {
        let data = try Data(contentsOf: url, options: .alwaysMapped)
        var reader = Reader(data: data, path: url.path)
        let header = try reader.header()
        let index = HNSWIndex(dimensions: header.dimensions, parameters: header.parameters)
        index.entryPoint = Int32(reader.entryPoint)
        index.ids = try reader.array(Int64.self, count: header.count)
        index.values = try reader.array(Float.self, count: header.count * header.dimensions)
        index.levels = try reader.array(UInt8.self, count: header.count)
        index.bottomCounts = try reader.array(UInt8.self, count: header.count)
        index.bottomLinks = try reader.array(Int32.self, count: header.count * index.bottomCapacity)
        for node in 0..<header.count where index.levels[node] > 0 {
            var layers: [[Int32]] = []
            for _ in 0..<Int(index.levels[node]) {
                let slots = try reader.array(Int32.self, count: header.parameters.m + 1)
                guard slots[0] >= 0, Int(slots[0]) <= header.parameters.m else { throw reader.damaged("a link count is out of range") }
                layers.append(Array(slots[1..<1 + Int(slots[0])]))
            }
            index.upperLinks[Int32(node)] = layers
        }
        guard reader.offset == data.count else { throw reader.damaged("it has \(data.count - reader.offset) bytes too many") }
        // Links must point at nodes, or a search would read out of bounds.
        let valid = 0..<Int32(header.count)
        guard header.count == 0 || valid.contains(index.entryPoint),
              (0..<header.count).allSatisfy({ node in index.neighbours(of: Int32(node), layer: 0).allSatisfy(valid.contains) }),
              index.upperLinks.values.allSatisfy({ $0.allSatisfy { $0.allSatisfy(valid.contains) } })
        else { throw reader.damaged("a link points outside the index") }
        return (index, header)
    }

    private struct Reader {
        let data: Data
        let path: String
        var offset = 0
        var entryPoint: Int64 = -1

        func damaged(_ reason: String) -> HNSWFileError { .damaged(path: path, reason: reason) }

        mutating func integer<T: FixedWidthInteger>(_: T.Type) throws -> T {
            guard offset + MemoryLayout<T>.size <= data.count else { throw damaged("it ends early") }
            let value = data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: T.self) }
            offset += MemoryLayout<T>.size
            return T(littleEndian: value)
        }

        mutating func array<T>(_: T.Type, count: Int) throws -> [T] {
            let bytes = count * MemoryLayout<T>.stride
            guard count >= 0, offset + bytes <= data.count else { throw damaged("it ends early") }
            let values = data[data.startIndex + offset..<data.startIndex + offset + bytes].withUnsafeBytes { raw in
                (0..<count).map { raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.stride, as: T.self) }
            }
            offset += bytes
            return values
        }

        mutating func header() throws -> FileHeader {
            guard data.count >= 8, Array(data.prefix(8)) == HNSWIndex.magic else {
                throw HNSWFileError.notAnIndex(path: path)
            }
            offset = 8
            let version = try integer(UInt32.self)
            guard version == HNSWIndex.formatVersion else { throw HNSWFileError.version(path: path, found: version) }
            let dimensions = Int(try integer(UInt32.self))
            let m = Int(try integer(UInt32.self))
            let efConstruction = Int(try integer(UInt32.self))
            let count = Int(try integer(UInt64.self))
            entryPoint = try integer(Int64.self)
            let key = try integer(Int64.self)
            let labelLength = Int(try integer(UInt32.self))
            guard dimensions > 0, (2...127).contains(m), efConstruction >= 1, labelLength < 4096 else { throw damaged("its header is out of range") }
            let label = String(decoding: try array(UInt8.self, count: labelLength), as: UTF8.self)
            return FileHeader(label: label, key: key, count: count, dimensions: dimensions,
                              parameters: Parameters(m: m, efConstruction: efConstruction))
        }
    }
}

/// Why an index file could not be used. Each says to rebuild it, which is always safe.
public enum HNSWFileError: Error, CustomStringConvertible {
    case notAnIndex(path: String)
    case version(path: String, found: UInt32)
    case damaged(path: String, reason: String)

    public var description: String {
        switch self {
        case let .notAnIndex(path):
            return "\(path) is not an xceptor index; move it away or run 'xceptor index build'"
        case let .version(path, found):
            return "\(path) is index format \(found), this xceptor reads \(HNSWIndex.formatVersion); run 'xceptor index build'"
        case let .damaged(path, reason):
            return "\(path) is damaged (\(reason)); run 'xceptor index build'"
        }
    }
}
