import ArgumentParser
import Foundation
import Queue
import Search
import Xception

/// What `search` and `index` share: which model's embeddings to use, and where the index lives.
enum SearchModel {
    /// The model that made the stored embeddings: the only one stored, else the model file's (at its input
    /// size). The model file is read only when the store holds several.
    static func resolve(_ store: any JobStore, model: ModelLoader, location: String) async throws -> String {
        let models = try await store.embeddingModels()
        if models.count == 1, let only = models.keys.first { return only }
        if models.isEmpty { throw ValidationError("\(location) holds no embeddings yet; run 'xceptor worker' on its queue first") }
        if let weights = try? model.weights(), let identifier = try? ModelFile.identifier(model.path, inputSize: weights.inputSize),
           models[identifier] != nil {
            return identifier
        }
        throw ValidationError("\(location) holds embeddings of several models (\(models.keys.sorted().joined(separator: ", "))); name the model with --model")
    }

    /// The input size a model id was made at ("xception-…@150"), or nil for an id of another form.
    static func inputSize(of modelID: String) -> Int? {
        modelID.split(separator: "@").last.flatMap { Int($0) }
    }

    /// The HNSW index beside the database.
    static func indexFile(for location: String) -> URL { URL(fileURLWithPath: location + ".hnsw") }

    static func matrix(_ vectors: SearchVectors, dimensions: Int) -> VectorMatrix {
        VectorMatrix(dimensions: max(dimensions, 1), ids: vectors.imageIDs, values: vectors.values)
    }

    /// Inserts stored vectors into an index, on `threads` threads.
    static func add(_ vectors: SearchVectors, to index: HNSWIndex, threads: Int) {
        vectors.values.withUnsafeBufferPointer { index.add(ids: vectors.imageIDs, vectors: $0, threads: threads) }
    }

    static func check(_ query: [Float], against dimensions: Int) throws {
        guard dimensions == 0 || query.count == dimensions else {
            throw ValidationError("the query has \(query.count) values but the stored embeddings have \(dimensions)")
        }
    }
}

/// The model file, read at most once and only when needed: a search by job or vector, or one in a store of
/// one model, never reads its 84 MB.
final class ModelLoader {
    private let options: ModelOptions
    private var loaded: ModelWeights?

    init(_ options: ModelOptions) { self.options = options }

    var path: String { options.path }

    func weights() throws -> ModelWeights {
        if let loaded { return loaded }
        let weights = try options.load()
        loaded = weights
        return weights
    }

    func network() throws -> XceptionNetwork { try options.network(weights()) }
}
