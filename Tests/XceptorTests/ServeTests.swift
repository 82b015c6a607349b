import Foundation
import Queue
import TestSupport
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `xceptor serve` over real HTTP: the real binary on a free port of 127.0.0.1, a copy of the store the
/// worker tests filled with real embeddings, and every route of the OpenAPI document it serves.
@Suite("xceptor serve", .serialized)
struct ServeTests {
    static let token = "test-token-0123456789"

    /// A running server on its own copy of the finished store, stopped (SIGTERM) when the test ends.
    final class Server: @unchecked Sendable {
        let dir: URL
        let process: Process
        let base: String
        let run: WorkerTests.FinishedRun

        init(token: Bool = true, extra: [String] = []) async throws {
            run = try await WorkerTests.finishedRun.value
            guard run.worker.status == 0 else {
                throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "the worker run failed: \(run.worker.stderr)"])
            }
            dir = try makeScratchDirectory()
            try run.site.copyStore(to: dir.appendingPathComponent("q.sqlite"))
            try ServeTests.token.write(to: dir.appendingPathComponent("token"), atomically: true, encoding: .utf8)
            let arguments =
                ["serve", "--db", "q.sqlite", "--model", try await WorkerTests.model.value.path, "--port", "0"]
                + (token ? ["--token-file", "token"] : []) + extra
            let (process, _, stderr) = try XceptorProcess.start(arguments, in: dir)
            self.process = process
            // The server says where it listens once it does.
            var port: Int?
            for _ in 0..<600 where port == nil && process.isRunning {
                try await Task.sleep(for: .milliseconds(50))
                let log = (try? String(contentsOf: stderr, encoding: .utf8)) ?? ""
                port = log.firstMatch(of: /listening on http:\/\/127\.0\.0\.1:(\d+)/).flatMap { Int($0.1) }
            }
            guard let port else {
                throw CocoaError(
                    .fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: (try? String(contentsOf: stderr, encoding: .utf8)) ?? ""])
            }
            base = "http://127.0.0.1:\(port)"
            // Ready once the vectors are loaded: a client waits for /readyz, and so do the tests.
            for _ in 0..<300 where try await call("GET", "/readyz", authorized: false).status != 200 {
                try await Task.sleep(for: .milliseconds(50))
            }
        }

        func stop() async {
            process.terminate()
            await XceptorProcess.waitForExit(process)
        }

        struct Answer {
            var status: Int
            var headers: [String: String]
            var body: Data
            func json() throws -> [String: Any] { try jsonObject(String(decoding: body, as: UTF8.self)) }
            var errorCode: String? { ((try? json())?["error"] as? [String: Any])?["code"] as? String }
        }

        func call(
            _ method: String, _ path: String, json: Any? = nil, body: Data? = nil, contentType: String? = nil,
            authorized: Bool = true, headers: [String: String] = [:]
        ) async throws -> Answer {
            var request = URLRequest(url: URL(string: base + path)!)
            request.httpMethod = method
            if authorized { request.setValue("Bearer \(ServeTests.token)", forHTTPHeaderField: "Authorization") }
            for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
            if let json {
                request.httpBody = try JSONSerialization.data(withJSONObject: json)
                request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            } else if let body {
                request.httpBody = body
                request.setValue(contentType, forHTTPHeaderField: "Content-Type")
            }
            let (data, response) = try await URLSession.shared.data(for: request)
            let http = try #require(response as? HTTPURLResponse)
            var fields: [String: String] = [:]
            for (name, value) in http.allHeaderFields { fields["\(name)".lowercased()] = "\(value)" }
            return Answer(status: http.statusCode, headers: fields, body: data)
        }
    }

    /// The routes the served OpenAPI document lists, as "METHOD /path" with the statuses it documents.
    static func documentedRoutes(_ document: String) -> [String: Set<Int>] {
        var routes: [String: Set<Int>] = [:]
        var path: String?, method: String?, inResponses = false
        for line in document.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("components:") { break }
            if let match = line.firstMatch(of: /^  (\/[^:]*):$/) {
                path = String(match.1)
            } else if let match = line.firstMatch(of: /^    (get|post):$/) {
                method = match.1.uppercased()
                inResponses = false
            } else if line.hasPrefix("      responses:") {
                inResponses = true
            } else if inResponses, let path, let method, let match = line.firstMatch(of: /^        "(\d{3})":/) {
                routes["\(method) \(path)", default: []].insert(Int(match.1)!)
            }
        }
        return routes
    }

    @Test("every documented route answers with a documented status, and the document is the one in the repository")
    func documentedRoutesAnswer() async throws {
        let server = try await Server()
        defer { Task { await server.stop() } }
        let served = try await server.call("GET", "/openapi.yaml", authorized: false)
        let document = String(decoding: served.body, as: UTF8.self)
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Sources/Server/openapi.yaml")
        let inRepository = try String(contentsOf: file, encoding: .utf8)
        #expect(served.status == 200 && document == inRepository)
        let routes = Self.documentedRoutes(document)

        let done = try #require(try await server.call("GET", "/v1/jobs?state=done&limit=1").json()["jobs"] as? [[String: Any]]).first
        let job = try #require(done?["job"] as? Int), image = try #require(done?["image_id"] as? Int)
        let requests: [String: (path: String, json: Any?)] = [
            "GET /": ("/", nil), "GET /healthz": ("/healthz", nil), "GET /readyz": ("/readyz", nil),
            "GET /openapi.yaml": ("/openapi.yaml", nil),
            "GET /metrics": ("/metrics", nil), "GET /v1/stats": ("/v1/stats", nil), "GET /v1/jobs": ("/v1/jobs?limit=5", nil),
            "POST /v1/jobs": ("/v1/jobs", ["urls": ["http://images.test/new.jpg"], "metadata": ["shop": "berlin"]]),
            "GET /v1/jobs/{job}": ("/v1/jobs/\(job)", nil), "POST /v1/jobs/retry": ("/v1/jobs/retry", ["state": "failed"]),
            "POST /v1/jobs/cancel": ("/v1/jobs/cancel", ["jobs": [999_999]]), "POST /v1/search": ("/v1/search", ["job": job, "k": 3]),
            "GET /v1/images/{image}/thumbnail": ("/v1/images/\(image)/thumbnail", nil),
        ]
        #expect(Set(routes.keys) == Set(requests.keys), "documented: \(routes.keys.sorted())")
        // A documented path asked with a method it does not take: 405, naming the ones it takes.
        var methodsByPath: [String: Set<String>] = [:]
        for route in routes.keys {
            let parts = route.split(separator: " ")
            methodsByPath[String(parts[1]), default: []].insert(String(parts[0]))
        }
        for (path, methods) in methodsByPath {
            let concrete = path.replacingOccurrences(of: "{job}", with: "\(job)").replacingOccurrences(of: "{image}", with: "\(image)")
            let other = methods.contains("POST") ? (methods.contains("GET") ? "DELETE" : "GET") : "POST"
            let answer = try await server.call(other, concrete)
            #expect(answer.status == 405 && answer.headers["allow"] == methods.sorted().joined(separator: ", "), "\(other) \(path)")
        }
        for (route, statuses) in routes.sorted(by: { $0.key < $1.key }) {
            let (path, json) = try #require(requests[route], "no request for \(route)")
            let answer = try await server.call(String(route.split(separator: " ")[0]), path, json: json)
            #expect(
                answer.status == 200 && statuses.contains(200), "\(route): \(answer.status) \(String(decoding: answer.body, as: UTF8.self))"
            )
        }
    }

    @Test("search answers as `xceptor search --json` does, with thumbnail URLs that serve the images' JPEGs")
    func searchEqualsCommandLine() async throws {
        let server = try await Server()
        defer { Task { await server.stop() } }
        let jobs = try await server.run.site.jobsByURL()
        let query = try #require(jobs[server.run.site.url(server.run.site.images[0])])
        let label = try #require(try await server.run.site.store().result(forJob: query.id)?.labels.first?.label)
        for body in [["job": Int(query.id), "k": 5], ["job": Int(query.id), "k": 40, "label": label]] as [[String: Any]] {
            let answer = try await server.call("POST", "/v1/search", json: body)
            #expect(answer.status == 200)
            let results = try #require(try answer.json()["results"] as? [[String: Any]])
            var arguments = ["search", "--db", "q.sqlite", "--job", "\(query.id)", "-k", "\(body["k"]!)", "--json"]
            if let label = body["label"] as? String { arguments += ["--label", label] }
            let cli = try await XceptorProcess.run(arguments, in: server.dir)
            let expected = try #require(try jsonObject(cli.stdout)["results"] as? [[String: Any]], "\(cli.stderr)")
            #expect(!results.isEmpty && results.map { $0["job"] as? Int } == expected.map { $0["job"] as? Int })
            #expect(results.map { $0["score"] as? Double } == expected.map { $0["score"] as? Double })
            for result in results.prefix(2) {
                let thumbnail = try await server.call("GET", try #require(result["thumbnail_url"] as? String))
                #expect(
                    thumbnail.status == 200 && thumbnail.headers["content-type"] == "image/jpeg"
                        && thumbnail.body.prefix(2) == Data([0xFF, 0xD8]))
                let again = try await server.call(
                    "GET", result["thumbnail_url"] as! String, headers: ["If-None-Match": try #require(thumbnail.headers["etag"])])
                #expect(again.status == 304)
            }
        }
    }

    @Test("an uploaded image is embedded by the server's model and finds its stored copy, as `xceptor search --image` does")
    func upload() async throws {
        let server = try await Server(extra: ["--max-upload-bytes", "400000"])
        defer { Task { await server.stop() } }
        let file = server.run.site.files.appendingPathComponent(server.run.site.images[2])
        func form(_ image: Data, name: String = "photo.jpg", fields: [String: String] = [:]) -> Data {
            var body = Data()
            for (key, value) in fields {
                body += Data("--XCEPTOR\r\nContent-Disposition: form-data; name=\"\(key)\"\r\n\r\n\(value)\r\n".utf8)
            }
            body += Data(
                "--XCEPTOR\r\nContent-Disposition: form-data; name=\"image\"; filename=\"\(name)\"\r\nContent-Type: image/jpeg\r\n\r\n".utf8
            )
            return body + image + Data("\r\n--XCEPTOR--\r\n".utf8)
        }
        let type = "multipart/form-data; boundary=XCEPTOR"
        let answer = try await server.call(
            "POST", "/v1/search", body: form(try Data(contentsOf: file), fields: ["k": "3"]), contentType: type)
        #expect(answer.status == 200, "\(String(decoding: answer.body, as: UTF8.self))")
        let results = try #require(try answer.json()["results"] as? [[String: Any]])
        #expect(results.count == 3 && results.first?["url"] as? String == server.run.site.url(server.run.site.images[2]))
        let cli = try await XceptorProcess.run(
            ["search", "--db", "q.sqlite", "--model", try await WorkerTests.model.value.path, "--image", file.path, "-k", "3", "--json"],
            in: server.dir)
        let expected = try #require(try jsonObject(cli.stdout)["results"] as? [[String: Any]], "\(cli.stderr)")
        #expect(results.map { $0["job"] as? Int } == expected.map { $0["job"] as? Int })
        #expect(results.map { $0["score"] as? Double } == expected.map { $0["score"] as? Double })

        let notImage = try await server.call("POST", "/v1/search", body: form(Data("<html>".utf8)), contentType: type)
        #expect(notImage.status == 422 && notImage.errorCode == "unprocessable")
        let tooBig = try await server.call("POST", "/v1/search", body: form(Data(count: 500_000)), contentType: type)
        #expect(tooBig.status == 413 && tooBig.errorCode == "too_large")
        let noImage = try await server.call("POST", "/v1/search", body: Data("--XCEPTOR--\r\n".utf8), contentType: type)
        #expect(noImage.status == 400)
        #expect(try await server.call("GET", "/healthz").status == 200)
    }

    @Test("a cursor pages through the results: the second page goes on where the first stopped")
    func cursor() async throws {
        let server = try await Server()
        defer { Task { await server.stop() } }
        let job = try #require(try await server.call("GET", "/v1/jobs?state=done&limit=1").json()["jobs"] as? [[String: Any]]).first?["job"]
        let whole = try #require(
            try await server.call("POST", "/v1/search", json: ["job": job!, "k": 10]).json()["results"] as? [[String: Any]])
        let first = try await server.call("POST", "/v1/search", json: ["job": job!, "k": 4]).json()
        let cursor = try #require(first["next_cursor"] as? String)
        let second = try await server.call("POST", "/v1/search", json: ["job": job!, "k": 6, "cursor": cursor]).json()
        let paged = (first["results"] as? [[String: Any]] ?? []) + (second["results"] as? [[String: Any]] ?? [])
        #expect(paged.map { $0["job"] as? Int } == whole.map { $0["job"] as? Int })
        let last = try await server.call("POST", "/v1/search", json: ["job": job!, "k": 1000]).json()
        #expect(last["next_cursor"] is NSNull, "no page after the last")
        let forged = try await server.call("POST", "/v1/search", json: ["job": job!, "cursor": "o99999999"])
        #expect(forged.status == 400 && forged.errorCode == "bad_request")
    }

    @Test("the token guards every route but health, readiness and the document; errors are JSON with their status")
    func tokenAndErrors() async throws {
        let server = try await Server()
        defer { Task { await server.stop() } }
        for path in ["/healthz", "/readyz", "/openapi.yaml"] {
            #expect(try await server.call("GET", path, authorized: false).status == 200, "\(path)")
        }
        for path in ["/v1/stats", "/v1/jobs", "/metrics", "/v1/jobs/1"] {
            let refused = try await server.call("GET", path, authorized: false)
            #expect(
                refused.status == 401 && refused.errorCode == "unauthorized" && refused.headers["www-authenticate"] == "Bearer", "\(path)")
            let wrong = try await server.call("GET", path, authorized: false, headers: ["Authorization": "Bearer not-the-token"])
            #expect(wrong.status == 401, "\(path)")
        }
        let cases: [(method: String, path: String, json: Any?, status: Int, code: String)] = [
            ("GET", "/v1/jobs/999999", nil, 404, "not_found"),
            ("GET", "/v1/jobs/abc", nil, 400, "bad_request"),
            ("GET", "/v1/jobs?state=sleeping", nil, 400, "bad_request"),
            ("GET", "/v1/jobs?limit=0", nil, 400, "bad_request"),
            ("GET", "/v1/images/999999/thumbnail", nil, 404, "not_found"),
            ("GET", "/v1/no-such-route", nil, 404, "not_found"),
            ("POST", "/v1/search", ["job": 1, "url": "http://x/"], 400, "bad_request"),
            ("POST", "/v1/search", ["job": 1, "k": 0], 400, "bad_request"),
            ("POST", "/v1/search", ["job": 999_999], 404, "not_found"),
            ("POST", "/v1/search", ["vector": [1, 2, 3]], 422, "unprocessable"),
            ("POST", "/v1/search", ["job": 1, "where": ["a": ["nested"]]], 400, "bad_request"),
            ("POST", "/v1/jobs/retry", ["state": "queued"], 400, "bad_request"),
            ("POST", "/v1/jobs/cancel", ["nothing": true], 400, "bad_request"),
            ("POST", "/v1/jobs", ["priority": 1], 400, "bad_request"),
        ]
        for item in cases {
            let answer = try await server.call(item.method, item.path, json: item.json)
            #expect(
                answer.status == item.status && answer.errorCode == item.code,
                "\(item.method) \(item.path): \(answer.status) \(String(decoding: answer.body, as: UTF8.self))")
            #expect(answer.headers["content-type"]?.hasPrefix("application/json") == true)
        }
        let form = try await server.call("POST", "/v1/search", body: Data("job=1".utf8), contentType: "application/x-www-form-urlencoded")
        #expect(form.status == 415 && form.errorCode == "unsupported_media_type")
    }

    @Test("an oversized body gets 413 and the server stays up; enqueue takes JSON and text, and --strict-style refusal adds nothing")
    func limitsAndEnqueue() async throws {
        let server = try await Server()
        defer { Task { await server.stop() } }
        let huge = try await server.call("POST", "/v1/search", body: Data(count: 3 << 20), contentType: "application/json")
        #expect(huge.status == 413 && huge.errorCode == "too_large")
        #expect(try await server.call("GET", "/healthz").status == 200)

        let text = try await server.call(
            "POST", "/v1/jobs", body: Data("http://images.test/a.jpg\nftp://images.test/b.jpg\n\nhttp://images.test/a.jpg\n".utf8),
            contentType: "text/plain")
        let report = try text.json()
        #expect(text.status == 200 && report["added"] as? Int == 1 && report["duplicates"] as? Int == 1 && report["invalid"] as? Int == 1)
        #expect((report["errors"] as? [[String: Any]])?.first?["line"] as? Int == 2)

        let items = try await server.call("POST", "/v1/jobs", json: [["url": "http://images.test/c.jpg", "metadata": ["shop": "paris"]]])
        let itemsReport = try items.json()
        #expect(items.status == 200 && itemsReport["added"] as? Int == 1)
        let listed = try #require(try await server.call("GET", "/v1/jobs?state=queued&limit=1000").json()["jobs"] as? [[String: Any]])
        let shop = listed.first { $0["url"] as? String == "http://images.test/c.jpg" }?["metadata"] as? [String: Any]
        #expect(shop?["shop"] as? String == "paris")

        let refused = try await server.call("POST", "/v1/jobs?strict=true", json: ["urls": ["http://images.test/d.jpg", "not a url"]])
        let refusedReport = try refused.json()
        #expect(refused.status == 422 && refusedReport["added"] as? Int == 0)
        let after = try #require(try await server.call("GET", "/v1/jobs?state=queued&limit=1000").json()["jobs"] as? [[String: Any]])
        #expect(after.count == listed.count, "a refused list adds nothing")
    }

    @Test("without a token file the API is open; SIGTERM stops the server with status 0")
    func openServerAndShutdown() async throws {
        let server = try await Server(token: false)
        #expect(try await server.call("GET", "/v1/stats", authorized: false).status == 200)
        server.process.terminate()
        await XceptorProcess.waitForExit(server.process)
        #expect(server.process.terminationStatus == 0)
    }
}
