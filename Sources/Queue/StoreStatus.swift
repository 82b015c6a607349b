/// The queue's status and the store's footprint together: what `xceptor status` and `GET /v1/stats` report.
public struct StoreStatus: Sendable, Equatable, Encodable {
    public var queue: QueueStatus
    public var store: StoreFootprint

    public init(queue: QueueStatus, store: StoreFootprint) {
        self.queue = queue
        self.store = store
    }

    public static func load(from store: any JobStore) async throws -> StoreStatus {
        StoreStatus(queue: try await store.status(), store: try await store.footprint())
    }

    private enum CodingKeys: String, CodingKey { case store }

    /// The queue's fields at the top level, the footprint under "store".
    public func encode(to encoder: any Encoder) throws {
        try queue.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(store, forKey: .store)
    }
}
