import Foundation
import TestSupport
import Testing

@testable import Queue

/// `enqueue` of long lists: read a batch at a time and committed a batch per transaction, so its memory
/// does not grow with the list; `--strict` still adds all or nothing, from standard input too.
@Suite("Enqueue of long lists", .serialized)
struct EnqueueStreamingTests {
    /// Runs `xceptor` with `input` as standard input and returns its exit status and the kernel's peak
    /// resident memory for it, through a small Python parent: a child's peak counts its parent's memory at
    /// the fork (Linux keeps the high-water mark across exec), and this test process is larger than the
    /// enqueue being measured.
    static func runMeasuringPeak(_ arguments: [String], input: URL, in directory: URL) throws -> (status: Int32, peakMiB: Int) {
        let measure = """
            import resource, subprocess, sys
            with open(sys.argv[1], "rb") as stdin, open(sys.argv[2], "wb") as out, open(sys.argv[3], "wb") as err:
                status = subprocess.run(sys.argv[4:], stdin=stdin, stdout=out, stderr=err).returncode
            print(status, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments =
            [
                "python3", "-c", measure, input.path, directory.appendingPathComponent("stdout").path,
                directory.appendingPathComponent("stderr").path, XceptorProcess.executable.path,
            ] + arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let fields = text.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        try #require(fields.count == 2, "the measuring parent printed \(text)")
        return (Int32(fields[0]), fields[1])
    }

    @Test("500,000 URLs through standard input are all added, in a process that stays under 120 MiB")
    func longListStreams() async throws {
        let dir = try makeScratchDirectory()
        let list = dir.appendingPathComponent("urls.txt")
        var text = ""
        text.reserveCapacity(500_000 * 64)
        for index in 0..<500_000 { text += "https://images.example.com/photos/\(index)/full-size-image.jpg\n" }
        try text.write(to: list, atomically: false, encoding: .utf8)
        let db = dir.appendingPathComponent("q.sqlite").path
        let (status, peak) = try Self.runMeasuringPeak(["enqueue", "--db", db, "--from", "-"], input: list, in: dir)
        let errors = try String(contentsOf: dir.appendingPathComponent("stderr"), encoding: .utf8)
        #expect(status == 0, "\(errors)")
        #expect(
            try String(contentsOf: dir.appendingPathComponent("stdout"), encoding: .utf8).contains("added 500000, duplicates 0, invalid 0"))
        // Holding the list (as before) took about 170 MiB at this length, and grows with it.
        print("enqueue of 500,000 URLs from standard input: peak RSS \(peak) MiB")
        #expect(peak < 120, "peak RSS \(peak) MiB")
        #expect(try await SQLiteJobStore(path: db, create: false).status().counts[.queued] == 500_000)
    }

    @Test("--strict from standard input: one bad line among 120,000 adds nothing; without it, all are added")
    func strictFromStandardInput() async throws {
        let dir = try makeScratchDirectory()
        var lines = (0..<120_000).map { "https://example.com/\($0).jpg" }
        let good = dir.appendingPathComponent("good.txt"), bad = dir.appendingPathComponent("bad.txt")
        try lines.joined(separator: "\n").write(to: good, atomically: false, encoding: .utf8)
        lines[100_001] = "ftp://example.com/not-http.jpg"
        try lines.joined(separator: "\n").write(to: bad, atomically: false, encoding: .utf8)
        let db = dir.appendingPathComponent("q.sqlite").path

        let refused = try Self.runMeasuringPeak(["enqueue", "--db", db, "--from", "-", "--strict"], input: bad, in: dir)
        #expect(refused.status == 1)
        let output = try String(contentsOf: dir.appendingPathComponent("stdout"), encoding: .utf8)
        #expect(output.contains("line 100002:") && output.contains("nothing was added"), "\(output)")
        #expect(!FileManager.default.fileExists(atPath: db), "a refused list creates no database")

        let accepted = try Self.runMeasuringPeak(["enqueue", "--db", db, "--from", "-", "--strict"], input: good, in: dir)
        #expect(accepted.status == 0)
        #expect(try await SQLiteJobStore(path: db, create: false).status().counts[.queued] == 120_000)
    }
}
