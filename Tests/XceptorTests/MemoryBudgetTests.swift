import Foundation
import TestSupport
import Testing

@testable import Queue

/// The worker's memory budget against images made to exhaust memory: 8000x8000 progressive JPEGs with
/// EXIF rotation, PNGs and WebPs (64 megapixels each, the decoder's limit), written by cjpeg, pnmtopng and
/// cwebp (Benchmarks/memory/make-hostile.py), served by the fault server. The peak is the kernel's
/// (VmHWM), as the worker reports it when it stops.
@Suite("Worker memory budget", .serialized)
struct MemoryBudgetTests {
    static let images = Task { () throws -> URL in
        let directory = try makeScratchDirectory("xceptor-hostile")
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "../../Benchmarks/memory/make-hostile.py"
        )
        .standardizedFileURL
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path, directory.path, "6"]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CocoaError(
                .fileWriteUnknown,
                userInfo: [NSLocalizedDescriptionKey: "make-hostile.py failed (needs cjpeg, pnmtopng, cwebp: scripts/install-deps.sh)"])
        }
        return directory
    }

    @Test("six 64-megapixel images under --memory-budget 800M: every job done, the peak within the budget")
    func hostileImagesWithinBudget() async throws {
        let files = try await Self.images.value
        let server = try FaultServer(files: files)
        let dir = try makeScratchDirectory()
        let names = try FileManager.default.contentsOfDirectory(atPath: files.path).filter { $0.hasPrefix("hostile-") }.sorted()
        #expect(names.count == 6)
        try names.map { server.url("/files/\($0)") }.joined(separator: "\n").write(
            to: dir.appendingPathComponent("urls.txt"), atomically: true, encoding: .utf8)
        let enqueued = try await XceptorProcess.run(["enqueue", "--db", "q.sqlite", "--from", "urls.txt"], in: dir)
        #expect(enqueued.status == 0, "\(enqueued.stderr)")

        let run = try await XceptorProcess.run(
            [
                "worker", "--db", "q.sqlite", "--model", try await WorkerTests.model.value.path, "--allow-private-networks",
                "--until-empty", "--progress", "none", "--memory-budget", "800M",
            ], in: dir)
        #expect(run.status == 0, "\(run.stderr)")
        let stopped = try #require(run.stderr.split(separator: "\n").first { $0.contains("worker stopped") })
        let peak = try #require(stopped.split(separator: " ").first { $0.hasPrefix("peak_rss_mib=") }.flatMap { Int($0.dropFirst(13)) })
        // Without the budget the same run peaked at 860 MiB on a 2-core machine (two decodes at once, and
        // every body fetched at the start); Benchmarks/memory/run.sh compares them over 100 images.
        print("six 64-megapixel images at --memory-budget 800M: peak RSS \(peak) MiB")
        #expect(peak <= 800, "peak RSS \(peak) MiB over the 800 MiB budget")
        let jobs = try await SQLiteJobStore(path: dir.appendingPathComponent("q.sqlite").path, create: false).jobs(
            state: nil, afterID: nil, limit: 100)
        #expect(jobs.count == 6 && jobs.allSatisfy { $0.state == .done }, "\(jobs.map { "\($0.state) \($0.lastError ?? "")" })")
    }

    @Test("a budget too small for the model is refused with what it would take; a hostile size is a usage error")
    func tooSmall() async throws {
        let dir = try makeScratchDirectory()
        #expect(try await XceptorProcess.run(["enqueue", "--db", "q.sqlite", "http://example.com/a.jpg"], in: dir).status == 0)
        let small = try await XceptorProcess.run(
            ["worker", "--db", "q.sqlite", "--model", try await WorkerTests.model.value.path, "--memory-budget", "300M"], in: dir)
        #expect(small.status == 1)
        #expect(
            small.stderr.contains("--memory-budget 300 MiB leaves too little") && small.stderr.contains("give at least"), "\(small.stderr)")
        for hostile in ["1e400G", "-5M", "lots", "99999999T"] {
            let run = try await XceptorProcess.run(["worker", "--db", "q.sqlite", "--memory-budget", hostile], in: dir)
            #expect(run.status == 64 && run.stderr.contains("--memory-budget"), "\(hostile): \(run.stderr)")
        }
    }
}
