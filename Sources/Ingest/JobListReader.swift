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

    /// Reads a file, or standard input when `path` is "-".
    public func read(path: String, format: JobListFormat?) throws -> JobList {
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
        defer { if path != "-" { try? handle.close() } }
        return try read(format: format ?? JobListFormat.fromExtension(of: path)) {
            do {
                return try handle.read(upToCount: 1 << 20).map { [UInt8]($0) } ?? []
            } catch {
                throw JobListError.unreadable(source: path == "-" ? "standard input" : path, reason: error.localizedDescription)
            }
        }
    }

    /// Reads from `readChunk` (the next bytes, or empty at the end); `format` nil means guess from the content.
    public func read(format: JobListFormat?, readChunk: @escaping () throws -> [UInt8]) throws -> JobList {
        var lines = LineReader(maxLineBytes: Self.maxLineBytes, readChunk: readChunk)
        var list = JobList(format: format ?? .lines)
        var formatKnown = format != nil
        var csvHeader: [String]?
        var csvURLColumn = 0
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]

        // Lines a CSV record read ahead for a quoted field that never closed: they are records of their own.
        var readAgain: [LineReader.Line] = []
        func nextLine() throws -> LineReader.Line? { readAgain.isEmpty ? try lines.next() : readAgain.removeFirst() }

        while let line = try nextLine() {
            if line.tooLong {
                list.problems.append(.init(line: line.number, reason: "line is longer than \(Self.maxLineBytes / 1024) KiB"))
                continue
            }
            guard let text = String(validating: line.bytes, as: UTF8.self) else {
                list.problems.append(.init(line: line.number, reason: "not valid UTF-8; save the list as UTF-8"))
                continue
            }
            let trimmed = String(JobURL.trimmed(text))
            if trimmed.isEmpty { continue }
            if !formatKnown {
                list.format = JobListFormat.sniff(trimmed)
                formatKnown = true
            }

            switch list.format {
            case .lines:
                if trimmed.hasPrefix("#") { continue }
                add(url: trimmed, metadataJSON: nil, line: line.number, to: &list)

            case .jsonl:
                addJSONObject(trimmed, line: line.number, to: &list)

            case .csv:
                var continuationInvalid = false
                var continuation: [LineReader.Line] = []
                var continuationBytes = 0
                let parsed = try CSVRecord.parse(firstLine: Array(text.utf8)) {
                    // A quoted field may span lines, but not the rest of the file.
                    guard continuation.count < Self.maxRecordLines, continuationBytes < Self.maxLineBytes, let more = try nextLine()
                    else { return nil }
                    continuation.append(more)
                    continuationBytes += more.bytes.count
                    if more.tooLong || String(validating: more.bytes, as: UTF8.self) == nil { continuationInvalid = true }
                    return more.bytes
                }
                if continuationInvalid {
                    list.problems.append(.init(line: line.number, reason: "record is not valid UTF-8 or has an over-long line"))
                    continue
                }
                let fields: [String]
                switch parsed {
                case let .success(values): fields = values
                case .failure(.unterminatedQuote):
                    list.problems.append(.init(line: line.number, reason: "a quoted field is never closed (missing \")"))
                    readAgain = continuation + readAgain
                    continue
                case .failure(.textAfterClosingQuote):
                    list.problems.append(
                        .init(line: line.number, reason: "text after a closing quote; write \"\" for a quote inside a quoted field"))
                    continue
                }
                guard let header = csvHeader else {
                    let names = fields.map { String(JobURL.trimmed($0)) }
                    guard let column = names.firstIndex(where: { $0.lowercased() == "url" }) else {
                        throw JobListError.noURLColumn(columns: names)
                    }
                    csvHeader = names
                    csvURLColumn = column
                    continue
                }
                guard fields.count == header.count else {
                    list.problems.append(.init(line: line.number, reason: "has \(fields.count) fields, the header has \(header.count)"))
                    continue
                }
                var metadata: [String: String] = [:]
                for (name, value) in zip(header, fields) where name != header[csvURLColumn] && !value.isEmpty {
                    metadata[name] = value
                }
                add(url: fields[csvURLColumn], metadataJSON: Self.json(metadata, encoder: encoder), line: line.number, to: &list)
            }
        }
        return list
    }

    private func add(url: String, metadataJSON: String?, line: Int, to list: inout JobList) {
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

    private func addJSONObject(_ text: String, line: Int, to list: inout JobList) {
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
    private static func json(_ fields: [String: String], encoder: JSONEncoder) -> String? {
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
