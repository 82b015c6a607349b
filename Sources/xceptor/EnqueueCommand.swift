import ArgumentParser
import Foundation
import Ingest
import Queue

struct EnqueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enqueue",
        abstract: "Add image URLs to the queue.",
        discussion: """
            URLs come as arguments, or from --from FILE (or - for standard input): one URL per line, CSV with a \
            'url' column, or JSON lines with a "url" field; the other CSV columns or JSON fields are kept as the \
            job's metadata. The format is taken from the file extension (.csv, .jsonl, .ndjson) or guessed from \
            the first line.

            Only absolute http(s) URLs with a host are accepted; each bad line is reported with its number and \
            the reason, and the good ones are added. A URL already in the queue is not added again. Jobs are \
            committed 50,000 at a time: after an error (a full disk, say) run the same command again, and the \
            URLs already added count as duplicates.
            """
    )

    @OptionGroup var store: StoreOptions

    @Argument(help: "URLs to add.")
    var urls: [String] = []

    @Option(name: .long, help: ArgumentHelp("Read URLs from a file, or - for standard input.", valueName: "file"))
    var from: String?

    @Option(name: .long, help: "Format of --from: lines, csv or jsonl (default: from the extension, else guessed).")
    var format: JobListFormat?

    @Option(name: .long, help: "Priority of the new jobs; higher runs first.")
    var priority: Int = 0

    @Option(name: .long, help: "Attempts before a job with transient errors is declared dead.")
    var maxAttempts: Int = QueueDefaults.maxAttempts

    @Flag(name: .long, help: "Add nothing if any line is invalid (exit status 1).")
    var strict = false

    @Flag(
        name: .long,
        help: "Print one JSON object: {\"added\", \"duplicates\", \"invalid\", \"errors\": [{\"line\", \"reason\", \"source\"}]}.")
    var json = false

    func validate() throws {
        guard !urls.isEmpty || from != nil else {
            throw ValidationError("give URLs as arguments, or a list with --from FILE (- for standard input)")
        }
        guard maxAttempts >= 1 else { throw ValidationError("--max-attempts must be at least 1") }
    }

    func run() async throws {
        let reader = JobListReader(priority: priority, maxAttempts: maxAttempts)
        // Arguments are numbered like lines: the first URL is argument 1.
        let arguments =
            urls.isEmpty ? nil : try reader.read(format: .lines, readChunk: Self.chunks(Data(urls.joined(separator: "\n").utf8)))
        // --strict reads the list twice (check, then add): standard input is kept in a file for the second read.
        let spooled = strict && from == "-" ? try Self.spoolStandardInput() : nil
        defer { spooled.map { try? FileManager.default.removeItem(at: $0.deletingLastPathComponent()) } }
        let listPath = spooled?.path ?? from
        let report = try await EnqueueReport.enqueue(
            arguments: arguments, file: listPath.map { path in { try reader.open(path: path, format: format) } },
            into: { try await store.open(create: true) }, strict: strict)
        if json {
            try printJSON(report)
        } else {
            print("added \(report.added), duplicates \(report.duplicates), invalid \(report.invalid)")
            let shown = 20
            for error in report.errors.prefix(shown) {
                print(
                    "  \(error.source == EnqueueReport.Source.file ? "line" : "argument") \(error.line): \(FailureMessage.printable(error.reason))"
                )
            }
            if report.errors.count > shown {
                print("  ... and \(report.errors.count - shown) more invalid lines (--json lists them all)")
            }
            if strict && report.invalid > 0 {
                print("nothing was added (--strict); fix the lines above and run again")
            }
        }
        if strict && report.invalid > 0 { throw ExitCode(1) }
    }

    /// Standard input copied to a file in a private temporary directory, a MiB at a time.
    private static func spoolStandardInput() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("xceptor-enqueue-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        let file = directory.appendingPathComponent("standard-input")
        guard FileManager.default.createFile(atPath: file.path, contents: nil), let output = FileHandle(forWritingAtPath: file.path) else {
            throw CommandFailure("cannot keep standard input for --strict in \(directory.path); set TMPDIR to a writable directory")
        }
        defer { try? output.close() }
        do {
            while let chunk = try FileHandle.standardInput.read(upToCount: 1 << 20), !chunk.isEmpty {
                try output.write(contentsOf: chunk)
            }
        } catch {
            try? FileManager.default.removeItem(at: directory)
            throw CommandFailure(
                "cannot keep standard input for --strict in \(directory.path) (\(error.localizedDescription)); free space or set TMPDIR")
        }
        return file
    }

    /// Feeds in-memory bytes to the reader in one chunk.
    private static func chunks(_ data: Data) -> () -> [UInt8] {
        var remaining: [UInt8]? = [UInt8](data)
        return {
            defer { remaining = nil }
            return remaining ?? []
        }
    }
}

extension JobListFormat: ExpressibleByArgument {}
