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
            the reason, and the good ones are added. A URL already in the queue is not added again. Everything \
            is added in one transaction: an error (a full disk, say) adds nothing.
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
        var entries: [JobListEntry] = []
        var problems: [SourcedProblem] = []
        if !urls.isEmpty {
            // Arguments are numbered like lines: the first URL is argument 1.
            let list = try reader.read(format: .lines, readChunk: Self.chunks(Data(urls.joined(separator: "\n").utf8)))
            entries += list.entries
            problems += list.problems.map { SourcedProblem(source: "argument", problem: $0) }
        }
        if let from {
            let list = try reader.read(path: from, format: format)
            entries += list.entries
            problems += list.problems.map { SourcedProblem(source: "line", problem: $0) }
        }

        var counts = EnqueueCounts()
        if !(strict && !problems.isEmpty) {
            counts = try await store.open(create: true).enqueue(entries.map(\.job))
        }
        report(counts, problems)
        if strict && !problems.isEmpty {
            throw ExitCode(1)
        }
    }

    /// A bad input line, and whether its number counts URL arguments or lines of the --from list.
    private struct SourcedProblem {
        var source: String
        var problem: JobListProblem
    }

    private func report(_ counts: EnqueueCounts, _ problems: [SourcedProblem]) {
        if json {
            try? printJSON(
                EnqueueReport(
                    counts: counts,
                    errors: problems.map {
                        EnqueueReport.LineError(
                            line: $0.problem.line, reason: $0.problem.reason, source: $0.source == "line" ? .file : .arguments)
                    }))
            return
        }
        print("added \(counts.added), duplicates \(counts.duplicates), invalid \(problems.count)")
        let shown = 20
        for sourced in problems.prefix(shown) {
            print("  \(sourced.source) \(sourced.problem.line): \(FailureMessage.printable(sourced.problem.reason))")
        }
        if problems.count > shown {
            print("  ... and \(problems.count - shown) more invalid lines (--json lists them all)")
        }
        if strict && !problems.isEmpty {
            print("nothing was added (--strict); fix the lines above and run again")
        }
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
