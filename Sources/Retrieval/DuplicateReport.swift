import Queue
import Search

/// Groups of near-duplicate stored images, largest first.
public struct DuplicateReport: Sendable, Equatable, Encodable {
    public var model: String
    public var threshold: Float
    /// Images compared.
    public var images: Int
    public var groups: [Group]

    public struct Group: Sendable, Equatable, Encodable {
        public var jobs: [Member]
    }

    /// A job in a group: its image's similarity to the group's first, and the job whose bytes it repeats.
    public struct Member: Sendable, Equatable, Encodable {
        public var job: JobID
        public var url: String
        public var score: Float
        public var labels: [ScoredLabel]
        public var sameBytesAs: JobID?

        private enum CodingKeys: String, CodingKey {
            case job, url, score, labels
            case sameBytesAs = "same_bytes_as"
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(job, forKey: .job)
            try container.encode(url, forKey: .url)
            try container.encode(score, forKey: .score)
            try container.encode(labels, forKey: .labels)
            try container.encode(sameBytesAs, forKey: .sameBytesAs)  // null, not absent
        }
    }
}

extension SearchService {
    /// Every pair of stored embeddings compared exactly; pairs at cosine >= `threshold` join one group (a~b
    /// and b~c put all three together). Jobs whose URLs served identical bytes share one embedding and form
    /// a group even alone.
    public func duplicates(threshold: Float, modelID preferred: String? = nil) async throws -> DuplicateReport {
        guard (-1...1).contains(threshold) else {
            throw RetrievalError.invalidRequest("the threshold must be between -1 and 1, got \(threshold)")
        }
        let modelID = try await model(preferred: preferred)
        let stored = try await StoredVectors.matrix(store, modelID: modelID, after: nil, dimensions: nil)
        let similar = try NearDuplicates.groups(stored, threshold: threshold)
        let summaries = try await store.imageSummaries(stored.ids, modelID: modelID)

        // Images in no similar group but fetched through several URLs are groups of their own.
        let grouped = Set(similar.joined().map(\.id))
        let copies = stored.ids.filter { !grouped.contains($0) && !(summaries[$0]?.sameBytes.isEmpty ?? true) }
        let imageGroups: [[Neighbor]] = similar + copies.map { [Neighbor(id: $0, score: 1)] }
        let groups: [[DuplicateReport.Member]] =
            imageGroups
            .map { group in group.flatMap { Self.members(of: $0, summaries[$0.id]) } }
            .filter { $0.count > 1 }
            .sorted { (a: [DuplicateReport.Member], b: [DuplicateReport.Member]) -> Bool in
                a.count != b.count ? a.count > b.count : a[0].job < b[0].job
            }
        return DuplicateReport(
            model: modelID, threshold: threshold, images: stored.count,
            groups: groups.map { DuplicateReport.Group(jobs: $0) })
    }

    /// An image's lines: its first job, then the jobs that served the same bytes.
    private static func members(of image: Neighbor, _ summary: ImageSummary?) -> [DuplicateReport.Member] {
        guard let summary else { return [] }
        let first = DuplicateReport.Member(job: summary.jobID, url: summary.url, score: image.score, labels: summary.labels)
        return [first]
            + summary.sameBytes.map {
                DuplicateReport.Member(job: $0.id, url: $0.url, score: image.score, labels: summary.labels, sameBytesAs: summary.jobID)
            }
    }
}
