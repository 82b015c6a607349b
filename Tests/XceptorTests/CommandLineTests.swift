import Foundation
import Queue
import TestSupport
import Testing

@Suite("xceptor command line")
struct CommandLineTests {
    @Test("enqueue reports added, duplicates and each invalid line; status and jobs list speak JSON")
    func enqueueStatusAndList() async throws {
        let dir = try makeScratchDirectory()
        let list = dir.appendingPathComponent("urls.txt")
        try "http://a.test/1.jpg\nftp://a.test/2.jpg\nhttp://a.test/3.jpg\nhttp://a.test/1.jpg\n".write(
            to: list, atomically: true, encoding: .utf8)

        let first = try await XceptorProcess.run(["enqueue", "--from", list.path, "--json"], in: dir)
        #expect(first.status == 0, "\(first.stderr)")
        let report = try jsonObject(first.stdout)
        #expect(report["added"] as? Int == 2)
        #expect(report["duplicates"] as? Int == 1)
        #expect(report["invalid"] as? Int == 1)
        let errors = try #require(report["errors"] as? [[String: Any]])
        #expect(errors.count == 1 && errors[0]["line"] as? Int == 2)
        #expect((errors[0]["reason"] as? String)?.contains("ftp") == true)

        // The default database is ./xceptor.sqlite in the working directory.
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("xceptor.sqlite").path))

        let again = try await XceptorProcess.run(["enqueue", "http://a.test/3.jpg", "http://a.test/4.jpg"], in: dir)
        #expect(again.stdout.hasPrefix("added 1, duplicates 1, invalid 0"))

        // Credentials in a URL are refused, and the password is echoed nowhere.
        let secret = try await XceptorProcess.run(["enqueue", "http://ana:s3cret@a.test/5.jpg"], in: dir)
        #expect(secret.stdout.hasPrefix("added 0, duplicates 0, invalid 1") && secret.stdout.contains("credentials"), "\(secret.stdout)")
        #expect(!(secret.stdout + secret.stderr).contains("s3cret"))

        let status = try jsonObject(try await XceptorProcess.run(["status", "--json"], in: dir).stdout)
        let counts = try #require(status["counts"] as? [String: Any])
        #expect(counts["queued"] as? Int == 3)
        for state in ["running", "done", "failed", "dead"] { #expect(counts[state] as? Int == 0, "\(state)") }
        let footprint = try #require(status["store"] as? [String: Any])
        #expect(footprint["images"] as? Int == 0 && (footprint["total_bytes"] as? Int ?? 0) > 0)

        let lines = try await XceptorProcess.run(["jobs", "list", "--state", "queued", "--json"], in: dir).stdout
            .split(separator: "\n").map { try jsonObject($0) }
        #expect(lines.map { $0["url"] as? String } == ["http://a.test/1.jpg", "http://a.test/3.jpg", "http://a.test/4.jpg"])
        for key in ["job", "url", "state", "attempts", "last_error", "error_class", "metadata", "finished_at"] {
            #expect(lines.allSatisfy { $0.keys.contains(key) }, "missing \(key)")
        }
    }

    @Test("a list longer than one transaction commits in chunks: counts add up across them, and a rerun adds nothing")
    func enqueueInChunks() async throws {
        let dir = try makeScratchDirectory()
        // 120,001 lines over three transactions; line 60,000 repeats line 10, so the duplicate is across chunks.
        var lines = (0..<120_000).map { "http://a.test/\($0).jpg" }
        lines.insert(lines[10], at: 60_000)
        try lines.joined(separator: "\n").write(to: dir.appendingPathComponent("urls.txt"), atomically: true, encoding: .utf8)
        let first = try jsonObject(try await XceptorProcess.run(["enqueue", "--from", "urls.txt", "--json"], in: dir).stdout)
        #expect(first["added"] as? Int == 120_000 && first["duplicates"] as? Int == 1, "\(first)")
        let again = try jsonObject(try await XceptorProcess.run(["enqueue", "--from", "urls.txt", "--json"], in: dir).stdout)
        #expect(again["added"] as? Int == 0 && again["duplicates"] as? Int == 120_001, "\(again)")
        let listed = try await XceptorProcess.run(["jobs", "list", "--json", "--limit", "3"], in: dir)
        #expect(
            listed.stdout.split(separator: "\n").map { try? jsonObject($0)["url"] as? String } == lines.prefix(3).map { $0 },
            "in line order")
    }

    @Test("a JSON report into a pipe whose reader has gone ends the command as SIGPIPE or a one-line failure, never a trap")
    func closedStandardOutput() async throws {
        let dir = try makeScratchDirectory()
        let postgres = try PostgresTestServer.shared().makeDatabase()
        for db in ["q.sqlite", postgres] {
            #expect(try await XceptorProcess.run(["enqueue", "--db", db, "http://a.test/1.jpg"], in: dir).status == 0)
            let process = Process()
            process.executableURL = XceptorProcess.executable
            process.arguments = ["status", "--db", db, "--json"]
            process.currentDirectoryURL = dir
            let output = Pipe()
            try output.fileHandleForReading.close()
            let errors = dir.appendingPathComponent("stderr")
            FileManager.default.createFile(atPath: errors.path, contents: nil)
            process.standardOutput = output
            process.standardError = try FileHandle(forWritingTo: errors)
            try process.run()
            await XceptorProcess.waitForExit(process)
            let said = try String(contentsOf: errors, encoding: .utf8)
            // Killed by SIGPIPE, as `cat` would be, where the signal is not ignored; where it is (the runtime of
            // the PostgreSQL driver ignores it), the write fails and the command says so.
            let brokenPipe = process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGPIPE && said.isEmpty
            let failure =
                process.terminationReason == .exit && process.terminationStatus == 1
                && said.hasPrefix("error: cannot write to standard output") && said.split(separator: "\n").count == 1
            #expect(brokenPipe || failure, "\(db): \(process.terminationReason) \(process.terminationStatus) \(said)")
        }
    }

    @Test("CSV input keeps extra columns as metadata; --strict adds nothing when a line is bad")
    func csvAndStrict() async throws {
        let dir = try makeScratchDirectory()
        let csv = dir.appendingPathComponent("list.csv")
        try "url,caption\nhttp://a.test/1.jpg,\"a cup, blue\"\nnot-a-url,x\n".write(to: csv, atomically: true, encoding: .utf8)
        let strict = try await XceptorProcess.run(["enqueue", "--db", "q.sqlite", "--from", csv.path, "--strict"], in: dir)
        #expect(strict.status == 1)
        #expect(strict.stdout.contains("nothing was added"))
        #expect(strict.stdout.contains("line 3:"))

        let lenient = try await XceptorProcess.run(["enqueue", "--db", "q.sqlite", "--from", csv.path], in: dir)
        #expect(lenient.status == 0)
        let job = try jsonObject(try await XceptorProcess.run(["jobs", "show", "1", "--db", "q.sqlite", "--json"], in: dir).stdout)
        #expect((job["metadata"] as? [String: Any])?["caption"] as? String == "a cup, blue")
    }

    @Test("XCEPTOR_DB names the database; bad --db values fail with a message that says what to do")
    func databaseLocation() async throws {
        let dir = try makeScratchDirectory()
        let env = ["XCEPTOR_DB": dir.appendingPathComponent("env.sqlite").path]
        #expect(try await XceptorProcess.run(["enqueue", "http://a.test/1"], environment: env, in: dir).status == 0)
        #expect(FileManager.default.fileExists(atPath: env["XCEPTOR_DB"]!))

        // A PostgreSQL server that is not there: one line, exit 1, the URL shown without its password.
        let postgres = try await XceptorProcess.run(["status", "--db", "postgres://ana:secret@127.0.0.1:1/x"], in: dir)
        #expect(postgres.status == 1 && postgres.stderr.contains("cannot reach the job database postgres://ana@127.0.0.1:1/x"))
        #expect(!postgres.stderr.contains("secret") && postgres.stderr.split(separator: "\n").count == 1, "\(postgres.stderr)")
        // A --db no driver takes, or a PostgreSQL URL that does not parse, is a usage mistake: exit 64, before
        // anything is opened, the password not shown.
        let unknown = try await XceptorProcess.run(["status", "--db", "mysql://localhost/x"], in: dir)
        #expect(unknown.status == 64 && unknown.stderr.contains("postgres://"), "\(unknown.stderr)")
        let malformedURLs = [
            "postgres://ana:secret@[::1/x": "is not a PostgreSQL URL", "postgres://ana:secret@h:99999/x": "port must be 1-65535",
            "postgresql://ana:secret@h/x?sslmode=bogus": "sslmode bogus is not one of",
        ]
        for (malformed, said) in malformedURLs {
            let refused = try await XceptorProcess.run(["status", "--db", malformed], in: dir)
            #expect(refused.status == 64 && refused.stderr.contains(said), "\(malformed): \(refused.stderr)")
            #expect(!refused.stderr.contains("secret"), "\(refused.stderr)")
        }

        try Data(repeating: 7, count: 4096).write(to: dir.appendingPathComponent("junk.sqlite"))
        let junk = try await XceptorProcess.run(["status", "--db", "junk.sqlite"], in: dir)
        #expect(junk.status != 0 && junk.stderr.contains("not a usable database"))

        // Another program's file (written by SQLite's own shell): refused by enqueue, and not written to.
        let other = dir.appendingPathComponent("other.sqlite")
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        shell.arguments = [other.path, "CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('keep me');"]
        try shell.run()
        shell.waitUntilExit()
        let before = try Data(contentsOf: other)
        let foreign = try await XceptorProcess.run(["enqueue", "--db", "other.sqlite", "http://a.test/1"], in: dir)
        #expect(foreign.status == 1 && foreign.stderr.contains("database of another program"), "\(foreign.stderr)")
        #expect(try Data(contentsOf: other) == before && !FileManager.default.fileExists(atPath: other.path + "-wal"))

        let typo = try await XceptorProcess.run(["status", "--db", "typo.sqlite"], in: dir)
        #expect(typo.status != 0 && typo.stderr.contains("no job database at typo.sqlite"))
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("typo.sqlite").path))

        let noInput = try await XceptorProcess.run(["enqueue"], in: dir)
        #expect(noInput.status != 0 && noInput.stderr.contains("--from"))
    }

    @Test("bench decode: every step's CPU per image on real JPEGs; a file that is no image, or none at all, is a clear error")
    func benchDecode() async throws {
        let dir = try makeScratchDirectory()
        let images = ModelCommandTests.golden.appendingPathComponent("images")
        let jpegs = try FileManager.default.contentsOfDirectory(atPath: images.path).filter { $0.hasSuffix(".jpg") }
        let run = try await XceptorProcess.run(
            ["bench", "decode", "--images", images.path, "--size", "299", "--rounds", "1", "--json"], in: dir)
        #expect(run.status == 0, "\(run.stderr)")
        let result = try jsonObject(run.stdout)
        #expect(result["images"] as? Int == jpegs.count && result["size"] as? Int == 299, "\(result)")
        let steps = try #require(result["steps"] as? [[String: Any]])
        #expect(steps.map { $0["step"] as? String ?? "" } == ["sha256", "decode", "resize", "normalize", "thumbnail"])
        // Every step takes some CPU, and the shares add up to the whole.
        #expect(steps.allSatisfy { ($0["ms_per_image"] as? Double ?? 0) > 0 }, "\(steps)")
        let shares = steps.reduce(0) { $0 + ($1["share"] as? Double ?? 0) }
        #expect(abs(shares - 1) < 1e-6, "\(steps)")

        // A text file among the images names itself; an empty directory says so.
        let mixed = dir.appendingPathComponent("mixed")
        try FileManager.default.createDirectory(at: mixed, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: images.appendingPathComponent(jpegs[0]), to: mixed.appendingPathComponent("a.jpg"))
        try Data("not an image\n".utf8).write(to: mixed.appendingPathComponent("notes.txt"))
        let refused = try await XceptorProcess.run(["bench", "decode", "--images", "mixed"], in: dir)
        #expect(refused.status == 1 && refused.stderr.contains("notes.txt is not an image"), "\(refused.stderr)")
        try FileManager.default.removeItem(at: mixed.appendingPathComponent("notes.txt"))
        // A JPEG cut short has a readable header, and fails only in the decode step: named too.
        let whole = try Data(contentsOf: images.appendingPathComponent(jpegs[0]))
        try whole.prefix(whole.count / 2).write(to: mixed.appendingPathComponent("cut.jpg"))
        let cut = try await XceptorProcess.run(["bench", "decode", "--images", "mixed"], in: dir)
        #expect(cut.status == 1 && cut.stderr.contains("cut.jpg could not be decoded (corrupt or truncated JPEG"), "\(cut.stderr)")
        try FileManager.default.removeItem(at: mixed.appendingPathComponent("cut.jpg"))
        try FileManager.default.removeItem(at: mixed.appendingPathComponent("a.jpg"))
        let empty = try await XceptorProcess.run(["bench", "decode", "--images", "mixed"], in: dir)
        #expect(empty.status == 1 && empty.stderr.contains("holds no files"), "\(empty.stderr)")
        let usage = try await XceptorProcess.run(["bench", "decode", "--images", "mixed", "--size", "1e300"], in: dir)
        #expect(usage.status == 64 && usage.stderr.contains("--size"), "\(usage.stderr)")
    }

    @Test(
        "bench queue: child processes drain each step's jobs exactly once, with their CPU a job, on SQLite files and on PostgreSQL",
        arguments: [false, true])
    func benchQueue(postgres: Bool) async throws {
        let dir = try makeScratchDirectory()
        let database = postgres ? ["--db", try PostgresTestServer.shared().makeDatabase()] : []
        let run = try await XceptorProcess.run(
            ["bench", "queue", "--jobs", "50", "--drain-jobs", "300", "--processes", "1", "3", "--batch", "1", "16", "--json"] + database,
            in: dir)
        #expect(run.status == 0, "\(run.stderr)")
        let result = try jsonObject(run.stdout)
        let drains = try #require(result["claim_complete"] as? [[String: Any]], "\(result)")
        #expect(drains.map { "\($0["batch_size"] ?? "")x\($0["processes"] ?? "")" } == ["1x1", "1x3", "16x1", "16x3"])
        for drain in drains {
            // The parent checks every child's count against the jobs it queued; here the report says so.
            #expect(drain["jobs"] as? Int == 300, "\(drain)")
            let cpu = drain["client_cpu_microseconds_per_job"] as? Double ?? -1
            #expect(cpu > 0 && cpu < 1_000_000, "\(drain)")
        }
        #expect((result["jobs_table"] != nil) == postgres, "\(result)")
    }

    @Test("jobs retry, cancel and purge act on the right jobs")
    func administration() async throws {
        let dir = try makeScratchDirectory()
        _ = try await XceptorProcess.run(["enqueue", "--db", "q.sqlite", "http://a.test/1", "http://a.test/2", "http://a.test/3"], in: dir)
        let cancel = try await XceptorProcess.run(["jobs", "cancel", "--db", "q.sqlite", "2", "3"], in: dir)
        #expect(cancel.stdout.contains("cancelled 2 job(s)"))
        let failed = try #require(
            try jsonObject(try await XceptorProcess.run(["status", "--db", "q.sqlite", "--json"], in: dir).stdout)["counts"]
                as? [String: Any])
        #expect(failed["failed"] as? Int == 2 && failed["queued"] as? Int == 1)
        let retry = try await XceptorProcess.run(["jobs", "retry", "--db", "q.sqlite", "--failed", "--json"], in: dir)
        #expect(try jsonObject(retry.stdout)["retried"] as? Int == 2)

        // Drain, then purge what finished more than 0 s ago.
        #expect(try await XceptorProcess.run(["bench", "queue-drain", "--db", "q.sqlite"], in: dir).status == 0)
        let purge = try jsonObject(
            try await XceptorProcess.run(["jobs", "purge", "--db", "q.sqlite", "--older-than", "0s", "--json"], in: dir).stdout)
        #expect(purge["jobs"] as? Int == 3)
        let bad = try await XceptorProcess.run(["jobs", "purge", "--db", "q.sqlite", "--older-than", "soon"], in: dir)
        #expect(bad.status != 0)
    }

    @Test("worker numbers out of range (1e300, NaN, 2^67, negative) are usage errors naming the flag, never a trap")
    func hostileNumbers() async throws {
        let dir = try makeScratchDirectory()
        let flags = [
            "--lease-seconds", "--grace-seconds", "--progress-interval", "--batch", "--threads", "--decode-threads", "--thumbnail-size",
            "--size", "--fetch-concurrency", "--per-host-connections", "--connect-timeout", "--fetch-timeout", "--max-body-bytes",
            "--max-decoded-bytes", "--max-redirects", "--low-speed-bytes", "--low-speed-seconds",
        ]
        for flag in flags {
            for value in ["1e300", "nan", "99999999999999999999", "-5"] {
                let run = try await XceptorProcess.run(["worker", "--db", "q.sqlite", flag, value], in: dir)
                #expect(run.status == 64 && run.stderr.contains(flag), "\(flag) \(value): exit \(run.status), \(run.stderr)")
            }
        }
    }

    @Test("exit status: runtime failures exit 1 with one line and no usage; usage mistakes exit 64 with the usage")
    func exitCodes() async throws {
        let dir = try makeScratchDirectory()
        _ = try await XceptorProcess.run(["enqueue", "--db", "q.sqlite", "http://a.test/1"], in: dir)

        let runtime: [(arguments: [String], says: String)] = [
            (["jobs", "show", "99", "--db", "q.sqlite"], "no job 99"),
            (["status", "--db", "missing.sqlite"], "no job database at missing.sqlite"),
            (["search", "--job", "1", "--db", "q.sqlite"], "holds no embeddings yet"),
            (["duplicates", "--db", "q.sqlite"], "holds no embeddings yet"),
            (["index", "update", "--db", "q.sqlite"], "index build"),
            (["embed", "--model", "nowhere.xcm", "x.jpg"], "no model at nowhere.xcm"),
            (["search", "--vector", "absent.f32", "--db", "q.sqlite"], "cannot read the query vector absent.f32: there is no such file"),
            (["search", "--vector", "[1, 2, \"x\"]", "--db", "q.sqlite"], "the --vector value is not a JSON array of numbers"),
            (["search", "--vector", ".", "--db", "q.sqlite"], "cannot read the query vector .: it is a directory"),
            // A device is read up to the limit, never to its end.
            (["search", "--image", "/dev/zero", "--db", "q.sqlite"], "/dev/zero: it is larger than 67108864 bytes"),
        ]
        for (arguments, says) in runtime {
            let result = try await XceptorProcess.run(arguments, in: dir)
            #expect(result.status == 1, "\(arguments): \(result.stderr)")
            #expect(result.stderr.hasPrefix("error: ") && result.stderr.contains(says), "\(arguments): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(arguments): one line, no usage: \(result.stderr)")
        }

        // --help and --version are answers, not failures.
        for arguments in [["--help"], ["search", "--help"], ["jobs", "show", "--help"], ["--version"]] {
            let result = try await XceptorProcess.run(arguments, in: dir)
            #expect(result.status == 0 && result.stderr.isEmpty, "\(arguments): \(result.stderr)")
            #expect(
                arguments == ["--version"] ? !result.stdout.isEmpty : result.stdout.contains("USAGE:"), "\(arguments): \(result.stdout)")
        }
        #expect(try await XceptorProcess.run(["--help"], in: dir).stdout.contains("Exit status"))

        let usage: [[String]] = [
            ["jobs", "show", "--db", "q.sqlite"],
            ["jobs", "show", "not-a-number", "--db", "q.sqlite"],
            ["search", "--db", "q.sqlite"],
            ["search", "--job", "1", "-k", "0"],
            ["search", "--job", "1", "--where", "no-equals-sign"],
            ["status", "--no-such-flag"],
            ["jobs", "purge", "--older-than", "soon"],
            ["worker", "--batch", "0"],
        ]
        for arguments in usage {
            let result = try await XceptorProcess.run(arguments, in: dir)
            #expect(result.status == 64, "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains("Usage:"), "\(arguments): \(result.stderr)")
        }
    }
}
