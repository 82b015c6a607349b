/// Jobs in id order, read a page at a time, so memory stays flat however many are listed.
public struct JobPages: AsyncSequence, Sendable {
    public typealias Element = Job

    public let store: any JobQueue
    public let state: JobState?
    public let after: JobID?
    /// At most this many jobs (nil: all).
    public let limit: Int?
    static let pageSize = 1000

    public init(store: any JobQueue, state: JobState? = nil, after: JobID? = nil, limit: Int? = nil) {
        self.store = store
        self.state = state
        self.after = after
        self.limit = limit
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let pages: JobPages
        var after: JobID?
        var remaining: Int
        var buffered: [Job] = []
        var exhausted = false

        public mutating func next() async throws -> Job? {
            if buffered.isEmpty, !exhausted, remaining > 0 {
                let wanted = Swift.min(remaining, JobPages.pageSize)
                buffered = try await pages.store.jobs(state: pages.state, afterID: after, limit: wanted)
                exhausted = buffered.count < wanted
                after = buffered.last?.id ?? after
                buffered.reverse()
            }
            guard let job = buffered.popLast() else { return nil }
            remaining -= 1
            return job
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(pages: self, after: after, remaining: limit ?? Int.max)
    }
}
