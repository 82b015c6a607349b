import Foundation
import Queue
import Search

/// Every done job's result written for downstream use, in job order, a page at a time.
public struct ResultExport: Sendable {
    public enum Format: String, Sendable, CaseIterable {
        /// One JSON object per done job, with its embedding.
        case jsonl
        /// An n x d float32 matrix in NumPy's format, and NAME.jsonl beside it describing each row.
        case npy
    }

    public let search: SearchService
    public var format: Format
    /// Write unit-length embeddings (what cosine search uses) instead of the embeddings as computed.
    public var normalized: Bool

    public init(search: SearchService, format: Format, normalized: Bool = false) {
        self.search = search
        self.format = format
        self.normalized = normalized
    }

    /// What an export wrote.
    public struct Report: Sendable, Equatable, Encodable {
        public var model: String
        public var rows: Int
        public var files: [String]
    }

    /// Writes the export to `path` (jsonl: nil or "-" for standard output; npy: NAME.npy, with NAME.jsonl
    /// beside it). Files are written under a temporary name and renamed when complete, so an interrupted
    /// export leaves no partial file behind.
    public func write(to path: String?, modelID preferred: String? = nil) async throws -> Report {
        if format == .npy {
            guard let path, path.hasSuffix(".npy"), path.count > 4 else {
                throw RetrievalError.invalidRequest("an npy export needs a NAME.npy path (the labels and URLs go to NAME.jsonl beside it)")
            }
        }
        let modelID = try await search.model(preferred: preferred)
        let matrixPath = format == .npy ? path : nil
        let linesPath = format == .npy ? String(path!.dropLast(4)) + ".jsonl" : path
        let matrix = try matrixPath.map { try ExportFile(path: $0) }
        let lines: ExportFile
        do {
            lines = try ExportFile(path: linesPath)
        } catch {
            matrix?.discard()
            throw error
        }
        var after: JobID?, count = 0, dimensions: Int?
        do {
            while true {
                let page = try await search.store.resultRows(modelID: modelID, afterJobID: after, limit: 1000)
                guard let last = page.last else { break }
                for row in page {
                    let embedding = normalized ? VectorMatrix.normalized(row.embedding) : row.embedding
                    if let dimensions, dimensions != embedding.count {
                        throw RetrievalError.inconsistentEmbeddings(job: row.job.id, values: embedding.count, expected: dimensions)
                    }
                    dimensions = embedding.count
                    if let matrix {
                        if count == 0 { try matrix.write(Self.npyHeader(rows: 0, columns: embedding.count)) }
                        try embedding.withUnsafeBytes { try matrix.write(Data($0)) }
                        try lines.write(Self.jsonLine(row, embedding: nil))
                    } else {
                        try lines.write(Self.jsonLine(row, embedding: embedding))
                    }
                    count += 1
                }
                after = last.job.id
            }
            if let matrix {
                // The row count is known only now; the header keeps its length, so it is rewritten in place.
                try matrix.rewriteStart(Self.npyHeader(rows: count, columns: dimensions ?? 0))
                try matrix.commit()
            }
            try lines.commit()
        } catch {
            matrix?.discard()
            lines.discard()
            throw error
        }
        return Report(model: modelID, rows: count, files: [matrixPath, linesPath].compactMap { $0 }.filter { $0 != "-" })
    }

    /// One JSON object and a newline: {"job", "url", "sha256", "width", "height", "labels", "metadata"} and,
    /// when given, "embedding" with its numbers in Swift's shortest round-trip form.
    static func jsonLine(_ row: ResultRow, embedding: [Float]?) throws -> Data {
        let metadata: Any = row.metadata.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) } ?? NSNull()
        var line = try JSONSerialization.data(
            withJSONObject: [
                "job": row.job.id, "url": row.job.url, "sha256": row.sha256.map { String(format: "%02x", $0) }.joined(),
                "width": row.width, "height": row.height, "metadata": metadata,
                "labels": row.labels.map { ["label": $0.label, "score": $0.score] as [String: Any] },
            ] as [String: Any], options: [.sortedKeys, .withoutEscapingSlashes])
        if let embedding {
            line.removeLast()  // the closing brace
            line += Data(#","embedding":["#.utf8)
            line += Data(embedding.map { "\($0)" }.joined(separator: ",").utf8)
            line += Data("]}".utf8)
        }
        return line + Data("\n".utf8)
    }

    /// NumPy's format 1.0: magic, version, header length, then a Python dict padded with spaces so the data
    /// starts on a 64-byte boundary. Always 128 bytes, so the final row count fits the same space.
    static func npyHeader(rows: Int, columns: Int) -> Data {
        var dictionary = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(rows), \(columns)), }"
        let length = 128 - 10
        dictionary += String(repeating: " ", count: length - 1 - dictionary.utf8.count) + "\n"
        return Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(length & 0xFF), UInt8(length >> 8)]) + Data(dictionary.utf8)
    }
}

/// Standard output, or a file written under a temporary name and renamed into place by `commit`.
final class ExportFile {
    private let handle: FileHandle
    private let path: String?
    private let temporary: String?

    init(path: String?) throws {
        guard let path, path != "-" else {
            (self.path, temporary, handle) = (nil, nil, .standardOutput)
            return
        }
        let temporary = path + ".partial-\(ProcessInfo.processInfo.processIdentifier)"
        guard FileManager.default.createFile(atPath: temporary, contents: nil) else {
            throw RetrievalError.cannotWrite(
                path: temporary, reason: "\(String(cString: strerror(errno))); check the directory exists and is writable")
        }
        (self.path, self.temporary) = (path, temporary)
        handle = try FileHandle(forWritingTo: URL(fileURLWithPath: temporary))
    }

    func write(_ data: Data) throws {
        do {
            try handle.write(contentsOf: data)
        } catch {
            throw RetrievalError.cannotWrite(path: path ?? "standard output", reason: "\(error.localizedDescription) (is the disk full?)")
        }
    }

    func rewriteStart(_ data: Data) throws {
        try handle.seek(toOffset: 0)
        try write(data)
    }

    func commit() throws {
        guard let path, let temporary else { return }
        try handle.synchronize()
        try handle.close()
        guard rename(temporary, path) == 0 else {
            throw RetrievalError.cannotWrite(path: path, reason: "cannot move \(temporary) into place: \(String(cString: strerror(errno)))")
        }
    }

    func discard() {
        guard let temporary else { return }
        try? handle.close()
        try? FileManager.default.removeItem(atPath: temporary)
    }
}
