import Foundation
import Queue
import Retrieval
import Search
import Xception

/// The library's own search time on a store: what `POST /v1/search` by job costs without HTTP, on one
/// long-lived `SearchService` (so the vectors and the index are already loaded, as in the server).
public struct StoreSearchBenchmark: Sendable {
    public var path: String
    public var queries: Int
    /// Searches in flight at once, as a server's concurrent connections make them.
    public var concurrency: Int
    public var k = 10

    public init(path: String, queries: Int, concurrency: Int = 1) {
        self.path = path
        self.queries = queries
        self.concurrency = concurrency
    }

    public struct Result: Sendable, Codable {
        public var kind = "library-search-by-job"
        public var vectors: Int
        public var queries: Int
        public var concurrency: Int
        public var method: String
        public var p50Milliseconds: Double
        public var p99Milliseconds: Double
        public var meanMilliseconds: Double
        /// The process's CPU time (user and system) per search: what a request costs the machine.
        public var cpuMillisecondsPerQuery: Double
    }

    public func run() async throws -> Result {
        let store = try SQLiteJobStore(path: path, create: false)
        let service = SearchService(store: store, indexFile: SearchService.indexFile(forStoreAt: path))
        let done = try await store.status().counts[.done] ?? 0
        guard done > 0 else { throw RetrievalError.noEmbeddings }
        _ = try await service.search(SearchRequest(query: .job(1), k: k))  // loads the vectors and maps the index
        let k = self.k
        let callers = max(1, concurrency)
        let cpuBefore = CPUTime.process
        // Each caller its own query sequence, as each of a server's connections sends its own.
        let timed = try await withThrowingTaskGroup(of: (times: [Double], method: String).self) { group in
            for caller in 0..<callers {
                let share = queries / callers + (caller < queries % callers ? 1 : 0)
                group.addTask {
                    var random = SplitMix64(seed: 7 + UInt64(caller))
                    var times: [Double] = []
                    var method = ""
                    for _ in 0..<share {
                        let job = JobID(1 + random.next() % UInt64(done))
                        let start = ContinuousClock.now
                        method = try await service.search(SearchRequest(query: .job(job), k: k)).method.rawValue
                        times.append(Double((ContinuousClock.now - start) / .microseconds(1)) / 1000)
                        await Task.yield()  // the callers take turns, as a server's requests do
                    }
                    return (times, method)
                }
            }
            return try await group.reduce(into: (times: [Double](), method: "")) {
                $0.times += $1.times
                if !$1.method.isEmpty { $0.method = $1.method }
            }
        }
        let cpuSeconds = CPUTime.process - cpuBefore
        var times = timed.times
        times.sort()
        return Result(
            vectors: try await store.embeddingModels().values.reduce(0, +), queries: queries, concurrency: callers, method: timed.method,
            p50Milliseconds: times[times.count / 2], p99Milliseconds: times[min(times.count - 1, times.count * 99 / 100)],
            meanMilliseconds: times.reduce(0, +) / Double(times.count), cpuMillisecondsPerQuery: cpuSeconds * 1000 / Double(queries))
    }
}
