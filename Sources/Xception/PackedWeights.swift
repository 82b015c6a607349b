import CDNNL
import FileMapping
import Foundation

/// Weights already packed for a layout, shared by every plan of a network: batches of 1 to 8 from the
/// engine each get a plan, and without sharing each would hold its own copy of the 84 MB of weights.
/// With a `PackedWeightFile`, packed weights come from that mapped file (shared by every process on the
/// host) and only what it lacks is packed here, to be saved for the next process.
final class PackedWeights {
    private var packed: [String: [DNNLTensor]] = [:]
    private let file: PackedWeightFile?
    /// Packed in this process (the file lacked them), and how many of them the last save wrote.
    private var packedHere: [(name: String, tensor: DNNLTensor)] = []
    private var savedCount = 0
    /// Tensors that are views of the file.
    private(set) var mappedCount = 0

    init(file: PackedWeightFile? = nil) {
        self.file = file
    }

    func lookup(_ key: String, layout: dnnl_memory_desc_t, context: DNNLContext) -> DNNLTensor? {
        if let held = packed[key]?.first(where: { $0.matches(layout) }) { return held }
        guard let mapped = try? file?.tensor(key, layout: layout, context: context) else { return nil }
        packed[key, default: []].append(mapped)
        mappedCount += 1
        return mapped
    }

    func store(_ tensor: DNNLTensor, for key: String) {
        packed[key, default: []].append(tensor)
        packedHere.append((key, tensor))
    }

    /// Packed tensors held (one per weight and layout).
    var count: Int { packed.values.reduce(0) { $0 + $1.count } }

    var hasUnsaved: Bool { packedHere.count > savedCount }

    /// Writes the file's tensors and those packed here into a new file at `store.path`. A failed write is
    /// not retried for the same tensors (the caller reports it once).
    func save(to store: PackedWeightStore) throws {
        defer { savedCount = packedHere.count }
        try PackedWeightFile.write(to: store.path, fingerprint: store.fingerprint, keeping: file, adding: packedHere)
    }
}

/// Where a network keeps its weights packed for this CPU's kernels between runs: a file beside the model,
/// one per instruction set (a model directory shared by different CPUs keeps one for each).
public struct PackedWeightStore: Sendable {
    public let path: String
    /// The model file's checksum: packed weights of other weights are never used.
    let fingerprint: String
    /// Told, in a sentence, when the file could not be written (each process then packs its own copy).
    let report: @Sendable (String) -> Void

    public init(modelPath: String, report: @escaping @Sendable (String) -> Void = { _ in }) throws {
        fingerprint = try ModelFile.fingerprint(modelPath)
        path = "\(modelPath).\(DNNL.instructionSetTag).packed"
        self.report = report
    }
}

/// Packed weights in a file, mapped read-only so that every process on a host reads one copy.
///
/// Layout: a `BlobFile` with the magic "XCPTPAK1", whose JSON gives the model's fingerprint, the oneDNN
/// build and CPU it was packed for, and per tensor its name, oneDNN memory descriptor, offset and length,
/// and whose blobs are the packed tensors. A file written for other weights, another oneDNN or CPU, or
/// damaged, is ignored and replaced.
final class PackedWeightFile {
    static let magic = Array("XCPTPAK1".utf8)
    static let formatVersion: UInt32 = 1

    private struct Description: Codable {
        struct Entry: Codable {
            var name: String
            var layout: Data  // the dnnl_memory_desc_t's bytes
            var offset: Int
            var bytes: Int
        }

        var fingerprint: String
        var library: String
        var entries: [Entry]
    }

    private let mapping: MappedFile
    private let entries: [String: [(layout: dnnl_memory_desc_t, offset: Int, bytes: Int)]]

    /// What a file must have been written for: this oneDNN, this CPU's kernels, this descriptor layout.
    private static var library: String {
        let version = dnnl_version().pointee
        return "oneDNN \(version.major).\(version.minor).\(version.patch) \(String(cString: version.hash)), \(DNNL.instructionSetTag), "
            + "descriptor \(MemoryLayout<dnnl_memory_desc_t>.size) bytes"
    }

    /// The file at `path` if it holds weights packed for `fingerprint` on this oneDNN and CPU, whole;
    /// nil if there is none or it does not.
    init?(path: String, fingerprint: String) {
        guard let mapping = try? MappedFile(path: path) else { return nil }
        let bytes = mapping.bytes
        guard let json = try? BlobFile.description(of: bytes, magic: Self.magic, versions: Self.formatVersion...Self.formatVersion),
            let description = try? JSONDecoder().decode(Description.self, from: json),
            description.fingerprint == fingerprint, description.library == Self.library
        else { return nil }
        var entries: [String: [(layout: dnnl_memory_desc_t, offset: Int, bytes: Int)]] = [:]
        // The entries come from the file: offsets and lengths are checked without overflow, and a stored
        // descriptor is only ever compared with one this process built (its counts checked first, as
        // oneDNN's comparison trusts them); the size is taken from the matching descriptor, at lookup.
        for entry in description.entries {
            let (end, overflow) = entry.offset.addingReportingOverflow(entry.bytes)
            guard entry.layout.count == MemoryLayout<dnnl_memory_desc_t>.size, entry.offset >= BlobFile.fixedHeaderSize + json.count,
                entry.offset % BlobFile.alignment == 0, entry.bytes >= 0, !overflow, end <= bytes.count
            else { return nil }
            let layout = entry.layout.withUnsafeBytes { $0.loadUnaligned(as: dnnl_memory_desc_t.self) }
            guard Self.countsInRange(layout) else { return nil }
            entries[entry.name, default: []].append((layout, entry.offset, entry.bytes))
        }
        self.mapping = mapping
        self.entries = entries
    }

    /// Whether a descriptor's dimension and block counts are within oneDNN's arrays.
    private static func countsInRange(_ layout: dnnl_memory_desc_t) -> Bool {
        let counts = 0...DNNL_MAX_NDIMS
        return counts.contains(layout.ndims)
            && (layout.format_kind != dnnl_blocked || counts.contains(layout.format_desc.blocking.inner_nblks))
    }

    /// The tensor `name` packed as `layout`, reading the mapped bytes in place; nil if the file lacks it.
    func tensor(_ name: String, layout: dnnl_memory_desc_t, context: DNNLContext) throws -> DNNLTensor? {
        var wanted = layout
        guard
            let entry = entries[name]?.first(where: { candidate in
                var stored = candidate.layout
                return dnnl_memory_desc_equal(&stored, &wanted) != 0
            }),
            dnnl_memory_desc_get_size(&wanted) == entry.bytes
        else { return nil }
        return try DNNLTensor(wanted, context: context, readOnly: mapping.bytes.baseAddress! + entry.offset, keepingAlive: mapping)
    }

    /// Writes `existing`'s tensors and `added` into a new file at `path`, replacing it in one rename, so a
    /// process that maps the old file keeps reading it whole.
    static func write(
        to path: String, fingerprint: String, keeping existing: PackedWeightFile?,
        adding added: [(name: String, tensor: DNNLTensor)]
    ) throws {
        var tensors: [(name: String, layout: dnnl_memory_desc_t, bytes: UnsafeRawBufferPointer)] = []
        for (name, stored) in existing?.entries ?? [:] {
            for entry in stored {
                tensors.append(
                    (
                        name, entry.layout,
                        UnsafeRawBufferPointer(rebasing: existing!.mapping.bytes[entry.offset..<entry.offset + entry.bytes])
                    ))
            }
        }
        for (name, tensor) in added {
            tensors.append((name, tensor.descriptor, UnsafeRawBufferPointer(start: tensor.dataPointer, count: tensor.byteCount)))
        }
        tensors.sort { $0.name < $1.name }

        let (header, body) = try BlobFile.encode(
            magic: magic, version: formatVersion, sizes: tensors.map(\.bytes.count), bytesPerEntry: 2048,
            describe: { offsets in
                let entries = zip(tensors, offsets).map { tensor, offset in
                    Description.Entry(
                        name: tensor.name, layout: withUnsafeBytes(of: tensor.layout) { Data($0) }, offset: offset,
                        bytes: tensor.bytes.count)
                }
                return try JSONEncoder().encode(Description(fingerprint: fingerprint, library: library, entries: entries))
            },
            fill: { index, destination in destination.copyMemory(from: tensors[index].bytes) })
        try BlobFile.write(header: header, body: body, to: path)
    }
}
