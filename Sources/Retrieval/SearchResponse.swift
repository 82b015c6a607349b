import Foundation
import Queue

/// What a search found, best first.
public struct SearchResponse: Sendable, Equatable, Encodable {
    /// The model whose embeddings were searched.
    public var model: String
    /// How the answer was found.
    public var method: SearchMethod
    public var results: [SearchHit]
    /// What the caller should know about how the search ran (not part of the JSON form).
    public var warnings: [SearchWarning] = []

    private enum CodingKeys: String, CodingKey { case model, method, results }
}

/// How a search found its answer.
public enum SearchMethod: String, Sendable, Equatable, Encodable {
    /// Every stored embedding was scored.
    case exact
    /// The HNSW index was walked (approximate), plus an exact scan of what was stored after it.
    case index
}

/// Something a search's caller should tell the person who asked.
public enum SearchWarning: Sendable, Equatable, CustomStringConvertible {
    /// The index holds embeddings purged since it was built, so the store was scanned instead.
    case indexHoldsPurgedEmbeddings(path: String)

    public var description: String {
        switch self {
        case let .indexHoldsPurgedEmbeddings(path):
            return "\(path) holds embeddings purged since it was built; the store was scanned instead (rebuild the index)"
        }
    }
}

/// One similar image: the first job that stored it, its similarity and its labels.
public struct SearchHit: Sendable, Equatable, Encodable {
    public var job: JobID
    public var url: String
    /// The stored image (its thumbnail's id).
    public var image: Int64
    /// Cosine similarity to the query, -1 to 1.
    public var score: Float
    /// Best first.
    public var labels: [ScoredLabel]
    /// Later jobs whose URLs served the same bytes.
    public var sameBytes: [JobReference]

    private enum CodingKeys: String, CodingKey {
        case job, url, image, score, labels
        case sameBytes = "same_bytes"
    }

    public init(job: JobID, url: String, image: Int64, score: Float, labels: [ScoredLabel], sameBytes: [JobReference]) {
        self.job = job
        self.url = url
        self.image = image
        self.score = score
        self.labels = labels
        self.sameBytes = sameBytes
    }
}

/// The encoder of every JSON report, CLI and HTTP alike: keys in a stable order, ISO 8601 times in UTC with
/// milliseconds, and slashes left alone (URLs stay readable). Keys are snake_case by each type's coding
/// keys, not by a key strategy, which would rename the keys of metadata objects too.
public enum JSONReport {
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(timestamp(date))
        }
        return encoder
    }

    /// An ISO 8601 timestamp in UTC with milliseconds.
    public static func timestamp(_ date: Date) -> String { date.formatted(timestampStyle) }

    // Built once: a job's JSON has three times, and building the style each time cost more than formatting.
    private static let timestampStyle = Date.ISO8601FormatStyle.iso8601.year().month().day().time(includingFractionalSeconds: true)
        .timeZone(separator: .omitted)
}

extension SearchResponse {
    /// Writes this answer as `JSONReport.encoder()` would encode it, keys sorted. The HTTP API's `page`
    /// adds each result's thumbnail URL and the cursor of the next page (null on the last).
    public func writeJSON(into writer: inout JSONWriter, page: (thumbnailURL: (SearchHit) -> String, nextCursor: String?)? = nil) {
        writer.object { writer in
            writer.key("method")
            writer.string(method.rawValue)
            writer.key("model")
            writer.string(model)
            if let page {
                writer.key("next_cursor")
                if let cursor = page.nextCursor { writer.string(cursor) } else { writer.null() }
            }
            writer.key("results")
            writer.array(results) { writer, hit in
                writer.object { writer in
                    writer.key("image")
                    writer.integer(hit.image)
                    writer.key("job")
                    writer.integer(hit.job)
                    writer.key("labels")
                    writer.labels(hit.labels)
                    writer.key("same_bytes")
                    writer.array(hit.sameBytes) { writer, reference in
                        writer.object { writer in
                            writer.key("job")
                            writer.integer(reference.id)
                            writer.key("url")
                            writer.string(reference.url)
                        }
                    }
                    writer.key("score")
                    writer.number(hit.score)
                    if let page {
                        writer.key("thumbnail_url")
                        writer.string(page.thumbnailURL(hit))
                    }
                    writer.key("url")
                    writer.string(hit.url)
                }
            }
        }
    }
}
