import Foundation
import Hummingbird
import Queue
import Retrieval

/// Similarity search: the same call `xceptor search` makes, with each result's thumbnail URL added.
struct SearchRoutes {
    let services: APIServices
    let configuration: APIConfiguration

    func add(to router: Router<BasicRequestContext>) {
        router.post("/v1/search") { request, _ in
            guard request.mediaType == "application/json" || request.mediaType.isEmpty else {
                throw APIError(.unsupportedMediaType, code: "unsupported_media_type", "send application/json, not \(request.mediaType)")
            }
            let body = try JSONDecoder().decode(SearchBody.self, from: try await request.bodyData(limit: configuration.maxRequestBytes))
            let response = try await services.search.search(try body.request())
            return try JSONResponse.make(Answer(response))
        }
    }

    /// `{"job" | "url" | "vector", "k", "label", "where": {key: value}, "min_score", "exact"}`.
    struct SearchBody: Decodable {
        var job: JobID?
        var url: String?
        var vector: [Float]?
        var k: Int?
        var label: String?
        var `where`: [String: JSONValue]?
        var minScore: Float?
        var exact: Bool?

        private enum CodingKeys: String, CodingKey {
            case job, url, vector, k, label, `where`, exact
            case minScore = "min_score"
        }

        func request() throws -> SearchRequest {
            let query: SearchRequest.Query
            switch (job, url, vector) {
            case let (job?, nil, nil): query = .job(job)
            case let (nil, url?, nil): query = .url(url)
            case let (nil, nil, vector?): query = .vector(vector)
            default: throw APIError.badRequest("give exactly one of \"job\", \"url\" and \"vector\"")
            }
            let k = self.k ?? 10
            guard (1...1000).contains(k) else { throw APIError.badRequest("k must be 1-1000, got \(k)") }
            if let minScore, !(-1...1).contains(minScore) { throw APIError.badRequest("min_score must be between -1 and 1") }
            let conditions = try (self.where ?? [:]).sorted { $0.key < $1.key }.map { key, value in
                MetadataCondition(key: key, value: try Self.text(of: value, key: key))
            }
            return SearchRequest(
                query: query, k: k, filter: ResultFilter(label: label, metadata: conditions), minScore: minScore, exact: exact ?? false)
        }

        /// A metadata value as the store compares it: strings as they are, numbers as written, true, false, null.
        private static func text(of value: JSONValue, key: String) throws -> String {
            switch value {
            case let .string(text): return text
            case let .integer(number): return String(number)
            case let .number(number): return String(number)
            case let .bool(flag): return flag ? "true" : "false"
            case .null: return "null"
            case .array, .object: throw APIError.badRequest("where.\(key) must be a string, number, boolean or null")
            }
        }
    }

    /// The search response with each result's thumbnail URL.
    struct Answer: Encodable {
        var response: SearchResponse

        init(_ response: SearchResponse) { self.response = response }

        private enum CodingKeys: String, CodingKey { case model, method, results }

        private struct Result: Encodable {
            var hit: SearchHit
            private enum CodingKeys: String, CodingKey { case thumbnailURL = "thumbnail_url" }
            func encode(to encoder: any Encoder) throws {
                try hit.encode(to: encoder)
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode("/v1/images/\(hit.image)/thumbnail", forKey: .thumbnailURL)
            }
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(response.model, forKey: .model)
            try container.encode(response.method, forKey: .method)
            try container.encode(response.results.map(Result.init), forKey: .results)
        }
    }
}
