import Foundation
import Queue
import Testing

/// The contract every `JobQueue` driver must keep. Each test runs against every driver in `StoreDriver`.
@Suite("JobQueue conformance")
struct JobQueueConformanceTests {
    @Test("enqueue adds new URLs once and counts duplicates, within a batch and across batches", arguments: StoreDriver.allCases)
    func enqueueDeduplicates(driver: StoreDriver) async throws {
        let h = try await StoreHarness(driver)
        let first = try await h.store.enqueue(["http://a/1", "http://a/2", "http://a/1"].map { NewJob(url: $0) })
        #expect(first == EnqueueCounts(added: 2, duplicates: 1))
        let second = try await h.store.enqueue(["http://a/2", "http://a/3"].map { NewJob(url: $0) })
        #expect(second == EnqueueCounts(added: 1, duplicates: 1))
        let jobs = try await h.store.jobs(state: nil, afterID: nil, limit: 100)
        #expect(jobs.map(\.url) == ["http://a/1", "http://a/2", "http://a/3"])
        #expect(jobs.allSatisfy { $0.state == .queued && $0.attempts == 0 && $0.availableAt == h.clock.now() })
    }

    @Test("enqueue keeps priority, max attempts and metadata (the same JSON, if not the same spacing)", arguments: StoreDriver.allCases)
    func enqueueKeepsFields(driver: StoreDriver) async throws {
        let h = try await StoreHarness(driver)
        let metadata = #"{"caption":"a cup","shop":{"city":"Berlin"},"n":1.5,"tags":["x",null,true]}"#
        _ = try await h.store.enqueue([NewJob(url: "http://a/1", priority: 7, maxAttempts: 2, metadataJSON: metadata)])
        let job = try #require(try await h.store.jobs(state: .queued, afterID: nil, limit: 1).first)
        #expect(job.priority == 7 && job.maxAttempts == 2)
        #expect(job.metadataJSON.flatMap(JSONValue.init(parsing:)) == JSONValue(parsing: metadata), "\(job.metadataJSON ?? "nil")")
    }

    @Test("enqueue refuses max attempts below 1 and adds nothing", arguments: StoreDriver.allCases)
    func enqueueRejectsBadMaxAttempts(driver: StoreDriver) async throws {
        let h = try await StoreHarness(driver)
        await #expect(throws: QueueError.self) {
            try await h.store.enqueue([NewJob(url: "http://a/1"), NewJob(url: "http://a/2", maxAttempts: 0)])
        }
        #expect(try await h.store.jobs(state: nil, afterID: nil, limit: 10).isEmpty)
    }

    @Test("claim takes the highest priority first, then the oldest, up to the limit", arguments: StoreDriver.allCases)
    func claimOrder(driver: StoreDriver) async throws {
        let h = try await StoreHarness(driver)
        let low = try await h.enqueue(["http://a/low1", "http://a/low2"])
        let high = try await h.enqueue(["http://a/high1", "http://a/high2"], priority: 5)
        let claimed = try await h.store.claim(limit: 3, leaseSeconds: 30, owner: "w1")
        #expect(claimed.map(\.id) == [high[0], high[1], low[0]])
        #expect(claimed.allSatisfy { $0.lease.owner == "w1" && $0.lease.attempt == 1 })
        #expect(claimed.allSatisfy { $0.leaseExpiresAt == h.clock.now().addingTimeInterval(30) })
        let rest = try await h.store.claim(limit: 10, leaseSeconds: 30, owner: "w2")
        #expect(rest.map(\.id) == [low[1]])
        #expect(try await h.store.claim(limit: 10, leaseSeconds: 30, owner: "w3").isEmpty)

        let running = try await h.state(of: low[0])
        #expect(running.state == .running && running.attempts == 1 && running.leaseOwner == "w1")
    }

    @Test("claim with a zero limit claims nothing; bad lease arguments are refused", arguments: StoreDriver.allCases)
    func claimArguments(driver: StoreDriver) async throws {
        let h = try await StoreHarness(driver)
        try await h.enqueue(["http://a/1"])
        #expect(try await h.store.claim(limit: 0, leaseSeconds: 30, owner: "w").isEmpty)
        await #expect(throws: QueueError.self) { try await h.store.claim(limit: 1, leaseSeconds: 0, owner: "w") }
        await #expect(throws: QueueError.self) { try await h.store.claim(limit: 1, leaseSeconds: 30, owner: "") }
    }

    @Test("complete marks done, stores the result once per content, and clears the lease", arguments: StoreDriver.allCases)
    func completeStoresResults(driver: StoreDriver) async throws {
        let h = try await StoreHarness(driver)
        let ids = try await h.enqueue(["http://a/1", "http://mirror/1", "http://a/2"])
        let claimed = try await h.store.claim(limit: 3, leaseSeconds: 30, owner: "w")
        let labels = [ScoredLabel(label: "cup", score: 0.91), ScoredLabel(label: "glass", score: 0.05)]
        // The first two URLs serve the same bytes.
        let lost = try await h.store.complete([
            JobCompletion(lease: claimed[0].lease, result: sampleResult(contentByte: 1, labels: labels)),
            JobCompletion(lease: claimed[1].lease, result: sampleResult(contentByte: 1, labels: labels)),
            JobCompletion(lease: claimed[2].lease, result: sampleResult(contentByte: 2)),
        ])
        #expect(lost.isEmpty)

        let first = try await h.state(of: ids[0])
        let mirror = try await h.state(of: ids[1])
        #expect(first.state == .done && first.leaseOwner == nil && first.leaseExpiresAt == nil && first.finishedAt == h.clock.now())
        #expect(first.imageID != nil && first.imageID == mirror.imageID)
        #expect(try await h.state(of: ids[2]).imageID != first.imageID)

        let stored = try #require(try await h.store.result(forJob: ids[1]))
        let expected = sampleResult(contentByte: 1, labels: labels)
        #expect(stored.image == expected.image)
        #expect(stored.embedding == expected.embedding)
        #expect(stored.labels == labels)
        #expect(stored.modelID == expected.modelID)
        #expect(try await h.store.result(forJob: 999) == nil)
    }

    @Test(
        "complete-then-claim finishes the held jobs (with or without results) and claims others in one call; a lost lease is reported",
        arguments: StoreDriver.allCases)
    func completeThenClaim(driver: StoreDriver) async throws {
        let h = try await StoreHarness(driver)
        let ids = try await h.enqueue((1...6).map { "http://a/\($0)" })
        let held = try await h.store.claim(limit: 3, leaseSeconds: 30, owner: "w")
        let stale = JobLease(jobID: held[2].id, owner: "w", attempt: 7)
        for withResults in [false, true] {
            let completions = [
                JobCompletion(lease: held[withResults ? 1 : 0].lease, result: withResults ? sampleResult(contentByte: 3) : nil),
                JobCompletion(lease: stale, result: nil),
            ]
            let (lost, claimed) = try await h.store.complete(completions, thenClaim: withResults ? 5 : 2, leaseSeconds: 30, owner: "w2")
            #expect(lost == [stale])
            if withResults {
                // One job was left: the limit takes what there is.
                #expect(claimed.map(\.id) == [ids[5]])
                #expect(try await h.state(of: ids[1]).imageID != nil)
            } else {
                #expect(claimed.map(\.id) == [ids[3], ids[4]])
                #expect(claimed.allSatisfy { $0.lease.owner == "w2" && $0.leaseExpiresAt == h.clock.now().addingTimeInterval(30) })
                #expect(try await h.state(of: ids[0]).state == .done)
            }
        }
        #expect(try await h.state(of: ids[2]).state == .running, "the stale lease's job was left alone")
        // Nothing to hand back: a plain claim; nothing to claim: a plain complete.
        #expect(try await h.store.complete([], thenClaim: 1, leaseSeconds: 30, owner: "w3").claimed.isEmpty)
        let (lost, claimed) = try await h.store.complete(
            [JobCompletion(lease: held[2].lease, result: nil)], thenClaim: 0, leaseSeconds: 30, owner: "w3")
        let last = try await h.state(of: ids[2])
        #expect(lost.isEmpty && claimed.isEmpty && last.state == .done)
        await #expect(throws: QueueError.self) { try await h.store.complete([], thenClaim: 1, leaseSeconds: 30, owner: "") }
    }

    @Test("a stored result is found again by its content hash and model, and only by those", arguments: StoreDriver.allCases)
    func storedResultByContent(driver: StoreDriver) async throws {
        let h = try await StoreHarness(driver)
        _ = try await h.enqueue(["http://a/1"])
        let lease = try await h.store.claim(limit: 1, leaseSeconds: 30, owner: "w")[0].lease
        let labels = [ScoredLabel(label: "fork", score: 0.7), ScoredLabel(label: "knife", score: 0.2)]
        let result = sampleResult(contentByte: 7, labels: labels)
        #expect(try await h.store.storedResult(sha256: result.image.sha256, modelID: result.modelID) == nil)
        _ = try await h.store.complete([JobCompletion(lease: lease, result: result)])

        #expect(try await h.store.storedResult(sha256: result.image.sha256, modelID: result.modelID) == result)
        #expect(try await h.store.storedResult(sha256: result.image.sha256, modelID: "another-model") == nil)
        #expect(try await h.store.storedResult(sha256: [UInt8](repeating: 8, count: 32), modelID: result.modelID) == nil)
    }

    @Test("a result with a malformed hash or a non-finite embedding is refused before anything is written", arguments: StoreDriver.allCases)
    func completeValidatesResults(driver: StoreDriver) async throws {
        let h = try await StoreHarness(driver)
        let ids = try await h.enqueue(["http://a/1"])
        let lease = try await h.store.claim(limit: 1, leaseSeconds: 30, owner: "w")[0].lease
        var badHash = sampleResult(contentByte: 1)
        badHash.image.sha256 = [1, 2, 3]
        var nan = sampleResult(contentByte: 1)
        nan.embedding[5] = .nan
        for result in [badHash, nan] {
            await #expect(throws: QueueError.self) { try await h.store.complete([JobCompletion(lease: lease, result: result)]) }
        }
        #expect(try await h.state(of: ids[0]).state == .running)
    }

    @Test("a heartbeat extends leases; an expired lease is re-claimable and counts the attempt", arguments: StoreDriver.allCases)
    func heartbeatAndExpiry(driver: StoreDriver) async throws {
        let h = try await StoreHarness(driver)
        let ids = try await h.enqueue(["http://a/1"])
        let lease = try await h.store.claim(limit: 1, leaseSeconds: 10, owner: "w1")[0].lease

        h.clock.advance(bySeconds: 8)
        #expect(try await h.store.heartbeat([lease], leaseSeconds: 10).isEmpty)
        h.clock.advance(bySeconds: 8)  // 16 s after the claim, 8 s after the heartbeat: still held
        #expect(try await h.store.claim(limit: 1, leaseSeconds: 10, owner: "w2").isEmpty)
        #expect(try await h.store.status().expiredLeases == 0)

        h.clock.advance(bySeconds: 2.001)
        #expect(try await h.store.status().expiredLeases == 1)
        let reclaimed = try await h.store.claim(limit: 1, leaseSeconds: 10, owner: "w2")
        #expect(reclaimed.map(\.id) == ids)
        #expect(reclaimed[0].lease.attempt == 2)

        // The first worker has lost it: its heartbeat, completion and failure change nothing.
        #expect(try await h.store.heartbeat([lease], leaseSeconds: 10) == [lease])
        #expect(try await h.store.complete([JobCompletion(lease: lease, result: sampleResult(contentByte: 9))]) == [lease])
        #expect(try await h.store.fail(lease, JobFailure(message: "late", errorClass: .permanent)) == nil)
        #expect(try await h.store.release([lease]) == 0)
        let job = try await h.state(of: ids[0])
        #expect(job.state == .running && job.leaseOwner == "w2" && job.attempts == 2 && job.imageID == nil)
        #expect(try await h.store.result(forJob: ids[0]) == nil)

        #expect(try await h.store.complete([JobCompletion(lease: reclaimed[0].lease, result: nil)]).isEmpty)
        #expect(try await h.state(of: ids[0]).state == .done)
    }

    @Test("an expired lease on the last attempt makes the job dead, with the reason", arguments: StoreDriver.allCases)
    func expiryOnLastAttempt(driver: StoreDriver) async throws {
        let h = try await StoreHarness(driver)
        let ids = try await h.enqueue(["http://a/1"], maxAttempts: 1)
        _ = try await h.store.claim(limit: 1, leaseSeconds: 5, owner: "crashed-worker")
        h.clock.advance(bySeconds: 6)
        #expect(try await h.store.claim(limit: 1, leaseSeconds: 5, owner: "w2").isEmpty)
        let job = try await h.state(of: ids[0])
        #expect(job.state == .dead && job.errorClass == .transient && job.finishedAt == h.clock.now())
        #expect(job.lastError?.contains("crashed-worker") == true)
        #expect(job.lastError?.contains("expired") == true)
    }

    @Test(
        "transient failures back off exponentially within the jitter band, then the job is dead",
        arguments: StoreDriver.allCases, [0.0, 0.5, 0.999])
    func transientBackoff(driver: StoreDriver, unitRandom: Double) async throws {
        let h = try await StoreHarness(driver, unitRandom: unitRandom)
        let ids = try await h.enqueue(["http://a/1"], maxAttempts: 3)
        let jitter = 1 + StoreHarness.policy.jitterFraction * (2 * unitRandom - 1)
        for (attempt, base) in [(1, 10.0), (2, 20.0)] {
            let lease = try await h.store.claim(limit: 1, leaseSeconds: 60, owner: "w")[0].lease
            #expect(lease.attempt == attempt)
            let state = try await h.store.fail(
                lease, JobFailure(message: "HTTP 503 Service Unavailable", errorClass: .transient, httpStatus: 503))
            #expect(state == .queued)
            let job = try await h.state(of: ids[0])
            let delay = job.availableAt.timeIntervalSince(h.clock.now())
            #expect(abs(delay - base * jitter) < 0.002, "attempt \(attempt): delay \(delay)")
            #expect(job.lastError == "HTTP 503 Service Unavailable" && job.errorClass == .transient && job.httpStatus == 503)
            #expect(try await h.store.status().waitingForRetry == 1)

            // Not claimable a moment before the backoff ends, claimable once it has.
            h.clock.advance(bySeconds: delay - 0.01)
            #expect(try await h.store.claim(limit: 1, leaseSeconds: 60, owner: "w").isEmpty)
            h.clock.advance(bySeconds: 0.01)
        }
        let last = try await h.store.claim(limit: 1, leaseSeconds: 60, owner: "w")[0].lease
        #expect(last.attempt == 3)
        #expect(try await h.store.fail(last, JobFailure(message: "timeout", errorClass: .transient)) == .dead)
        let job = try await h.state(of: ids[0])
        #expect(job.state == .dead && job.lastError == "timeout" && job.finishedAt == h.clock.now())
    }

    @Test("a server's Retry-After longer than the backoff is honoured", arguments: StoreDriver.allCases)
    func retryAfter(driver: StoreDriver) async throws {
        let h = try await StoreHarness(driver)
        let ids = try await h.enqueue(["http://a/1"])
        let lease = try await h.store.claim(limit: 1, leaseSeconds: 60, owner: "w")[0].lease
        _ = try await h.store.fail(lease, JobFailure(message: "HTTP 429", errorClass: .transient, httpStatus: 429, retryAfterSeconds: 300))
        #expect(try await h.state(of: ids[0]).availableAt == h.clock.now().addingTimeInterval(300))
    }

    @Test("a permanent failure goes to failed at once and keeps its reason", arguments: StoreDriver.allCases)
    func permanentFailure(driver: StoreDriver) async throws {
        let h = try await StoreHarness(driver)
        let ids = try await h.enqueue(["http://a/1"], maxAttempts: 5)
        let lease = try await h.store.claim(limit: 1, leaseSeconds: 60, owner: "w")[0].lease
        #expect(
            try await h.store.fail(lease, JobFailure(message: "HTTP 404 Not Found", errorClass: .permanent, httpStatus: 404)) == .failed)
        let job = try await h.state(of: ids[0])
        #expect(job.state == .failed && job.attempts == 1 && job.lastError == "HTTP 404 Not Found")
        #expect(job.errorClass == .permanent && job.httpStatus == 404 && job.leaseOwner == nil)
        #expect(try await h.store.claim(limit: 1, leaseSeconds: 60, owner: "w").isEmpty)
    }

    @Test("release returns jobs to the queue without burning an attempt", arguments: StoreDriver.allCases)
    func release(driver: StoreDriver) async throws {
        let h = try await StoreHarness(driver)
        let ids = try await h.enqueue(["http://a/1", "http://a/2"])
        let claimed = try await h.store.claim(limit: 2, leaseSeconds: 60, owner: "w")
        #expect(try await h.store.release(claimed.map(\.lease)) == 2)
        for id in ids {
            let job = try await h.state(of: id)
            #expect(job.state == .queued && job.attempts == 0 && job.leaseOwner == nil && job.availableAt == h.clock.now())
        }
        let again = try await h.store.claim(limit: 2, leaseSeconds: 60, owner: "w2")
        #expect(again.map(\.lease.attempt) == [1, 1])
    }

    @Test(
        "a release with a delay keeps the job out of claims until then, still without burning an attempt", arguments: StoreDriver.allCases)
    func releaseWithDelay(driver: StoreDriver) async throws {
        let h = try await StoreHarness(driver)
        let ids = try await h.enqueue(["http://a/1"])
        let claimed = try await h.store.claim(limit: 1, leaseSeconds: 60, owner: "w")
        await #expect(throws: QueueError.self) { try await h.store.release(claimed.map(\.lease), delaySeconds: -1) }
        #expect(try await h.store.release(claimed.map(\.lease), delaySeconds: 3) == 1)
        let job = try await h.state(of: ids[0])
        #expect(job.state == .queued && job.attempts == 0 && job.availableAt == h.clock.now().addingTimeInterval(3))
        #expect(try await h.store.claim(limit: 1, leaseSeconds: 60, owner: "w").isEmpty)
        h.clock.advance(bySeconds: 3)
        #expect(try await h.store.claim(limit: 1, leaseSeconds: 60, owner: "w").map(\.lease.attempt) == [1])
    }

    @Test("retry revives failed and dead jobs; cancel stops queued ones; neither touches others", arguments: StoreDriver.allCases)
    func retryAndCancel(driver: StoreDriver) async throws {
        let h = try await StoreHarness(driver)
        let ids = try await h.enqueue(["http://a/failed", "http://a/dead", "http://a/queued", "http://a/done"], maxAttempts: 1)
        let claimed = try await h.store.claim(limit: 4, leaseSeconds: 60, owner: "w")
        let lease = Dictionary(uniqueKeysWithValues: claimed.map { ($0.url, $0.lease) })
        _ = try await h.store.fail(lease["http://a/failed"]!, JobFailure(message: "HTTP 404", errorClass: .permanent))
        _ = try await h.store.fail(lease["http://a/dead"]!, JobFailure(message: "timeout", errorClass: .transient))
        _ = try await h.store.release([lease["http://a/queued"]!])
        _ = try await h.store.complete([JobCompletion(lease: lease["http://a/done"]!, result: nil)])

        #expect(try await h.store.cancel(.ids([ids[0], ids[2], ids[3]])) == 1)  // only the queued one
        let cancelled = try await h.state(of: ids[2])
        #expect(cancelled.state == .failed && cancelled.errorClass == .permanent && cancelled.lastError == "cancelled by an operator")

        #expect(try await h.store.retry(.state(.dead)) == 1)
        #expect(try await h.store.retry(.ids([ids[3]])) == 0)  // done jobs are not retried
        #expect(try await h.store.retry(.state(.failed)) == 2)  // the 404 and the cancelled one
        for id in ids.prefix(3) {
            let job = try await h.state(of: id)
            #expect(job.state == .queued && job.attempts == 0 && job.finishedAt == nil)
        }
        #expect(try await h.state(of: ids[3]).state == .done)
        await #expect(throws: QueueError.self) { try await h.store.retry(.state(.running)) }
        await #expect(throws: QueueError.self) { try await h.store.cancel(.state(.done)) }
    }

    @Test("purge deletes done jobs older than the cutoff and results no other job uses", arguments: StoreDriver.allCases)
    func purge(driver: StoreDriver) async throws {
        let h = try await StoreHarness(driver)
        let ids = try await h.enqueue(["http://a/old", "http://mirror/old", "http://a/new", "http://a/queued"])
        var claimed = try await h.store.claim(limit: 2, leaseSeconds: 60, owner: "w")
        _ = try await h.store.complete(claimed.map { JobCompletion(lease: $0.lease, result: sampleResult(contentByte: 1)) })
        h.clock.advance(bySeconds: 3600)
        claimed = try await h.store.claim(limit: 1, leaseSeconds: 60, owner: "w")
        _ = try await h.store.complete([JobCompletion(lease: claimed[0].lease, result: sampleResult(contentByte: 2))])

        let counts = try await h.store.purgeDone(finishedBefore: h.clock.now().addingTimeInterval(-60))
        #expect(counts == PurgeCounts(jobs: 2, images: 1))
        #expect(try await h.store.job(id: ids[0]) == nil)
        #expect(try await h.store.job(id: ids[1]) == nil)
        #expect(try await h.store.result(forJob: ids[2])?.labels.isEmpty == false)
        #expect(try await h.state(of: ids[3]).state == .queued)
        #expect(try await h.store.embeddingModels() == [sampleResult(contentByte: 2).modelID: 1], "the purged embedding is not counted")
    }

    @Test("status counts every state, the oldest queued job, recent throughput and the top errors", arguments: StoreDriver.allCases)
    func status(driver: StoreDriver) async throws {
        let h = try await StoreHarness(driver)
        let empty = try await h.store.status()
        #expect(empty.total == 0 && empty.oldestQueuedAgeSeconds == nil && empty.counts.count == JobState.allCases.count)

        try await h.enqueue((1...6).map { "http://a/\($0)" }, maxAttempts: 1)
        h.clock.advance(bySeconds: 90)
        let claimed = try await h.store.claim(limit: 5, leaseSeconds: 60, owner: "w")
        _ = try await h.store.complete([JobCompletion(lease: claimed[0].lease, result: nil)])
        for lease in claimed[1...2].map(\.lease) {
            _ = try await h.store.fail(lease, JobFailure(message: "HTTP 404 Not Found", errorClass: .permanent, httpStatus: 404))
        }
        _ = try await h.store.fail(claimed[3].lease, JobFailure(message: "timed out after 30 s", errorClass: .transient))
        h.clock.advance(bySeconds: 120)  // the finished ones are now 2 minutes old

        let status = try await h.store.status()
        #expect(status.counts == [.queued: 1, .running: 1, .done: 1, .failed: 2, .dead: 1])
        #expect(status.total == 6)
        #expect(status.oldestQueuedAgeSeconds == 210)
        #expect(status.finishedLastMinute == 0 && status.finishedLastTenMinutes == 4)
        #expect(status.expiredLeases == 1)
        #expect(status.topErrors.first == .init(errorClass: .permanent, message: "HTTP 404 Not Found", count: 2))
        #expect(status.topErrors.count == 2)
    }

    @Test("hasUnfinishedJobs is true while anything is queued or running", arguments: StoreDriver.allCases)
    func unfinished(driver: StoreDriver) async throws {
        let h = try await StoreHarness(driver)
        #expect(try await h.store.hasUnfinishedJobs() == false)
        try await h.enqueue(["http://a/1"])
        #expect(try await h.store.hasUnfinishedJobs())
        let lease = try await h.store.claim(limit: 1, leaseSeconds: 60, owner: "w")[0].lease
        #expect(try await h.store.hasUnfinishedJobs())
        _ = try await h.store.complete([JobCompletion(lease: lease, result: nil)])
        #expect(try await h.store.hasUnfinishedJobs() == false)
    }

    @Test("jobs pages through the queue in id order, optionally by state", arguments: StoreDriver.allCases)
    func paging(driver: StoreDriver) async throws {
        let h = try await StoreHarness(driver)
        let ids = try await h.enqueue((1...5).map { "http://a/\($0)" })
        _ = try await h.store.claim(limit: 2, leaseSeconds: 60, owner: "w")
        #expect(try await h.store.jobs(state: nil, afterID: ids[1], limit: 2).map(\.id) == [ids[2], ids[3]])
        #expect(try await h.store.jobs(state: .running, afterID: nil, limit: 10).map(\.id) == [ids[0], ids[1]])
        #expect(try await h.store.jobs(state: .queued, afterID: ids[3], limit: 10).map(\.id) == [ids[4]])
    }

    @Test("eight concurrent claimers with results take every job exactly once, and store each result", arguments: StoreDriver.allCases)
    func concurrentClaimers(driver: StoreDriver) async throws {
        let h = try await StoreHarness(driver)
        let count = 300
        let ids = try await h.enqueue((0..<count).map { "http://a/\($0)" })
        let store = h.store
        let claimed = try await withThrowingTaskGroup(of: [JobID].self) { group in
            for worker in 0..<8 {
                group.addTask {
                    var mine: [JobID] = []
                    while true {
                        let batch = try await store.claim(limit: 7, leaseSeconds: 60, owner: "w\(worker)")
                        if batch.isEmpty { return mine }
                        mine += batch.map(\.id)
                        // Every fourth job serves the same bytes as another, so images are shared under contention.
                        let lost = try await store.complete(
                            batch.map { JobCompletion(lease: $0.lease, result: sampleResult(contentByte: UInt8($0.id % 75))) })
                        #expect(lost.isEmpty)
                    }
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(claimed.count == count && Set(claimed) == Set(ids))
        let status = try await store.status()
        #expect(status.counts[.done] == count && status.total == count)
        #expect(try await store.footprint().images == 75)
    }
}
