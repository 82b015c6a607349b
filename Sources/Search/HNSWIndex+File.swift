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
            try ids.withUnsafeBytes { try handle.write(contentsOf: $0) }
            try handle.write(contentsOf: UnsafeRawBufferPointer(values.buffer))
            try handle.write(contentsOf: Data(levels))
            try handle.write(contentsOf: UnsafeRawBufferPointer(bottomCounts.buffer))
            try handle.write(contentsOf: UnsafeRawBufferPointer(bottomLinks.buffer))
            // Upper runs are stored in node order, as the file lists them.
            try handle.write(contentsOf: UnsafeRawBufferPointer(upperSlots.buffer))
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
        let count = header.count, m = header.parameters.m
        index.entryPoint = Int32(reader.entryPoint)
        index.ids = try reader.array(Int64.self, count: count)
        try reader.copy(count * header.dimensions, into: index.values)
        index.levels = try reader.array(UInt8.self, count: count)
        try reader.copy(count, into: index.bottomCounts)
        try reader.copy(count * index.bottomCapacity, into: index.bottomLinks)
        var upperRuns = 0
        index.upperStart = index.levels.map { level in
            defer { upperRuns += Int(level) }
            return level > 0 ? upperRuns * index.upperRun : -1
        }
        try reader.copy(upperRuns * index.upperRun, into: index.upperSlots)
        index.locks.append(repeating: 0, count: count)
        guard reader.offset == data.count else { throw reader.damaged("it has \(data.count - reader.offset) bytes too many") }

        // Counts must fit their slots and links must point at nodes, or a search would read out of bounds.
        let valid = 0..<Int32(count)
        guard count == 0 || valid.contains(index.entryPoint) else { throw reader.damaged("its entry point is outside the index") }
        for node in 0..<count {
            guard Int(index.bottomCounts.pointer[node]) <= index.bottomCapacity else { throw reader.damaged("a link count is out of range") }
            for layer in 0...Int(index.levels[node]) {
                let run = layer == 0 ? nil : index.upperSlots.pointer + index.upperStart[node] + (layer - 1) * index.upperRun
                guard run.map({ (0...Int32(m)).contains($0.pointee) }) ?? true else { throw reader.damaged("a link count is out of range") }
                let (links, linkCount) = index.linkSlots(Int32(node), layer: layer)
                guard UnsafeBufferPointer(start: links, count: linkCount).allSatisfy(valid.contains) else {
                    throw reader.damaged("a link points outside the index")
                }
            }
        }
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

        /// Appends the next `count` values to `storage`, copied as they lie (the file is little-endian, as
        /// are the CPUs Swift runs on here).
        mutating func copy<T>(_ count: Int, into storage: NodeStorage<T>) throws {
            let bytes = count * MemoryLayout<T>.stride
            guard count >= 0, offset + bytes <= data.count else { throw damaged("it ends early") }
            data.withUnsafeBytes { storage.append(raw: UnsafeRawBufferPointer(rebasing: $0[offset..<offset + bytes])) }
            offset += bytes
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
