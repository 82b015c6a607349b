import ArgumentParser
import Foundation
import Retrieval

struct DuplicatesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "duplicates",
        abstract:
            "List groups of near-duplicate images: stored embeddings at least --threshold similar, and URLs that served the same bytes.",
        discussion: """
            Every pair of stored embeddings is compared (exactly, on all cores), and similar pairs join one group \
            (a~b and b~c put all three together). Groups are listed largest first; each job shows its cosine \
            similarity to the group's first image. Jobs whose URLs served identical bytes share one embedding and \
            are listed together even alone. With --json: {"model", "threshold", "images", "groups": [{"jobs": \
            [{"job", "url", "score", "labels", "same_bytes_as"}]}]}.
            """
    )

    @OptionGroup var store: StoreOptions
    @OptionGroup var model: ModelOptions

    @Option(name: .long, help: "Cosine similarity (-1 to 1) from which two images count as near duplicates.")
    var threshold: Float = 0.95

    @Flag(name: .long, help: "Print one JSON object.")
    var json = false

    func validate() throws {
        guard (-1...1).contains(threshold) else { throw ValidationError("--threshold must be between -1 and 1, got \(threshold)") }
    }

    func run() async throws {
        let report = try await store.searchService(embedder: model.embedder()).duplicates(threshold: threshold)
        if json { return try printJSON(report) }
        let jobs = report.groups.reduce(0) { $0 + $1.jobs.count }
        print(
            String(
                format: "%d groups, %d jobs, at cosine >= %.3f among %d images of %@", report.groups.count, jobs,
                report.threshold, report.images, report.model))
        for (number, group) in report.groups.enumerated() {
            print("group \(number + 1): \(group.jobs.count) jobs")
            for member in group.jobs {
                let note =
                    member.sameBytesAs.map { "  (same bytes as job \($0))" }
                    ?? member.labels.first.map { "  [\($0.label) \(String(format: "%.2f", $0.score))]" } ?? ""
                print(String(format: "  %.4f  job %-6lld  ", member.score, member.job) + FailureMessage.printable(member.url + note))
            }
        }
    }
}
