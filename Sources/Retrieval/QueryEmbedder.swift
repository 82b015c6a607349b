import Foundation
import Synchronization
import Xception

/// Turns a query image into an embedding comparable with the stored ones.
public protocol QueryEmbedder: Sendable {
    /// The size the model's head was trained at (used when the stored model id does not say).
    func defaultInputSize() throws -> Int
    /// The id embeddings made by this model at `inputSize` are stored under.
    func modelID(inputSize: Int) throws -> String
    /// The embedding of an image file's bytes at `inputSize`.
    func embed(_ imageBytes: [UInt8], inputSize: Int) async throws -> [Float]
}

/// A model file, read when first needed (a search by job or vector never reads its 84 MB), and its network,
/// built on first use. With an engine, queries share its batches; without one, the network runs each.
public final class ModelFileEmbedder: QueryEmbedder {
    public let path: String
    private let precision: Precision
    private let warn: @Sendable (String) -> Void
    private let loaded = Mutex<(weights: ModelWeights?, network: XceptionNetwork?)>((nil, nil))
    private let engine: InferenceEngine?

    public init(
        path: String, precision: Precision = .fp32, engine: InferenceEngine? = nil,
        warn: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.path = path
        self.precision = precision
        self.engine = engine
        self.warn = warn
    }

    /// The weights, read once.
    public func weights() throws -> ModelWeights {
        if let weights = loaded.withLock({ $0.weights }) { return weights }
        let weights = try ModelFile.read(path)
        loaded.withLock { $0.weights = weights }
        return weights
    }

    /// The network, built once; the weights it packs for this CPU are kept beside the model file, where every
    /// later process on the host maps them instead of packing its own copy.
    public func network() throws -> XceptionNetwork {
        if let network = engine?.network ?? loaded.withLock({ $0.network }) { return network }
        let network = try XceptionNetwork(
            weights: try weights(), precision: precision,
            packedWeights: try? PackedWeightStore(modelPath: path, report: warn))
        loaded.withLock { $0.network = network }
        return network
    }

    public func defaultInputSize() throws -> Int { try weights().inputSize }

    public func modelID(inputSize: Int) throws -> String { try ModelFile.identifier(path, inputSize: inputSize) }

    public func embed(_ imageBytes: [UInt8], inputSize: Int) async throws -> [Float] {
        let input = try InputPipeline(size: inputSize).input(from: imageBytes)
        if let engine { return try await engine.predict(input, size: inputSize).embedding }
        return try network().predict([input], size: inputSize)[0].embedding
    }
}
