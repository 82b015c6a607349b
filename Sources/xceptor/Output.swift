import ArgumentParser
import Foundation

/// Writes one JSON value as a single line on standard output; keys sorted so output is stable.
func printJSON(_ value: Any) {
    guard let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes]) else {
        preconditionFailure("not JSON-serialisable: \(value)")
    }
    FileHandle.standardOutput.write(data + Data("\n".utf8))
}

/// Writes an `Encodable` report as one JSON line, keys in snake case and sorted (the benchmarks' output).
func printEncoded(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.keyEncodingStrategy = .convertToSnakeCase
    encoder.outputFormatting = [.sortedKeys]
    FileHandle.standardOutput.write(try encoder.encode(value) + Data("\n".utf8))
}

/// A JSON null for optional values, so every documented key is present.
func jsonValue(_ value: Any?) -> Any { value ?? NSNull() }

/// An ISO 8601 timestamp in UTC with milliseconds.
func iso8601(_ date: Date?) -> Any {
    guard let date else { return NSNull() }
    return date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
}

/// "3h 4m", "12m 5s", "42s": a duration for people.
func humanDuration(_ seconds: Double) -> String {
    let total = Int(seconds.rounded())
    let (days, hours, minutes, secs) = (total / 86_400, total % 86_400 / 3600, total % 3600 / 60, total % 60)
    if days > 0 { return "\(days)d \(hours)h" }
    if hours > 0 { return "\(hours)h \(minutes)m" }
    if minutes > 0 { return "\(minutes)m \(secs)s" }
    return "\(secs)s"
}

/// A duration argument such as 90s, 15m, 12h, 7d or 2w.
struct DurationArgument: ExpressibleByArgument {
    var seconds: Double

    init?(argument: String) {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800]
        guard let unit = argument.last, let scale = units[unit], let number = Double(argument.dropLast()),
              number >= 0, number.isFinite
        else { return nil }
        seconds = number * scale
    }

    static var defaultCompletionKind: CompletionKind { .default }
}
