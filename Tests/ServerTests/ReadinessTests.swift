import Foundation
import Logging
import Prometheus
import Queue
import Retrieval
import Server
import ServiceLifecycle
import TestSupport
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The server's 503 answers, over real HTTP on 127.0.0.1 against a real SQLite store: states that
/// `xceptor serve` passes through too briefly for the binary's own tests to hold still.
@Suite("serve readiness")
struct ReadinessTests {
    /// The API on a free port of 127.0.0.1 over an empty store, in its own service group, and no query
    /// embedder: a library user may serve search by job, URL and vector only.
    private static func withServer(_ body: (APIServices, String) async throws -> Void) async throws {
        let directory = try makeScratchDirectory("xceptor-server")
        let store = try SQLiteJobStore(path: directory.appendingPathComponent("q.sqlite").path)
        let search = SearchService(store: store, indexFile: directory.appendingPathComponent("q.sqlite.hnsw"))
        let services = APIServices(store: store, search: search, registry: PrometheusCollectorRegistry())
        var configuration = APIConfiguration()
        configuration.port = 0
        let logger = Logger(label: "xceptor.test")
        let (ports, listening) = AsyncStream.makeStream(of: Int.self)
        let application = APIServer.application(configuration: configuration, services: services, logger: logger) {
            listening.yield($0)
        }
        let group = ServiceGroup(services: [application], logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            do {
                try await body(services, "http://127.0.0.1:\(port)")
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    private static func call(_ url: String, method: String = "GET", body: Data? = nil, contentType: String? = nil) async throws -> (
        status: Int, body: String, errorCode: String?
    ) {
        var request = URLRequest(url: URL(string: url)!)
        request.httpMethod = method
        request.httpBody = body
        request.setValue(contentType, forHTTPHeaderField: "Content-Type")
        let (data, response) = try await URLSession.shared.data(for: request)
        let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        return (
            try #require(response as? HTTPURLResponse).statusCode, String(decoding: data, as: UTF8.self),
            (object?["error"] as? [String: Any])?["code"] as? String
        )
    }

    @Test("/readyz answers 503 not_ready until the server is ready, while /healthz and the API already answer")
    func readiness() async throws {
        try await Self.withServer { services, base in
            let loading = try await Self.call(base + "/readyz")
            #expect(loading.status == 503 && loading.errorCode == "not_ready", "\(loading)")
            #expect(try await Self.call(base + "/healthz").status == 200)
            #expect(try await Self.call(base + "/v1/stats").status == 200)
            services.isReady = true
            #expect(try await Self.call(base + "/readyz").status == 200)
        }
    }

    @Test("an image search on a server without a model is 503 not_ready, naming --model; the server stays up")
    func imageSearchWithoutModel() async throws {
        try await Self.withServer { services, base in
            services.isReady = true
            // One stored embedding, so that the search gets as far as needing a model to embed the upload.
            _ = try await services.store.enqueue([NewJob(url: "http://images.test/0.jpg")])
            let job = try #require(try await services.store.claim(limit: 1, leaseSeconds: 60, owner: "test").first)
            let facts = ImageFacts(sha256: [UInt8](repeating: 7, count: 32), width: 1, height: 1, byteCount: 1)
            _ = try await services.store.complete([
                JobCompletion(
                    lease: job.lease,
                    result: JobResult(image: facts, modelID: "xception-test@150", embedding: [1, 0, 0], labels: []))
            ])
            let boundary = "xceptor-boundary"
            let form =
                "--\(boundary)\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.jpg\"\r\n"
                + "Content-Type: image/jpeg\r\n\r\nnot really a jpeg\r\n--\(boundary)--\r\n"
            let answer = try await Self.call(
                base + "/v1/search", method: "POST", body: Data(form.utf8), contentType: "multipart/form-data; boundary=\(boundary)")
            #expect(answer.status == 503 && answer.errorCode == "not_ready" && answer.body.contains("--model"), "\(answer)")
            #expect(try await Self.call(base + "/healthz").status == 200)
        }
    }
}
