import Foundation
import Dispatch

/// One result: the id of a stored vector and its cosine similarity to the query.
public struct Neighbor: Sendable, Equatable {
    public var id: Int64
    public var score: Float

    public init(id: Int64, score: Float) {
        self.id = id
        self.score = score
    }
}

/// Brute force over every row: dot products (the rows and the query are unit length, so these are
/// cosines) on all cores, each core keeping its own top k, merged at the end. Memory-bound: one scan reads
/// the whole matrix once.
public enum ExactSearch {
    /// The `k` rows most similar to `query`, best first; ties go to the smaller id. `accept` filters rows
    /// by id (labels, say) before they compete.
    public static func search(_ matrix: VectorMatrix, query: [Float], k: Int, threads: Int = defaultThreads,
                              accept: (@Sendable (Int64) -> Bool)? = nil) -> [Neighbor] {
        precondition(query.count == matrix.dimensions, "a query of \(query.count) values against vectors of \(matrix.dimensions)")
        guard k > 0, matrix.count > 0 else { return [] }
        let unit = VectorMatrix.normalized(query)
        let chunks = max(1, min(threads, matrix.count / 1024 + 1))
        let rowsPerChunk = (matrix.count + chunks - 1) / chunks
        let partial = UnsafeMutableBufferPointer<TopK>.allocate(capacity: chunks)
        defer { partial.deallocate() }
        matrix.values.withUnsafeBufferPointer { values in
            unit.withUnsafeBufferPointer { query in
                // Each chunk writes only its own slot.
                nonisolated(unsafe) let slots = partial, rows = values, q = query
                DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                    var best = TopK(k: k)
                    let range = chunk * rowsPerChunk..<min(matrix.count, (chunk + 1) * rowsPerChunk)
                    for row in range where accept?(matrix.ids[row]) ?? true {
                        best.offer(Neighbor(id: matrix.ids[row], score: dot(q.baseAddress!, rows.baseAddress! + row * matrix.dimensions, matrix.dimensions)))
                    }
                    (slots.baseAddress! + chunk).initialize(to: best)
                }
            }
        }
        var merged = TopK(k: k)
        for chunk in 0..<chunks {
            for neighbor in partial[chunk].items { merged.offer(neighbor) }
        }
        (partial.baseAddress!).deinitialize(count: chunks)
        return merged.sorted()
    }

    public static var defaultThreads: Int { max(1, ProcessInfo.processInfo.activeProcessorCount) }

    /// Sixteen lanes at a time: the compiler keeps them in vector registers.
    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ count: Int) -> Float {
        var sums = SIMD16<Float>()
        var index = 0
        while index + 16 <= count {
            let x = UnsafeRawPointer(a + index).loadUnaligned(as: SIMD16<Float>.self)
            let y = UnsafeRawPointer(b + index).loadUnaligned(as: SIMD16<Float>.self)
            sums += x * y
            index += 16
        }
        var total = sums.sum()
        while index < count {
            total += a[index] * b[index]
            index += 1
        }
        return total
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
