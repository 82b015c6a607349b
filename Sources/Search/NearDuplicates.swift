import CDNNL
import CVectorKernels

/// Groups of near-duplicate vectors: every pair at cosine >= a threshold is found exactly (the matrix
/// against itself, block by block with oneDNN's sgemm, upper triangle only), and pairs join their groups
/// (single linkage: a~b and b~c put a, b and c together).
public enum NearDuplicates {
    /// Groups of two or more rows, largest first (then by smallest id). Each group lists its rows by id,
    /// each with its cosine similarity to the group's first row.
    public static func groups(_ matrix: VectorMatrix, threshold: Float, blockRows: Int = 2048) throws -> [[Neighbor]] {
        let n = matrix.count, dimensions = matrix.dimensions
        guard n > 1 else { return [] }
        var sets = DisjointSets(count: n)
        let block = min(blockRows, n)
        var scores = [Float](repeating: 0, count: block * block)
        return try matrix.values.withUnsafeBufferPointer { rows in
            let base = rows.baseAddress!
            for queryStart in stride(from: 0, to: n, by: block) {
                let queryCount = min(block, n - queryStart)
                for rowStart in stride(from: queryStart, to: n, by: block) {
                    let rowCount = min(block, n - rowStart)
                    // scores (queryCount x rowCount) = queries * rows^T, row-major.
                    let status = scores.withUnsafeMutableBufferPointer { scores in
                        dnnl_sgemm(
                            CChar(UInt8(ascii: "N")), CChar(UInt8(ascii: "T")), Int64(queryCount), Int64(rowCount), Int64(dimensions),
                            1, base + queryStart * dimensions, Int64(dimensions), base + rowStart * dimensions, Int64(dimensions),
                            0, scores.baseAddress!, Int64(rowCount))
                    }
                    guard status == dnnl_success else { throw SearchError.kernel("oneDNN sgemm failed with status \(status.rawValue)") }
                    for query in 0..<queryCount {
                        // Each pair once: only rows after the query.
                        let first = rowStart == queryStart ? query + 1 : 0
                        for row in first..<rowCount where scores[query * rowCount + row] >= threshold {
                            sets.union(queryStart + query, rowStart + row)
                        }
                    }
                }
            }
            var members: [Int: [Int]] = [:]
            for row in 0..<n where sets.size(of: row) > 1 { members[sets.root(of: row), default: []].append(row) }
            let groups = members.values.map { rowsOfGroup -> [Neighbor] in
                let sorted = rowsOfGroup.sorted { matrix.ids[$0] < matrix.ids[$1] }
                let leader = base + sorted[0] * dimensions
                return sorted.map { row -> Neighbor in
                    Neighbor(id: matrix.ids[row], score: xceptor_dot(leader, base + row * dimensions, dimensions))
                }
            }
            return groups.sorted { (a: [Neighbor], b: [Neighbor]) -> Bool in a.count != b.count ? a.count > b.count : a[0].id < b[0].id }
        }
    }
}

/// Union-find with path halving and union by size.
struct DisjointSets {
    private var parent: [Int]
    private var sizes: [Int]

    init(count: Int) {
        parent = Array(0..<count)
        sizes = Array(repeating: 1, count: count)
    }

    mutating func root(of element: Int) -> Int {
        var element = element
        while parent[element] != element {
            parent[element] = parent[parent[element]]
            element = parent[element]
        }
        return element
    }

    mutating func size(of element: Int) -> Int { sizes[root(of: element)] }

    mutating func union(_ a: Int, _ b: Int) {
        var (a, b) = (root(of: a), root(of: b))
        guard a != b else { return }
        if sizes[a] < sizes[b] { swap(&a, &b) }
        parent[b] = a
        sizes[a] += sizes[b]
    }
}
