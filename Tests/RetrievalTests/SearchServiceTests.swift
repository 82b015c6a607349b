import Foundation
import Queue
import Retrieval
import Search
import TestSupport
import Testing

/// Searches through `SearchService` on a real SQLite store, filled through the queue as workers fill it.
@Suite("Search service", .serialized)
struct SearchServiceTests {
    /// A store of `count` done jobs with clustered vectors; `rareEvery`-th image's best label is "rare"
    /// (the rest "common"), and each job's metadata names its cluster.
    struct Collection {
        let directory: URL
        let store: any JobStore
        let service: SearchService
        let vectors: [[Float]]
        let imageIDs: [Int64]
        let labels: [String]
        let clusters: [Int]
        static let model = "xception-test@150"

        init(count: Int, dimensions: Int = 96, rareEvery: Int = 33, seed: UInt64 = 7) async throws {
            directory = try makeScratchDirectory("xceptor-retrieval")
            let path = directory.appendingPathComponent("store.sqlite").path
            store = try SQLiteJobStore(path: path)
            service = SearchService(store: store, indexFile: SearchService.indexFile(forStoreAt: path))
            var random = Random(seed: seed)
            let centres = (0..<20).map { _ in (0..<dimensions).map { _ in random.gaussian() } }
            var vectors: [[Float]] = [], labels: [String] = [], clusters: [Int] = []
            for item in 0..<count {
                let cluster = Int(random.next() % 20)
                vectors.append(centres[cluster].map { $0 + 0.6 * random.gaussian() })
                labels.append(item % rareEvery == 0 ? "rare" : "common")
                clusters.append(cluster)
            }
            _ = try await store.enqueue(
                (0..<count).map {
                    NewJob(
                        url: "http://images.test/\($0).jpg",
                        metadataJSON: #"{"cluster":\#(clusters[$0]),"half":"\#($0 % 2 == 0 ? "even" : "odd")"}"#)
                })
            var imageIDs: [Int64] = []
            for start in stride(from: 0, to: count, by: 500) {
                let claimed = try await store.claim(limit: 500, leaseSeconds: 60, owner: "test")
                _ = try await store.complete(
                    claimed.enumerated().map { offset, job in
                        let item = start + offset
                        var sha = [UInt8](repeating: 0, count: 32)
                        withUnsafeBytes(of: UInt64(item + 1).littleEndian) { sha.replaceSubrange(0..<8, with: $0) }
                        return JobCompletion(
                            lease: job.lease,
                            result: JobResult(
                                image: ImageFacts(sha256: sha, width: 10, height: 10, byteCount: 100), modelID: Self.model,
                                embedding: vectors[item], labels: [ScoredLabel(label: labels[item], score: 0.9)]))
                    })
                for job in claimed { imageIDs.append(try #require(try await store.job(id: job.id)?.imageID)) }
            }
            (self.vectors, self.labels, self.clusters, self.imageIDs) = (vectors, labels, clusters, imageIDs)
        }

        /// The brute-force answer: every passing vector scored in double precision, best k, ties to the smaller id.
        func bruteForce(_ query: [Float], k: Int, passes: (Int) -> Bool) -> [Int64] {
            let unit = normalized(query)
            var scored: [(id: Int64, score: Double)] = []
            for row in 0..<vectors.count where passes(row) {
                var score = 0.0
                for (a, b) in zip(unit, normalized(vectors[row])) { score += Double(a) * Double(b) }
                scored.append((imageIDs[row], score))
            }
            scored.sort { (a: (id: Int64, score: Double), b: (id: Int64, score: Double)) -> Bool in
                a.score != b.score ? a.score > b.score : a.id < b.id
            }
            return scored.prefix(k).map(\.id)
        }

        func normalized(_ vector: [Float]) -> [Float] {
            let norm = vector.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            return vector.map { Float(Double($0) / norm) }
        }
    }

    @Test("a label held by 3% of the images: the index returns k of them, the same as a brute-force filtered scan")
    func labelFilterThroughIndex() async throws {
        let c = try await Collection(count: 6000)
        let report = try await IndexMaintenance(search: c.service, threads: 2).build()
        #expect(report.indexed == 6000)
        let rare = c.labels.filter { $0 == "rare" }.count
        #expect(rare == 182)
        var random = Random(seed: 99)
        for round in 0..<20 {
            let query = c.vectors[Int(random.next() % 6000)].map { $0 + 0.3 * random.gaussian() }
            let response = try await c.service.search(
                SearchRequest(
                    query: .vector(query), k: 10, filter: ResultFilter(label: "rare"),
                    indexThreshold: 1000))
            #expect(response.method == .index)
            #expect(response.results.count == 10, "round \(round)")
            #expect(response.results.allSatisfy { $0.labels.first?.label == "rare" })
            let expected = c.bruteForce(query, k: 10) { c.labels[$0] == "rare" }
            #expect(response.results.map(\.image) == expected, "round \(round)")
        }
    }

    @Test("metadata conditions filter inside the search, exact and through the index; fewer matches than k give them all")
    func metadataFilter() async throws {
        let c = try await Collection(count: 3000, rareEvery: 1000)
        _ = try await IndexMaintenance(search: c.service, threads: 2).build()
        let query = c.vectors[5]
        for exact in [true, false] {
            let filter = ResultFilter(metadata: [
                MetadataCondition(key: "cluster", value: "3"), MetadataCondition(key: "half", value: "odd"),
            ])
            let response = try await c.service.search(
                SearchRequest(query: .vector(query), k: 15, filter: filter, exact: exact, indexThreshold: 100))
            #expect(response.method == (exact ? .exact : .index))
            let expected = c.bruteForce(query, k: 15) { c.clusters[$0] == 3 && $0 % 2 == 1 }
            #expect(response.results.map(\.image) == expected, "exact: \(exact)")
            // Three images carry the label "rare": asking for 10 gives those 3.
            let few = try await c.service.search(
                SearchRequest(
                    query: .vector(query), k: 10, filter: ResultFilter(label: "rare"),
                    exact: exact, indexThreshold: 100))
            #expect(few.results.count == 3)
        }
    }

    @Test("a search by job finds the job's own image first; results stored after the index are found; a purge retires the index")
    func jobQueriesIndexTailAndStaleness() async throws {
        let c = try await Collection(count: 1200)
        _ = try await IndexMaintenance(search: c.service, threads: 2).build()
        let firstJob = try #require(try await c.store.jobs(state: .done, afterID: nil, limit: 1).first)
        let byJob = try await c.service.search(SearchRequest(query: .job(firstJob.id), k: 3, indexThreshold: 100))
        #expect(byJob.results.first?.job == firstJob.id && byJob.results.first?.url == firstJob.url)
        #expect(abs((byJob.results.first?.score ?? 0) - 1) < 1e-5)

        // One more image after the index was built: an exact scan of the tail finds it at once.
        try await Task.sleep(for: .milliseconds(20))
        let cutoff = Date()
        try await Task.sleep(for: .milliseconds(20))
        _ = try await c.store.enqueue([NewJob(url: "http://images.test/late.jpg")])
        let late = try await c.store.claim(limit: 1, leaseSeconds: 60, owner: "test")[0]
        let vector = (0..<96).map { Float($0 % 5) - 2 }
        _ = try await c.store.complete([
            JobCompletion(
                lease: late.lease,
                result: JobResult(
                    image: ImageFacts(sha256: [UInt8](repeating: 0xEE, count: 32), width: 1, height: 1, byteCount: 1),
                    modelID: Collection.model,
                    embedding: vector, labels: []))
        ])
        let tail = try await c.service.search(SearchRequest(query: .vector(vector), k: 1, indexThreshold: 100))
        #expect(tail.method == .index && tail.results.first?.job == late.id && tail.warnings.isEmpty)
        #expect(try await IndexMaintenance(search: c.service).status().behind == 1)
        #expect(try await IndexMaintenance(search: c.service).update().added == 1)

        // Purging leaves the index holding images that are gone: the store is scanned instead, with a warning.
        _ = try await c.store.purgeDone(finishedBefore: cutoff)
        let afterPurge = try await c.service.search(SearchRequest(query: .vector(vector), k: 5, indexThreshold: 100))
        #expect(afterPurge.method == .exact && afterPurge.results.map(\.job) == [late.id])
        #expect(afterPurge.warnings == [.indexHoldsPurgedEmbeddings(path: c.service.indexFile.path)])
    }

    @Test("one service answering many searches follows what workers store meanwhile, and notices a purge")
    func cachedVectorsFollowTheStore() async throws {
        let c = try await Collection(count: 300)
        let probe = (0..<96).map { Float(($0 * 7) % 11) - 5 }
        let before = try await c.service.search(SearchRequest(query: .vector(probe), k: 1))
        #expect(before.method == .exact && before.results.count == 1)

        try await Task.sleep(for: .milliseconds(20))
        let cutoff = Date()
        try await Task.sleep(for: .milliseconds(20))
        _ = try await c.store.enqueue([NewJob(url: "http://images.test/new.jpg")])
        let job = try await c.store.claim(limit: 1, leaseSeconds: 60, owner: "test")[0]
        _ = try await c.store.complete([
            JobCompletion(
                lease: job.lease,
                result: JobResult(
                    image: ImageFacts(sha256: [UInt8](repeating: 0xAB, count: 32), width: 1, height: 1, byteCount: 1),
                    modelID: Collection.model,
                    embedding: probe, labels: []))
        ])
        let after = try await c.service.search(SearchRequest(query: .vector(probe), k: 1))
        #expect(after.results.first?.job == job.id && abs((after.results.first?.score ?? 0) - 1) < 1e-5, "the new result is found")

        // A purge of the older results: the cached vectors no longer add up to the store's, so they are read again.
        _ = try await c.store.purgeDone(finishedBefore: cutoff)
        let purged = try await c.service.search(SearchRequest(query: .vector(probe), k: 10))
        #expect(purged.results.map(\.job) == [job.id])
    }

    @Test("queries that cannot be answered fail with what is wrong")
    func failures() async throws {
        let c = try await Collection(count: 50)
        await #expect(throws: RetrievalError.dimensionMismatch(query: 3, stored: 96)) {
            try await c.service.search(SearchRequest(query: .vector([1, 2, 3])))
        }
        // Once the vectors are cached too (a server's second request): found by schemathesis, it crashed before.
        _ = try await c.service.search(SearchRequest(query: .vector(c.vectors[0])))
        await #expect(throws: RetrievalError.dimensionMismatch(query: 1, stored: 96)) {
            try await c.service.search(SearchRequest(query: .vector([0])))
        }
        await #expect(throws: RetrievalError.badQueryVector("it has values that are not finite numbers")) {
            try await c.service.search(SearchRequest(query: .vector([Float](repeating: .nan, count: 96))))
        }
        await #expect(throws: RetrievalError.noEmbedding(job: 999, modelID: Collection.model)) {
            try await c.service.search(SearchRequest(query: .job(999)))
        }
        await #expect(throws: RetrievalError.modelRequired) {
            try await c.service.search(SearchRequest(query: .image([0xFF, 0xD8])))
        }
        await #expect(throws: RetrievalError.unknownModel("other", stored: [Collection.model])) {
            try await c.service.search(SearchRequest(query: .job(1), modelID: "other"))
        }
        await #expect(throws: RetrievalError.self) { try await c.service.search(SearchRequest(query: .job(1), k: 0)) }
        let empty = try SQLiteJobStore(path: c.directory.appendingPathComponent("empty.sqlite").path)
        await #expect(throws: RetrievalError.noEmbeddings) {
            try await SearchService(store: empty, indexFile: c.directory.appendingPathComponent("none.hnsw"))
                .search(SearchRequest(query: .vector([1])))
        }
    }
}

/// SplitMix64 with a Box-Muller normal: reproducible test data.
struct Random {
    var generator: SplitMix64
    init(seed: UInt64) { generator = SplitMix64(seed: seed) }
    mutating func next() -> UInt64 { generator.next() }
    mutating func gaussian() -> Float {
        Float((-2 * log(max(generator.unit(), 1e-300))).squareRoot() * cos(2 * Double.pi * generator.unit()))
    }
}
