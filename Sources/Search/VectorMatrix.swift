/// Unit-length vectors in one contiguous row-major block, each with an id: what exact search scans.
public struct VectorMatrix: Sendable {
    public let dimensions: Int
    public private(set) var ids: [Int64] = []
    /// `count` rows of `dimensions` floats.
    public private(set) var values: [Float] = []

    public var count: Int { ids.count }

    public init(dimensions: Int) {
        precondition(dimensions > 0)
        self.dimensions = dimensions
    }

    public init(dimensions: Int, ids: [Int64], values: [Float]) {
        precondition(values.count == ids.count * dimensions, "\(ids.count) ids need \(ids.count * dimensions) values, got \(values.count)")
        self.dimensions = dimensions
        self.ids = ids
        self.values = values
    }

    /// Adds rows as computed (`ids.count` rows of `dimensions` floats), normalising each to unit length: the
    /// one place where stored embeddings become the unit vectors cosine search needs.
    public mutating func append(ids newIDs: [Int64], rows: [Float]) {
        precondition(
            rows.count == newIDs.count * dimensions, "\(newIDs.count) rows need \(newIDs.count * dimensions) values, got \(rows.count)")
        let start = values.count
        ids += newIDs
        values += rows
        values.withUnsafeMutableBufferPointer { all in
            for row in stride(from: start, to: all.count, by: dimensions) {
                Self.normalize(UnsafeMutableBufferPointer(rebasing: all[row..<row + dimensions]))
            }
        }
    }

    /// Adds a row; the vector is normalised to unit length here (a zero vector stays zero).
    public mutating func append(id: Int64, vector: [Float]) {
        precondition(vector.count == dimensions, "a vector of \(vector.count) values in a matrix of \(dimensions)")
        ids.append(id)
        values += Self.normalized(vector)
    }

    /// `vector` at unit length (a zero vector stays zero); the sum of squares is taken in double precision.
    public static func normalized(_ vector: [Float]) -> [Float] {
        var copy = vector
        copy.withUnsafeMutableBufferPointer { normalize($0) }
        return copy
    }

    static func normalize(_ vector: UnsafeMutableBufferPointer<Float>) {
        let norm = vector.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        guard norm > 0 else { return }
        for index in vector.indices { vector[index] = Float(Double(vector[index]) / norm) }
    }
}
