import Foundation
import Queue
import Testing

/// The contract every `ResultStore` driver must keep: what search, export and the HTTP API read. Each test
/// runs against every driver in `StoreDriver`, on results stored through the queue as a worker stores them.
@Suite("ResultStore conformance")
struct ResultStoreConformanceTests {
    /// Three URLs done (the first two served the same bytes), one still running.
    struct Stored {
        let h: StoreHarness
        let ids: [JobID]
        let fork = [ScoredLabel(label: "fork", score: 0.8), ScoredLabel(label: "knife", score: 0.1)]
        var model: String { sampleResult(contentByte: 1).modelID }

        init(_ driver: StoreDriver) async throws {
            h = try await StoreHarness(driver)
            _ = try await h.store.enqueue([
                NewJob(url: "http://a/1", metadataJSON: #"{"caption":"a fork","shelf":3,"new":true,"ratio":0.5,"note":null}"#),
                NewJob(url: "http://mirror/1", metadataJSON: #"{"caption":"the same fork","shelf":4}"#),
                NewJob(url: "http://a/2", metadataJSON: #"{"caption":"a cup","shelf":3}"#),
                NewJob(url: "http://a/3", metadataJSON: #"{"caption":"running"}"#),
            ])
            let claimed = try await h.store.claim(limit: 4, leaseSeconds: 30, owner: "w")
            ids = claimed.map(\.id)
            var other = sampleResult(contentByte: 2)
            other.embedding[0] = -3.5
            _ = try await h.store.complete([
                JobCompletion(lease: claimed[0].lease, result: sampleResult(contentByte: 1, labels: fork)),
                JobCompletion(lease: claimed[1].lease, result: sampleResult(contentByte: 1, labels: fork)),
                JobCompletion(lease: claimed[2].lease, result: other),
            ])
        }

        func imageID(_ index: Int) async throws -> Int64 { try #require(try await h.state(of: ids[index]).imageID) }
    }

    @Test("embeddings come back as computed, by model, in image id order, a page at a time", arguments: StoreDriver.allCases)
    func embeddings(driver: StoreDriver) async throws {
        let s = try await Stored(driver)
        #expect(try await s.h.store.embeddingModels() == [s.model: 2])
        // Counts follow deletions too (a purge removes embeddings with their images).
        let empty = try await StoreHarness(driver)
        #expect(try await empty.store.embeddingModels().isEmpty)
        let all = try await s.h.store.embeddings(modelID: s.model, afterImageID: nil, limit: 10)
        #expect(all.count == 2 && all.dimensions == 2048 && all.values.count == 2 * 2048)
        #expect(all.imageIDs == [try await s.imageID(0), try await s.imageID(2)])
        #expect(Array(all.values[0..<2048]) == sampleResult(contentByte: 1).embedding, "stored once, as computed")
        #expect(all.values[2048] == -3.5)
        let first = try await s.h.store.embeddings(modelID: s.model, afterImageID: nil, limit: 1)
        let second = try await s.h.store.embeddings(modelID: s.model, afterImageID: first.imageIDs[0], limit: 1)
        #expect(first.imageIDs + second.imageIDs == all.imageIDs && first.values + second.values == all.values)
        #expect(try await s.h.store.embeddings(modelID: s.model, afterImageID: all.imageIDs[1], limit: 10).count == 0)
        #expect(try await s.h.store.embeddings(modelID: "other", afterImageID: nil, limit: 10).count == 0)
    }

    @Test("a done job's result is found by its id and by its URL, by model; others are not", arguments: StoreDriver.allCases)
    func resultsByJobAndURL(driver: StoreDriver) async throws {
        let s = try await Stored(driver)
        let byJob = try #require(try await s.h.store.result(forJob: s.ids[1], modelID: s.model))
        #expect(byJob.labels == s.fork && byJob.embedding == sampleResult(contentByte: 1).embedding)
        #expect(byJob.imageID == (try await s.imageID(0)))
        let byURL = try #require(try await s.h.store.result(forURL: "HTTP://MIRROR/1", modelID: nil))
        #expect(byURL == byJob)
        #expect(try await s.h.store.result(forJob: s.ids[1], modelID: "another-model") == nil)
        #expect(try await s.h.store.result(forJob: s.ids[3]) == nil, "still running")
        #expect(try await s.h.store.result(forJob: 999) == nil)
        #expect(try await s.h.store.result(forURL: "http://nowhere/", modelID: nil) == nil)
        #expect(try await s.h.store.result(forURL: "not a url", modelID: nil) == nil)
    }

    @Test(
        "each embedding records the precision that made it, read back with the result and when the same bytes come again; an unknown one is refused",
        arguments: StoreDriver.allCases)
    func precision(driver: StoreDriver) async throws {
        let s = try await Stored(driver)
        #expect(try await s.h.store.result(forJob: s.ids[0])?.precision == "fp32")
        let h = s.h
        _ = try await h.store.enqueue([NewJob(url: "http://b/1"), NewJob(url: "http://b/2")])
        let claimed = try await h.store.claim(limit: 2, leaseSeconds: 30, owner: "w")
        var bf16 = sampleResult(contentByte: 7)
        bf16.precision = "bf16"
        var unknown = sampleResult(contentByte: 8)
        unknown.precision = "fp8"
        await #expect(throws: QueueError.self) { _ = try await h.store.complete([JobCompletion(lease: claimed[1].lease, result: unknown)]) }
        #expect(try await h.state(of: claimed[1].id).state == .running, "the refused result lost nothing: the job is still held")
        _ = try await h.store.complete([JobCompletion(lease: claimed[0].lease, result: bf16)])
        #expect(try await h.store.result(forJob: claimed[0].id)?.precision == "bf16")
        #expect(try await h.store.storedResult(sha256: bf16.image.sha256, modelID: bf16.modelID)?.precision == "bf16")
    }

    @Test("filters: by best label, by metadata values of any done job of the image, both together", arguments: StoreDriver.allCases)
    func filters(driver: StoreDriver) async throws {
        let s = try await Stored(driver)
        let (fork, cup) = (try await s.imageID(0), try await s.imageID(2))
        func ids(_ filter: ResultFilter) async throws -> Set<Int64> { try await s.h.store.imageIDs(matching: filter, modelID: s.model) }
        func meta(_ pairs: (String, String)...) -> [MetadataCondition] { pairs.map { MetadataCondition(key: $0.0, value: $0.1) } }

        #expect(try await ids(ResultFilter()) == [fork, cup])
        #expect(try await ids(ResultFilter(label: "fork")) == [fork])
        #expect(try await ids(ResultFilter(label: "knife")) == [], "only the best label counts")
        #expect(try await ids(ResultFilter(metadata: meta(("caption", "a cup")))) == [cup])
        #expect(try await ids(ResultFilter(metadata: meta(("caption", "the same fork")))) == [fork], "the image's second job counts too")
        #expect(try await ids(ResultFilter(metadata: meta(("shelf", "3")))) == [fork, cup], "numbers as written")
        #expect(try await ids(ResultFilter(metadata: meta(("shelf", "3"), ("caption", "a cup")))) == [cup], "every condition")
        #expect(try await ids(ResultFilter(metadata: meta(("shelf", "4"), ("caption", "a fork")))) == [], "on one job")
        #expect(try await ids(ResultFilter(metadata: meta(("new", "true")))) == [fork])
        #expect(try await ids(ResultFilter(metadata: meta(("note", "null")))) == [fork])
        #expect(try await ids(ResultFilter(metadata: meta(("ratio", "0.5")))) == [fork])
        #expect(try await ids(ResultFilter(metadata: meta(("caption", "running")))) == [], "not done")
        #expect(
            try await ids(ResultFilter(metadata: meta(("$.caption", "a cup"), ("caption' OR 1=1 --", "x")))) == [],
            "keys are data, not paths or SQL")
        #expect(try await ids(ResultFilter(label: "fork", metadata: meta(("shelf", "3")))) == [fork])
        #expect(try await ids(ResultFilter(label: "cup", metadata: meta(("new", "true")))) == [])
        #expect(try await s.h.store.imageIDs(matching: ResultFilter(label: "fork"), modelID: "other").isEmpty)
    }

    @Test("summaries name the first done job and the later ones that served the same bytes", arguments: StoreDriver.allCases)
    func summaries(driver: StoreDriver) async throws {
        let s = try await Stored(driver)
        let first = try await s.imageID(0)
        let summaries = try await s.h.store.imageSummaries([first, 12345], modelID: s.model)
        #expect(summaries.count == 1)
        #expect(
            summaries[first]
                == ImageSummary(
                    jobID: s.ids[0], url: "http://a/1", labels: s.fork,
                    sameBytes: [JobReference(id: s.ids[1], url: "http://mirror/1")]))
    }

    @Test("thumbnails by image id; the footprint counts images, embeddings and their bytes", arguments: StoreDriver.allCases)
    func thumbnailsAndFootprint(driver: StoreDriver) async throws {
        let empty = try await StoreHarness(driver)
        let none = try await empty.store.footprint()
        #expect(none.images == 0 && none.embeddings == 0 && none.bytesPerImage == nil && none.totalBytes > 0)

        let s = try await Stored(driver)
        #expect(try await s.h.store.thumbnail(imageID: try await s.imageID(0)) == [0xFF, 0xD8, 0xFF])
        #expect(try await s.h.store.thumbnail(imageID: 12345) == nil)
        let footprint = try await s.h.store.footprint()
        #expect(footprint.images == 2 && footprint.embeddings == 2)
        #expect(footprint.embeddingBytes == 2 * 2048 * 4, "each embedding once, as float32")
        #expect(footprint.thumbnailBytes == 2 * 3)
        #expect(footprint.totalBytes > none.totalBytes + footprint.embeddingBytes)
        #expect(footprint.bytesPerImage == footprint.totalBytes / 2)
    }

    @Test(
        "export reads: done jobs with their raw embeddings, labels and metadata, by job id, a page at a time",
        arguments: StoreDriver.allCases)
    func resultRows(driver: StoreDriver) async throws {
        let h = try await StoreHarness(driver)
        _ = try await h.store.enqueue([
            NewJob(url: "http://a/1", metadataJSON: #"{"caption":"a fork"}"#), NewJob(url: "http://mirror/1"),
            NewJob(url: "http://a/2"), NewJob(url: "http://a/3"),
        ])
        let claimed = try await h.store.claim(limit: 4, leaseSeconds: 30, owner: "w")
        let fork = [ScoredLabel(label: "fork", score: 0.8), ScoredLabel(label: "knife", score: 0.1)]
        var other = sampleResult(contentByte: 2)
        other.embedding[0] = -3.5
        _ = try await h.store.complete([
            JobCompletion(lease: claimed[0].lease, result: sampleResult(contentByte: 1, labels: fork)),
            JobCompletion(lease: claimed[1].lease, result: sampleResult(contentByte: 1, labels: fork)),
            JobCompletion(lease: claimed[2].lease, result: other),
        ])
        // The fourth job is still running: not exported.
        let model = other.modelID
        let first = try await h.store.resultRows(modelID: model, afterJobID: nil, limit: 2)
        #expect(
            first.map(\.job) == [
                JobReference(id: claimed[0].lease.jobID, url: "http://a/1"),
                JobReference(id: claimed[1].lease.jobID, url: "http://mirror/1"),
            ])
        #expect(first[0].metadata.flatMap(JSONValue.init(parsing:)) == .object(["caption": .string("a fork")]) && first[1].metadata == nil)
        #expect(first[0].imageID == first[1].imageID, "the same bytes at two URLs share one image")
        #expect(first[0].embedding == sampleResult(contentByte: 1).embedding, "raw, not normalised")
        #expect(
            first.allSatisfy { $0.labels == fork && $0.sha256 == [UInt8](repeating: 1, count: 32) && $0.width == 640 && $0.height == 480 })

        let rest = try await h.store.resultRows(modelID: model, afterJobID: first.last!.job.id, limit: 2)
        #expect(rest.map(\.job.url) == ["http://a/2"])
        #expect(rest.first?.embedding == other.embedding && rest.first?.labels == other.labels)
        #expect(try await h.store.resultRows(modelID: "another-model", afterJobID: nil, limit: 10).isEmpty)
        #expect(try await h.store.resultRows(modelID: model, afterJobID: rest[0].job.id, limit: 10).isEmpty)
    }

    @Test(
        "done jobs queued again for a second model keep the first model's results, and gain the second's", arguments: StoreDriver.allCases)
    func secondModel(driver: StoreDriver) async throws {
        let h = try await StoreHarness(driver)
        let ids = try await h.enqueue(["http://a/1", "http://a/2", "http://a/3"])
        func finish(_ model: String) async throws -> Int {
            let claimed = try await h.store.claim(limit: 10, leaseSeconds: 60, owner: "w")
            _ = try await h.store.complete(
                claimed.map { job in
                    var result = sampleResult(contentByte: UInt8(job.id % 200))
                    result.modelID = model
                    result.embedding = result.embedding.map { model == "first" ? $0 : -$0 }
                    return JobCompletion(lease: job.lease, result: result)
                })
            return claimed.count
        }
        #expect(try await finish("first") == 3)
        await #expect(throws: QueueError.self) { _ = try await h.store.requeue(.state(.failed), forModel: "second") }
        #expect(try await h.store.requeue(.state(.done), forModel: "second") == 3)
        #expect(try await h.state(of: ids[0]).state == .queued)
        // While queued again, the first model's results are still there to read and search.
        #expect(try await h.store.result(forJob: ids[0], modelID: "first")?.modelID == "first")
        #expect(try await h.store.resultRows(modelID: "first", afterJobID: nil, limit: 10).count == 3)
        let image = try #require(try await h.state(of: ids[1]).imageID)
        #expect(try await h.store.imageSummaries([image], modelID: "first")[image]?.jobID == ids[1])
        #expect(try await finish("second") == 3)
        #expect(try await h.store.embeddingModels() == ["first": 3, "second": 3])
        let first = try #require(try await h.store.result(forJob: ids[2], modelID: "first"))
        let second = try #require(try await h.store.result(forJob: ids[2], modelID: "second"))
        #expect(first.imageID == second.imageID && first.embedding == second.embedding.map { -$0 })
        // Only jobs that lack the model go back; ids name them one by one.
        #expect(try await h.store.requeue(.state(.done), forModel: "second") == 0)
        #expect(try await h.store.requeue(.ids([ids[0], 999_999]), forModel: "third") == 1)
        #expect(try await h.store.status().counts[.queued] == 1)
    }
}
