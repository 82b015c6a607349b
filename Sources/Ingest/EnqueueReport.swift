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
