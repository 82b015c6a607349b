/// What a model file holds, for people and scripts (`model info`, `model import`, `model fetch`).
public struct ModelSummary: Sendable, Equatable, Encodable {
    public var file: String
    /// What embeddings made by this file at its input size are stored under.
    public var model: String
    public var architecture = "xception"
    public var inputSize: Int
    public var labels: [String]
    public var parameters: Int
    public var fileBytes: Int
    public var embeddingDimensions = 2048
    /// The global pool that makes the embedding: "avg" or "max".
    public var pooling: String
    /// The head's layers, e.g. "Dense(6, softmax)".
    public var head: [String]
    public var gflopsPerImage: Double
    /// "uncalibrated", or whether int8 passed its accuracy gate ("passed", "failed"), with the figures.
    public var int8: String
    public var int8Gate: AccuracyGate?

    private enum CodingKeys: String, CodingKey {
        case file, model, architecture, labels, parameters, head, pooling
        case inputSize = "input_size"
        case fileBytes = "file_bytes"
        case embeddingDimensions = "embedding_dimensions"
        case gflopsPerImage = "gflops_per_image"
        case int8
        case int8Gate = "int8_gate"
    }

    /// The summary of the model file at `path`, whose weights are `weights`.
    public init(path: String, weights: ModelWeights, fileBytes: Int) throws {
        file = path
        model = try ModelFile.identifier(path, inputSize: weights.inputSize)
        inputSize = weights.inputSize
        labels = weights.labels
        parameters = weights.parameterCount
        self.fileBytes = fileBytes
        pooling = weights.pooling.rawValue
        head = weights.head.map { "Dense(\($0.outputWidth), \($0.activation.rawValue))" }
        gflopsPerImage = XceptionNetwork.flopsPerImage(size: weights.inputSize) / 1e9
        int8 = weights.calibration.map { $0.gate.passed ? "passed" : "failed" } ?? "uncalibrated"
        int8Gate = weights.calibration?.gate
    }
}
