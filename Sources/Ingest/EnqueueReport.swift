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
        for start in stride(from: 0, to: jobs.count, by: jobsPerTransaction) {
            try await commit(Array(jobs[start..<min(jobs.count, start + jobsPerTransaction)]), to: store, counts: &counts)
        }
        return EnqueueReport(counts: counts, errors: errors)
    }

    /// Adds `arguments` and the list `openFile` reads, reading the list a batch at a time and committing
    /// each batch as its own transaction: neither memory nor a transaction grows with the list. With
    /// `strict`, the whole input is read first and any bad line adds nothing (and opens no queue), so
    /// `openFile` is called twice and must read the same list again (the command line spools standard
    /// input to a file for it).
    public static func enqueue(
        arguments: JobList?, file openFile: (() throws -> JobListStream)?, into queue: () async throws -> any JobQueue, strict: Bool
    ) async throws -> EnqueueReport {
        let argumentErrors = arguments?.problems.map { LineError(line: $0.line, reason: $0.reason, source: .arguments) } ?? []
        if strict {
            var problems: [JobListProblem] = []
            if let openFile {
                var stream = try openFile()
                while try stream.next(upTo: jobsPerTransaction) != nil {}
                problems = stream.problems
            }
            guard argumentErrors.isEmpty, problems.isEmpty else {
                return EnqueueReport(
                    counts: EnqueueCounts(),
                    errors: argumentErrors + problems.map { LineError(line: $0.line, reason: $0.reason, source: .file) })
            }
        }
        let store = try await queue()
        var counts = EnqueueCounts()
        try await commit(arguments?.entries.map(\.job) ?? [], to: store, counts: &counts)
        var fileErrors: [LineError] = []
        if let openFile {
            var stream = try openFile()
            while let batch = try stream.next(upTo: jobsPerTransaction) {
                try await commit(batch.map(\.job), to: store, counts: &counts)
            }
            fileErrors = stream.problems.map { LineError(line: $0.line, reason: $0.reason, source: .file) }
        }
        return EnqueueReport(counts: counts, errors: argumentErrors + fileErrors)
    }

    private static func commit(_ jobs: [NewJob], to store: any JobQueue, counts: inout EnqueueCounts) async throws {
        guard !jobs.isEmpty else { return }
        let added = try await store.enqueue(jobs)
        counts.added += added.added
        counts.duplicates += added.duplicates
    }
}
