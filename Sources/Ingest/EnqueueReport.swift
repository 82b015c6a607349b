import Queue

/// What an enqueue did, line by line: the command line's `enqueue --json` and `POST /v1/jobs` answer with it.
public struct EnqueueReport: Sendable, Equatable, Encodable {
    public var added: Int
    public var duplicates: Int
    public var invalid: Int
    public var errors: [LineError]

    /// A line (or argument) that was not queued, and why.
    public struct LineError: Sendable, Equatable, Encodable {
        public var line: Int
        public var reason: String
        public var source: Source

        public init(line: Int, reason: String, source: Source) {
            self.line = line
            self.reason = reason
            self.source = source
        }
    }

    /// Where a line came from: the URL list (a file, standard input or a request body) or the arguments.
    public enum Source: String, Sendable, Equatable, Encodable {
        case file, arguments
    }

    public init(counts: EnqueueCounts, errors: [LineError]) {
        added = counts.added
        duplicates = counts.duplicates
        invalid = errors.count
        self.errors = errors
    }
}

extension EnqueueReport {
    /// Jobs per transaction. A list of millions commits as it goes instead of holding one transaction (and
    /// the store's write lock, for SQLite) for minutes; an enqueue that stopped part way is run again, and
    /// the URLs it had added count as duplicates.
    public static let jobsPerTransaction = 50_000

    /// Adds the jobs of `lists` to the queue, `jobsPerTransaction` at a time, and reports every bad line with
    /// its source; with `strict`, any bad line adds nothing, and the queue is not even opened (a refused list
    /// creates no database). The command line and `POST /v1/jobs` both enqueue here.
    public static func enqueue(
        _ lists: [(list: JobList, source: Source)], into queue: () async throws -> any JobQueue, strict: Bool
    ) async throws -> EnqueueReport {
        let errors = lists.flatMap { list, source in
            list.problems.map { LineError(line: $0.line, reason: $0.reason, source: source) }
        }
        guard !(strict && !errors.isEmpty) else { return EnqueueReport(counts: EnqueueCounts(), errors: errors) }
        let jobs = lists.flatMap { $0.list.entries.map(\.job) }
        let store = try await queue()
        var counts = EnqueueCounts()
        for start in stride(from: 0, to: max(jobs.count, 1), by: jobsPerTransaction) {
            let chunk = try await store.enqueue(Array(jobs[start..<min(jobs.count, start + jobsPerTransaction)]))
            counts.added += chunk.added
            counts.duplicates += chunk.duplicates
        }
        return EnqueueReport(counts: counts, errors: errors)
    }
}
