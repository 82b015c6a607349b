import Foundation
import Queue

/// A job read from a list, with the line it started on.
public struct JobListEntry: Sendable, Equatable {
    public var line: Int
    public var job: NewJob
}

/// A line that could not become a job, and why.
public struct JobListProblem: Sendable, Equatable, Codable {
    public var line: Int
    public var reason: String
}

/// Everything read from one list.
public struct JobList: Sendable {
    public var format: JobListFormat
    public var entries: [JobListEntry] = []
    public var problems: [JobListProblem] = []
}

/// Errors that make a whole list unreadable (as opposed to single bad lines).
public enum JobListError: Error, CustomStringConvertible, Equatable {
    case noURLColumn(columns: [String])
    case unreadable(source: String, reason: String)

    public var description: String {
        switch self {
        case let .noURLColumn(columns):
            return "the CSV header has no 'url' column (columns: \(columns.joined(separator: ", "))); name the column of URLs 'url'"
        case let .unreadable(source, reason):
            return "cannot read \(source): \(reason)"
        }
    }
}

/// Reads URL lists (plain lines, CSV or JSONL) into jobs, validating and normalising each URL and
/// reporting every bad line with its number and reason instead of stopping at the first.
public struct JobListReader {
    /// Longest record accepted, in bytes; a longer line is reported and skipped without being held in memory.
    public static let maxLineBytes = 1 << 20
    /// The most lines one CSV record may span (a quoted field with line breaks; together at most
    /// `maxLineBytes`); past it the quote counts as unclosed, and the lines after it are read as records of their own.
    public static let maxRecordLines = 100

    public var priority: Int
    public var maxAttempts: Int

    public init(priority: Int = 0, maxAttempts: Int = QueueDefaults.maxAttempts) {
        self.priority = priority
        self.maxAttempts = maxAttempts
    }

    /// Reads a file, or standard input when `path` is "-", whole.
    public func read(path: String, format: JobListFormat?) throws -> JobList {
        var stream = try open(path: path, format: format)
        return try stream.collect()
    }

    /// A file, or standard input when `path` is "-", to read a batch at a time (`JobListStream`).
    public func open(path: String, format: JobListFormat?) throws -> JobListStream {
        let handle: FileHandle
        if path == "-" {
            handle = .standardInput
        } else {
            guard let opened = FileHandle(forReadingAtPath: path) else {
                let reason = FileManager.default.fileExists(atPath: path) ? "permission denied" : "no such file"
                throw JobListError.unreadable(source: path, reason: reason)
            }
            handle = opened
        }
        // The handle closes when the stream, which holds the only reference to this closure, is gone.
        let owned = path == "-" ? nil : HandleOwner(handle)
        return JobListStream(reader: self, format: format ?? JobListFormat.fromExtension(of: path)) {
            do {
                return try (owned?.handle ?? handle).read(upToCount: 1 << 20).map { [UInt8]($0) } ?? []
            } catch {
                throw JobListError.unreadable(source: path == "-" ? "standard input" : path, reason: error.localizedDescription)
            }
        }
    }

    /// Reads from `readChunk` (the next bytes, or empty at the end) whole; `format` nil means guess from the content.
    public func read(format: JobListFormat?, readChunk: @escaping () throws -> [UInt8]) throws -> JobList {
        var stream = JobListStream(reader: self, format: format, readChunk: readChunk)
        return try stream.collect()
    }

    fileprivate func add(url: String, metadataJSON: String?, line: Int, to list: inout JobList) {
        switch JobURL.normalize(url) {
        case let .success(normalized):
            list.entries.append(
                JobListEntry(
                    line: line,
                    job: NewJob(
                        url: normalized, priority: priority,
                        maxAttempts: maxAttempts, metadataJSON: metadataJSON)))
        case let .failure(rejection):
            list.problems.append(.init(line: line, reason: rejection.description))
        }
    }

    fileprivate func addJSONObject(_ text: String, line: Int, to list: inout JobList) {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(text.utf8))
        } catch {
            list.problems.append(.init(line: line, reason: "not valid JSON"))
            return
        }
        guard var fields = object as? [String: Any] else {
            list.problems.append(.init(line: line, reason: "not a JSON object; write {\"url\": \"...\"}"))
            return
        }
        guard let url = fields.removeValue(forKey: "url") as? String else {
            list.problems.append(.init(line: line, reason: "no \"url\" string field"))
            return
        }
        add(url: url, metadataJSON: Self.json(fields), line: line, to: &list)
    }

    /// CSV metadata as compact JSON with sorted keys, or nil when there is none. JSONEncoder, not
    /// JSONSerialization: its bridging through NSDictionary was 40% of reading a 100k-row CSV.
    fileprivate static func json(_ fields: [String: String], encoder: JSONEncoder) -> String? {
        guard !fields.isEmpty, let data = try? encoder.encode(fields) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    /// JSONL metadata (any JSON values) as compact JSON with sorted keys, or nil when there is none.
    private static func json(_ fields: [String: Any]) -> String? {
        guard !fields.isEmpty, let data = try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]) else {
            return nil
        }
        return String(decoding: data, as: UTF8.self)
    }
}

/// A list read a batch of jobs at a time, so that a list of millions of lines is never held in memory
/// whole; the problems found so far are kept (they are what the enqueue reports).
public struct JobListStream {
    private let reader: JobListReader
    private var lines: LineReader
    /// The batch under way, and every problem so far.
    private var list: JobList
    private var formatKnown: Bool
    private var csvHeader: [String]?
    private var csvURLColumn = 0
    private let encoder = JSONEncoder()
    /// Lines a CSV record read ahead for a quoted field that never closed: they are records of their own.
    private var readAgain: [LineReader.Line] = []
    private var ended = false

    public var format: JobListFormat { list.format }
    public var problems: [JobListProblem] { list.problems }

    /// Reads from `readChunk` (the next bytes, or empty at the end); `format` nil means guess from the content.
    public init(reader: JobListReader, format: JobListFormat?, readChunk: @escaping () throws -> [UInt8]) {
        self.reader = reader
        lines = LineReader(maxLineBytes: JobListReader.maxLineBytes, readChunk: readChunk)
        list = JobList(format: format ?? .lines)
        formatKnown = format != nil
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    }

    /// The next jobs, at most `limit` of them, or nil once the input has ended.
    public mutating func next(upTo limit: Int) throws -> [JobListEntry]? {
        guard !ended else { return nil }
        while list.entries.count < limit, let line = try nextLine() { try parse(line) }
        if list.entries.count < limit { ended = true }
        defer { list.entries = [] }
        return ended && list.entries.isEmpty ? nil : list.entries
    }

    /// Everything that is left, as one list.
    mutating func collect() throws -> JobList {
        var whole = JobList(format: format)
        while let batch = try next(upTo: .max) { whole.entries += batch }
        whole.format = format
        whole.problems = problems
        return whole
    }

    private mutating func nextLine() throws -> LineReader.Line? { readAgain.isEmpty ? try lines.next() : readAgain.removeFirst() }

    private mutating func parse(_ line: LineReader.Line) throws {
        if line.tooLong {
            list.problems.append(.init(line: line.number, reason: "line is longer than \(JobListReader.maxLineBytes / 1024) KiB"))
            return
        }
        guard let text = String(validating: line.bytes, as: UTF8.self) else {
            list.problems.append(.init(line: line.number, reason: "not valid UTF-8; save the list as UTF-8"))
            return
        }
        let trimmed = String(JobURL.trimmed(text))
        if trimmed.isEmpty { return }
        if !formatKnown {
            list.format = JobListFormat.sniff(trimmed)
            formatKnown = true
        }

        switch list.format {
        case .lines:
            if trimmed.hasPrefix("#") { return }
            reader.add(url: trimmed, metadataJSON: nil, line: line.number, to: &list)

        case .jsonl:
            reader.addJSONObject(trimmed, line: line.number, to: &list)

        case .csv:
            var continuationInvalid = false
            var continuation: [LineReader.Line] = []
            var continuationBytes = 0
            let parsed = try CSVRecord.parse(firstLine: Array(text.utf8)) {
                // A quoted field may span lines, but not the rest of the file.
                guard continuation.count < JobListReader.maxRecordLines, continuationBytes < JobListReader.maxLineBytes,
                    let more = try nextLine()
                else { return nil }
                continuation.append(more)
                continuationBytes += more.bytes.count
                if more.tooLong || String(validating: more.bytes, as: UTF8.self) == nil { continuationInvalid = true }
                return more.bytes
            }
            if continuationInvalid {
                list.problems.append(.init(line: line.number, reason: "record is not valid UTF-8 or has an over-long line"))
                return
            }
            let fields: [String]
            switch parsed {
            case let .success(values): fields = values
            case .failure(.unterminatedQuote):
                list.problems.append(.init(line: line.number, reason: "a quoted field is never closed (missing \")"))
                readAgain = continuation + readAgain
                return
            case .failure(.textAfterClosingQuote):
                list.problems.append(
                    .init(line: line.number, reason: "text after a closing quote; write \"\" for a quote inside a quoted field"))
                return
            }
            guard let header = csvHeader else {
                let names = fields.map { String(JobURL.trimmed($0)) }
                guard let column = names.firstIndex(where: { $0.lowercased() == "url" }) else {
                    throw JobListError.noURLColumn(columns: names)
                }
                csvHeader = names
                csvURLColumn = column
                return
            }
            guard fields.count == header.count else {
                list.problems.append(.init(line: line.number, reason: "has \(fields.count) fields, the header has \(header.count)"))
                return
            }
            var metadata: [String: String] = [:]
            for (name, value) in zip(header, fields) where name != header[csvURLColumn] && !value.isEmpty {
                metadata[name] = value
            }
            reader.add(
                url: fields[csvURLColumn], metadataJSON: JobListReader.json(metadata, encoder: encoder), line: line.number, to: &list)
        }
    }
}

/// Closes a list file's handle when the stream that reads it is gone.
private final class HandleOwner {
    let handle: FileHandle
    init(_ handle: FileHandle) { self.handle = handle }
    deinit { try? handle.close() }
}
