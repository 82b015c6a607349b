import CVectorKernels
import Testing

@testable import Search

@Suite("Vector kernels")
struct VectorKernelTests {
    @Test(
        "dot products of a query with chosen rows equal a plain double-precision sum, for any row count and length",
        arguments: [1, 7, 16, 33, 2048, 2053])
    func dotRows(length: Int) {
        var random = SplitMix64(seed: UInt64(length))
        func value() -> Float { Float(Int(random.next() % 2001) - 1000) / 1000 }
        let base = (0..<11 * length).map { _ in value() }
        let query = (0..<length).map { _ in value() }
        for n in 0...9 {
            let rows = (0..<n).map { _ in Int32(random.next() % 11) }
            var out = [Float](repeating: .nan, count: n)
            xceptor_dot_rows(query, base, rows, n, length, &out)
            for (position, row) in rows.enumerated() {
                let expected = (0..<length).reduce(0.0) { $0 + Double(query[$1]) * Double(base[Int(row) * length + $1]) }
                #expect(
                    abs(Double(out[position]) - expected) <= 1e-4 * Double(length).squareRoot(),
                    "row \(row) of \(n) at length \(length): \(out[position]) vs \(expected)")
            }
        }
    }

    @Test(
        "dot products of a query with consecutive rows equal a plain double-precision sum, for any row count and length",
        arguments: [1, 15, 16, 17, 31, 32, 33, 2048, 2053])
    func dotConsecutive(length: Int) {
        var random = SplitMix64(seed: UInt64(length) + 99)
        func value() -> Float { Float(Int(random.next() % 2001) - 1000) / 1000 }
        let rows = (0..<9 * length).map { _ in value() }
        let query = (0..<length).map { _ in value() }
        for n in 0...9 {
            var out = [Float](repeating: .nan, count: n)
            xceptor_dot_consecutive(query, rows, n, length, &out)
            for row in 0..<n {
                let expected = (0..<length).reduce(0.0) { $0 + Double(query[$1]) * Double(rows[row * length + $1]) }
                #expect(abs(Double(out[row]) - expected) <= 1e-4 * Double(length).squareRoot(), "row \(row) of \(n) at length \(length)")
            }
        }
    }

    @Test("half-float rows score within half-float precision of float rows; conversion rounds to nearest", arguments: [5, 2048, 2051])
    func halfRows(length: Int) {
        var random = SplitMix64(seed: UInt64(length) + 99)
        func value() -> Float { Float(Int(random.next() % 2001) - 1000) / 1000 }
        let rows = (0..<7 * length).map { _ in value() }
        let query = (0..<length).map { _ in value() }
        var halves = [UInt16](repeating: 0, count: rows.count)
        xceptor_to_half(rows, &halves, rows.count)
        var out = [Float](repeating: .nan, count: 7)
        xceptor_dot_consecutive_half(query, halves, 7, length, &out)
        for row in 0..<7 {
            let expected = (0..<length).reduce(0.0) { $0 + Double(query[$1]) * Double(rows[row * length + $1]) }
            // Each half is within 2^-11 of its float, relative.
            let bound = (0..<length).reduce(0.0) { $0 + abs(Double(query[$1]) * Double(rows[row * length + $1])) } / 2048 + 1e-4
            #expect(abs(Double(out[row]) - expected) <= bound, "row \(row): \(out[row]) vs \(expected)")
        }
        // Exact cases: 1, -2, 0.5 and 65504 (the largest half) convert exactly; 1 + 2^-11 ties to even (1).
        var exact = [UInt16](repeating: 0, count: 5)
        xceptor_to_half([1, -2, 0.5, 65504, 1 + 1.0 / 2048], &exact, 5)
        #expect(exact == [0x3C00, 0xC000, 0x3800, 0x7BFF, 0x3C00])
    }
}
