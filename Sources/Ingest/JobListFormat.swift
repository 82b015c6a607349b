import Foundation
import Queue

/// How a list of jobs is written.
public enum JobListFormat: String, Sendable, CaseIterable {
    /// One URL per line; blank lines and lines starting with `#` are skipped.
    case lines
    /// CSV with a header row naming a `url` column; the other columns become job metadata.
    case csv
    /// One JSON object per line with a `url` string; the other fields become job metadata.
    case jsonl

    /// The format a file name suggests, if any.
    static func fromExtension(of name: String) -> JobListFormat? {
        switch name.split(separator: ".").last?.lowercased() {
        case "csv": return .csv
        case "jsonl", "ndjson": return .jsonl
        case "txt", "lst", "urls": return .lines
        default: return nil
        }
    }

    /// Guesses from the first non-blank line: a JSON object, a CSV header with a `url` column, or a URL.
    static func sniff(_ firstLine: String) -> JobListFormat {
        let trimmed = JobURL.trimmed(firstLine)
        if trimmed.hasPrefix("{") { return .jsonl }
        let header = trimmed.split(separator: ",", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: CharacterSet(charactersIn: " \"")).lowercased()
        }
        return header.count > 1 && header.contains("url") ? .csv : .lines
    }
}
