import FileMapping

/// The float32 values of one weight tensor: an array of their own (imported, or made by a test), or a view
/// into a memory-mapped model file, which costs the process no private memory.
public struct WeightValues: @unchecked Sendable, RandomAccessCollection, Equatable {  // immutable; a view keeps its mapping alive
    private enum Storage {
        case owned([Float])
        case mapped(MappedFile, UnsafeBufferPointer<Float>)
    }

    private let storage: Storage

    public init(_ values: [Float]) { storage = .owned(values) }

    /// `count` floats at `offset` (a multiple of 4) in `file`; the caller has checked the bounds.
    init(mapping file: MappedFile, offset: Int, count: Int) {
        let start = (file.bytes.baseAddress! + offset).assumingMemoryBound(to: Float.self)
        storage = .mapped(file, UnsafeBufferPointer(start: start, count: count))
    }

    /// Whether the values live in a mapped file rather than in this process's own memory.
    var isMapped: Bool {
        if case .mapped = storage { return true }
        return false
    }

    public func withUnsafeBufferPointer<Result>(_ body: (UnsafeBufferPointer<Float>) throws -> Result) rethrows -> Result {
        switch storage {
        case let .owned(values): return try values.withUnsafeBufferPointer(body)
        case let .mapped(_, view): return try body(view)
        }
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int {
        switch storage {
        case let .owned(values): return values.count
        case let .mapped(_, view): return view.count
        }
    }

    public subscript(position: Int) -> Float {
        switch storage {
        case let .owned(values): return values[position]
        case let .mapped(_, view): return view[position]
        }
    }

    public static func == (lhs: WeightValues, rhs: WeightValues) -> Bool { lhs.elementsEqual(rhs) }
}
