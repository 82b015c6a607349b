import Foundation
import Hummingbird
import Ingest
import Queue
import Retrieval

/// The queue: enqueue, list, show, retry, cancel, and the store's status.
struct JobRoutes {
    let services: APIServices
    let configuration: APIConfiguration

    func add(to router: Router<BasicRequestContext>) {
        router.get("/v1/stats") { [services] _, _ in try JSONResponse.make(try await StoreStatus.load(from: services.store)) }
        router.get("/v1/jobs") { request, _ in try await list(request) }
        // Up to --max-request-bytes of URLs to parse and check: longer than a request should hold an event loop.
        router.post("/v1/jobs") { request, _ in try await BlockingWork.run { try await enqueue(request) } }
        router.get("/v1/jobs/:job") { [services] _, context in
            let id = try jobID(context.parameters.get("job"))
            guard let detail = try await JobDetail.load(id, from: services.store) else { throw APIError.notFound("there is no job \(id)") }
            var answer = JSONWriter()
            detail.writeJSON(into: &answer)
            return JSONResponse.make(bytes: answer.bytes)
        }
        router.post("/v1/jobs/retry") { request, _ in
            let selection = try await selection(request)
            return try JSONResponse.make(["retried": try await services.store.retry(selection)])
        }
        router.post("/v1/jobs/cancel") { request, _ in
            let selection = try await selection(request)
            return try JSONResponse.make(["cancelled": try await services.store.cancel(selection)])
        }
    }

    private struct JobPage: Encodable {
        var jobs: [Job]
        var nextAfter: JobID?

        private enum CodingKeys: String, CodingKey {
            case jobs
            case nextAfter = "next_after"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(jobs, forKey: .jobs)
            try container.encode(nextAfter, forKey: .nextAfter)  // null on the last page
        }
    }

    private func list(_ request: Request) async throws -> Response {
        let query = request.uri.queryParameters
        var state: JobState?
        if let text = query.get("state") {
            guard let parsed = JobState(rawValue: text) else {
                throw APIError.badRequest("state must be one of \(JobState.allCases.map(\.rawValue).joined(separator: ", ")), not \(text)")
            }
            state = parsed
        }
        let after = try query.get("after").map { try jobID($0, name: "after", minimum: 0) }
        let limit = try query.get("limit").map { try integer($0, name: "limit", in: 1...1000) } ?? 100
        let jobs = try await services.store.jobs(state: state, afterID: after, limit: limit)
        return try JSONResponse.make(JobPage(jobs: jobs, nextAfter: jobs.count == limit ? jobs.last?.id : nil))
    }

    /// `{"urls": [...], "priority", "max_attempts", "metadata"}`, `[{"url", "metadata"}, ...]` or text, one URL a
    /// line: each becomes a line of a job list, read, checked and reported as `xceptor enqueue` does.
    private func enqueue(_ request: Request) async throws -> Response {
        let body = try await request.bodyData(limit: configuration.maxRequestBytes)
        let strict = try request.uri.queryParameters.get("strict").map { try boolean($0, name: "strict") } ?? false
        var reader = JobListReader()
        let lines: [String], format: JobListFormat
        switch request.mediaType {
        case "text/plain":
            lines = String(decoding: body, as: UTF8.self).split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).map(
                String.init)
            format = .lines
        case "application/json", "":
            let request = try EnqueueBody(body)
            reader.priority = request.priority
            reader.maxAttempts = request.maxAttempts
            lines = request.lines
            format = .jsonl
        default:
            throw APIError(
                .unsupportedMediaType, code: "unsupported_media_type", "send application/json or text/plain, not \(request.mediaType)")
        }
        guard lines.count <= configuration.maxEnqueueLines else {
            throw APIError(
                .contentTooLarge, code: "too_large", "at most \(configuration.maxEnqueueLines) URLs a request, got \(lines.count)")
        }
        let text = Array(lines.joined(separator: "\n").utf8)
        var chunk: [UInt8]? = text
        let list = try reader.read(format: format) {
            defer { chunk = nil }
            return chunk ?? []
        }
        let report = try await EnqueueReport.enqueue([(list, .file)], into: { services.store }, strict: strict)
        return try JSONResponse.make(report, status: strict && report.invalid > 0 ? .unprocessableContent : .ok)
    }

    /// Job ids or a state, for retry and cancel.
    private func selection(_ request: Request) async throws -> JobSelection {
        struct Body: Decodable {
            var jobs: [JobID]?
            var state: String?
        }
        let data = try await request.bodyData(limit: configuration.maxRequestBytes)
        if case let .object(fields)? = JSONValue(parsing: String(decoding: data, as: UTF8.self)),
            let unknown = fields.keys.sorted().first(where: { $0 != "jobs" && $0 != "state" })
        {
            throw APIError.badRequest("unknown field \(unknown); give either \"jobs\": [ids] or \"state\"")
        }
        let body = try JSONDecoder().decode(Body.self, from: data)
        switch (body.jobs, body.state) {
        case let (jobs?, nil):
            guard jobs.count <= 100_000 else { throw APIError.badRequest("at most 100000 job ids a request") }
            return .ids(jobs)
        case let (nil, state?):
            guard let state = JobState(rawValue: state) else { throw APIError.badRequest("unknown state \(state)") }
            return .state(state)
        default:
            throw APIError.badRequest("give either \"jobs\": [ids] or \"state\"")
        }
    }
}

/// The JSON forms of `POST /v1/jobs`, turned into JSON lines for the job-list reader.
struct EnqueueBody {
    var lines: [String] = []
    var priority = 0
    var maxAttempts = QueueDefaults.maxAttempts

    init(_ data: Data) throws {
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: data) else {
            throw APIError.badRequest("the body is not JSON; send {\"urls\": [...]} or [{\"url\": ...}, ...]")
        }
        switch value {
        case let .object(fields):
            guard case let .array(urls)? = fields["urls"] else { throw APIError.badRequest("the object needs \"urls\": [...]") }
            if let number = urls.firstIndex(where: { if case .string = $0 { return false } else { return true } }) {
                throw APIError.badRequest("urls[\(number)] must be a string")
            }
            if let priority = fields["priority"] {
                self.priority = try Self.integer(priority, name: "priority", in: -1_000_000...1_000_000)
            }
            if let attempts = fields["max_attempts"] { maxAttempts = try Self.integer(attempts, name: "max_attempts", in: 1...1000) }
            var shared: [String: JSONValue] = [:]
            switch fields["metadata"] {
            case nil, .null?: break
            case let .object(metadata)?: shared = metadata
            default: throw APIError.badRequest("metadata must be an object")
            }
            lines = try urls.map { url in
                var line = shared
                line["url"] = url
                return try Self.text(.object(line))
            }
        case let .array(items):
            lines = try items.enumerated().map { number, item in
                // The shape is the request's to get right (400); a URL that is no good is one bad line among good ones.
                guard case var .object(fields) = item, case .string? = fields["url"] else {
                    throw APIError.badRequest("item \(number + 1) must be an object with a \"url\" string")
                }
                switch fields.removeValue(forKey: "metadata") {
                case nil, .null?: break
                case let .object(metadata)?: fields.merge(metadata) { own, _ in own }
                default: throw APIError.badRequest("item \(number + 1): metadata must be an object")
                }
                return try Self.text(.object(fields))
            }
        default:
            throw APIError.badRequest("send {\"urls\": [...]} or [{\"url\": ...}, ...]")
        }
    }

    private static func text(_ value: JSONValue) throws -> String {
        String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
    }

    private static func integer(_ value: JSONValue, name: String, in range: ClosedRange<Int>) throws -> Int {
        guard case let .integer(number) = value, range.contains(Int(clamping: number)) else {
            throw APIError.badRequest("\(name) must be a whole number in \(range.lowerBound)...\(range.upperBound)")
        }
        return Int(number)
    }
}

/// A job id from the path or the query: a positive whole number.
func jobID(_ text: String?, name: String = "job", minimum: Int64 = 1) throws -> JobID {
    guard let text, let id = JobID(text), id >= minimum else {
        throw APIError.badRequest("\(name) must be a whole number from \(minimum) on, not \(text ?? "nothing")")
    }
    return id
}

func integer(_ text: String, name: String, in range: ClosedRange<Int>) throws -> Int {
    guard let number = Int(text), range.contains(number) else {
        throw APIError.badRequest("\(name) must be a whole number in \(range.lowerBound)...\(range.upperBound), not \(text)")
    }
    return number
}

func boolean(_ text: String, name: String) throws -> Bool {
    switch text {
    case "true", "1": return true
    case "false", "0": return false
    default: throw APIError.badRequest("\(name) must be true or false, not \(text)")
    }
}
