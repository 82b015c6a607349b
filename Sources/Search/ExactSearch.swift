import CDNNL

/// One result: the id of a stored vector and its cosine similarity to the query.
public struct Neighbor: Sendable, Equatable {
    public var id: Int64
    public var score: Float

    public init(id: Int64, score: Float) {
        self.id = id
        self.score = score
    }
}

/// Brute force over every row: the matrix is read block by block and each block is scored against the
/// queries with oneDNN's sgemm (JIT-compiled for this CPU, on all cores; the rows and queries are unit
/// length, so the scores are cosines), and each query keeps its top k. One query is a memory-bound scan;
/// a batch reads the matrix once for all its queries.
public enum ExactSearch {
    /// The `k` rows most similar to `query`, best first; ties go to the smaller id. `accept` filters rows
    /// by id (labels, say) before they compete.
    public static func search(_ matrix: VectorMatrix, query: [Float], k: Int, accept: (@Sendable (Int64) -> Bool)? = nil) throws -> [Neighbor] {
        try search(matrix, queries: [query], k: k, accept: accept)[0]
    }

    /// `search(_:query:k:accept:)` for many queries at once.
    public static func search(_ matrix: VectorMatrix, queries: [[Float]], k: Int, blockRows: Int = 4096,
                              accept: (@Sendable (Int64) -> Bool)? = nil) throws -> [[Neighbor]] {
        guard !queries.isEmpty else { return [] }
        let dimensions = matrix.dimensions
        let packed = queries.flatMap { query -> [Float] in
            precondition(query.count == dimensions, "a query of \(query.count) values against vectors of \(dimensions)")
            return VectorMatrix.normalized(query)
        }
        var best = [TopK](repeating: TopK(k: k), count: queries.count)
        guard k > 0, matrix.count > 0 else { return best.map { $0.sorted() } }
        var scores = [Float](repeating: 0, count: queries.count * min(blockRows, matrix.count))
        try matrix.values.withUnsafeBufferPointer { rows in
            for start in stride(from: 0, to: matrix.count, by: blockRows) {
                let count = min(blockRows, matrix.count - start)
                // scores (queries x count) = queries (queries x d) * block^T (d x count), row-major.
                let status = scores.withUnsafeMutableBufferPointer { scores in
                    dnnl_sgemm(CChar(UInt8(ascii: "N")), CChar(UInt8(ascii: "T")), Int64(queries.count), Int64(count), Int64(dimensions),
                               1, packed, Int64(dimensions), rows.baseAddress! + start * dimensions, Int64(dimensions),
                               0, scores.baseAddress!, Int64(count))
                }
                guard status == dnnl_success else { throw SearchError.kernel("oneDNN sgemm failed with status \(status.rawValue)") }
                for row in 0..<count where accept?(matrix.ids[start + row]) ?? true {
                    for query in 0..<queries.count {
                        best[query].offer(Neighbor(id: matrix.ids[start + row], score: scores[query * count + row]))
                    }
                }
            }
        }
        return best.map { $0.sorted() }
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
