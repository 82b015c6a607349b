import Foundation
import Queue
import TestSupport
import Testing

/// `xceptor copy` through the real binary: a store a real worker filled goes SQLite -> PostgreSQL -> SQLite
/// and comes back the same; a copy killed mid-run resumes; several files merge into one.
@Suite("xceptor copy", .serialized)
struct CopyCommandTests {
    @Test("SQLite -> PostgreSQL -> SQLite gives the same jobs, results, export and search answers")
    func roundTrip() async throws {
        let run = try await WorkerTests.finishedRun.value
        let site = run.site
        let scratch = try makeScratchDirectory("xceptor-copy")
        let database = try PostgresTestServer.shared().makeDatabase()
        let back = scratch.appendingPathComponent("back.sqlite").path

        let there = try await XceptorProcess.run(["copy", "--from", "q.sqlite", "--to", database, "--json"], in: site.dir)
        #expect(there.status == 0, "\(there.stderr)")
        let report = try jsonObject(there.stdout)
        let verification = try #require(report["verification"] as? [String: Any], "\(there.stdout)")
        #expect(verification["passed"] as? Bool == true && verification["strict"] as? Bool == true, "\(verification)")
        #expect(verification["source_checksum"] as? String == verification["destination_checksum"] as? String)
        #expect((report["images"] as? [String: Int])?["added"] == run.embeddings, "one image per distinct content: \(report)")
        #expect(!there.stdout.contains(String(database.split(separator: ":")[2].split(separator: "@")[0])), "the password was printed")

        let home = try await XceptorProcess.run(["copy", "--from", database, "--to", back], in: site.dir)
        #expect(home.status == 0 && home.stdout.contains("verified:") && home.stdout.contains("ids kept"), "\(home.stdout)\(home.stderr)")

        // Jobs field for field (ids, states, attempts, errors, times), and every result in the export.
        for command in [["jobs", "list", "--json", "--limit", "1000"], ["export", "--format", "jsonl"]] {
            let original = try await XceptorProcess.run(command + ["--db", "q.sqlite"], in: site.dir)
            let copied = try await XceptorProcess.run(command + ["--db", back], in: site.dir)
            #expect(original.status == 0 && copied.status == 0, "\(original.stderr)\(copied.stderr)")
            #expect(!original.stdout.isEmpty && copied.stdout == original.stdout, "\(command[0]) differs after the round trip")
        }
        let model = try await WorkerTests.model.value.path
        for name in [site.images[0], site.images[7]] {
            let query = ["search", "--model", model, "--url", site.url(name), "-k", "6", "--json"]
            let original = try await XceptorProcess.run(query + ["--db", "q.sqlite"], in: site.dir)
            let copied = try await XceptorProcess.run(query + ["--db", back], in: site.dir)
            #expect(original.status == 0 && copied.status == 0, "\(original.stderr)\(copied.stderr)")
            let results = { (text: String) in try jsonObject(text)["results"] as? [[String: Any]] ?? [] }
            #expect(try results(original.stdout).count == 6)
            #expect(
                try results(copied.stdout).map { "\($0["job"] ?? "") \($0["score"] ?? "")" }
                    == results(original.stdout).map { "\($0["job"] ?? "") \($0["score"] ?? "")" })
        }
    }

    @Test("a copy killed mid-run resumes when run again, and two stores merge into one")
    func killedAndMerged() async throws {
        let scratch = try makeScratchDirectory("xceptor-copy-kill")
        let made = try await XceptorProcess.run(["bench", "make-store", "--db", "big.sqlite", "--count", "6000"], in: scratch)
        #expect(made.status == 0, "\(made.stderr)")
        let target = scratch.appendingPathComponent("target.sqlite").path
        let (copy, _, stderr) = try XceptorProcess.start(["copy", "--from", "big.sqlite", "--to", target, "--json"], in: scratch)
        // Killed once some pages are committed, before the end.
        let source = scratch.appendingPathComponent("big.sqlite").resolvingSymlinksInPath().path
        var progressed = false
        while copy.isRunning && !progressed {
            try await Task.sleep(for: .milliseconds(20))
            if FileManager.default.fileExists(atPath: target), let store = try? SQLiteJobStore(path: target, create: false),
                let checkpoint = try? await store.transferCheckpoint(source: source)
            {
                progressed = (checkpoint.afterImageID ?? 0) > 1_000 && !checkpoint.finished
            }
        }
        #expect(progressed, "the copy finished before it could be killed: \((try? String(contentsOf: stderr, encoding: .utf8)) ?? "")")
        kill(copy.processIdentifier, SIGKILL)
        await XceptorProcess.waitForExit(copy)

        let resumed = try await XceptorProcess.run(["copy", "--from", "big.sqlite", "--to", target, "--json"], in: scratch)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let report = try jsonObject(resumed.stdout)
        #expect(report["resumed"] as? Bool == true && report["kept_ids"] as? Bool == true, "\(report)")
        let images = try #require(report["images"] as? [String: Int])
        #expect((images["added"] ?? 0) > 0 && (images["added"] ?? 0) < 6000, "only what the killed copy had not committed: \(images)")
        let verification = try #require(report["verification"] as? [String: Any])
        #expect(verification["passed"] as? Bool == true && verification["images"] as? Int == 6000, "\(verification)")

        // A second store merges in; a third run changes nothing and verifies.
        let other = try await XceptorProcess.run(["bench", "make-store", "--db", "other.sqlite", "--count", "300"], in: scratch)
        #expect(other.status == 0, "\(other.stderr)")
        let merged = try await XceptorProcess.run(["copy", "--from", "other.sqlite", "--from", "big.sqlite", "--to", target], in: scratch)
        #expect(merged.status == 0 && merged.stdout.components(separatedBy: "verified:").count == 3, "\(merged.stdout)\(merged.stderr)")
        let status = try jsonObject(try await XceptorProcess.run(["status", "--db", target, "--json"], in: scratch).stdout)
        let counts = try #require(status["counts"] as? [String: Int])
        #expect((counts["done"] ?? 0) >= 6000 && (counts["done"] ?? 0) <= 6300, "merged by URL: \(counts)")

        // The destination named as a source is a usage mistake.
        let itself = try await XceptorProcess.run(["copy", "--from", target, "--to", target], in: scratch)
        #expect(itself.status == 64 && itself.stderr.contains("the destination itself"), "\(itself.stderr)")
        let missing = try await XceptorProcess.run(["copy", "--from", "nope.sqlite", "--to", target], in: scratch)
        #expect(missing.status == 1 && missing.stderr.contains("nope.sqlite"), "\(missing.stderr)")
    }
}
