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
        let made = try await XceptorProcess.run(["bench", "make-store", "--db", "big.sqlite", "--count", "600"], in: scratch)
        #expect(made.status == 0, "\(made.stderr)")
        let server = try PostgresTestServer.shared()
        let target = try server.makeDatabase()
        let database = String(target.split(separator: "/").last!)
        #expect(try await XceptorProcess.run(["migrate", "--db", target], in: scratch).status == 0)

        // Another session holds the jobs table: the copy commits every page of images, then waits at its
        // first page of jobs, and is killed there.
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        holder.arguments = ["psql", "--no-psqlrc", "-q", target]
        let commands = Pipe(), answers = Pipe()
        (holder.standardInput, holder.standardOutput) = (commands, answers)
        try holder.run()
        commands.fileHandleForWriting.write(Data("BEGIN; LOCK TABLE jobs IN EXCLUSIVE MODE; SELECT 'locked';\n".utf8))
        var said = Data()
        while !String(decoding: said, as: UTF8.self).contains("locked") {
            let more = answers.fileHandleForReading.availableData
            guard !more.isEmpty else { break }
            said.append(more)
        }
        let (copy, _, stderr) = try XceptorProcess.start(["copy", "--from", "big.sqlite", "--to", target, "--json"], in: scratch)
        var imagesCommitted = false
        for _ in 0..<1500 where !imagesCommitted && copy.isRunning {
            try await Task.sleep(for: .milliseconds(20))
            imagesCommitted =
                (try? server.psql(
                    database: database,
                    "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM copy_checkpoints WHERE after_image_id = 600 AND NOT finished) THEN RAISE 'not yet'; END IF; END $$"
                )) != nil
        }
        #expect(imagesCommitted && copy.isRunning, "\((try? String(contentsOf: stderr, encoding: .utf8)) ?? "")")
        kill(copy.processIdentifier, SIGKILL)
        await XceptorProcess.waitForExit(copy)
        commands.fileHandleForWriting.write(Data("COMMIT;\n".utf8))
        try commands.fileHandleForWriting.close()
        await XceptorProcess.waitForExit(holder)

        let resumed = try await XceptorProcess.run(["copy", "--from", "big.sqlite", "--to", target, "--json"], in: scratch)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let report = try jsonObject(resumed.stdout)
        #expect(report["resumed"] as? Bool == true && report["kept_ids"] as? Bool == true, "\(report)")
        #expect((report["images"] as? [String: Int])?["added"] == 0, "the images were committed before the kill: \(report)")
        #expect((report["jobs"] as? [String: Int])?["added"] == 600, "\(report)")
        let verification = try #require(report["verification"] as? [String: Any])
        #expect(verification["passed"] as? Bool == true && verification["images"] as? Int == 600, "\(verification)")

        // A second store merges in (its 300 jobs are the first 300 of the first: same URLs, same bytes), and
        // the first copied again changes nothing; both verify.
        let other = try await XceptorProcess.run(["bench", "make-store", "--db", "other.sqlite", "--count", "300"], in: scratch)
        #expect(other.status == 0, "\(other.stderr)")
        let merged = try await XceptorProcess.run(["copy", "--from", "other.sqlite", "--from", "big.sqlite", "--to", target], in: scratch)
        #expect(merged.status == 0 && merged.stdout.components(separatedBy: "verified:").count == 3, "\(merged.stdout)\(merged.stderr)")
        #expect(merged.stdout.contains("jobs: 0 added, 300 already there"), "\(merged.stdout)")
        let status = try jsonObject(try await XceptorProcess.run(["status", "--db", target, "--json"], in: scratch).stdout)
        #expect((status["counts"] as? [String: Int])?["done"] == 600, "\(status)")

        // The destination named as a source is a usage mistake; a missing source, a failure that names it.
        let itself = try await XceptorProcess.run(["copy", "--from", target, "--to", target], in: scratch)
        #expect(itself.status == 64 && itself.stderr.contains("the destination itself"), "\(itself.stderr)")
        let missing = try await XceptorProcess.run(["copy", "--from", "nope.sqlite", "--to", target], in: scratch)
        #expect(missing.status == 1 && missing.stderr.contains("nope.sqlite"), "\(missing.stderr)")
    }
}
