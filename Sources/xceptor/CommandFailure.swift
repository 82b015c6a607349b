import ArgumentParser
import Foundation
import Queue
import Retrieval
import Search
import Xception

/// A runtime failure the command line found itself (an unknown job, a missing model file): exit status 1,
/// one line on standard error, no usage text. Usage mistakes stay `ValidationError`s (exit 64, with usage).
struct CommandFailure: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) { self.description = description }
}

/// What the command line prints for a library error: the library's own words, then what to do in the
/// command line's terms (which flag, which command).
enum FailureMessage {
    static func text(for error: Error) -> String {
        let message: String
        switch error {
        case let error as QueueError: message = describe(error)
        case let error as RetrievalError: message = describe(error)
        case let error as HNSWFileError: message = "\(error); run 'xceptor index build' to make it anew"
        case let error as ModelError: message = describe(error)
        case let error as LocalizedError where error.errorDescription != nil: message = error.errorDescription!
        default: message = "\(error)"
        }
        return printable(message)
    }

    /// One line, with control characters (a hostile server's escape sequences, say) shown, not obeyed.
    static func printable(_ text: String) -> String {
        var line = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n", "\r", "\t": line += " "
            case _ where scalar.properties.generalCategory == .control || scalar.properties.generalCategory == .format:
                line += "\\u{\(String(scalar.value, radix: 16))}"
            default: line.unicodeScalars.append(scalar)
            }
        }
        return line
    }

    private static func describe(_ error: QueueError) -> String {
        switch error {
        case let .missing(location):
            return "\(error). Check --db (or XCEPTOR_DB); 'xceptor enqueue --db \(location) URL...' creates one."
        case let .cannotOpen(location, _) where location.hasPrefix("postgres://"):
            return "\(error). Check the URL in --db (or XCEPTOR_DB)."
        case .cannotOpen: return "\(error). Check that the directory exists and is writable, or pass another --db."
        case let .notAFile(location, isDirectory):
            let example = isDirectory ? (location.hasSuffix("/") ? location : location + "/") + "xceptor.sqlite" : "./xceptor.sqlite"
            return "\(error). Name a database file with --db, such as \(example)."
        case .notAnXceptorDatabase: return "\(error). Pass a new or existing xceptor database with --db."
        case .corrupt, .newerSchema, .readOnly: return "\(error). Or pass another --db."
        case .unsupportedLocation:
            return "\(error). --db takes a SQLite file path such as ./xceptor.sqlite, or postgres://USER@HOST:PORT/DATABASE."
        case .unavailable: return "\(error), and that --db (or XCEPTOR_DB) names it."
        case .busy, .diskFull, .invalidArgument, .database: return "\(error)"
        }
    }

    private static func describe(_ error: RetrievalError) -> String {
        switch error {
        case .noEmbeddings: return "\(error); run 'xceptor worker' on the queue."
        case .severalModels, .unknownModel: return "\(error); pass the model file that made them with --model."
        case let .noEmbedding(job, _): return "\(error); 'xceptor jobs show \(job)' shows the job."
        case .modelMismatch: return "\(error); pass that model file with --model."
        case .modelRequired: return "\(error); pass --model FILE, or run 'xceptor model fetch' for the default one."
        case .noIndex: return "\(error); run 'xceptor index build' first."
        default: return "\(error)"
        }
    }

    private static func describe(_ error: ModelError) -> String {
        switch error {
        case .unsupportedPrecision: return "\(error) Run with --precision fp32."
        default: return "\(error)"
        }
    }
}

/// Refuses a command-line number outside `range` (NaN included) with a usage error naming the flag.
func requireRange<T: Comparable>(_ flag: String, _ value: T, _ range: ClosedRange<T>) throws {
    guard range.contains(value) else {
        throw ValidationError("\(flag) must be \(range.lowerBound)-\(range.upperBound), got \(value)")
    }
}

/// A size in bytes as people write it on a command line: 1073741824, 1500M, 4G, 1.5G (K, M, G, T in
/// powers of 1024, an optional trailing B or iB).
struct ByteSize: ExpressibleByArgument, Sendable {
    var bytes: Int

    init?(argument: String) {
        var text = argument.trimmingCharacters(in: .whitespaces).uppercased()
        for suffix in ["IB", "B"] where text.hasSuffix(suffix) && text.count > suffix.count {
            text.removeLast(suffix.count)
            break
        }
        let units: [Character: Double] = ["K": 0x1p10, "M": 0x1p20, "G": 0x1p30, "T": 0x1p40]
        var scale = 1.0
        if let last = text.last, let unit = units[last] {
            scale = unit
            text.removeLast()
        }
        // Checked before converting: NaN, infinities and values past Int would trap in Int(_:).
        guard let number = Double(text), number.isFinite, number >= 0, number * scale < 0x1p62 else { return nil }
        bytes = Int(number * scale)
    }
}
