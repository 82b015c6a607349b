import Imaging

/// The network's input pipeline, as the reference (Keras with Pillow) runs it: decode, resize to
/// `size` x `size` with Pillow's BILINEAR (bit for bit), then x/127.5 - 1 (Keras' xception
/// `preprocess_input`), float32 HWC. `embed`, the worker, search and the server all prepare images here.
public struct InputPipeline: Sendable {
    public let size: Int
    /// Let large JPEGs shrink while decoding (DCT domain, like Pillow's draft mode): faster, with inputs
    /// slightly off the reference pipeline.
    public let dctDownscale: Bool
    public let decoder: ImageDecoder

    public init(size: Int, dctDownscale: Bool = false, decoder: ImageDecoder = ImageDecoder()) {
        self.size = size
        self.dctDownscale = dctDownscale
        self.decoder = decoder
    }

    /// An image on its way into the network, with what was made along the way (for thumbnails).
    public struct Prepared: Sendable {
        /// The image's own size, even when it was decoded smaller.
        public var width: Int
        public var height: Int
        /// The image as decoded (smaller than its own size with `dctDownscale`).
        public var decoded: RGBImage
        /// `decoded` resized to the input size.
        public var resized: RGBImage
        /// The network's input.
        public var input: [Float]
    }

    /// Decodes `bytes` and prepares the network's input; with `dctDownscale`, a JPEG is decoded no smaller
    /// than `keepingAtLeast` (or the input size) on its shorter side.
    public func prepare(_ bytes: [UInt8], keepingAtLeast side: Int = 0) throws -> Prepared {
        let image = try decoder.decode(bytes, atLeast: dctDownscale ? max(size, side) : nil)
        // Only JPEGs shrink while decoding; other formats come out at their own size.
        let shrunk = dctDownscale && ImageFormat.sniff(bytes) == .jpeg
        let (width, height) = shrunk ? try decoder.dimensions(bytes) : (image.width, image.height)
        let resized = BilinearResize.resize(image, width: size, height: size)
        return Prepared(width: width, height: height, decoded: image, resized: resized, input: Self.normalized(resized))
    }

    /// Bytes to the network's input.
    public func input(from bytes: [UInt8]) throws -> [Float] { try prepare(bytes).input }

    /// The network's input from an image already `size` x `size`: every value `Float(k) / 127.5 - 1`.
    /// A plain loop over buffers, which the compiler vectorises (IEEE division, so each value is exactly the
    /// scalar one); mapping the array through a table took 2 ns a value, a tenth of a photo's decode step.
    public static func normalized(_ image: RGBImage) -> [Float] {
        let count = image.pixels.count
        return [Float](unsafeUninitializedCapacity: count) { output, initialized in
            image.pixels.withUnsafeBufferPointer { pixels in
                for index in 0..<count { output[index] = Float(pixels[index]) / 127.5 - 1 }
            }
            initialized = count
        }
    }
}
