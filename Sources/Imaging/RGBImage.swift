/// An 8-bit RGB image, rows top to bottom, pixels interleaved (R, G, B).
public struct RGBImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * 3, "an RGB image of \(width)x\(height) needs \(width * height * 3) bytes")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// The model's input: every value `Float(k) / 127.5 - 1` in float32, HWC, as Keras' xception
    /// `preprocess_input` computes it.
    public func normalizedForXception() -> [Float] {
        let table = Self.xceptionInputs
        return pixels.map { table[Int($0)] }
    }

    /// `Float(k) / 127.5 - 1` for every byte value, computed once.
    private static let xceptionInputs: [Float] = (0..<256).map { Float($0) / 127.5 - 1 }
}
