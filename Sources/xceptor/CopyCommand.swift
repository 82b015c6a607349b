import ArgumentParser
import Foundation
import Queue
import Stores

struct CopyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copy",
        abstract: "Copy whole stores into another: SQLite to PostgreSQL and back, or several files into one.",
        discussion: """
            Copies jobs, images, embeddings (every model's), labels and thumbnails, then reads each source \
            again and compares it with the destination, record by record, with checksums of both sides. \
            Records merge: an image whose bytes (SHA-256) the destination already holds, or a job whose URL it \
            holds, is not copied twice; such a job takes the source's outcome only when it has no result of its \
            own. Into an empty destination the records keep their ids.

            The copy commits page by page and records its progress in the destination: run the same command \
            again after an interruption and it resumes. A finished copy run again copies what changed (merging). \
            Stop the workers of a source first: running jobs arrive queued, and jobs that finish during the \
            copy show up as differences. Exit status 1 when a source record is missing from the destination, or, \
            for a destination that was empty, differs.
            """
    )

    @Option(
        name: .customLong("from"),
        help: ArgumentHelp("A store to copy from (a SQLite file or a PostgreSQL URL); repeat to merge several.", valueName: "db"))
    var sources: [String] = []

    @Option(name: .customLong("to"), help: ArgumentHelp("The store to copy into; created when missing.", valueName: "db"))
    var destination: String

    @Flag(help: "Print one JSON report per source instead of text.")
    var json = false

    func validate() throws {
        guard !sources.isEmpty else { throw ValidationError("give at least one --from store to copy") }
        if sources.contains(where: \.isEmpty) || destination.isEmpty { throw ValidationError("--from and --to cannot be empty") }
        let target = JobStores.sourceName(of: destination)
        if let same = sources.first(where: { JobStores.sourceName(of: $0) == target }) {
            throw ValidationError("--from \(JobStores.displayName(of: same)) is the destination itself; copy into another store")
        }
    }

    func run() async throws {
        let target = try await JobStores.open(destination, create: true)
        var failed: [String] = []
        for location in sources {
            let source = try await JobStores.open(location, create: false)
            let name = JobStores.sourceName(of: location)
            if !json { print("copying \(FailureMessage.printable(JobStores.displayName(of: location)))") }
            let report = try await StoreCopy().copy(from: source, named: name, to: target) { progress in
                guard !json, isatty(STDERR_FILENO) == 1 else { return }
                FileHandle.standardError.write(
                    Data("\r  \(progress.images.total) images, \(progress.jobs.total) jobs so far".utf8))
            }
            if !json, isatty(STDERR_FILENO) == 1 { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            if json { try printJSON(report) } else { Self.describe(report) }
            if let verification = report.verification, !verification.passed { failed.append(JobStores.displayName(of: location)) }
        }
        if !failed.isEmpty {
            throw CommandFailure(
                "the copy of \(failed.joined(separator: ", ")) did not verify (see the report above); run the same command again to copy what is missing"
            )
        }
    }

    private static func describe(_ report: CopyReport) {
        func line(_ what: String, _ tally: TransferTally, _ completed: String) -> String {
            var text = "  \(what): \(tally.added) added, \(tally.present) already there"
            if tally.completed > 0 { text += ", \(tally.completed) \(completed)" }
            return text
        }
        if report.resumed { print("  resumed an earlier copy that had stopped") }
        print(line("images", report.images, "gained a thumbnail"))
        print(line("embeddings", report.embeddings, ""))
        print(line("jobs", report.jobs, "without a result took the copied one"))
        if report.runningRequeued > 0 { print("  \(report.runningRequeued) running jobs arrived queued") }
        if report.keptIDs { print("  ids kept (the destination was empty)") }
        guard let verification = report.verification else { return }
        let verdict = verification.passed ? "verified" : "NOT verified"
        print(
            "  \(verdict): \(verification.jobs) jobs, \(verification.images) images, \(verification.embeddings) embeddings compared; "
                + "\(verification.missing) missing, \(verification.differing) \(verification.strict ? "differ" : "kept the destination's own")"
        )
        print("  checksums: source \(verification.sourceChecksum), destination \(verification.destinationChecksum)")
        for problem in verification.problems { print("  - \(FailureMessage.printable(problem))") }
    }
}

extension TransferTally {
    var total: Int { added + present + completed }
}
