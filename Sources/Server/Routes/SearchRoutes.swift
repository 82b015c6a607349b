import Foundation
import Hummingbird
import MultipartKit
import Queue
import Retrieval

/// Similarity search: the same call `xceptor search` makes, with each result's thumbnail URL added.
struct SearchRoutes {
    let services: APIServices
    let configuration: APIConfiguration

    func add(to router: Router<BasicRequestContext>) {
        router.post("/v1/search") { request, _ in
            // A search by job or vector takes about a millisecond and stays where the request came in; an
            // image (parsed, decoded) or a URL (fetched, decoded) takes far longer, on the blocking-work threads.
            switch request.mediaType {
            case "application/json", "":
                let page = try JSONDecoder().decode(SearchBody.self, from: try await request.bodyData(limit: configuration.maxRequestBytes))
                    .request()
                switch page.search.query {
                case .job, .vector: return try await answer(page)
                case .image, .url: return try await BlockingWork.run { try await answer(page) }
                }
            case "multipart/form-data":
                return try await BlockingWork.run { try await answer(try await upload(request)) }
            default:
                throw APIError(
                    .unsupportedMediaType, code: "unsupported_media_type",
                    "send application/json, or multipart/form-data with an image, not \(request.mediaType)")
            }
        }
    }

    /// The page of results `page` asks for, as JSON with each result's thumbnail URL.
    private func answer(_ page: (search: SearchRequest, offset: Int)) async throws -> Response {
        var response = try await services.search.search(page.search)
        let more = response.results.count == page.search.k
        response.results = Array(response.results.dropFirst(page.offset))
        var answer = JSONWriter()
        response.writeJSON(
            into: &answer, page: (thumbnailURL: Self.thumbnailURL, nextCursor: more ? Cursor.text(offset: page.search.k) : nil))
        return JSONResponse.make(bytes: answer.bytes)
    }

    /// An image uploaded as multipart/form-data: the file in the part "image", the other fields as text parts of
    /// the same names as the JSON body's ("where" as a JSON object).
    private func upload(_ request: Request) async throws -> (search: SearchRequest, offset: Int) {
        let parameters = (request.headers[.contentType] ?? "").split(separator: ";").dropFirst()
        guard
            let boundary = parameters.lazy.map({ $0.trimmingCharacters(in: .whitespaces) }).first(where: { $0.hasPrefix("boundary=") })
                .map({ String($0.dropFirst("boundary=".count)).trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }),
            !boundary.isEmpty, boundary.count <= 200
        else { throw APIError.badRequest("a multipart/form-data body needs its boundary in the Content-Type") }
        let body = try await request.bodyData(limit: configuration.maxUploadBytes)
        let parsed: UploadForm
        do {
            parsed = try FormDataDecoder().decode(UploadForm.self, from: [UInt8](body), boundary: boundary)
        } catch {
            throw APIError.badRequest("the form is not multipart/form-data with an \"image\" file part (\(error))")
        }
        guard !parsed.image.isEmpty else { throw APIError.badRequest("the \"image\" part is empty") }
        // A browser's form sends the fields left blank as empty parts: they mean "not given".
        let form = parsed.blankFieldsDropped
        var fields = SearchBody()
        fields.k = try form.k.map { try integer($0, name: "k", in: 1...1000) }
        fields.label = form.label
        fields.minScore = try form.minScore.map { text in
            guard let value = Float(text), value.isFinite else { throw APIError.badRequest("min_score must be a number, not \(text)") }
            return value
        }
        fields.exact = try form.exact.map { try boolean($0, name: "exact") }
        fields.cursor = form.cursor
        if let text = form.where {
            guard case let .object(conditions)? = JSONValue(parsing: text) else { throw APIError.badRequest("where must be a JSON object") }
            fields.where = conditions
        }
        return try fields.request(image: [UInt8](form.image))
    }

    /// The parts of an upload.
    struct UploadForm: Decodable {
        var blankFieldsDropped: UploadForm {
            func given(_ text: String?) -> String? { text.flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : $0 } }
            var form = self
            (form.k, form.label, form.minScore, form.exact, form.where, form.cursor) =
                (given(k), given(label), given(minScore), given(exact), given(self.where), given(cursor))
            return form
        }

        var image: Data
        var k: String?
        var label: String?
        var minScore: String?
        var exact: String?
        var `where`: String?
        var cursor: String?

        private enum CodingKeys: String, CodingKey {
            case image, k, label, exact, `where`, cursor
            case minScore = "min_score"
        }
    }

    /// `{"job" | "url" | "vector", "k", "label", "where": {key: value}, "min_score", "exact"}`.
    struct SearchBody: Decodable {
        init() {}

        var job: JobID?
        var url: String?
        var vector: [Float]?
        var k: Int?
        var label: String?
        var `where`: [String: JSONValue]?
        var minScore: Float?
        var exact: Bool?
        var cursor: String?

        private enum CodingKeys: String, CodingKey {
            case job, url, vector, k, label, `where`, exact, cursor
            case minScore = "min_score"
        }

        /// The search this body asks for, and how many of its best results the cursor skips; `image` is an
        /// uploaded file, which takes the place of the query fields.
        func request(image: [UInt8]? = nil) throws -> (search: SearchRequest, offset: Int) {
            let query: SearchRequest.Query
            switch (job, url, vector, image) {
            case let (job?, nil, nil, nil): query = .job(job)
            case let (nil, url?, nil, nil): query = .url(url)
            case let (nil, nil, vector?, nil): query = .vector(vector)
            case let (nil, nil, nil, image?): query = .image(image)
            default: throw APIError.badRequest("give exactly one of \"job\", \"url\", \"vector\" and an image")
            }
            let k = self.k ?? 10
            guard (1...1000).contains(k) else { throw APIError.badRequest("k must be 1-1000, got \(k)") }
            if let minScore, !(-1...1).contains(minScore) { throw APIError.badRequest("min_score must be between -1 and 1") }
            let conditions = try (self.where ?? [:]).sorted { $0.key < $1.key }.map { key, value in
                MetadataCondition(key: key, value: try Self.text(of: value, key: key))
            }
            // A page after the cursor's offset: the search asks for the results before it too, and they are dropped.
            let offset = try cursor.flatMap { $0.isEmpty ? nil : $0 }.map(Cursor.offset) ?? 0
            return (
                SearchRequest(
                    query: query, k: offset + k, filter: ResultFilter(label: label, metadata: conditions), minScore: minScore,
                    exact: exact ?? false),
                offset
            )
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

    static func thumbnailURL(of hit: SearchHit) -> String { "/v1/images/\(hit.image)/thumbnail" }

    /// Where the next page of a search starts: an opaque token for clients ("o" and the results to skip).
    enum Cursor {
        static let maximumOffset = 10_000

        static func text(offset: Int) -> String { "o\(offset)" }

        static func offset(_ text: String) throws -> Int {
            guard text.hasPrefix("o"), let offset = Int(text.dropFirst()), (0...maximumOffset).contains(offset) else {
                throw APIError.badRequest(
                    "the cursor \(text.prefix(40)) is not one this server gave (or goes past \(maximumOffset) results)")
            }
            return offset
        }
    }
}
