import Queue

/// Why a search, an index operation or an export could not run, in the library's terms; front ends say
/// which flag or command fixes it.
public enum RetrievalError: Error, Equatable, CustomStringConvertible {
    /// The store holds no embeddings yet (no job has been done).
    case noEmbeddings
    /// The store holds embeddings of several models, and none was named.
    case severalModels([String])
    /// The named model has no embeddings in the store.
    case unknownModel(String, stored: [String])
    /// The job is unknown, not done, or has no embedding by the model searched.
    case noEmbedding(job: JobID, modelID: String)
    /// A query image would be embedded by other weights (or at another size) than the stored embeddings.
    case modelMismatch(stored: String, available: String)
    /// A query image or URL needs the model, and none was given.
    case modelRequired
    /// The query vector is not one the store's embeddings can be compared with.
    case badQueryVector(String)
    /// The query has another length than the stored embeddings.
    case dimensionMismatch(query: Int, stored: Int)
    /// The query URL is not one that may be fetched (malformed, not http(s), a private address, opted out).
    case badURL(url: String, reason: String)
    /// The query URL's server failed to deliver it.
    case fetchFailed(url: String, reason: String)
    /// The request is out of range (k below 1, a threshold outside -1...1).
    case invalidRequest(String)
    /// There is no index file to update.
    case noIndex(path: String)
    /// An export file could not be created or written.
    case cannotWrite(path: String, reason: String)
    /// The same model's embeddings have different lengths (a damaged store).
    case inconsistentEmbeddings(job: JobID, values: Int, expected: Int)

    public var description: String {
        switch self {
        case .noEmbeddings:
            return "the store holds no embeddings yet; a worker has to finish some jobs first"
        case let .severalModels(models):
            return "the store holds embeddings of several models (\(models.joined(separator: ", "))); name the model to use"
        case let .unknownModel(model, stored):
            return "the store holds no embeddings of model \(model) (it has \(stored.joined(separator: ", ")))"
        case let .noEmbedding(job, modelID):
            return "job \(job) has no stored embedding by \(modelID) (it is unknown, not done yet, or was embedded by another model)"
        case let .modelMismatch(stored, available):
            return
                "the stored embeddings were made by model \(stored), but the model given makes \(available); a query must be embedded by the same weights at the same size"
        case .modelRequired:
            return "an image or URL query is embedded on the fly, which needs the model file"
        case let .badQueryVector(reason):
            return "the query vector is unusable: \(reason)"
        case let .dimensionMismatch(query, stored):
            return "the query has \(query) values but the stored embeddings have \(stored)"
        case let .badURL(url, reason):
            return "the query URL \(url) cannot be used: \(reason)"
        case let .fetchFailed(url, reason):
            return "could not fetch \(url): \(reason)"
        case let .invalidRequest(reason):
            return reason
        case let .noIndex(path):
            return "there is no index at \(path) to update"
        case let .cannotWrite(path, reason):
            return "cannot write \(path): \(reason)"
        case let .inconsistentEmbeddings(job, values, expected):
            return "job \(job) has an embedding of \(values) values, the others \(expected)"
        }
    }
}
