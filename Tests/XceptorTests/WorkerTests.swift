import Foundation
import Imaging
import TestSupport
import Testing

@testable import Queue

/// `xceptor worker` end to end: the real binary, the real kitchenware model, images served by a real HTTP
/// server on 127.0.0.1, a real SQLite queue.
@Suite("xceptor worker", .serialized)
struct WorkerTests {
    static let labels = "cup,fork,glass,knife,plate,spoon"

    /// The model, imported once for the suite.
    static let model = Task { () throws -> URL in
        let dir = try makeScratchDirectory()
        let keras = try ModelCommandTests.environmentPath("XCEPTOR_TEST_MODEL")
        let imported = try await XceptorProcess.run(["model", "import", keras, "--labels", labels, "--output", "m.xcm"], in: dir)
        guard imported.status == 0 else { throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: imported.stderr]) }
        return dir.appendingPathComponent("m.xcm")
    }

    /// A scratch directory with 36 distinct JPEGs (the 18 golden samples and their mirror images, so
    /// content dedupe cannot short-circuit), served from a fault server's /files/.
    struct Site {
        let dir: URL
        let files: URL
        let server: FaultServer
        let images: [String]

        init(host: String = "127.0.0.1") throws {
            dir = try makeScratchDirectory()
            files = dir.appendingPathComponent("files")
            try FileManager.default.createDirectory(at: files, withIntermediateDirectories: true)
            let originals = try FileManager.default.contentsOfDirectory(
                atPath: ModelCommandTests.golden.appendingPathComponent("images").path
            )
            .filter { $0.hasSuffix(".jpg") }.sorted()
            var images: [String] = []
            for name in originals {
                let bytes = try Data(contentsOf: ModelCommandTests.golden.appendingPathComponent("images/\(name)"))
                try bytes.write(to: files.appendingPathComponent(name))
                let mirrored = "mirror-\(name)"
                try Data(try Self.mirrored(try ImageDecoder().decode([UInt8](bytes))).jpegData(quality: 90)).write(
                    to: files.appendingPathComponent(mirrored))
                images += [name, mirrored]
            }
            self.images = images
            server = try FaultServer(files: files, host: host)
        }

        static func mirrored(_ image: RGBImage) -> RGBImage {
            var pixels = image.pixels
            for y in 0..<image.height {
                for x in 0..<image.width {
                    let from = (y * image.width + (image.width - 1 - x)) * 3, to = (y * image.width + x) * 3
                    pixels[to..<to + 3] = image.pixels[from..<from + 3]
                }
            }
            return RGBImage(width: image.width, height: image.height, pixels: pixels)
        }

        func url(_ name: String) -> String { server.url("/files/\(name)") }

        func enqueue(_ urls: [String]) async throws {
            try urls.joined(separator: "\n").write(to: dir.appendingPathComponent("urls.txt"), atomically: true, encoding: .utf8)
            let result = try await XceptorProcess.run(["enqueue", "--db", "q.sqlite", "--from", "urls.txt"], in: dir)
            #expect(result.status == 0, "\(result.stderr)")
        }

        /// The worker's arguments without --db.
        func workerArgumentsWithoutDatabase() async throws -> [String] {
            [
                "worker", "--model", try await WorkerTests.model.value.path, "--allow-private-networks", "--progress", "log",
                "--progress-interval", "1",
            ]
        }

        func workerArguments(_ extra: [String]) async throws -> [String] {
            [
                "worker", "--db", "q.sqlite", "--model", try await WorkerTests.model.value.path, "--allow-private-networks",
                "--progress", "log", "--progress-interval", "1",
            ] + extra
        }

        func store() throws -> SQLiteJobStore {
            try SQLiteJobStore(path: dir.appendingPathComponent("q.sqlite").path, create: false)
        }

        func jobsByURL() async throws -> [String: Job] {
            let jobs = try await store().jobs(state: nil, afterID: nil, limit: 10_000)
            return Dictionary(uniqueKeysWithValues: jobs.map { ($0.url, $0) })
        }

        /// A consistent copy of the store, what its write-ahead log holds included (copying the file alone can
        /// miss the last commits while another connection keeps the log from being checkpointed).
        func copyStore(to destination: URL) throws {
            let path = destination.path.replacingOccurrences(of: "'", with: "''")
            try store().withRawConnection { try $0.execute("VACUUM INTO '\(path)'") }
        }

        func count(_ sql: String) throws -> Int {
            try store().withRawConnection { try $0.first(sql) { $0.int(0) } ?? -1 }
        }
    }

    /// One worker run over good and bad URLs, shared by the tests below, so each checks one thing and a
    /// failure in one does not hide the others.
    struct FinishedRun: Sendable {
        let site: Site
        let good: [String]
        let bad: [String: String]
        let otherFormats: [String]
        let worker: XceptorProcess.Output
        var doneJobs: Int { good.count }
        var embeddings: Int { site.images.count + otherFormats.count }
    }

    static let finishedRun = Task { () throws -> FinishedRun in
        let site = try Site()
        try Data("<html><body>not an image</body></html>".utf8).write(to: site.files.appendingPathComponent("page.jpg"))
        let whole = try Data(contentsOf: site.files.appendingPathComponent(site.images[0]))
        try whole.prefix(whole.count / 2).write(to: site.files.appendingPathComponent("truncated.jpg"))
        try whole.write(to: site.files.appendingPathComponent("same-bytes.jpg"))
        let pngBomb: [UInt8] =
            [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13] + Array("IHDR".utf8)
            + [0, 1, 0x86, 0xA0, 0, 1, 0x86, 0xA0, 8, 2, 0, 0, 0] + [UInt8](repeating: 0, count: 64)  // 100000 x 100000
        try Data(pngBomb).write(to: site.files.appendingPathComponent("bomb.png"))
        try Data().write(to: site.files.appendingPathComponent("empty.jpg"))
        let bad: [String: String] = [
            site.url("bomb.png"): "100000x100000 pixels, over the limit",
            site.url("empty.jpg"): "empty",
            site.url("page.jpg"): "not an image",
            site.url("truncated.jpg"): "corrupt or truncated JPEG",
            site.url("missing.jpg"): "HTTP 404",
            site.server.url("/status/410"): "HTTP 410",
            site.server.url("/redirect-ftp"): "not http or https",
        ]
        // PNG, GIF and WebP are fetched and embedded as well as JPEG.
        let otherFormats = ["rgb.png", "palette.png", "interlaced.gif", "lossy.webp"]
        for name in otherFormats {
            try FileManager.default.copyItem(
                at: FaultServer.fixtures.appendingPathComponent("formats/\(name)"), to: site.files.appendingPathComponent(name))
        }
        let good = site.images.map(site.url) + [site.url("same-bytes.jpg")] + otherFormats.map(site.url)
        try await site.enqueue(good + bad.keys.sorted())
        let worker = try await XceptorProcess.run(try await site.workerArguments(["--until-empty", "--json"]), in: site.dir)
        return FinishedRun(site: site, good: good, bad: bad, otherFormats: otherFormats, worker: worker)
    }

    @Test("every good job is done with the embedding and label `embed` computes; every bad one failed with its reason")
    func endToEnd() async throws {
        let run = try await Self.finishedRun.value
        let (site, good, bad, otherFormats, worker) = (run.site, run.good, run.bad, run.otherFormats, run.worker)
        #expect(worker.status == 0, "\(worker.stderr)")
        #expect(worker.stderr.contains("worker stopped") && worker.stderr.contains("done=\(good.count) elapsed_s="), "\(worker.stderr)")
        #expect(worker.stderr.contains(/engine_busy=[0-9]+\.[0-9]%/), "\(worker.stderr)")
        let summary = try jsonObject(worker.stdout)
        #expect(summary["done"] as? Int == good.count && summary["failed"] as? Int == bad.count, "\(worker.stdout)")
        #expect((summary["engine_busy"] as? Double ?? 0) > 0 && (summary["engine_busy"] as? Double ?? 2) <= 1, "\(worker.stdout)")
        // The run's CPU time, and the engine threads' part of it: some, and no more than the cores could give.
        let cpu = try #require(summary["cpu_seconds"] as? Double, "\(worker.stdout)")
        let engineCPU = try #require(summary["engine_cpu_seconds"] as? Double, "\(worker.stdout)")
        let elapsed = try #require(summary["elapsed_seconds"] as? Double)
        #expect(engineCPU > 0 && engineCPU < cpu, "\(worker.stdout)")
        #expect(cpu <= elapsed * Double(ProcessInfo.processInfo.activeProcessorCount) + 0.1, "\(worker.stdout)")
        #expect(
            worker.stderr.contains(/\scpu_s=[0-9]+\.[0-9]{2}/) && worker.stderr.contains(/engine_cpu_s=[0-9]+\.[0-9]{2}/),
            "\(worker.stderr)")

        let embedded = try await XceptorProcess.run(
            ["embed", "--model", try await Self.model.value.path, "--json"]
                + site.images.map { site.files.appendingPathComponent($0).path }, in: site.dir)
        #expect(embedded.status == 0, "\(embedded.stderr)")
        let reference = try embedded.stdout.split(separator: "\n").map { try jsonObject($0) }
        #expect(reference.count == site.images.count)

        let jobs = try await site.jobsByURL()
        let store = try site.store()
        for (name, expected) in zip(site.images, reference) {
            let job = try #require(jobs[site.url(name)])
            #expect(job.state == .done, "\(name): \(job.lastError ?? "")")
            let result = try #require(try await store.result(forJob: job.id), "\(name)")
            let embedding = try #require(expected["embedding"] as? [Double]).map(Float.init)
            #expect(cosine(result.embedding, embedding) >= 0.9999, "\(name)")
            let topLabel = (expected["labels"] as? [[String: Any]])?.first?["label"] as? String
            #expect(result.labels.first?.label == topLabel, "\(name)")
            #expect(result.labels.count == 5)
            // A JPEG preview that fits in 128 px with the image's own aspect ratio (made from the square model input).
            let thumbnailBytes = try #require(result.image.thumbnail, "\(name): a thumbnail")
            #expect(ImageFormat.sniff(thumbnailBytes) == .jpeg, "\(name): a JPEG thumbnail")
            let thumbnail = try ImageDecoder().decode(thumbnailBytes)
            let (width, height) = (result.image.width, result.image.height)
            let longest = max(thumbnail.width, thumbnail.height)
            let aspect: Double = Double(width) / Double(height)
            let thumbnailAspect: Double = Double(thumbnail.width) / Double(thumbnail.height)
            #expect(longest == min(128, max(width, height)), "\(name): \(thumbnail.width)x\(thumbnail.height)")
            #expect(abs(thumbnailAspect - aspect) < 0.05 * aspect, "\(name): \(thumbnail.width)x\(thumbnail.height) for \(width)x\(height)")
        }
        // The same bytes under two URLs: embedded once, both jobs point at it.
        let original = try #require(jobs[site.url(site.images[0])]), copy = try #require(jobs[site.url("same-bytes.jpg")])
        #expect(copy.state == .done && copy.imageID == original.imageID)
        #expect(try site.count("SELECT count(*) FROM embeddings") == run.embeddings)
        for name in otherFormats {
            #expect(jobs[site.url(name)]?.state == .done, "\(name): \(jobs[site.url(name)]?.lastError ?? "")")
        }

        for (url, reason) in bad {
            let job = try #require(jobs[url])
            #expect(job.state == .failed && job.errorClass == .permanent, "\(url): \(job.state)")
            #expect(job.lastError?.contains(reason) == true, "\(url): \(job.lastError ?? "no error")")
        }
    }

    @Test("search: a stored image finds itself first, then its kind; a file is embedded on the fly; the index answers as the scan")
    func search() async throws {
        let run = try await Self.finishedRun.value
        let site = run.site
        let jobs = try await site.jobsByURL()
        let modelPath = try await Self.model.value.path
        let query = try #require(jobs[site.url(site.images[0])])
        let byJob = try jsonObject(
            try await XceptorProcess.run(
                ["search", "--db", "q.sqlite", "--model", modelPath, "--job", "\(query.id)", "-k", "5", "--json"], in: site.dir
            ).stdout)
        let results = try #require(byJob["results"] as? [[String: Any]])
        #expect(results.count == 5 && byJob["method"] as? String == "exact")
        #expect(results.first?["job"] as? Int == Int(query.id) && (results.first?["score"] as? Double ?? 0) > 0.9999)
        let queryLabel = try #require(try await site.store().result(forJob: query.id)).labels.first?.label
        let secondLabel = ((results.dropFirst().first?["labels"] as? [[String: Any]])?.first?["label"] as? String)
        #expect(secondLabel == queryLabel, "the nearest other image is of the same kind")

        let byFile = try await XceptorProcess.run(
            [
                "search", "--db", "q.sqlite", "--model", modelPath, "--image", site.files.appendingPathComponent(site.images[2]).path,
                "-k", "1", "--json",
            ], in: site.dir)
        let fileResult = try #require((try jsonObject(byFile.stdout)["results"] as? [[String: Any]])?.first, "\(byFile.stderr)")
        #expect(fileResult["url"] as? String == site.url(site.images[2]) && (fileResult["score"] as? Double ?? 0) > 0.999)

        // A vector given as the JSON array itself, and as a file holding it, finds the job it came from.
        let embedding = try #require(try await site.store().result(forJob: query.id)).embedding
        let array = "[" + embedding.map { "\($0)" }.joined(separator: ",") + "]"
        try array.write(to: site.dir.appendingPathComponent("query.json"), atomically: true, encoding: .utf8)
        for given in [array, "query.json"] {
            let byVector = try await XceptorProcess.run(
                ["search", "--db", "q.sqlite", "--vector", given, "-k", "1", "--json"], in: site.dir)
            let best = (try jsonObject(byVector.stdout)["results"] as? [[String: Any]])?.first
            #expect(best?["job"] as? Int == Int(query.id) && (best?["score"] as? Double ?? 0) > 0.9999, "\(byVector.stderr)")
        }

        // Filtered by the label of the query's kind: every result has it as its best label.
        let label = try #require(queryLabel)
        let filtered = try jsonObject(
            try await XceptorProcess.run(
                ["search", "--db", "q.sqlite", "--job", "\(query.id)", "-k", "40", "--label", label, "--json"], in: site.dir
            ).stdout)
        let labelled = try #require(filtered["results"] as? [[String: Any]])
        #expect(!labelled.isEmpty && labelled.allSatisfy { (($0["labels"] as? [[String: Any]])?.first?["label"] as? String) == label })

        // With an HNSW index beside the database, search answers as the scan did.
        let built = try await XceptorProcess.run(["index", "build", "--db", "q.sqlite", "--model", modelPath, "--m", "8"], in: site.dir)
        #expect(built.status == 0 && built.stdout.contains("indexed \(run.embeddings) embeddings"), "\(built.stderr)")
        let status = try jsonObject(try await XceptorProcess.run(["index", "status", "--db", "q.sqlite", "--json"], in: site.dir).stdout)
        #expect(status["behind"] as? Int == 0 && status["indexed"] as? Int == run.embeddings, "\(status)")
        let byIndex = try jsonObject(
            try await XceptorProcess.run(
                [
                    "search", "--db", "q.sqlite", "--model", modelPath, "--job", "\(query.id)", "-k", "5", "--index-threshold", "1",
                    "--json",
                ],
                in: site.dir
            ).stdout)
        let indexed = try #require(byIndex["results"] as? [[String: Any]])
        #expect(byIndex["method"] as? String == "index")
        #expect(indexed.map { $0["job"] as? Int } == results.map { $0["job"] as? Int })
    }

    @Test("duplicates: the same bytes at two URLs form a group even at threshold 1; at -1 every job is in one")
    func duplicates() async throws {
        let run = try await Self.finishedRun.value
        let jobs = try await run.site.jobsByURL()
        let original = try #require(jobs[run.site.url(run.site.images[0])]), copy = try #require(jobs[run.site.url("same-bytes.jpg")])
        try await checkDuplicates(run.site, original: original, copy: copy, doneJobs: run.doneJobs)
    }

    @Test("export: jsonl holds every done job with its stored embedding; npy the same matrix, in the same order")
    func export() async throws {
        let run = try await Self.finishedRun.value
        try await checkExport(run.site, doneJobs: run.doneJobs)
    }

    @Test("an embedding removed after the index was built retires the index: the store is scanned, with a warning")
    func staleIndex() async throws {
        let run = try await Self.finishedRun.value
        // On a copy of the store, so the other tests keep theirs.
        let dir = try makeScratchDirectory()
        try run.site.copyStore(to: dir.appendingPathComponent("q.sqlite"))
        let built = try await XceptorProcess.run(["index", "build", "--db", "q.sqlite"], in: dir)
        #expect(built.status == 0, "\(built.stderr)")
        let jobs = try await run.site.jobsByURL()
        let query = try #require(jobs[run.site.url(run.site.images[0])])
        let removedJob = try #require(jobs[run.site.url(run.site.images[1])])
        let store = try SQLiteJobStore(path: dir.appendingPathComponent("q.sqlite").path, create: false)
        _ = try store.withRawConnection { try $0.run("DELETE FROM embeddings WHERE image_id = ?", [.integer(removedJob.imageID!)]) }
        let afterPurge = try await XceptorProcess.run(
            ["search", "--db", "q.sqlite", "--job", "\(query.id)", "-k", "40", "--index-threshold", "1", "--json"], in: dir)
        #expect(
            afterPurge.stderr.contains("purged since it was built") && afterPurge.stderr.contains("index build"), "\(afterPurge.stderr)")
        let remaining = try #require(try jsonObject(afterPurge.stdout)["results"] as? [[String: Any]])
        #expect(remaining.count == run.embeddings - 1)
        #expect(!remaining.contains { $0["job"] as? Int == Int(removedJob.id) })
    }

    /// `duplicates`: the same bytes at two URLs form a group even at threshold 1; at -1 every job is in one.
    func checkDuplicates(_ site: Site, original: Job, copy: Job, doneJobs: Int) async throws {
        let strict = try await XceptorProcess.run(["duplicates", "--db", "q.sqlite", "--threshold", "1", "--json"], in: site.dir)
        #expect(strict.status == 0, "\(strict.stderr)")
        let groups = try #require(try jsonObject(strict.stdout)["groups"] as? [[String: Any]])
        let members = groups.map { ($0["jobs"] as? [[String: Any]] ?? []).map { ($0["job"] as? Int ?? -1, $0["same_bytes_as"] as? Int) } }
        #expect(members.count == 1 && members.first?.map(\.0) == [Int(original.id), Int(copy.id)], "\(strict.stdout)")
        #expect(members.first?.last?.1 == Int(original.id), "the copy names the job it copies")

        let loose = try await XceptorProcess.run(["duplicates", "--db", "q.sqlite", "--threshold=-1"], in: site.dir)
        #expect(loose.status == 0 && loose.stdout.hasPrefix("1 groups, \(doneJobs) jobs"), "\(loose.stdout)\(loose.stderr)")
    }

    /// `export`: jsonl holds every done job with its stored embedding; npy the same matrix, in the same order.
    func checkExport(_ site: Site, doneJobs: Int) async throws {
        let jsonl = try await XceptorProcess.run(["export", "--db", "q.sqlite", "--format", "jsonl"], in: site.dir)
        #expect(jsonl.status == 0, "\(jsonl.stderr)")
        let lines = try jsonl.stdout.split(separator: "\n").map { try jsonObject($0) }
        #expect(lines.count == doneJobs)
        let store = try site.store()
        var jobOrder: [Int] = []
        for line in lines {
            let job = try #require(line["job"] as? Int)
            jobOrder.append(job)
            let stored = try #require(try await store.result(forJob: Int64(job)))
            #expect((line["embedding"] as? [Double])?.map(Float.init) == stored.embedding, "job \(job): exported as stored")
            #expect((line["labels"] as? [[String: Any]])?.first?["label"] as? String == stored.labels.first?.label)
            #expect(line["sha256"] as? String == stored.image.sha256.map { String(format: "%02x", $0) }.joined())
        }
        #expect(jobOrder == jobOrder.sorted())

        let npy = try await XceptorProcess.run(
            ["export", "--db", "q.sqlite", "--format", "npy", "--output", "e.npy", "--normalized"], in: site.dir)
        #expect(npy.status == 0 && npy.stderr.contains("exported \(doneJobs) embeddings"), "\(npy.stderr)")
        let matrix = try Data(contentsOf: site.dir.appendingPathComponent("e.npy"))
        let header = String(decoding: matrix[10..<128], as: UTF8.self)
        #expect(matrix.prefix(6) == Data([0x93] + Array("NUMPY".utf8)) && header.contains("'shape': (\(doneJobs), 2048)"), "\(header)")
        #expect(matrix.count == 128 + doneJobs * 2048 * 4)
        let rows = try String(contentsOf: site.dir.appendingPathComponent("e.jsonl"), encoding: .utf8).split(separator: "\n").map {
            try jsonObject($0)
        }
        #expect(rows.map { $0["job"] as? Int } == jobOrder && rows.allSatisfy { $0["embedding"] == nil })
        let values = matrix.dropFirst(128).withUnsafeBytes { raw in
            (0..<raw.count / 4).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) }
        }
        for (row, line) in lines.enumerated() {
            let exported = Array(values[row * 2048..<(row + 1) * 2048])
            let raw = try #require(line["embedding"] as? [Double]).map(Float.init)
            #expect(
                cosine(exported, raw) > 0.99999 && abs(exported.reduce(0) { $0 + $1 * $1 } - 1) < 1e-4,
                "row \(row): unit length, same direction")
        }
        let refused = try await XceptorProcess.run(["export", "--db", "q.sqlite", "--format", "npy"], in: site.dir)
        #expect(refused.status != 0 && refused.stderr.contains("--output NAME.npy"), "\(refused.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: site.dir.path).allSatisfy { !$0.contains(".partial-") })
    }

    @Test("a worker killed with SIGKILL mid-run, then restarted: every job done once, no orphans, no duplicate rows")
    func crashAndRestart() async throws {
        let site = try Site()
        // The first image comes at once; the rest wait at the fault server's gate until after the kill, so the
        // worker holds leases then however fast or slow the machine is (a fast one once finished them all
        // before the test looked). Held transfers send nothing: the low-speed limit is stretched.
        try await site.enqueue(site.images.enumerated().map { index, name in site.url(name) + (index == 0 ? "" : "?gate=crash") })
        let arguments = try await site.workerArguments([
            "--lease-seconds", "2", "--low-speed-seconds", "600", "--fetch-timeout", "600",
        ])

        let (first, _, _) = try XceptorProcess.start(arguments, in: site.dir)
        defer { stopIfRunning(first) }
        try await waitUntil(timeout: 120) { try await site.store().status().counts[.done] ?? 0 >= 1 }
        try await waitUntil(timeout: 120) {
            (try? jsonObject(try await httpGet(site.server.url("/gate/crash"))))?["waiting"] as? Int ?? 0 > 0
        }
        kill(first.processIdentifier, SIGKILL)
        await XceptorProcess.waitForExit(first)
        let orphaned = try await site.store().status().counts[.running] ?? 0
        #expect(orphaned > 0, "the kill should leave leased jobs behind")
        _ = try await httpGet(site.server.url("/gate/crash/open"))

        let second = try await XceptorProcess.run(arguments + ["--until-empty"], in: site.dir)
        #expect(second.status == 0, "\(second.stderr)")
        let status = try await site.store().status()
        #expect(status.counts[.done] == site.images.count)
        #expect(status.counts[.running] == 0 && status.counts[.queued] == 0)
        #expect(try site.count("SELECT count(*) FROM images") == site.images.count)
        #expect(try site.count("SELECT count(*) FROM embeddings") == site.images.count)
        #expect(try site.count("SELECT count(*) FROM labels") == site.images.count * 5)
        #expect(try site.count("SELECT count(*) FROM jobs WHERE image_id IS NULL") == 0)
    }

    @Test("SIGTERM mid-run: exit 0 within the grace period, finished work stored, the rest released unburned; /metrics served")
    func gracefulStop() async throws {
        let site = try Site()
        // Two transfers that stall after their headers (for longer than the stall limit allows here) are
        // still in flight when the grace period ends.
        let stalled = [site.server.url("/stall?1"), site.server.url("/stall?2")]
        try await site.enqueue(stalled + site.images.map(site.url))
        let (worker, _, stderr) = try XceptorProcess.start(
            try await site.workerArguments(
                ["--grace-seconds", "3", "--metrics-port", "0", "--low-speed-seconds", "120", "--fetch-timeout", "120"]), in: site.dir)
        defer { stopIfRunning(worker) }

        try await waitUntil(timeout: 120) { try await site.store().status().counts[.done] ?? 0 >= 1 }
        let log = try String(contentsOf: stderr, encoding: .utf8)
        let port = try #require(log.firstMatch(of: /listening on 127\.0\.0\.1:(\d+)/)?.1, "\(log)")
        let metrics = try await httpGet("http://127.0.0.1:\(port)/metrics")
        #expect(metrics.contains("xceptor_jobs_claimed_total"), "\(metrics)")
        #expect(metrics.contains("xceptor_stage_duration_seconds_bucket"), "\(metrics)")
        #expect(metrics.contains("xceptor_inference_batch_size"), "\(metrics)")
        // A job is done, so the engine has computed at least one batch: its busy time is above zero.
        let busy = try #require(metrics.firstMatch(of: /\nxceptor_inference_busy_seconds_total ([0-9.e+-]+)/)?.1, "\(metrics)")
        #expect((Double(busy) ?? 0) > 0, "\(metrics)")

        let signalled = ContinuousClock.now
        kill(worker.processIdentifier, SIGTERM)
        await XceptorProcess.waitForExit(worker)
        let took = ContinuousClock.now - signalled
        let output = try String(contentsOf: stderr, encoding: .utf8)
        #expect(worker.terminationStatus == 0, "\(output)")
        #expect(took < .seconds(3 + 5), "stopped after \(took)")

        let jobs = try await site.jobsByURL()
        #expect(jobs.values.allSatisfy { $0.state == .done || $0.state == .queued }, "nothing running, failed or lost")
        for url in stalled {
            let job = try #require(jobs[url])
            #expect(job.state == .queued && job.attempts == 0, "\(url) released without burning an attempt")
        }
        #expect(output.contains("released unfinished jobs"), "\(output)")
    }

    @Test("a write lock held by another process for three minutes is waited out: the worker says so, then finishes its queue")
    func heldLock() async throws {
        let site = try Site()
        // Files held at the fault server's gate until the lock is taken, so jobs are in flight then, and finish
        // (wanting to write) while it is held. Held transfers send nothing: the low-speed limit is stretched.
        try await site.enqueue(site.images.map { site.url($0) + "?gate=lock" })
        let (worker, _, stderr) = try XceptorProcess.start(
            try await site.workerArguments([
                "--until-empty", "--fetch-concurrency", "4", "--metrics-port", "0", "--low-speed-seconds", "600", "--fetch-timeout",
                "600",
            ]),
            in: site.dir)
        defer { stopIfRunning(worker) }
        try await waitUntil(timeout: 120) { try await site.store().status().counts[.running] ?? 0 >= 1 }

        // SQLite's own shell takes the write lock and keeps it (longer than the old give-up of about a minute).
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        shell.arguments = [site.dir.appendingPathComponent("q.sqlite").path]
        let input = Pipe(), output = Pipe()
        (shell.standardInput, shell.standardOutput) = (input, output)
        try shell.run()
        defer { if shell.isRunning { shell.terminate() } }
        input.fileHandleForWriting.write(Data(".timeout 60000\nBEGIN IMMEDIATE;\nSELECT 'locked';\n".utf8))
        let answer = String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
        #expect(answer.contains("locked"), "the shell did not take the lock: \(answer)")
        _ = try await httpGet(site.server.url("/gate/lock/open"))
        let taken = ContinuousClock.now
        while ContinuousClock.now - taken < .seconds(180) {
            #expect(worker.isRunning, "the worker gave up while the lock was held")
            guard worker.isRunning else { break }
            try await Task.sleep(for: .seconds(5))
        }
        let duringLock = try String(contentsOf: stderr, encoding: .utf8)
        #expect(duringLock.contains("holds the job store's write lock; waiting for it"), "\(duringLock)")
        let log = try String(contentsOf: stderr, encoding: .utf8)
        let port = try #require(log.firstMatch(of: /listening on 127\.0\.0\.1:(\d+)/)?.1, "\(log)")
        let metrics = try await httpGet("http://127.0.0.1:\(port)/metrics")
        let waited = try #require(
            metrics.firstMatch(of: /xceptor_store_wait_seconds_total\{reason="locked"\} ([0-9.e+-]+)/)?.1, "\(metrics)")
        #expect((Double(waited) ?? 0) >= 60, "\(metrics)")
        input.fileHandleForWriting.write(Data("COMMIT;\n.quit\n".utf8))
        shell.waitUntilExit()

        for _ in 0..<600 where worker.isRunning { try await Task.sleep(for: .milliseconds(200)) }
        await XceptorProcess.waitForExit(worker)
        let after = try String(contentsOf: stderr, encoding: .utf8)
        #expect(worker.terminationStatus == 0, "\(after)")
        #expect(after.contains("lock was released; carrying on"), "\(after)")
        let counts = try await site.store().status().counts
        #expect(counts[.done] == site.images.count && counts.values.reduce(0, +) == site.images.count, "\(counts)")
    }

    @Test("proxies from the environment are never used: with http_proxy naming a dead port, every job is fetched directly")
    func environmentProxiesIgnored() async throws {
        let site = try Site()
        try await site.enqueue(Array(site.images.prefix(4)).map(site.url))
        // Port 1 on loopback: nothing listens, so a fetch through the proxy would fail to connect.
        let proxy = "http://127.0.0.1:1"
        let run = try await XceptorProcess.run(
            try await site.workerArguments(["--until-empty"]),
            environment: ["http_proxy": proxy, "HTTP_PROXY": proxy, "https_proxy": proxy, "ALL_PROXY": proxy, "all_proxy": proxy],
            in: site.dir)
        #expect(run.status == 0, "\(run.stderr)")
        let counts = try await site.store().status().counts
        #expect(counts[.done] == 4, "\(counts): fetched through the environment's proxy")
    }

    @Test("the worker runs in the precision asked for (the flag over $XCEPTOR_PRECISION) and records it with each embedding")
    func precisionRecorded() async throws {
        let site = try Site()
        try await site.enqueue(Array(site.images.prefix(2)).map(site.url))
        let bad = try await XceptorProcess.run(
            try await site.workerArguments(["--until-empty"]), environment: ["XCEPTOR_PRECISION": "fast"], in: site.dir)
        #expect(bad.status == 64 && bad.stderr.contains("XCEPTOR_PRECISION must be fp32, bf16, int8 or auto"), "\(bad.stderr)")
        // int8 needs a calibrated model: refused before any job is claimed, saying how to calibrate.
        let int8 = try await XceptorProcess.run(try await site.workerArguments(["--until-empty", "--precision", "int8"]), in: site.dir)
        #expect(int8.status == 1 && int8.stderr.contains("xceptor model calibrate"), "\(int8.stderr)")
        #expect(try await site.store().status().counts[.queued] == 2)

        let bf16 = try await XceptorProcess.run(
            try await site.workerArguments(["--until-empty"]), environment: ["XCEPTOR_PRECISION": "bf16"], in: site.dir)
        if bf16.status == 1 {
            // A CPU without bf16 instructions: refused up front, with what to do, and nothing claimed.
            #expect(bf16.stderr.contains("Run with --precision fp32"), "\(bf16.stderr)")
            #expect(try await site.store().status().counts[.queued] == 2)
            return
        }
        #expect(bf16.status == 0, "\(bf16.stderr)")
        let store = try site.store()
        let first = try await site.jobsByURL()
        for name in site.images.prefix(2) {
            let job = try #require(first[site.url(name)])
            #expect(try await store.result(forJob: job.id)?.precision == "bf16", "\(name)")
        }
        let shown = try await XceptorProcess.run(
            ["jobs", "show", "--db", "q.sqlite", String(try #require(first[site.url(site.images[0])]).id), "--json"], in: site.dir)
        #expect(shown.stdout.contains(#""precision":"bf16""#), "\(shown.stdout)")

        try await site.enqueue(Array(site.images[2..<4]).map(site.url))
        let fp32 = try await XceptorProcess.run(
            try await site.workerArguments(["--until-empty", "--precision", "fp32"]), environment: ["XCEPTOR_PRECISION": "bf16"],
            in: site.dir)
        #expect(fp32.status == 0, "\(fp32.stderr)")
        let second = try await site.jobsByURL()
        for name in site.images[2..<4] {
            let job = try #require(second[site.url(name)])
            #expect(try await store.result(forJob: job.id)?.precision == "fp32", "\(name)")
        }
    }

    @Test(
        "--proxy: the target's own address is checked (a loopback image is refused though the proxy is on loopback), then fetched through it"
    )
    func throughProxy() async throws {
        let site = try Site()
        let url = site.url(site.images[0])
        try await site.enqueue([url])
        let proxy = try ProxyServer()
        let guarded = try await XceptorProcess.run(
            [
                "worker", "--db", "q.sqlite", "--model", try await WorkerTests.model.value.path, "--until-empty", "--progress", "none",
                "--proxy", proxy.url,
            ], in: site.dir)
        #expect(guarded.status == 0, "\(guarded.stderr)")
        let refused = try #require(try await site.jobsByURL()[url])
        #expect(refused.state == .failed && refused.lastError?.contains("through the proxy") == true, "\(refused.lastError ?? "")")
        #expect(try proxy.tunnels().isEmpty)

        #expect(try await XceptorProcess.run(["jobs", "retry", "--db", "q.sqlite", "--failed"], in: site.dir).status == 0)
        let allowed = try await XceptorProcess.run(try await site.workerArguments(["--until-empty", "--proxy", proxy.url]), in: site.dir)
        #expect(allowed.status == 0, "\(allowed.stderr)")
        #expect(try await site.jobsByURL()[url]?.state == .done)
        #expect(try proxy.tunnels() == ["127.0.0.1:\(site.server.port)"])
    }

    @Test("a second SIGTERM exits at once")
    func secondSignal() async throws {
        let site = try Site()
        try await site.enqueue([site.server.url("/stall?a")])
        let (worker, _, stderr) = try XceptorProcess.start(try await site.workerArguments(["--grace-seconds", "60"]), in: site.dir)
        defer { stopIfRunning(worker) }
        try await waitUntil(timeout: 60) { try await site.store().status().counts[.running] ?? 0 >= 1 }
        kill(worker.processIdentifier, SIGTERM)
        try await Task.sleep(for: .milliseconds(300))
        let signalled = ContinuousClock.now
        kill(worker.processIdentifier, SIGTERM)
        await XceptorProcess.waitForExit(worker)
        #expect(ContinuousClock.now - signalled < .seconds(5))
        #expect(worker.terminationStatus != 0)
        #expect(try String(contentsOf: stderr, encoding: .utf8).contains("exiting now"))
    }

    @Test("two workers on one database finish the queue together, no job done twice (at 299; search embeds a query at 299 too)")
    func twoWorkers() async throws {
        let site = try Site()
        try await site.enqueue(site.images.map(site.url))
        let arguments = try await site.workerArguments(["--until-empty", "--fetch-concurrency", "4", "--batch", "4", "--size", "299"])
        async let first = XceptorProcess.run(arguments + ["--id", "worker-a"], in: site.dir)
        async let second = XceptorProcess.run(arguments + ["--id", "worker-b"], in: site.dir)
        let (a, b) = try await (first, second)
        #expect(a.status == 0 && b.status == 0, "\(a.stderr)\n\(b.stderr)")

        let jobs = try await site.jobsByURL()
        #expect(jobs.values.allSatisfy { $0.state == .done && $0.attempts == 1 }, "each job claimed and done exactly once")
        // These embeddings were made at 299: a file query is embedded at 299 too, and finds its stored copy.
        let modelPath = try await Self.model.value.path
        let byFile = try await XceptorProcess.run(
            [
                "search", "--db", "q.sqlite", "--model", modelPath, "--image", site.files.appendingPathComponent(site.images[1]).path,
                "-k", "1", "--json",
            ], in: site.dir)
        let found = try #require((try jsonObject(byFile.stdout)["results"] as? [[String: Any]])?.first, "\(byFile.stderr)")
        #expect(found["url"] as? String == site.url(site.images[1]) && (found["score"] as? Double ?? 0) > 0.999, "\(found)")
        let doneBy = [a, b].map { Int($0.stderr.firstMatch(of: /done=(\d+) elapsed_s=/)?.1 ?? "") ?? -1 }
        #expect(doneBy.reduce(0, +) == site.images.count, "\(doneBy)")
        #expect(try site.count("SELECT count(*) FROM embeddings") == site.images.count)
    }
}

func cosine(_ a: [Float], _ b: [Float]) -> Double {
    guard a.count == b.count else { return -1 }
    var dot = 0.0, normA = 0.0, normB = 0.0
    for (x, y) in zip(a, b) {
        dot += Double(x) * Double(y)
        normA += Double(x) * Double(x)
        normB += Double(y) * Double(y)
    }
    return dot / (normA * normB).squareRoot()
}

/// A worker left running by a failed expectation must not outlive the test.
func stopIfRunning(_ process: Process) {
    if process.isRunning { kill(process.processIdentifier, SIGKILL) }
}

/// Polls `condition` every 50 ms until it holds, or fails after `timeout` seconds.
func waitUntil(timeout: Double, _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(timeout)
    while try await !condition() {
        guard ContinuousClock.now < deadline else { throw CancellationError() }
        try await Task.sleep(for: .milliseconds(50))
    }
}

/// GET with curl (installed with the build dependencies), so the test needs no HTTP client library.
func httpGet(_ url: String) async throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["curl", "-fsS", "--max-time", "10", url]
    let output = Pipe()
    process.standardOutput = output
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
}
