import Foundation

/// A job with what it produced, as `jobs show` and `GET /v1/jobs/{id}` report it.
public struct JobDetail: Sendable, Equatable, Encodable {
    public var job: Job
    public var result: StoredResult?

    /// The job and, once it is done, its result; nil for an unknown job.
    public static func load(_ id: JobID, from store: any JobStore) async throws -> JobDetail? {
        guard let job = try await store.job(id: id) else { return nil }
        return JobDetail(job: job, result: job.state == .done ? try await store.result(forJob: id) : nil)
    }

    private enum CodingKeys: String, CodingKey { case result }

    public func encode(to encoder: any Encoder) throws {
        try job.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(result, forKey: .result)
    }
}

extension StoredResult: Encodable {
    private enum CodingKeys: String, CodingKey {
        case image, model, precision, labels
        case embeddingDimensions = "embedding_dimensions"
    }

    private enum ImageKeys: String, CodingKey {
        case id, sha256, width, height, bytes
        case contentType = "content_type"
        case hasThumbnail = "has_thumbnail"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        var facts = container.nestedContainer(keyedBy: ImageKeys.self, forKey: .image)
        try facts.encode(imageID, forKey: .id)
        try facts.encode(image.sha256.map { String(format: "%02x", $0) }.joined(), forKey: .sha256)
        try facts.encode(image.width, forKey: .width)
        try facts.encode(image.height, forKey: .height)
        try facts.encode(image.byteCount, forKey: .bytes)
        try facts.encode(image.contentType, forKey: .contentType)
        try facts.encode(image.thumbnail != nil, forKey: .hasThumbnail)
        try container.encode(modelID, forKey: .model)
        try container.encode(precision, forKey: .precision)
        try container.encode(embedding.count, forKey: .embeddingDimensions)
        try container.encode(labels, forKey: .labels)
    }
}
