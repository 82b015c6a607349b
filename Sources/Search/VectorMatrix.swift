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

    /// Adds a row; the vector is normalised to unit length here (a zero vector stays zero).
    public mutating func append(id: Int64, vector: [Float]) {
        precondition(vector.count == dimensions, "a vector of \(vector.count) values in a matrix of \(dimensions)")
        ids.append(id)
        values += Self.normalized(vector)
    }

    public static func normalized(_ vector: [Float]) -> [Float] {
        let norm = vector.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        return norm > 0 ? vector.map { Float(Double($0) / norm) } : vector
    }
}
