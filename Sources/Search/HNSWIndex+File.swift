import FileMapping
import Foundation

/// The index on disk, beside the database it was built from: a fixed header, then the ids, the vectors,
/// each node's level, the bottom-level links and the upper-level links, all little-endian, each section
/// starting on a 64-byte boundary. `key` is the caller's bookmark (the last stored result indexed), and
/// `label` names what was indexed (the model id), so a stale or foreign index is recognised. Written to a
/// temporary file and renamed, so a reader never sees half an index.
///
/// Reading maps the file instead of copying it: the vectors and links are used where they lie, so opening
/// an index of 100k embeddings costs milliseconds, processes on one host share one copy in the page cache,
/// and a search keeps its snapshot even if `index update` renames a new file over it meanwhile.
extension HNSWIndex {
    static let magic = Array("XCPTHNS1".utf8)
    /// 2: sections aligned for mapping.
    static let formatVersion: UInt32 = 2
    static let sectionAlignment = 64
    /// Widest vectors an index file may hold.
    static let maximumDimensions = 1 << 16

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
            var written = 0
            func section(_ bytes: UnsafeRawBufferPointer) throws {
                let padding = (Self.sectionAlignment - written % Self.sectionAlignment) % Self.sectionAlignment
                try handle.write(contentsOf: Data(count: padding))
                try handle.write(contentsOf: bytes)
                written += padding + bytes.count
            }
            try header.withUnsafeBytes { try section($0) }
            try ids.withUnsafeBytes { try section($0) }
            try section(UnsafeRawBufferPointer(values.buffer))
            try levels.withUnsafeBytes { try section($0) }
            try section(UnsafeRawBufferPointer(bottomCounts.buffer))
            try section(UnsafeRawBufferPointer(bottomLinks.buffer))
            // Upper runs are stored in node order, as the file lists them.
            try section(UnsafeRawBufferPointer(upperSlots.buffer))
            try handle.synchronize()
            try handle.close()
            // rename(2) replaces the old file in one step.
            guard rename(temporary.path, url.path) == 0 else {
                throw CocoaError(
                    .fileWriteUnknown,
                    userInfo: [NSFilePathErrorKey: url.path, NSLocalizedDescriptionKey: String(cString: strerror(errno))])
            }
        } catch {
            try? handle.close()
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
    }

    /// The file mapped, or why it cannot be read.
    private static func map(_ url: URL) throws -> MappedFile {
        do {
            return try MappedFile(path: url.path)
        } catch {
            throw HNSWFileError.unreadable(path: url.path, reason: error.reason)
        }
    }

    /// The header alone (for status), without reading the rest.
    public static func header(of url: URL) throws -> FileHeader {
        var reader = try Reader(file: map(url), path: url.path)
        return try reader.header()
    }

    public static func read(from url: URL) throws -> (index: HNSWIndex, header: FileHeader) {
        var reader = try Reader(file: map(url), path: url.path)
        let header = try reader.header()
        let index = HNSWIndex(dimensions: header.dimensions, parameters: header.parameters)
        let count = header.count, m = header.parameters.m
        index.entryPoint = Int32(reader.entryPoint)
        index.ids = Array(try reader.section(Int64.self, count: count))
        index.values.useMapped(try reader.section(Float.self, count: count * header.dimensions), owner: reader.file)
        index.levels = Array(try reader.section(UInt8.self, count: count))
        index.bottomCounts.useMapped(try reader.section(UInt8.self, count: count), owner: reader.file)
        index.bottomLinks.useMapped(try reader.section(Int32.self, count: count * index.bottomCapacity), owner: reader.file)
        var upperRuns = 0
        index.upperStart = index.levels.map { level in
            defer { upperRuns += Int(level) }
            return level > 0 ? upperRuns * index.upperRun : -1
        }
        index.upperSlots.useMapped(try reader.section(Int32.self, count: upperRuns * index.upperRun), owner: reader.file)
        index.locks.append(repeating: 0, count: count)
        guard reader.offset == reader.file.bytes.count else {
            throw reader.damaged("it has \(reader.file.bytes.count - reader.offset) bytes too many")
        }

        // Counts must fit their slots and links must point at nodes on their layer, or a search would read out of
        // bounds.
        let valid = 0..<Int32(count)
        guard count == 0 || valid.contains(index.entryPoint) else { throw reader.damaged("its entry point is outside the index") }
        for node in 0..<count {
            guard Int(index.bottomCounts.pointer[node]) <= index.bottomCapacity else {
                throw reader.damaged("a link count is out of range")
            }
            for layer in 0...Int(index.levels[node]) {
                let run = layer == 0 ? nil : index.upperSlots.pointer + index.upperStart[node] + (layer - 1) * index.upperRun
                guard run.map({ (0...Int32(m)).contains($0.pointee) }) ?? true else { throw reader.damaged("a link count is out of range") }
                let (links, linkCount) = index.linkSlots(Int32(node), layer: layer)
                // A link on a layer must lead to a node that has that layer, or the walk reads its missing links.
                guard
                    UnsafeBufferPointer(start: links, count: linkCount).allSatisfy({
                        valid.contains($0) && Int(index.levels[Int($0)]) >= layer
                    })
                else {
                    throw reader.damaged("a link points outside the index")
                }
            }
        }
        return (index, header)
    }

    private struct Reader {
        let file: MappedFile
        let path: String
        var offset = 0
        var entryPoint: Int64 = -1

        func damaged(_ reason: String) -> HNSWFileError { .damaged(path: path, reason: reason) }

        mutating func integer<T: FixedWidthInteger>(_: T.Type) throws -> T {
            guard offset + MemoryLayout<T>.size <= file.bytes.count else { throw damaged("it ends early") }
            let value = file.bytes.loadUnaligned(fromByteOffset: offset, as: T.self)
            offset += MemoryLayout<T>.size
            return T(littleEndian: value)
        }

        mutating func bytes(_ count: Int) throws -> [UInt8] {
            guard count >= 0, offset + count <= file.bytes.count else { throw damaged("it ends early") }
            defer { offset += count }
            return Array(file.bytes[offset..<offset + count])
        }

        /// The next section, `count` values where they lie in the mapping (the file is little-endian, as are
        /// the CPUs Swift runs on).
        mutating func section<T>(_: T.Type, count: Int) throws -> UnsafeBufferPointer<T> {
            offset += (HNSWIndex.sectionAlignment - offset % HNSWIndex.sectionAlignment) % HNSWIndex.sectionAlignment
            let (bytes, overflow) = count.multipliedReportingOverflow(by: MemoryLayout<T>.stride)
            guard count >= 0, !overflow, offset <= file.bytes.count, bytes <= file.bytes.count - offset else {
                throw damaged("it ends early")
            }
            defer { offset += bytes }
            guard count > 0 else { return UnsafeBufferPointer(start: nil, count: 0) }
            return UnsafeRawBufferPointer(rebasing: file.bytes[offset..<offset + bytes]).bindMemory(to: T.self)
        }

        mutating func header() throws -> FileHeader {
            guard file.bytes.count >= 8, Array(file.bytes.prefix(8)) == HNSWIndex.magic else {
                throw HNSWFileError.notAnIndex(path: path)
            }
            offset = 8
            let version = try integer(UInt32.self)
            guard version == HNSWIndex.formatVersion else { throw HNSWFileError.version(path: path, found: version) }
            let dimensions = Int(try integer(UInt32.self))
            let m = Int(try integer(UInt32.self))
            let efConstruction = Int(try integer(UInt32.self))
            let storedCount = try integer(UInt64.self)
            entryPoint = try integer(Int64.self)
            let key = try integer(Int64.self)
            let labelLength = Int(try integer(UInt32.self))
            // Nodes are numbered in Int32, and every size below is a product of these: bounded here, none
            // of them can overflow.
            guard (1...HNSWIndex.maximumDimensions).contains(dimensions), (2...127).contains(m), (1...100_000).contains(efConstruction),
                labelLength < 4096, storedCount <= UInt64(Int32.max), (-1..<Int64(storedCount)).contains(entryPoint)
            else {
                throw damaged("its header is out of range")
            }
            let count = Int(storedCount)
            let label = String(decoding: try bytes(labelLength), as: UTF8.self)
            return FileHeader(
                label: label, key: key, count: count, dimensions: dimensions,
                parameters: Parameters(m: m, efConstruction: efConstruction))
        }
    }
}

/// Why an index file could not be used. Rebuilding the index from the store is always safe.
public enum HNSWFileError: Error, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case notAnIndex(path: String)
    case version(path: String, found: UInt32)
    case damaged(path: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason):
            return "cannot read the index \(path): \(reason)"
        case let .notAnIndex(path):
            return "\(path) is not an xceptor index"
        case let .version(path, found):
            return "\(path) is index format \(found), this xceptor reads \(HNSWIndex.formatVersion)"
        case let .damaged(path, reason):
            return "\(path) is damaged (\(reason))"
        }
    }
}
