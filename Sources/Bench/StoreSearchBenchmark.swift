import Foundation
import Queue
import Retrieval
import Search

/// The library's own search time on a store: what `POST /v1/search` by job costs without HTTP, on one
/// long-lived `SearchService` (so the vectors and the index are already loaded, as in the server).
public struct StoreSearchBenchmark: Sendable {
    public var path: String
    public var queries: Int
    public var k = 10

    public init(path: String, queries: Int) {
        self.path = path
        self.queries = queries
    }

    public struct Result: Sendable, Codable {
        public var kind = "library-search-by-job"
        public var vectors: Int
        public var queries: Int
        public var method: String
        public var p50Milliseconds: Double
        public var p99Milliseconds: Double
        public var meanMilliseconds: Double
    }

    public func run() async throws -> Result {
        let store = try SQLiteJobStore(path: path, create: false)
        let service = SearchService(store: store, indexFile: SearchService.indexFile(forStoreAt: path))
        let done = try await store.status().counts[.done] ?? 0
        guard done > 0 else { throw RetrievalError.noEmbeddings }
        var random = SplitMix64(seed: 7)
        var method = ""
        _ = try await service.search(SearchRequest(query: .job(1), k: k))  // loads the vectors and maps the index
        var times: [Double] = []
        for _ in 0..<queries {
            let job = JobID(1 + random.next() % UInt64(done))
            let start = ContinuousClock.now
            method = try await service.search(SearchRequest(query: .job(job), k: k)).method.rawValue
            times.append(Double((ContinuousClock.now - start) / .microseconds(1)) / 1000)
        }
        times.sort()
        return Result(
            vectors: try await store.embeddingModels().values.reduce(0, +), queries: queries, method: method,
            p50Milliseconds: times[times.count / 2], p99Milliseconds: times[min(times.count - 1, times.count * 99 / 100)],
            meanMilliseconds: times.reduce(0, +) / Double(times.count))
    }
}
