import Foundation
import Queue
import TestSupport
import Testing

/// Several real `xceptor` processes on one SQLite file.
@Suite("Several processes on one queue file", .serialized)
struct MultiProcessTests {
    @Test("4 processes claim and complete 10,000 jobs: each exactly once, none lost")
    func fourProcessesDrainOnce() async throws {
        let dir = try makeScratchDirectory()
        let db = dir.appendingPathComponent("q.sqlite").path
        let store = try SQLiteJobStore(path: db)
        let total = 10_000
        _ = try await store.enqueue((0..<total).map { NewJob(url: "http://a.test/\($0).jpg") })

        let children = try (0..<4).map { index in
            try XceptorProcess.start(["bench", "queue-drain", "--db", db, "--owner", "p\(index)", "--batch", "16", "--print-ids"], in: dir)
        }
        var completedIDs: [JobID] = []
        var perProcess: [Int] = []
        for (process, stdout, stderr) in children {
            await XceptorProcess.waitForExit(process)
            let errors = try String(contentsOf: stderr, encoding: .utf8)
            #expect(process.terminationStatus == 0, "\(errors)")
            let ids = try String(contentsOf: stdout, encoding: .utf8).split(separator: "\n").compactMap { JobID($0) }
            perProcess.append(ids.count)
            completedIDs += ids
        }
        #expect(completedIDs.count == total, "completions reported: \(completedIDs.count)")
        #expect(Set(completedIDs).count == total, "a job was completed twice")
        #expect(perProcess.filter { $0 > 0 }.count >= 2, "the work was not shared: \(perProcess)")

        let status = try await store.status()
        #expect(status.counts[.done] == total)
        let attempts = try await store.jobs(state: .done, afterID: nil, limit: total).map(\.attempts)
        #expect(attempts.allSatisfy { $0 == 1 })
    }

    @Test("a process killed with SIGKILL while holding leases: the others finish its jobs after expiry")
    func killedHolderIsRecovered() async throws {
        let dir = try makeScratchDirectory()
        let db = dir.appendingPathComponent("q.sqlite").path
        let store = try SQLiteJobStore(path: db)
        _ = try await store.enqueue((0..<300).map { NewJob(url: "http://a.test/\($0).jpg") })

        let (holder, holderOut, _) = try XceptorProcess.start(
            ["bench", "queue-drain", "--db", db, "--owner", "doomed", "--batch", "50", "--lease-seconds", "2", "--hold"], in: dir)
        var held: [JobID] = []
        for _ in 0..<500 where held.isEmpty {
            let text = try String(contentsOf: holderOut, encoding: .utf8)
            if text.hasPrefix("claimed "), text.hasSuffix("\n") {
                held = text.dropFirst("claimed ".count).split(whereSeparator: \.isWhitespace).compactMap { JobID($0) }
            } else {
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        #expect(held.count == 50)
        kill(holder.processIdentifier, SIGKILL)
        await XceptorProcess.waitForExit(holder)
        #expect(holder.terminationReason == .uncaughtSignal)
        #expect(try await store.jobs(state: .running, afterID: nil, limit: 1000).map(\.id) == held)

        let drainers = try (0..<2).map { index in
            try XceptorProcess.start(
                ["bench", "queue-drain", "--db", db, "--owner", "survivor\(index)", "--batch", "8", "--print-ids"], in: dir)
        }
        var completed: [JobID] = []
        for (process, stdout, _) in drainers {
            await XceptorProcess.waitForExit(process)
            #expect(process.terminationStatus == 0)
            completed += try String(contentsOf: stdout, encoding: .utf8).split(separator: "\n").compactMap { JobID($0) }
        }
        #expect(completed.count == 300 && Set(completed).count == 300)
        #expect(Set(held).isSubset(of: completed))

        #expect(try await store.status().counts[.done] == 300)
        #expect(try await store.jobs(state: .running, afterID: nil, limit: 10).isEmpty)
        for id in held {
            let job = try #require(try await store.job(id: id))
            #expect(job.attempts == 2, "job \(id): the killed attempt counts")
        }
    }
}
