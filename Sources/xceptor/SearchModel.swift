import ArgumentParser
import Foundation
import Queue
import Search
import Xception

/// What `search` and `index` share: which model's embeddings to use, and where the index lives.
enum SearchModel {
    /// The model that made the stored embeddings: the model file's (at its input size), else the only one stored.
    static func resolve(_ store: any JobStore, model: ModelOptions, weights: ModelWeights?, location: String) async throws -> String {
        let models = try await store.embeddingModels()
        if let weights, let identifier = try? ModelFile.identifier(model.path, inputSize: weights.inputSize), models[identifier] != nil {
            return identifier
        }
        if models.count == 1, let only = models.keys.first { return only }
        if models.isEmpty { throw ValidationError("\(location) holds no embeddings yet; run 'xceptor worker' on its queue first") }
        throw ValidationError("\(location) holds embeddings of several models (\(models.keys.sorted().joined(separator: ", "))); name the model with --model")
    }

    /// The HNSW index beside the database.
    static func indexFile(for location: String) -> URL { URL(fileURLWithPath: location + ".hnsw") }

    static func matrix(_ vectors: SearchVectors, dimensions: Int) -> VectorMatrix {
        VectorMatrix(dimensions: max(dimensions, 1), ids: vectors.imageIDs, values: vectors.values)
    }

    /// Inserts stored vectors into an index, in image id order.
    static func add(_ vectors: SearchVectors, to index: HNSWIndex) {
        for (row, id) in vectors.imageIDs.enumerated() {
            index.add(id: id, vector: Array(vectors.values[row * vectors.dimensions..<(row + 1) * vectors.dimensions]))
        }
    }

    static func check(_ query: [Float], against dimensions: Int) throws {
        guard dimensions == 0 || query.count == dimensions else {
            throw ValidationError("the query has \(query.count) values but the stored embeddings have \(dimensions)")
        }
    }
}
