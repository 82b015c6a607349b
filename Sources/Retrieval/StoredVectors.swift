import Queue
import Search

/// Reading a model's stored embeddings for search: page by page, normalised into one matrix.
enum StoredVectors {
    /// Rows read per store call: bounded work per call (a few megabytes) while a scan of 100k rows takes 25.
    static let pageRows = 4096

    /// Every page of the embeddings of `modelID` stored after `afterImageID` (all when nil), in image id order,
    /// as stored: the one loop that reads them, for search, the index and its status.
    static func forEachPage(
        _ store: any ResultStore, modelID: String, after afterImageID: Int64?, _ body: (StoredEmbeddings) throws -> Void
    ) async throws {
        var after = afterImageID
        while true {
            let page = try await store.embeddings(modelID: modelID, afterImageID: after, limit: pageRows)
            guard let last = page.imageIDs.last else { return }
            try body(page)
            guard page.count == pageRows else { return }
            after = last
        }
    }

    /// The embeddings of `modelID` stored after `afterImageID` (all when nil), at unit length. `dimensions`
    /// is the length expected (nil: whatever the store holds); an empty store gives an empty matrix of it.
    static func matrix(_ store: any ResultStore, modelID: String, after afterImageID: Int64?, dimensions: Int?) async throws -> VectorMatrix
    {
        var matrix: VectorMatrix?
        try await forEachPage(store, modelID: modelID, after: afterImageID) { page in
            if let dimensions, page.dimensions != dimensions {
                throw RetrievalError.dimensionMismatch(query: dimensions, stored: page.dimensions)
            }
            if matrix == nil { matrix = VectorMatrix(dimensions: page.dimensions) }
            matrix!.append(ids: page.imageIDs, rows: page.values)
        }
        return matrix ?? VectorMatrix(dimensions: max(dimensions ?? 1, 1))
    }
}
