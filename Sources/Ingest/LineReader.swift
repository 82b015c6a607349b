import Foundation

/// Splits a byte stream into lines (LF or CRLF), numbered from 1, reading in chunks so memory stays
/// bounded whatever the input size. A line longer than `maxLineBytes` is skipped and reported as such.
struct LineReader {
    struct Line {
        var number: Int
        /// The line's bytes without its terminator; empty when `tooLong`.
        var bytes: [UInt8]
        var tooLong: Bool
    }

    private let readChunk: () throws -> [UInt8]
    private let maxLineBytes: Int
    private var buffer: [UInt8] = []
    private var start = 0
    private var endOfInput = false
    private var lineNumber = 0

    /// - Parameter readChunk: returns the next bytes of the input, or an empty array at its end.
    init(maxLineBytes: Int, readChunk: @escaping () throws -> [UInt8]) {
        self.maxLineBytes = maxLineBytes
        self.readChunk = readChunk
    }

    mutating func next() throws -> Line? {
        var skippingLongLine = false
        while true {
            if let newline = buffer[start...].firstIndex(of: 0x0A) {
                let bytes = buffer[start..<newline]
                start = newline + 1
                return makeLine(bytes, tooLong: skippingLongLine)
            }
            if endOfInput {
                guard start < buffer.count || skippingLongLine else { return nil }
                let bytes = buffer[start...]
                start = buffer.count
                return makeLine(bytes, tooLong: skippingLongLine)
            }
            if buffer.count - start > maxLineBytes {
                // Drop the oversized line's bytes as they come rather than holding them all.
                skippingLongLine = true
                buffer.removeAll(keepingCapacity: true)
                start = 0
            } else if start > 0 {
                buffer.removeFirst(start)
                start = 0
            }
            let chunk = try readChunk()
            if chunk.isEmpty { endOfInput = true } else { buffer.append(contentsOf: chunk) }
        }
    }

    private mutating func makeLine(_ bytes: ArraySlice<UInt8>, tooLong: Bool) -> Line {
        lineNumber += 1
        var line = tooLong || bytes.count > maxLineBytes ? [] : Array(bytes)
        if line.last == 0x0D { line.removeLast() }
        if lineNumber == 1, line.starts(with: [0xEF, 0xBB, 0xBF]) { line.removeFirst(3) }  // UTF-8 byte order mark
        return Line(number: lineNumber, bytes: line, tooLong: tooLong || bytes.count > maxLineBytes)
    }
}
