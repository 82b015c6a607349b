import Foundation
import Queue
import Stores
import Testing

/// The contract of `StoreTransfer` and the copy built on it (`StoreCopy`), for every pair of drivers: a
/// store copied into an empty one comes out the same, record for record and id for id; a copy into a store
/// that holds some of it merges by URL and by image hash; a copy that stopped resumes at its checkpoint.
@Suite("StoreTransfer conformance")
struct StoreTransferConformanceTests {
    /// Every pair of drivers, source first.
    static let pairs: [(StoreDriver, StoreDriver)] = StoreDriver.allCases.flatMap { from in StoreDriver.allCases.map { (from, $0) } }

    /// Jobs in every state: two done URLs serving the same bytes, a third done with a second model's
    /// embedding too, one failed, one queued with metadata, one running.
    static func populatedSource(_ driver: StoreDriver) async throws -> StoreHarness {
        let h = try await StoreHarness(driver)
        _ = try await h.store.enqueue([
            NewJob(url: "http://a/1", priority: 2, metadataJSON: #"{"caption":"a fork","shelf":3,"ratio":0.5,"note":null}"#),
            NewJob(url: "http://mirror/1"),
            NewJob(url: "http://a/2", maxAttempts: 7),
            NewJob(url: "http://a/404"),
            NewJob(url: "http://a/running"),
            NewJob(url: "http://a/later", metadataJSON: #"{"b":[1,2],"a":"x"}"#),
        ])
        let claimed = try await h.store.claim(limit: 5, leaseSeconds: 30, owner: "w")
        let byURL = Dictionary(uniqueKeysWithValues: claimed.map { ($0.url, $0) })
        var other = sampleResult(contentByte: 2, labels: [ScoredLabel(label: "cup", score: 0.75), ScoredLabel(label: "glass", score: 0.2)])
        other.embedding[3] = -1.25
        _ = try await h.store.complete([
            JobCompletion(lease: byURL["http://a/1"]!.lease, result: sampleResult(contentByte: 1)),
            JobCompletion(lease: byURL["http://mirror/1"]!.lease, result: sampleResult(contentByte: 1)),
            JobCompletion(lease: byURL["http://a/2"]!.lease, result: other),
        ])
        _ = try await h.store.fail(
            byURL["http://a/404"]!.lease, JobFailure(message: "HTTP 404 Not Found", errorClass: .permanent, httpStatus: 404))
        // The third image embedded again by a second model, as `jobs requeue` and a worker would.
        #expect(try await h.store.requeue(.ids([byURL["http://a/2"]!.id]), forModel: "second-model") == 1)
        let again = try await h.store.claim(limit: 1, leaseSeconds: 30, owner: "w2")
        var second = sampleResult(contentByte: 2)
        second.modelID = "second-model"
        second.embedding = (0..<16).map { Float($0) }
        second.precision = "bf16"
        #expect(again.map(\.url) == ["http://a/2"])
        _ = try await h.store.complete([JobCompletion(lease: again[0].lease, result: second)])
        return h
    }

    /// Every job's record, as the store returns it, with the running ones as a copy delivers them.
    static func jobs(_ store: any JobStore, arriving: Bool = false) async throws -> [JobRecord] {
        try await store.jobRecords(afterJobID: nil, limit: 1000).map {
            arriving ? JobRecord(job: StoreInput.arriving($0.job), imageSHA256: $0.imageSHA256) : $0
        }
    }

    static func sortedKeys(_ json: String?) -> String? {
        guard let json, let value = try? JSONSerialization.jsonObject(with: Data(json.utf8), options: [.fragmentsAllowed]) else {
            return json
        }
        return String(
            decoding: try! JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed]), as: UTF8.self)
    }

    @Test("a store copied into an empty one holds every record with its id, and verifies strictly", arguments: pairs)
    func copyIntoEmpty(from: StoreDriver, to: StoreDriver) async throws {
        let source = try await Self.populatedSource(from)
        let destination = try await StoreHarness(to)
        let report = try await StoreCopy().copy(from: source.store, named: "source", to: destination.store)
        #expect(report.keptIDs && !report.resumed && report.runningRequeued == 1)
        #expect(
            report.images == TransferTally(added: 2) && report.embeddings == TransferTally(added: 3)
                && report.jobs == TransferTally(added: 6))
        let verification = try #require(report.verification)
        #expect(verification.passed && verification.strict && verification.missing == 0 && verification.differing == 0)
        #expect(verification.jobs == 6 && verification.images == 2 && verification.embeddings == 3)
        #expect(verification.sourceChecksum == verification.destinationChecksum && verification.sourceChecksum.count == 64)

        // Field for field, but metadata spelling (jsonb rewrites it) and the running job, which arrives queued.
        let expected = try await Self.jobs(source.store, arriving: true), copied = try await Self.jobs(destination.store)
        #expect(copied.count == expected.count)
        for (want, got) in zip(expected, copied) {
            var (want, got) = (want, got)
            #expect(Self.sortedKeys(want.job.metadataJSON) == Self.sortedKeys(got.job.metadataJSON))
            (want.job.metadataJSON, got.job.metadataJSON) = (nil, nil)
            #expect(want == got)
        }
        let running = try #require(copied.first { $0.job.url == "http://a/running" })
        #expect(running.job.state == .queued && running.job.attempts == 0 && running.job.leaseOwner == nil)

        // Images with ids, thumbnails, every model's embedding and labels; results read the same.
        let sourceImages = try await source.store.imageRecords(afterImageID: nil, limit: 10)
        #expect(sourceImages == (try await destination.store.imageRecords(afterImageID: nil, limit: 10)))
        // The precision each embedding was made in comes along (the second model's ran in bf16).
        #expect(sourceImages.flatMap(\.embeddings).map(\.precision).sorted() == ["bf16", "fp32", "fp32"])
        #expect(try await destination.store.embeddingModels() == source.store.embeddingModels())
        for job in expected {
            #expect(try await destination.store.result(forJob: job.job.id) == source.store.result(forJob: job.job.id), "\(job.job.url)")
        }
        // The checkpoint says finished; new jobs after it still get ids the copy did not use.
        let checkpoint = try #require(try await destination.store.transferCheckpoint(source: "source"))
        #expect(checkpoint.finished && checkpoint.keepIDs)
        _ = try await destination.store.enqueue([NewJob(url: "http://new/1")])
        let added = try #require(try await destination.store.job(url: "http://new/1"))
        #expect(added.id > expected.map(\.job.id).max()!)
    }

    @Test("a copy into a store that holds some of it merges by URL and by image hash", arguments: pairs)
    func merge(from: StoreDriver, to: StoreDriver) async throws {
        let source = try await Self.populatedSource(from)
        let destination = try await StoreHarness(to)
        // Here already: a/1 done with an embedding of its own (other bytes), a/2 queued without a result,
        // and the bytes of mirror/1 under another URL.
        _ = try await destination.store.enqueue([NewJob(url: "http://a/1"), NewJob(url: "http://a/2"), NewJob(url: "http://elsewhere/1")])
        let claimed = try await destination.store.claim(limit: 3, leaseSeconds: 30, owner: "d")
        let held = Dictionary(uniqueKeysWithValues: claimed.map { ($0.url, $0) })
        var own = sampleResult(contentByte: 9)
        own.embedding[0] = 42
        _ = try await destination.store.complete([
            JobCompletion(lease: held["http://a/1"]!.lease, result: own),
            JobCompletion(lease: held["http://elsewhere/1"]!.lease, result: sampleResult(contentByte: 1)),
        ])
        _ = try await destination.store.release([held["http://a/2"]!.lease])

        let report = try await StoreCopy().copy(from: source.store, named: "source", to: destination.store)
        #expect(!report.keptIDs)
        #expect(report.images == TransferTally(added: 1, present: 1), "the bytes of mirror/1 were there")
        #expect(report.embeddings == TransferTally(added: 2, present: 1))
        #expect(report.jobs == TransferTally(added: 4, present: 1, completed: 1))
        let verification = try #require(report.verification)
        #expect(verification.passed && !verification.strict && verification.missing == 0)
        #expect(verification.differing == 1, "a/1 kept the destination's own result")

        let kept = try #require(try await destination.store.result(forURL: "http://a/1", modelID: nil))
        #expect(kept.embedding[0] == 42)
        let taken = try #require(try await destination.store.job(url: "http://a/2"))
        #expect(taken.state == .done && taken.maxAttempts == 7)
        let takenResult = try #require(
            try await destination.store.result(forURL: "http://a/2", modelID: sampleResult(contentByte: 2).modelID))
        #expect(takenResult.embedding[3] == -1.25 && takenResult.labels.map(\.label) == ["cup", "glass"])
        #expect(try await destination.store.result(forURL: "http://a/2", modelID: "second-model")?.embedding.count == 16)
        let mirror = try #require(try await destination.store.job(url: "http://mirror/1"))
        let elsewhere = try #require(try await destination.store.job(url: "http://elsewhere/1"))
        #expect(mirror.imageID != nil && mirror.imageID == elsewhere.imageID, "one image per hash")
        #expect(try await destination.store.status().total == 7)

        // Copying again changes nothing: every record is there.
        let again = try await StoreCopy().copy(from: source.store, named: "source", to: destination.store)
        #expect(again.images.added == 0 && again.embeddings.added == 0 && again.jobs.added == 0 && again.jobs.completed == 0)
        #expect(again.verification?.passed == true)
    }

    @Test("a copy that stopped resumes after its last committed page", arguments: pairs)
    func resume(from: StoreDriver, to: StoreDriver) async throws {
        let source = try await Self.populatedSource(from)
        let destination = try await StoreHarness(to)
        // What a copy killed after its first page of images and its first page of jobs left behind.
        let images = try await source.store.imageRecords(afterImageID: nil, limit: 1)
        let jobs = try await source.store.jobRecords(afterJobID: nil, limit: 2)
        var checkpoint = TransferCheckpoint(source: "source", keepIDs: true, afterImageID: images[0].id)
        _ = try await destination.store.importImages(images, keepIDs: true, checkpoint: checkpoint)
        #expect(try await destination.store.transferCheckpoint(source: "source") == checkpoint)
        let rest = try await source.store.imageRecords(afterImageID: images[0].id, limit: 10)
        checkpoint.afterImageID = rest.last!.id
        _ = try await destination.store.importImages(rest, keepIDs: true, checkpoint: checkpoint)
        checkpoint.afterJobID = jobs.last!.job.id
        _ = try await destination.store.importJobs(jobs, keepIDs: true, checkpoint: checkpoint)

        var copy = StoreCopy()
        copy.jobsPerPage = 1
        let report = try await copy.copy(from: source.store, named: "source", to: destination.store)
        #expect(report.resumed && report.keptIDs)
        #expect(report.images == TransferTally() && report.jobs == TransferTally(added: 4), "only what the stopped copy had not written")
        #expect(report.verification?.passed == true && report.verification?.strict == true)
        #expect(try await Self.jobs(destination.store).map(\.job.id) == Self.jobs(source.store).map(\.job.id))
    }

    @Test("a malformed record is refused, and nothing of its page is written", arguments: StoreDriver.allCases)
    func malformedRecords(driver: StoreDriver) async throws {
        let destination = try await StoreHarness(driver)
        let checkpoint = TransferCheckpoint(source: "bad", keepIDs: false, afterImageID: 2)
        let good = ImageRecord(
            id: 1, image: sampleResult(contentByte: 1).image, createdAt: Date(),
            embeddings: [EmbeddingRecord(modelID: "m", vector: [1, 2], labels: [], createdAt: Date())])
        var bad = good
        bad.id = 2
        bad.image.sha256 = [1, 2, 3]
        await #expect(throws: QueueError.self) {
            try await destination.store.importImages([good, bad], keepIDs: false, checkpoint: checkpoint)
        }
        var infinite = good
        infinite.embeddings[0].vector = [.infinity]
        await #expect(throws: QueueError.self) {
            try await destination.store.importImages([infinite], keepIDs: false, checkpoint: checkpoint)
        }
        var unknownPrecision = good
        unknownPrecision.embeddings[0].precision = "fp8"
        await #expect(throws: QueueError.self) {
            try await destination.store.importImages([unknownPrecision], keepIDs: false, checkpoint: checkpoint)
        }
        let orphan = JobRecord(
            job: Job(
                id: 1, url: "http://a/1", state: .done, priority: 0, attempts: 1, maxAttempts: 3, availableAt: Date(), leaseOwner: nil,
                leaseExpiresAt: nil, lastError: nil, errorClass: nil, httpStatus: nil, metadataJSON: nil, imageID: 5, createdAt: Date(),
                updatedAt: Date(), finishedAt: Date()),
            imageSHA256: [UInt8](repeating: 7, count: 32))
        await #expect(throws: QueueError.self) { try await destination.store.importJobs([orphan], keepIDs: false, checkpoint: checkpoint) }
        #expect(try await destination.store.holdsNothing())
        #expect(try await destination.store.transferCheckpoint(source: "bad") == nil)
    }
}
