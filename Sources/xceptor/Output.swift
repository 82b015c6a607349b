import ArgumentParser
import Fetch
import Foundation
import Retrieval

/// Writes an `Encodable` report as one JSON line on standard output, in the shape every command and the
/// HTTP API share (`JSONReport`).
func printJSON(_ value: some Encodable) throws {
    try writeStandardOutput(try JSONReport.encoder().encode(value) + Data("\n".utf8))
}

/// Writes bytes to standard output. A reader that went away (`xceptor ... --json | head -1`) makes this a
/// failure said in one line; FileHandle's non-throwing `write` traps on it instead.
func writeStandardOutput(_ data: Data) throws {
    do {
        try FileHandle.standardOutput.write(contentsOf: data)
    } catch {
        let cause = (error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError
        let reason =
            cause?.domain == NSPOSIXErrorDomain && cause?.code == Int(EPIPE)
            ? "the program reading its pipe has exited" : String(cString: strerror(Int32(cause?.code ?? Int(EIO))))
        throw CommandFailure("cannot write to standard output: \(reason)")
    }
}

/// A warning for people, on standard error.
func printWarning(_ message: String) {
    FileHandle.standardError.write(Data("warning: \(FailureMessage.printable(message))\n".utf8))
}

/// A note for people (what a choice left to the program chose), on standard error.
func printNote(_ message: String) {
    FileHandle.standardError.write(Data("note: \(FailureMessage.printable(message))\n".utf8))
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
            number >= 0, number.isFinite, number * scale < 1e11
        else { return nil }
        seconds = number * scale
    }

    static var defaultCompletionKind: CompletionKind { .default }
}

/// The bytes of a file named on the command line, at most `limit` of them (a device or a pipe is read up to
/// it, never to its end), or a failure that names the file (shortened) and says what was wrong.
func readFile(_ path: String, what: String, limit: Int) throws -> [UInt8] {
    let shown = shortened(path)
    var status = stat()
    guard stat(path, &status) == 0 else {
        let reason = errno == ENOENT ? "there is no such file" : String(cString: strerror(errno))
        throw CommandFailure("cannot read \(what) \(shown): \(reason)")
    }
    if status.st_mode & S_IFMT == S_IFDIR { throw CommandFailure("cannot read \(what) \(shown): it is a directory; name a file") }
    let tooLarge = CommandFailure("cannot read \(what) \(shown): it is larger than \(limit) bytes, the most read for it")
    if status.st_mode & S_IFMT == S_IFREG, status.st_size > limit { throw tooLarge }
    let bytes: Data
    do {
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        bytes = try handle.read(upToCount: limit + 1) ?? Data()
    } catch {
        throw CommandFailure("cannot read \(what) \(shown): \((error as NSError).localizedDescription)")
    }
    guard bytes.count <= limit else { throw tooLarge }
    return [UInt8](bytes)
}

/// A value from the command line as an error message quotes it: its first 200 characters.
func shortened(_ value: String) -> String {
    value.count > 200 ? value.prefix(200) + "..." : value
}

/// The most read of an image named on the command line: as much as the worker takes from a server.
let imageFileLimit = FetchConfiguration().maxDecodedBytes
