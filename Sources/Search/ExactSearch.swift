import CDNNL
import CVectorKernels
import Dispatch
import Foundation
import Synchronization

/// One result: the id of a stored vector and its cosine similarity to the query.
public struct Neighbor: Sendable, Equatable {
    public var id: Int64
    public var score: Float

    public init(id: Int64, score: Float) {
        self.id = id
        self.score = score
    }
}

extension Neighbor {
    /// The best `k` of `candidates`, best first (ties to the smaller id): merges result lists.
    public static func best(_ k: Int, of candidates: [Neighbor]) -> [Neighbor] {
        var best = TopK(k: k)
        for candidate in candidates { best.offer(candidate) }
        return best.sorted()
    }
}

/// Brute force over every row: the matrix is read block by block and each block is scored against the
/// queries with oneDNN's sgemm (JIT-compiled for this CPU, on all cores; the rows and queries are unit
/// length, so the scores are cosines), and each query keeps its top k. One query is a memory-bound scan;
/// a batch reads the matrix once for all its queries.
public enum ExactSearch {
    /// The `k` rows most similar to `query`, best first; ties go to the smaller id. `accept` filters rows
    /// by id (labels, say) before they compete.
    public static func search(_ matrix: VectorMatrix, query: [Float], k: Int, accept: (@Sendable (Int64) -> Bool)? = nil) throws
        -> [Neighbor]
    {
        try search(matrix, queries: [query], k: k, accept: accept)[0]
    }

    /// `search(_:query:k:accept:)` for many queries at once (one query is a scan; see `scan`).
    ///
    /// Each block of rows is scored against all queries as block x queries^T, which gives oneDNN's sgemm the
    /// long dimension it wants: on a 2-core AVX-512 host, 100k x 2048 against 64 queries ran at 333 GFLOP/s
    /// this way in blocks of 1,024 rows, and at 101 GFLOP/s as queries x block^T (FAISS's orientation on
    /// OpenBLAS reached 227). The scores then lie row by row, each row's queries side by side, which the
    /// selection reads in order.
    public static func search(
        _ matrix: VectorMatrix, queries: [[Float]], k: Int, blockRows: Int = 1024,
        accept: (@Sendable (Int64) -> Bool)? = nil, phases: SearchPhases? = nil
    ) throws -> [[Neighbor]] {
        guard !queries.isEmpty else { return [] }
        if queries.count == 1 { return [scan(matrix, query: queries[0], k: k, accept: accept)] }
        let dimensions = matrix.dimensions, queryCount = queries.count
        let packed = queries.flatMap { query -> [Float] in
            precondition(query.count == dimensions, "a query of \(query.count) values against vectors of \(dimensions)")
            return VectorMatrix.normalized(query)
        }
        var best = [TopK](repeating: TopK(k: k), count: queryCount)
        guard k > 0, matrix.count > 0 else { return best.map { $0.sorted() } }
        var scores = [Float](repeating: 0, count: queryCount * min(blockRows, matrix.count))
        var accepted = [Bool](repeating: true, count: min(blockRows, matrix.count))
        // The queries are shared among the cores in contiguous runs, so each lane reads its part of a row.
        let lanes = min(ProcessInfo.processInfo.activeProcessorCount, queryCount)
        try matrix.values.withUnsafeBufferPointer { rows in
            for start in stride(from: 0, to: matrix.count, by: blockRows) {
                let count = min(blockRows, matrix.count - start)
                let scoring = ContinuousClock.now
                // scores (count x queries) = block (count x d) * queries^T (d x queries), row-major.
                let status = scores.withUnsafeMutableBufferPointer { scores in
                    dnnl_sgemm(
                        CChar(UInt8(ascii: "N")), CChar(UInt8(ascii: "T")), Int64(count), Int64(queryCount), Int64(dimensions),
                        1, rows.baseAddress! + start * dimensions, Int64(dimensions), packed, Int64(dimensions),
                        0, scores.baseAddress!, Int64(queryCount))
                }
                guard status == dnnl_success else { throw SearchError.kernel("oneDNN sgemm failed with status \(status.rawValue)") }
                let selecting = ContinuousClock.now
                phases?.scoringSeconds += seconds(from: scoring, to: selecting)
                defer { phases?.selectingSeconds += seconds(from: selecting, to: .now) }
                if let accept {
                    for row in 0..<count { accepted[row] = accept(matrix.ids[start + row]) }
                }
                best.withUnsafeMutableBufferPointer { best in
                    nonisolated(unsafe) let best = best
                    scores.withUnsafeBufferPointer { scores in
                        nonisolated(unsafe) let scores = scores
                        accepted.withUnsafeBufferPointer { accepted in
                            nonisolated(unsafe) let accepted = accepted
                            DispatchQueue.concurrentPerform(iterations: lanes) { lane in
                                let first = lane * queryCount / lanes, end = (lane + 1) * queryCount / lanes
                                selectBest(
                                    scores, rows: count, columns: queryCount, queries: first..<end, into: best,
                                    id: { matrix.ids[start + $0] }, accepted: accepted)
                            }
                        }
                    }
                }
            }
        }
        return best.map { $0.sorted() }
    }

    /// Offers the scores of `rows` rows (each with `columns` queries side by side) to the top k of each query
    /// in `queries`. Most scores lose to the worst kept: one comparison with the query's threshold skips them.
    private static func selectBest(
        _ scores: UnsafeBufferPointer<Float>, rows: Int, columns: Int, queries: Range<Int>, into best: UnsafeMutableBufferPointer<TopK>,
        id: (Int) -> Int64, accepted: UnsafeBufferPointer<Bool>
    ) {
        guard !queries.isEmpty else { return }
        var thresholds = queries.map { best[$0].threshold }
        for row in 0..<rows where accepted[row] {
            let base = row * columns
            for (offset, query) in queries.enumerated() where scores[base + query] >= thresholds[offset] {
                best[query].offer(Neighbor(id: id(row), score: scores[base + query]))
                thresholds[offset] = best[query].threshold
            }
        }
    }
}

/// Where a batched search's time went: scoring (the matrix product) and selecting (each query's top k).
public final class SearchPhases: @unchecked Sendable {  // written by the one search it is passed to
    public var scoringSeconds = 0.0
    public var selectingSeconds = 0.0

    public init() {}
}

private func seconds(from start: ContinuousClock.Instant, to end: ContinuousClock.Instant) -> Double {
    Double((end - start) / .nanoseconds(1)) / 1e9
}

extension ExactSearch {
    /// One query against every row: the rows are split among the cores, each scoring four rows per pass of
    /// the query (the scan is bound by memory bandwidth; sgemm with one query row leaves it idle half the time).
    public static func scan(_ matrix: VectorMatrix, query: [Float], k: Int, accept: (@Sendable (Int64) -> Bool)? = nil) -> [Neighbor] {
        precondition(query.count == matrix.dimensions, "a query of \(query.count) values against vectors of \(matrix.dimensions)")
        guard matrix.count > 0 else { return [] }
        let unit = VectorMatrix.normalized(query), dimensions = matrix.dimensions
        return matrix.values.withUnsafeBufferPointer { rows in
            nonisolated(unsafe) let base = rows.baseAddress!
            return scanRows(matrix.count, ids: matrix.ids, k: k, accept: accept) { start, count, scores in
                xceptor_dot_consecutive(unit, base + start * dimensions, count, dimensions, scores)
            }
        }
    }

    /// Exact search over half-float rows, then the best `candidates` (default: 4k, at least k + 32) are
    /// scored again in float32 from `matrix` (the same rows in full precision), so the reduced storage
    /// costs almost no recall while the scan reads half the bytes.
    public static func search(
        _ halves: HalfMatrix, rerankingWith matrix: VectorMatrix, query: [Float], k: Int,
        candidates: Int? = nil, accept: (@Sendable (Int64) -> Bool)? = nil
    ) -> [Neighbor] {
        precondition(halves.count == matrix.count && halves.dimensions == matrix.dimensions, "the half-float rows must be the matrix's")
        precondition(query.count == matrix.dimensions, "a query of \(query.count) values against vectors of \(matrix.dimensions)")
        guard halves.count > 0 else { return [] }
        let unit = VectorMatrix.normalized(query), dimensions = halves.dimensions, ids = halves.ids
        let rowIDs = (0..<Int64(halves.count)).map { $0 }
        let wanted = max(k, candidates ?? max(4 * k, k + 32))
        // The scan's ids are row numbers, so the re-rank finds each candidate's float row.
        var acceptRow: (@Sendable (Int64) -> Bool)?
        if let accept { acceptRow = { row in accept(ids[Int(row)]) } }
        let shortlist = halves.values.withUnsafeBufferPointer { rows in
            nonisolated(unsafe) let base = rows.baseAddress!
            return scanRows(halves.count, ids: rowIDs, k: wanted, accept: acceptRow) { start, count, scores in
                xceptor_dot_consecutive_half(unit, base + start * dimensions, count, dimensions, scores)
            }
        }
        let rows = shortlist.map { Int32($0.id) }
        var scores = [Float](repeating: 0, count: rows.count)
        matrix.values.withUnsafeBufferPointer { values in
            if !rows.isEmpty { xceptor_dot_rows(unit, values.baseAddress!, rows, rows.count, matrix.dimensions, &scores) }
        }
        var best = TopK(k: k)
        for (row, score) in zip(rows, scores) { best.offer(Neighbor(id: matrix.ids[Int(row)], score: score)) }
        return best.sorted()
    }

    /// Scores rows 0..<count in chunks, on every core, each thread keeping its own top k, merged at the end.
    /// `score(start, count, out)` writes the scores of rows start..<start + count.
    static func scanRows(
        _ count: Int, ids: [Int64], k: Int, accept: (@Sendable (Int64) -> Bool)?,
        score: @Sendable (Int, Int, UnsafeMutablePointer<Float>) -> Void
    ) -> [Neighbor] {
        guard k > 0, count > 0 else { return [] }
        let threads = max(1, min(ProcessInfo.processInfo.activeProcessorCount, count / 4096))
        let share = (count + threads - 1) / threads
        let found = Mutex([TopK](repeating: TopK(k: k), count: threads))
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            var best = TopK(k: k)
            let chunk = 1024
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: chunk)
            defer { scores.deallocate() }
            for start in stride(from: thread * share, to: min(count, (thread + 1) * share), by: chunk) {
                let rows = min(chunk, min(count, (thread + 1) * share) - start)
                score(start, rows, scores)
                best.offer(
                    UnsafeBufferPointer(start: scores, count: rows), id: { ids[start + $0] },
                    accept: { accept?(ids[start + $0]) ?? true })
            }
            found.withLock { $0[thread] = best }
        }
        var merged = TopK(k: k)
        for part in found.withLock({ $0 }) { for neighbor in part.items { merged.offer(neighbor) } }
        return merged.sorted()
    }
}

/// The rows of a `VectorMatrix` as IEEE half floats: half the bytes for a scan to read, within about 1e-3 of
/// each score, which a float32 re-rank of the best candidates takes back.
public struct HalfMatrix: Sendable {
    public let dimensions: Int
    public let ids: [Int64]
    let values: [UInt16]

    public var count: Int { ids.count }

    public init(_ matrix: VectorMatrix) {
        dimensions = matrix.dimensions
        ids = matrix.ids
        var halves = [UInt16](repeating: 0, count: matrix.values.count)
        if !halves.isEmpty { xceptor_to_half(matrix.values, &halves, matrix.values.count) }
        values = halves
    }
}

/// The best k seen so far: a min-heap on (score, then larger id is worse), so the worst kept is at the root.
struct TopK {
    let k: Int
    private(set) var items: [Neighbor] = []

    init(k: Int) {
        self.k = k
        items.reserveCapacity(k)
    }

    /// The score a candidate must reach to be kept (ties are settled by id in `offer`).
    var threshold: Float { items.count < k ? -.infinity : items[0].score }

    /// Offers each score, as `id(i)`, where `accept(i)`. Most scores of a long scan lose to the worst kept: one
    /// comparison with the threshold skips them, without calling `accept` or touching the heap.
    @inline(__always)
    mutating func offer(_ scores: UnsafeBufferPointer<Float>, id: (Int) -> Int64, accept: (Int) -> Bool) {
        var threshold = self.threshold
        for index in scores.indices where scores[index] >= threshold && accept(index) {
            offer(Neighbor(id: id(index), score: scores[index]))
            threshold = self.threshold
        }
    }

    /// Whether `a` ranks below `b`.
    static func worse(_ a: Neighbor, _ b: Neighbor) -> Bool {
        a.score < b.score || (a.score == b.score && a.id > b.id)
    }

    mutating func offer(_ candidate: Neighbor) {
        if items.count < k {
            items.append(candidate)
            var child = items.count - 1
            while child > 0 {
                let parent = (child - 1) / 2
                guard Self.worse(items[child], items[parent]) else { break }
                items.swapAt(child, parent)
                child = parent
            }
        } else if Self.worse(items[0], candidate) {
            items[0] = candidate
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var worst = parent
                if left < items.count, Self.worse(items[left], items[worst]) { worst = left }
                if right < items.count, Self.worse(items[right], items[worst]) { worst = right }
                if worst == parent { break }
                items.swapAt(parent, worst)
                parent = worst
            }
        }
    }

    func sorted() -> [Neighbor] { items.sorted { Self.worse($1, $0) } }
}

/// Why a search could not run.
public enum SearchError: Error, CustomStringConvertible {
    case kernel(String)

    public var description: String {
        switch self {
        case let .kernel(message): return "\(message); the search kernel is unavailable on this machine"
        }
    }
}
