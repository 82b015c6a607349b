import ArgumentParser
import Foundation
import Queue
import Search

struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write every done job's embedding with its job id, URL, labels and metadata, for downstream use.",
        discussion: """
            jsonl: one object per done job, in job order: {"job", "url", "sha256", "width", "height", "labels": \
            [{"label", "score"}], "metadata", "embedding": [numbers]}, to --output or standard output. npy: --output \
            NAME.npy gets an n x d float32 matrix (NumPy's format: numpy.load reads it), and NAME.jsonl beside it \
            the same objects without "embedding", line i describing row i. Embeddings are as computed; \
            --normalized writes them at unit length. Files are written under a temporary name and renamed at the \
            end, so an interrupted export leaves no partial file behind.
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case jsonl, npy
    }

    @OptionGroup var store: StoreOptions
    @OptionGroup var model: ModelOptions

    @Option(name: .long, help: "jsonl or npy.")
    var format: Format = .jsonl

    @Option(name: [.short, .long], help: ArgumentHelp("Where to write (npy: a NAME.npy path; jsonl: default standard output).", valueName: "file"))
    var output: String?

    @Flag(name: .long, help: "Write unit-length embeddings (what cosine search uses).")
    var normalized = false

    func validate() throws {
        if format == .npy {
            guard let output, output.hasSuffix(".npy"), output.count > 4 else {
                throw ValidationError("--format npy needs --output NAME.npy (the labels and URLs go to NAME.jsonl beside it)")
            }
        }
    }

    func run() async throws {
        let jobStore = try store.open()
        let modelID = try await SearchModel.resolve(jobStore, model: ModelLoader(model), location: store.location)
        let matrix = format == .npy ? try ExportFile(path: output!) : nil
        let lines: ExportFile
        do {
            lines = try ExportFile(path: format == .npy ? String(output!.dropLast(4)) + ".jsonl" : output)
        } catch {
            matrix?.discard()
            throw error
        }
        var after: JobID?, count = 0, dimensions: Int?
        do {
            while true {
                let page = try await jobStore.resultRows(modelID: modelID, afterJobID: after, limit: 1000)
                guard let last = page.last else { break }
                for row in page {
                    let embedding = normalized ? VectorMatrix.normalized(row.embedding) : row.embedding
                    guard dimensions == nil || dimensions == embedding.count else {
                        throw ValidationError("job \(row.job.id) has an embedding of \(embedding.count) values, the others \(dimensions!)")
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
        if let output, output != "-" {
            let files = format == .npy ? "\(output) and \(String(output.dropLast(4))).jsonl" : output
            FileHandle.standardError.write(Data("exported \(count) embeddings of \(modelID) to \(files)\n".utf8))
        }
    }

    /// One JSON object and a newline; the embedding's numbers are written in Swift's shortest round-trip form.
    static func jsonLine(_ row: ResultRow, embedding: [Float]?) throws -> Data {
        let metadata: Any = row.metadata.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) } ?? jsonValue(row.metadata)
        var line = try JSONSerialization.data(withJSONObject: [
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
            throw ValidationError("cannot create \(temporary): \(String(cString: strerror(errno))); check the directory exists and is writable")
        }
        (self.path, self.temporary) = (path, temporary)
        handle = try FileHandle(forWritingTo: URL(fileURLWithPath: temporary))
    }

    func write(_ data: Data) throws {
        do {
            try handle.write(contentsOf: data)
        } catch {
            throw ValidationError("writing \(path ?? "standard output") failed: \(error.localizedDescription) (is the disk full?)")
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
            throw ValidationError("cannot move \(temporary) to \(path): \(String(cString: strerror(errno)))")
        }
    }

    func discard() {
        guard let temporary else { return }
        try? handle.close()
        try? FileManager.default.removeItem(atPath: temporary)
    }
}
