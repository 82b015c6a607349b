import ArgumentParser
import Foundation
import Retrieval

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
            end, so an interrupted export leaves no partial file behind. With --json (and --output), a summary \
            on standard output: {"model", "rows", "files"}.
            """
    )

    @OptionGroup var store: StoreOptions
    @OptionGroup var model: ModelOptions

    @Option(name: .long, help: "jsonl or npy.")
    var format: ResultExport.Format = .jsonl

    @Option(
        name: [.short, .long],
        help: ArgumentHelp("Where to write (npy: a NAME.npy path; jsonl: default standard output).", valueName: "file"))
    var output: String?

    @Flag(name: .long, help: "Write unit-length embeddings (what cosine search uses).")
    var normalized = false

    @Flag(name: .long, help: "Print a JSON summary (needs --output).")
    var json = false

    @Option(
        name: .long,
        help: "With several models in the store: read the one --model made at this input size (default: the model's own size).")
    var size: Int?

    func validate() throws {
        if let size, !(71...2048).contains(size) { throw ValidationError("--size must be 71-2048") }
        if format == .npy {
            guard let output, output.hasSuffix(".npy"), output.count > 4 else {
                throw ValidationError("--format npy needs --output NAME.npy (the labels and URLs go to NAME.jsonl beside it)")
            }
        }
        if json, output == nil || output == "-" {
            throw ValidationError("--json needs --output: the export itself goes to standard output otherwise")
        }
    }

    func run() async throws {
        let embedder = model.embedder()
        let search = try await store.searchService(embedder: embedder)
        let export = ResultExport(search: search, format: format, normalized: normalized)
        let report = try await export.write(
            to: output, modelID: try await model.storedModelID(in: search.store, size: size, embedder: embedder))
        if json { return try printJSON(report) }
        if !report.files.isEmpty {
            FileHandle.standardError.write(
                Data("exported \(report.rows) embeddings of \(report.model) to \(report.files.joined(separator: " and "))\n".utf8))
        }
    }
}

extension ResultExport.Format: ExpressibleByArgument {}
