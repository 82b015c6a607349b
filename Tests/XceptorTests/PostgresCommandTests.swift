import Foundation
import TestSupport
import Testing

/// The command line on a PostgreSQL store: the same URL list as the SQLite worker run, enqueued into a new
/// database on the tests' private PostgreSQL server and finished by two worker processes sharing it.
/// Every job ends as it did on SQLite, and search answers the same.
@Suite("xceptor on PostgreSQL", .serialized)
struct PostgresCommandTests {
    @Test("enqueue, two workers, status, search and export on PostgreSQL give what they give on SQLite")
    func sameAsSQLite() async throws {
        let sqlite = try await WorkerTests.finishedRun.value
        let site = sqlite.site
        let database = try PostgresTestServer.shared().makeDatabase()
        let migrated = try await XceptorProcess.run(["migrate", "--db", database], in: site.dir)
        // The latest version is the number of migration files the build embeds.
        let migrations = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../migrations/postgres")
        let latest = try FileManager.default.contentsOfDirectory(atPath: migrations.path).filter { $0.hasSuffix(".sql") }.count
        #expect(migrated.status == 0 && migrated.stdout.contains("is at schema version \(latest)"), "\(migrated.stdout) \(migrated.stderr)")
        let enqueued = try await XceptorProcess.run(["enqueue", "--db", database, "--from", "urls.txt", "--json"], in: site.dir)
        #expect(enqueued.status == 0, "\(enqueued.stderr)")
        #expect(!enqueued.stdout.contains(String(database.split(separator: ":")[2].split(separator: "@")[0])), "the password was printed")

        let arguments = try await site.workerArguments(["--until-empty"]).map { $0 == "q.sqlite" ? database : $0 }
        let workers = try (0..<2).map { _ in try XceptorProcess.start(arguments, in: site.dir) }
        for (process, _, stderr) in workers {
            await XceptorProcess.waitForExit(process)
            #expect(process.terminationStatus == 0, "\((try? String(contentsOf: stderr, encoding: .utf8)) ?? "")")
        }

        // Every job ends in the same state, and each failure for the same reason.
        func jobs(_ db: String) async throws -> [String: [String: Any]] {
            let listed = try await XceptorProcess.run(["jobs", "list", "--db", db, "--json", "--limit", "1000"], in: site.dir)
            #expect(listed.status == 0, "\(listed.stderr)")
            var byURL: [String: [String: Any]] = [:]
            for line in listed.stdout.split(separator: "\n") {
                let job = try jsonObject(line)
                byURL[job["url"] as? String ?? ""] = job
            }
            return byURL
        }
        let onSQLite = try await jobs("q.sqlite"), onPostgres = try await jobs(database)
        #expect(onPostgres.count == onSQLite.count && onPostgres.count == sqlite.good.count + sqlite.bad.count)
        for (url, job) in onSQLite {
            let other = try #require(onPostgres[url], "\(url) is missing on PostgreSQL")
            #expect(other["state"] as? String == job["state"] as? String, "\(url)")
            #expect(other["last_error"] as? String == job["last_error"] as? String, "\(url)")
            #expect(other["attempts"] as? Int == 1 || other["state"] as? String != "done", "\(url) was done more than once")
        }

        // Search from the same image answers the same images, scores and labels, whatever the job ids.
        func search(_ db: String, url: String) async throws -> [String] {
            let result = try await XceptorProcess.run(
                ["search", "--db", db, "--model", try await WorkerTests.model.value.path, "--url", url, "-k", "8", "--json"], in: site.dir)
            #expect(result.status == 0, "\(result.stderr)")
            let results = try #require(try jsonObject(result.stdout)["results"] as? [[String: Any]])
            return results.map { hit in
                let labels = (hit["labels"] as? [[String: Any]] ?? []).map { "\($0["label"] ?? "")" }
                return "\(hit["url"] ?? "") \(String(format: "%.5f", (hit["score"] as? Double) ?? -2)) \(labels)"
            }
        }
        for name in [site.images[0], site.images[5], site.images[11]] {
            let onBoth = (try await search("q.sqlite", url: site.url(name)), try await search(database, url: site.url(name)))
            #expect(onBoth.0 == onBoth.1 && onBoth.0.count == 8, "\(name)")
        }

        // The status and export agree as well.
        let status = try await XceptorProcess.run(["status", "--db", database, "--json"], in: site.dir)
        let counts = try #require(try jsonObject(status.stdout)["counts"] as? [String: Int])
        #expect(counts["done"] == sqlite.doneJobs && counts["failed"] == sqlite.bad.count, "\(counts)")
        let exported = try await XceptorProcess.run(["export", "--db", database, "--format", "jsonl"], in: site.dir)
        #expect(exported.status == 0 && exported.stdout.split(separator: "\n").count == sqlite.doneJobs, "\(exported.stderr)")

        // The same collection embedded again at another input size (another model id), keeping the first.
        let model = try await WorkerTests.model.value.path
        let requeued = try await XceptorProcess.run(
            ["jobs", "requeue", "--db", database, "--model", model, "--size", "299", "--all", "--json"], in: site.dir)
        #expect(try jsonObject(requeued.stdout)["requeued"] as? Int == sqlite.doneJobs, "\(requeued.stderr)")
        let again = try await XceptorProcess.run(arguments + ["--size", "299"], in: site.dir)
        #expect(again.status == 0, "\(again.stderr)")
        let after = try jsonObject(try await XceptorProcess.run(["status", "--db", database, "--json"], in: site.dir).stdout)
        #expect((after["store"] as? [String: Any])?["embeddings"] as? Int == 2 * sqlite.embeddings, "\(after)")
        for name in [site.images[0]] {
            let stillFirst = try await search(database, url: site.url(name))
            #expect(stillFirst == (try await search("q.sqlite", url: site.url(name))), "the first model's search changed")
        }
        let secondModel = try await XceptorProcess.run(
            ["search", "--db", database, "--model", model, "--size", "299", "--url", site.url(site.images[0]), "-k", "1", "--json"],
            in: site.dir)
        let best = (try jsonObject(secondModel.stdout)["results"] as? [[String: Any]])?.first
        #expect(secondModel.status == 0 && best?["url"] as? String == site.url(site.images[0]), "\(secondModel.stderr)")
    }
}

/// A worker whose PostgreSQL server restarts mid-run (a server of its own, so the other tests keep theirs).
@Suite("xceptor worker through a PostgreSQL restart", .serialized)
struct PostgresRestartTests {
    @Test("the server restarts mid-run: the worker waits for it, and every job is done exactly once")
    func workerThroughRestart() async throws {
        let site = try WorkerTests.Site()
        let server = try PostgresTestServer.startPrivate()
        let database = try server.makeDatabase()
        // Four files come at once, the other 32 wait at the fault server's gate until the test opens it after
        // the restart: the run is mid-way when the server goes down however slowly a loaded machine runs this
        // test (a run paced by delays alone once ended before the test looked).
        let urls = site.images.enumerated().map { index, name in site.url(name) + (index < 4 ? "" : "?gate=restart") }
        try urls.joined(separator: "\n").write(to: site.dir.appendingPathComponent("urls.txt"), atomically: true, encoding: .utf8)
        let enqueued = try await XceptorProcess.run(["enqueue", "--db", database, "--from", "urls.txt"], in: site.dir)
        #expect(enqueued.status == 0, "\(enqueued.stderr)")
        // Held transfers send nothing; the low-speed limit must not abandon them while the gate is shut.
        let arguments = try await site.workerArguments([
            "--until-empty", "--fetch-concurrency", "4", "--low-speed-seconds", "600", "--fetch-timeout", "600",
        ]).map { $0 == "q.sqlite" ? database : $0 }
        let (worker, _, stderr) = try XceptorProcess.start(arguments, in: site.dir)
        // A statement written just as the server said goodbye once left a worker waiting forever;
        // `PostgresStoreTests.connectionsCut` provokes that race hundreds of times, this test the whole worker's
        // recovery, with leases held and transfers in flight.
        var waiting = 0
        for _ in 0..<1200 where worker.isRunning && waiting == 0 {
            try await Task.sleep(for: .milliseconds(100))
            let gate = try? jsonObject(try await httpGet(site.server.url("/gate/restart")))
            waiting = gate?["waiting"] as? Int ?? 0
        }
        #expect(worker.isRunning && waiting > 0, "the worker never reached the held files")
        // Down for 2 s: the worker's connections are cut, and it waits for new ones.
        try server.restart(downSeconds: 2)
        _ = try await httpGet(site.server.url("/gate/restart/open"))
        // A worker that never finishes fails the test instead of holding up the run.
        for _ in 0..<900 where worker.isRunning { try await Task.sleep(for: .milliseconds(200)) }
        if worker.isRunning {
            kill(worker.processIdentifier, SIGKILL)
            Issue.record("the worker did not finish within 3 minutes of the restart")
        }
        await XceptorProcess.waitForExit(worker)
        let log = (try? String(contentsOf: stderr, encoding: .utf8)) ?? ""
        #expect(worker.terminationStatus == 0, "\(log)")

        let status = try await XceptorProcess.run(["status", "--db", database, "--json"], in: site.dir)
        let counts = try #require(try jsonObject(status.stdout)["counts"] as? [String: Int], "\(status.stderr)")
        #expect(counts["done"] == urls.count && counts.values.reduce(0, +) == urls.count, "\(counts)")
        let listed = try await XceptorProcess.run(["jobs", "list", "--db", database, "--json", "--limit", "0"], in: site.dir)
        for line in listed.stdout.split(separator: "\n") {
            let job = try jsonObject(line)
            #expect(job["attempts"] as? Int == 1, "\(job)")
        }
        let exported = try await XceptorProcess.run(["export", "--db", database, "--format", "jsonl"], in: site.dir)
        #expect(exported.stdout.split(separator: "\n").count == urls.count, "a result is missing or doubled")
    }
}

/// Three worker hosts sharing one PostgreSQL queue over TCP: each in its own network namespace (made by
/// the test, joined by a bridge), or, where namespaces cannot be made here, three processes on loopback.
@Suite("xceptor workers on three hosts", .serialized)
struct MultiHostTests {
    @Test("three hosts finish a queue together; one is SIGKILLed and the server restarts mid-run; every job is done once")
    func threeHosts() async throws {
        let network: NamespaceNetwork?
        do {
            network = try NamespaceNetwork.make(hosts: 3)
        } catch {
            network = nil
            print("network namespaces are not available here (\(error)): the three workers run as processes on loopback")
        }
        defer { network?.remove() }
        let address = network?.gateway ?? "127.0.0.1"
        let server = try PostgresTestServer.startPrivate(alsoListenOn: network?.gateway, clients: network?.subnet)
        let local = try server.makeDatabase()
        let database = local.replacingOccurrences(of: "@127.0.0.1:", with: "@\(address):")
        let site = try WorkerTests.Site(host: network == nil ? "127.0.0.1" : "0.0.0.0")
        // Every file waits at the fault server's gate until the test opens it, after the kill and the restart:
        // each step happens mid-run however slowly a loaded machine runs this test.
        let urls = site.images.map { site.server.url("/files/\($0)?gate=hosts", host: address) }
        try urls.joined(separator: "\n").write(to: site.dir.appendingPathComponent("urls.txt"), atomically: true, encoding: .utf8)
        let enqueued = try await XceptorProcess.run(["enqueue", "--db", local, "--from", "urls.txt"], in: site.dir)
        #expect(enqueued.status == 0, "\(enqueued.stderr)")

        // Small batches and short leases, so that every host holds a few jobs and the killed one's come back soon;
        // held transfers send nothing, and the low-speed limit must not abandon them while the gate is shut.
        let common = try await site.workerArgumentsWithoutDatabase()
        func startHost(_ index: Int) throws -> (Process, URL, URL) {
            let arguments =
                common + [
                    "--db", database, "--until-empty", "--batch", "1", "--fetch-concurrency", "2", "--lease-seconds", "3", "--id",
                    "host-\(index)", "--low-speed-seconds", "600", "--fetch-timeout", "600",
                ]
            return try XceptorProcess.start(arguments, in: site.dir, launcher: network?.launcher(host: index) ?? [])
        }
        /// Waits until more than `count` transfers are held at the gate (or 2 minutes pass); returns how many are.
        func heldTransfers(moreThan count: Int) async throws -> Int {
            for _ in 0..<1200 {
                let gate = try? jsonObject(try await httpGet(site.server.url("/gate/hosts")))
                let waiting = gate?["waiting"] as? Int ?? 0
                if waiting > count { return waiting }
                try await Task.sleep(for: .milliseconds(100))
            }
            return count
        }
        // Host 0 first, killed once it is fetching (so holding leases); its held transfers stay at the gate.
        var workers = [try startHost(0)]
        let heldByHostZero = try await heldTransfers(moreThan: 0)
        #expect(heldByHostZero > 0, "host 0 never fetched a file")
        kill(workers[0].0.processIdentifier, SIGKILL)
        // The other two take its jobs over once its leases run out. The server restarts once they are working.
        workers += try [startHost(1), startHost(2)]
        #expect(try await heldTransfers(moreThan: heldByHostZero) > heldByHostZero, "hosts 1 and 2 never fetched a file")
        try server.restart(downSeconds: 1)
        _ = try await httpGet(site.server.url("/gate/hosts/open"))
        for (process, _, stderr) in workers.dropFirst() {
            for _ in 0..<900 where process.isRunning { try await Task.sleep(for: .milliseconds(200)) }
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                Issue.record("a worker did not finish within 3 minutes of the restart")
            }
            await XceptorProcess.waitForExit(process)
            #expect(process.terminationStatus == 0, "\((try? String(contentsOf: stderr, encoding: .utf8)) ?? "")")
        }
        await XceptorProcess.waitForExit(workers[0].0)

        // Every job done, once: its result stored once, its image once; the killed host's jobs taken over.
        let status = try await XceptorProcess.run(["status", "--db", local, "--json"], in: site.dir)
        let report = try jsonObject(status.stdout)
        let counts = try #require(report["counts"] as? [String: Int], "\(status.stderr)")
        #expect(counts["done"] == urls.count && counts.values.reduce(0, +) == urls.count, "\(counts)")
        let store = try #require(report["store"] as? [String: Any])
        #expect(store["images"] as? Int == urls.count && store["embeddings"] as? Int == urls.count, "\(store)")
        let listed = try await XceptorProcess.run(["jobs", "list", "--db", local, "--json", "--limit", "0"], in: site.dir)
        let attempts = try listed.stdout.split(separator: "\n").map { try jsonObject($0)["attempts"] as? Int ?? 0 }
        #expect(attempts.count == urls.count && attempts.allSatisfy { (1...2).contains($0) }, "\(attempts)")
        #expect(attempts.contains(2), "no job of the killed host was taken over")
        let exported = try await XceptorProcess.run(["export", "--db", local, "--format", "jsonl"], in: site.dir)
        let jobs = try exported.stdout.split(separator: "\n").map { try jsonObject($0)["job"] as? Int ?? 0 }
        #expect(jobs.count == urls.count && Set(jobs).count == urls.count, "a result is missing or doubled")
    }
}
