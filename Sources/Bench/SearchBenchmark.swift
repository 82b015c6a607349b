import Foundation
import Search

/// Exact search on a base of vectors and a set of queries from .npy files (gen_data.py's output): one
/// query at a time, and in batches.
public struct SearchBenchmark: Sendable {
    public struct Result: Codable, Sendable {
        public var kind: String
        public var vectors: Int
        public var dimensions: Int
        public var queries: Int
        public var batch: Int
        public var millisecondsPerQuery: Double
        /// Against float32 exact search (reduced storage only).
        public var recallAt10: Double?
        /// Batched only: the share of the time spent in the matrix product (the rest selects each query's
        /// top k and hands work between threads), and the product's rate.
        public var scoringShare: Double?
        public var scoringGflops: Double?
    }

    public let matrix: VectorMatrix
    public let queries: [[Float]]

    public init(base: URL, queries: URL) throws {
        let (rows, dimensions, values) = try NumpyFile.float32Matrix(base)
        matrix = VectorMatrix(dimensions: dimensions, ids: (0..<Int64(rows)).map { $0 }, values: values)
        let (count, queryDimensions, queryValues) = try NumpyFile.float32Matrix(queries)
        guard queryDimensions == dimensions else {
            throw NumpyFile.Error.unreadable(queries.path, "\(queryDimensions) columns, the base has \(dimensions)")
        }
        self.queries = (0..<count).map { Array(queryValues[$0 * dimensions..<($0 + 1) * dimensions]) }
    }

    /// Single queries (one scan each, on all cores), then batches of `batch`.
    public func run(k: Int, singleQueries: Int, batch: Int) throws -> [Result] {
        var results: [Result] = []
        let singles = Array(queries.prefix(singleQueries))
        _ = try ExactSearch.search(matrix, query: singles[0], k: k)  // page the matrix in
        var start = ContinuousClock.now
        for query in singles { _ = try ExactSearch.search(matrix, query: query, k: k) }
        results.append(result("single", queries: singles.count, batch: 1, since: start))

        start = ContinuousClock.now
        var done = 0
        let phases = SearchPhases()
        while done + batch <= queries.count {
            _ = try ExactSearch.search(matrix, queries: Array(queries[done..<done + batch]), k: k, phases: phases)
            done += batch
        }
        var batched = result("batched", queries: done, batch: batch, since: start)
        let total = batched.millisecondsPerQuery * Double(done) / 1000
        batched.scoringShare = phases.scoringSeconds / total
        batched.scoringGflops = 2 * Double(done) * Double(matrix.count) * Double(matrix.dimensions) / phases.scoringSeconds / 1e9
        results.append(batched)

        // Half-float rows, re-ranked in float32: half the bytes per scan, and what it costs in recall.
        let halves = HalfMatrix(matrix)
        _ = ExactSearch.search(halves, rerankingWith: matrix, query: singles[0], k: k)
        var hits = 0
        start = ContinuousClock.now
        var found: [[Neighbor]] = []
        for query in singles { found.append(ExactSearch.search(halves, rerankingWith: matrix, query: query, k: k)) }
        var half = result("float16-single", queries: singles.count, batch: 1, since: start)
        for (query, neighbors) in zip(singles, found) {
            let truth = try ExactSearch.search(matrix, query: query, k: k)
            hits += Set(neighbors.map(\.id)).intersection(truth.map(\.id)).count
        }
        half.recallAt10 = Double(hits) / Double(singles.count * k)
        results.append(half)
        return results
    }

    /// Builds an HNSW index over the base (timed), then for each `ef`: recall@k against exact search, ms
    /// per single query, and queries per second with every core answering queries side by side.
    public func runHNSW(
        k: Int, m: Int, efConstruction: Int, efSearch: [Int],
        threads: Int = ProcessInfo.processInfo.activeProcessorCount
    ) throws -> [HNSWResult] {
        let truth = try ExactSearch.search(matrix, queries: queries, k: k)
        let index = HNSWIndex(dimensions: matrix.dimensions, parameters: .init(m: m, efConstruction: efConstruction))
        let buildStart = ContinuousClock.now
        matrix.values.withUnsafeBufferPointer { index.add(ids: matrix.ids, vectors: $0, threads: threads) }
        let buildSeconds = Double((ContinuousClock.now - buildStart) / .milliseconds(1)) / 1000
        return efSearch.map { ef in
            var hits = 0
            let start = ContinuousClock.now
            for (query, expected) in zip(queries, truth) {
                hits += Set(index.search(query, k: k, ef: ef).map(\.id)).intersection(expected.map(\.id)).count
            }
            let single = Double((ContinuousClock.now - start) / .microseconds(1)) / 1000 / Double(queries.count)
            let parallelStart = ContinuousClock.now
            let queries = self.queries
            DispatchQueue.concurrentPerform(iterations: ProcessInfo.processInfo.activeProcessorCount) { lane in
                for number in stride(from: lane, to: queries.count, by: ProcessInfo.processInfo.activeProcessorCount) {
                    _ = index.search(queries[number], k: k, ef: ef)
                }
            }
            let parallelSeconds = Double((ContinuousClock.now - parallelStart) / .microseconds(1)) / 1e6
            return HNSWResult(
                kind: "hnsw", vectors: matrix.count, m: m, efConstruction: efConstruction, buildSeconds: buildSeconds,
                efSearch: ef, recallAt10: Double(hits) / Double(queries.count * k), millisecondsPerQuery: single,
                queriesPerSecondAllCores: Double(queries.count) / parallelSeconds)
        }
    }

    public struct HNSWResult: Codable, Sendable {
        public var kind: String
        public var vectors: Int
        public var m: Int
        public var efConstruction: Int
        public var buildSeconds: Double
        public var efSearch: Int
        public var recallAt10: Double
        public var millisecondsPerQuery: Double
        public var queriesPerSecondAllCores: Double
    }

    private func result(_ kind: String, queries: Int, batch: Int, since start: ContinuousClock.Instant) -> Result {
        let seconds = Double((ContinuousClock.now - start) / .microseconds(1)) / 1e6
        return Result(
            kind: kind, vectors: matrix.count, dimensions: matrix.dimensions, queries: queries, batch: batch,
            millisecondsPerQuery: seconds * 1000 / Double(max(queries, 1)))
    }
}

/// Reads NumPy's .npy format: a 2-D little-endian float32 C-order array.
enum NumpyFile {
    enum Error: Swift.Error, CustomStringConvertible {
        case unreadable(String, String)
        var description: String {
            switch self {
            case let .unreadable(path, reason): return "\(path): \(reason) (need a 2-D little-endian float32 .npy, as gen_data.py writes)"
            }
        }
    }

    static func float32Matrix(_ url: URL) throws -> (rows: Int, columns: Int, values: [Float]) {
        let data = try Data(contentsOf: url, options: .alwaysMapped)
        guard data.count > 10, data.prefix(6).elementsEqual([0x93] + Array("NUMPY".utf8)) else {
            throw Error.unreadable(url.path, "not a .npy file")
        }
        let major = data[6]
        let headerLength =
            major == 1 ? Int(data[8]) | Int(data[9]) << 8 : Int(data[8]) | Int(data[9]) << 8 | Int(data[10]) << 16 | Int(data[11]) << 24
        let headerStart = major == 1 ? 10 : 12
        guard data.count >= headerStart + headerLength else { throw Error.unreadable(url.path, "truncated header") }
        let header = String(decoding: data[headerStart..<headerStart + headerLength], as: UTF8.self)
        guard header.contains("'descr': '<f4'"), header.contains("'fortran_order': False"),
            let shape = header.firstMatch(of: /'shape': \((\d+), (\d+)\)/), let rows = Int(shape.1), let columns = Int(shape.2)
        else { throw Error.unreadable(url.path, "unsupported header \(header)") }
        let start = headerStart + headerLength
        guard data.count == start + rows * columns * 4 else { throw Error.unreadable(url.path, "size does not match the shape") }
        let values = data[start...].withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        return (rows, columns, values)
    }
}
