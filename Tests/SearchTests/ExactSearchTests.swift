import Foundation
import Search
import Testing

@Suite("Exact search")
struct ExactSearchTests {
    /// The reference: score every row in Double, sort by score (then id), take k.
    static func bruteForce(_ rows: [[Float]], ids: [Int64], query: [Float], k: Int) -> [Int64] {
        let unitQuery = VectorMatrix.normalized(query)
        let scored = zip(ids, rows).map { id, row in
            (id, zip(VectorMatrix.normalized(row), unitQuery).reduce(0.0) { $0 + Double($1.0) * Double($1.1) })
        }
        return scored.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }.prefix(k).map(\.0)
    }

    static func randomRows(_ count: Int, dimensions: Int, using generator: inout some RandomNumberGenerator) -> [[Float]] {
        (0..<count).map { _ in (0..<dimensions).map { _ in Float.random(in: -1...1, using: &generator) } }
    }

    @Test("equals a brute-force reference on random data, across block sizes and k", arguments: [1000, 4096])
    func matchesBruteForce(blockRows: Int) throws {
        var generator = SystemRandomNumberGenerator()
        let rows = Self.randomRows(5000, dimensions: 67, using: &generator)
        let ids = (0..<Int64(rows.count)).map { $0 * 3 + 1 }
        var matrix = VectorMatrix(dimensions: 67)
        for (id, row) in zip(ids, rows) { matrix.append(id: id, vector: row) }
        for k in [1, 10, 100] {
            let query = Self.randomRows(1, dimensions: 67, using: &generator)[0]
            let found = try ExactSearch.search(matrix, queries: [query], k: k, blockRows: blockRows)[0]
            let expected = Self.bruteForce(rows, ids: ids, query: query, k: k)
            // Float and Double sums can order near-equal scores differently: compare as sets of near-ties.
            #expect(found.count == k)
            #expect(found.map(\.id) == expected || Set(found.map(\.id)).symmetricDifference(expected).count <= 2, "k=\(k)")
            #expect(zip(found, found.dropFirst()).allSatisfy { $0.score >= $1.score }, "best first")
        }
    }

    @Test("a batch of queries finds what each query finds alone")
    func batchedEqualsSingle() throws {
        var generator = SystemRandomNumberGenerator()
        let rows = Self.randomRows(3000, dimensions: 40, using: &generator)
        var matrix = VectorMatrix(dimensions: 40)
        for (index, row) in rows.enumerated() { matrix.append(id: Int64(index), vector: row) }
        let queries = Self.randomRows(9, dimensions: 40, using: &generator)
        let batched = try ExactSearch.search(matrix, queries: queries, k: 7, blockRows: 1000)
        for (query, found) in zip(queries, batched) {
            let single = try ExactSearch.search(matrix, query: query, k: 7)
            // Summed in another order, near-equal scores may swap places; the scores themselves agree.
            #expect(Set(found.map(\.id)).symmetricDifference(single.map(\.id)).count <= 2)
            #expect(zip(found, single).allSatisfy { abs($0.score - $1.score) < 1e-5 })
        }
    }

    @Test("ties go to the smaller id; k larger than the collection returns everything; zero vectors score 0")
    func tiesAndSmallCollections() throws {
        var matrix = VectorMatrix(dimensions: 4)
        matrix.append(id: 9, vector: [1, 0, 0, 0])
        matrix.append(id: 4, vector: [2, 0, 0, 0])  // the same direction: a tie
        matrix.append(id: 7, vector: [0, 1, 0, 0])
        matrix.append(id: 5, vector: [0, 0, 0, 0])
        let found = try ExactSearch.search(matrix, query: [3, 0, 0, 0], k: 10)
        #expect(found.map(\.id) == [4, 9, 5, 7])
        #expect(found.map(\.score) == [1, 1, 0, 0])
        #expect(try ExactSearch.search(matrix, query: [1, 0, 0, 0], k: 1).map(\.id) == [4])
        #expect(try ExactSearch.search(VectorMatrix(dimensions: 4), query: [1, 0, 0, 0], k: 3).isEmpty)
    }

    @Test("a filter keeps rows out before they compete for the k places")
    func filter() throws {
        var matrix = VectorMatrix(dimensions: 2)
        for id in 0..<Int64(100) { matrix.append(id: id, vector: [1, Float(id) / 100]) }
        let even = try ExactSearch.search(matrix, query: [1, 0], k: 3, accept: { $0 % 2 == 0 })
        #expect(even.map(\.id) == [0, 2, 4])
    }

    @Test("half-float rows re-ranked in float32 find what float32 finds (recall@10 >= 0.99 on clustered vectors)")
    func halfStorageRecall() throws {
        let vectors = HNSWTests.clustered(6000, dimensions: 256, clusters: 60, seed: 21)
        var matrix = VectorMatrix(dimensions: 256)
        for (id, vector) in vectors.prefix(5900).enumerated() { matrix.append(id: Int64(id), vector: vector) }
        let halves = HalfMatrix(matrix)
        var hits = 0
        for query in vectors.suffix(100) {
            let found = ExactSearch.search(halves, rerankingWith: matrix, query: query, k: 10)
            let truth = try ExactSearch.search(matrix, query: query, k: 10)
            hits += Set(found.map(\.id)).intersection(truth.map(\.id)).count
            #expect(zip(found, found.dropFirst()).allSatisfy { $0.score >= $1.score })
        }
        let recall = Double(hits) / 1000
        print("float16 storage with float32 re-rank: recall@10 \(recall) on 5,900 x 256 clustered")
        #expect(recall >= 0.99)
    }
}
