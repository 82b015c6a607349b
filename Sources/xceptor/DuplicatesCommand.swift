import ArgumentParser
import Foundation
import Queue
import Search

struct DuplicatesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "duplicates",
        abstract: "List groups of near-duplicate images: stored embeddings at least --threshold similar, and URLs that served the same bytes.",
        discussion: """
            Every pair of stored embeddings is compared (exactly, on all cores), and similar pairs join one group \
            (a~b and b~c put all three together). Groups are listed largest first; each job shows its cosine \
            similarity to the group's first image. Jobs whose URLs served identical bytes share one embedding and \
            are listed together even alone. With --json: {"model", "threshold", "groups": [{"jobs": [{"job", "url", \
            "score", "labels", "same_bytes_as"}]}]}.
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

    /// One line of a group: a job, its image's similarity to the group's first, and the job it copies.
    private struct Member {
        var job: JobReference
        var score: Float
        var labels: [ScoredLabel]
        var sameBytesAs: JobID?
    }

    /// An image's lines: its first job, then the jobs that served the same bytes.
    private func members(of image: Neighbor, _ summary: ImageSummary?) -> [Member] {
        guard let summary else { return [] }
        let first = Member(job: JobReference(id: summary.jobID, url: summary.url), score: image.score, labels: summary.labels)
        return [first] + summary.sameBytes.map { Member(job: $0, score: image.score, labels: summary.labels, sameBytesAs: summary.jobID) }
    }

    private static func jsonObject(_ member: Member) -> [String: Any] {
        let labels: [[String: Any]] = member.labels.map { ["label": $0.label, "score": $0.score] }
        return ["job": member.job.id, "url": member.job.url, "score": Double(member.score), "same_bytes_as": jsonValue(member.sameBytesAs),
                "labels": labels]
    }

    func run() async throws {
        let jobStore = try store.open()
        let modelID = try await SearchModel.resolve(jobStore, model: ModelLoader(model), location: store.location)
        let stored = try await jobStore.searchVectors(modelID: modelID, afterImageID: nil)
        let similar = try NearDuplicates.groups(SearchModel.matrix(stored, dimensions: stored.dimensions), threshold: threshold)
        let summaries = try await jobStore.imageSummaries(stored.imageIDs, modelID: modelID)

        // Images in no similar group but fetched through several URLs are groups of their own.
        let grouped = Set(similar.joined().map(\.id))
        let copies = stored.imageIDs.filter { !grouped.contains($0) && !(summaries[$0]?.sameBytes.isEmpty ?? true) }
        let imageGroups: [[Neighbor]] = similar + copies.map { [Neighbor(id: $0, score: 1)] }
        let groups: [[Member]] = imageGroups
            .map { group in group.flatMap { members(of: $0, summaries[$0.id]) } }
            .filter { $0.count > 1 }
            .sorted { (a: [Member], b: [Member]) -> Bool in a.count != b.count ? a.count > b.count : a[0].job.id < b[0].job.id }

        if json {
            let objects: [[String: Any]] = groups.map { group in ["jobs": group.map(Self.jsonObject)] }
            printJSON(["model": modelID, "threshold": Double(threshold), "groups": objects])
            return
        }
        let jobs = groups.reduce(0) { $0 + $1.count }
        print(String(format: "%d groups, %d jobs, at cosine >= %.3f among %d images of %@", groups.count, jobs, threshold,
                     stored.imageIDs.count, modelID))
        for (number, group) in groups.enumerated() {
            print("group \(number + 1): \(group.count) jobs")
            for member in group {
                let note = member.sameBytesAs.map { "  (same bytes as job \($0))" } ?? member.labels.first.map { "  [\($0.label) \(String(format: "%.2f", $0.score))]" } ?? ""
                print(String(format: "  %.4f  job %-6lld  ", member.score, member.job.id) + member.job.url + note)
            }
        }
    }
}
