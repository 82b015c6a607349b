import CVectorKernels
@testable import Search
import Testing

@Suite("Vector kernels")
struct VectorKernelTests {
    @Test("dot products of a query with chosen rows equal a plain double-precision sum, for any row count and length",
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
                #expect(abs(Double(out[position]) - expected) <= 1e-4 * Double(length).squareRoot(),
                        "row \(row) of \(n) at length \(length): \(out[position]) vs \(expected)")
            }
        }
    }
}
