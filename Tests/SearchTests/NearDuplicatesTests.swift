import Foundation
import Testing

@testable import Search

@Suite("Near duplicates")
struct NearDuplicatesTests {
    /// The reference: every pair scored in Double, components found by a plain graph walk.
    static func reference(_ rows: [[Float]], ids: [Int64], threshold: Double) -> Set<Set<Int64>> {
        let units = rows.map(VectorMatrix.normalized)
        var neighbours = [[Int]](repeating: [], count: rows.count)
        for a in 0..<rows.count {
            for b in a + 1..<rows.count where zip(units[a], units[b]).reduce(0.0, { $0 + Double($1.0) * Double($1.1) }) >= threshold {
                neighbours[a].append(b)
                neighbours[b].append(a)
            }
        }
        var seen = Set<Int>(), groups = Set<Set<Int64>>()
        for start in 0..<rows.count where !seen.contains(start) && !neighbours[start].isEmpty {
            var group = Set<Int64>(), stack = [start]
            seen.insert(start)
            while let row = stack.popLast() {
                group.insert(ids[row])
                for next in neighbours[row] where seen.insert(next).inserted { stack.append(next) }
            }
            groups.insert(group)
        }
        return groups
    }

    @Test("finds the same groups as scoring every pair, across block sizes; a chain joins one group", arguments: [64, 2048])
    func matchesReference(blockRows: Int) throws {
        var random = SplitMix64(seed: UInt64(blockRows))
        func value() -> Float { Float(random.next() % 2001) / 1000 - 1 }
        // 300 random rows, then near copies of some of them (a little noise), one copy of a copy (a chain).
        var rows = (0..<300).map { _ in (0..<40).map { _ in value() } }
        for source in [3, 3, 17, 150, 299] { rows.append(rows[source].map { $0 + 0.02 * value() }) }
        rows.append(rows[rows.count - 1].map { $0 + 0.02 * value() })
        let ids = (0..<Int64(rows.count)).map { 1000 - $0 * 2 }  // ids descending: groups are ordered by id, not row
        var matrix = VectorMatrix(dimensions: 40)
        for (id, row) in zip(ids, rows) { matrix.append(id: id, vector: row) }

        let groups = try NearDuplicates.groups(matrix, threshold: 0.99, blockRows: blockRows)
        let expected = Self.reference(rows, ids: ids, threshold: 0.99)
        #expect(Set(groups.map { Set($0.map(\.id)) }) == expected)
        #expect(expected.count >= 4, "the planted copies form groups: \(expected)")
        #expect(groups.first?.count == 3, "largest first")
        for group in groups {
            #expect(group.map(\.id) == group.map(\.id).sorted(), "members by id")
            #expect(abs(group[0].score - 1) < 1e-5 && group.allSatisfy { $0.score >= 0.95 && $0.score <= 1.0001 })
        }
        #expect(try NearDuplicates.groups(matrix, threshold: 1.5).isEmpty, "nothing is that similar")
    }
}
