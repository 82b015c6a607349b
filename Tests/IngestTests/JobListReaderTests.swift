import Foundation
import Queue
import Testing

@testable import Ingest

/// Feeds `bytes` to the reader `chunkSize` bytes at a time, so records straddle chunk boundaries.
func read(_ bytes: [UInt8], format: JobListFormat? = nil, chunkSize: Int = 1 << 20) throws -> JobList {
    var offset = 0
    return try JobListReader(priority: 3, maxAttempts: 4).read(format: format) {
        defer { offset = min(bytes.count, offset + chunkSize) }
        return Array(bytes[offset..<min(bytes.count, offset + chunkSize)])
    }
}

func read(_ text: String, format: JobListFormat? = nil, chunkSize: Int = 1 << 20) throws -> JobList {
    try read(Array(text.utf8), format: format, chunkSize: chunkSize)
}

@Suite("Job list reader")
struct JobListReaderTests {
    @Test(
        "plain lines: blanks and comments skipped, CRLF and a BOM handled, bad lines reported by number",
        arguments: [1, 7, 1 << 20])
    func lines(chunkSize: Int) throws {
        let text = "\u{FEFF}http://a.com/1.jpg\r\n\n# a comment\nftp://a.com/2.jpg\n  https://B.com/3.jpg  \nnot a url\n"
        let list = try read(text, chunkSize: chunkSize)
        #expect(list.format == .lines)
        #expect(list.entries.map(\.line) == [1, 5])
        #expect(list.entries.map(\.job.url) == ["http://a.com/1.jpg", "https://b.com/3.jpg"])
        #expect(list.entries.allSatisfy { $0.job.priority == 3 && $0.job.maxAttempts == 4 && $0.job.metadataJSON == nil })
        #expect(
            list.problems == [
                JobListProblem(line: 4, reason: "scheme 'ftp' is not supported; only http and https URLs can be fetched"),
                JobListProblem(line: 6, reason: "no scheme; only absolute http:// or https:// URLs can be fetched"),
            ])
    }

    @Test("a line that is not UTF-8 is reported and the rest is read")
    func invalidUTF8() throws {
        let bytes = Array("http://a.com/1\n".utf8) + [0x68, 0x74, 0xFF, 0xFE, 0x0A] + Array("http://a.com/3".utf8)
        let list = try read(bytes)
        #expect(list.entries.map(\.line) == [1, 3])
        #expect(list.problems == [JobListProblem(line: 2, reason: "not valid UTF-8; save the list as UTF-8")])
    }

    @Test("an enormous line is reported without being held in memory, and the next line still counts")
    func overLongLine() throws {
        let huge = String(repeating: "x", count: JobListReader.maxLineBytes + 10)
        let list = try read("http://a.com/1\nhttp://a.com/\(huge)\nhttp://a.com/3\n", chunkSize: 64 * 1024)
        #expect(list.entries.map(\.line) == [1, 3])
        #expect(list.problems.map(\.line) == [2])
        #expect(list.problems.first?.reason.contains("longer than 1024 KiB") == true)
    }

    @Test(
        "CSV: a url column anywhere, quoted fields (commas, quotes, newlines), other columns as metadata",
        arguments: [1, 5, 1 << 20])
    func csv(chunkSize: Int) throws {
        let text = """
            id,caption,URL
            1,"a cup, blue",http://a.com/1.jpg
            2,"said ""hi""
            over two lines",http://a.com/2.jpg
            3,,http://a.com/3.jpg
            4,too,many,fields
            5,bad,gopher://a.com/5
            """
        let list = try read(text, chunkSize: chunkSize)
        #expect(list.format == .csv)
        #expect(list.entries.map(\.line) == [2, 3, 5])
        #expect(list.entries.map(\.job.url) == ["http://a.com/1.jpg", "http://a.com/2.jpg", "http://a.com/3.jpg"])
        #expect(list.entries[0].job.metadataJSON == #"{"caption":"a cup, blue","id":"1"}"#)
        #expect(list.entries[1].job.metadataJSON == #"{"caption":"said \"hi\"\nover two lines","id":"2"}"#)
        #expect(list.entries[2].job.metadataJSON == #"{"id":"3"}"#)
        #expect(
            list.problems == [
                JobListProblem(line: 6, reason: "has 4 fields, the header has 3"),
                JobListProblem(line: 7, reason: "scheme 'gopher' is not supported; only http and https URLs can be fetched"),
            ])
    }

    @Test("CSV: an unclosed quote and text after a closing quote are reported; the lines after an unclosed quote still count")
    func csvQuoting() throws {
        let afterQuote = try read("url,x\n\"http://a.com/1\"junk,1\nhttp://a.com/2,2\n", format: .csv)
        #expect(afterQuote.entries.map(\.line) == [3])
        #expect(afterQuote.problems.first?.line == 2)
        #expect(afterQuote.problems.first?.reason.contains("after a closing quote") == true)

        // The lines after an unclosed quote are records of their own, not swallowed into it.
        let unclosed = try read("url,x\nhttp://a.com/0,\"two\nlines\"\nhttp://a.com/1,\"never closed\nhttp://a.com/2,2\n", format: .csv)
        #expect(unclosed.entries.map(\.line) == [2, 5])
        #expect(unclosed.entries.first?.job.metadataJSON == #"{"x":"two\nlines"}"#)
        #expect(unclosed.problems == [JobListProblem(line: 4, reason: "a quoted field is never closed (missing \")")])
    }

    @Test("CSV without a url column is refused as a whole, naming the columns")
    func csvWithoutURLColumn() throws {
        #expect(throws: JobListError.noURLColumn(columns: ["link", "caption"])) {
            try read("link,caption\nhttp://a.com/1,x\n", format: .csv)
        }
    }

    @Test("JSONL: url field required, other fields kept as metadata with their JSON types")
    func jsonl() throws {
        let text = """
            {"url": "http://a.com/1.jpg", "caption": "cup", "tags": ["a", "b"], "n": 2}
            {"link": "http://a.com/2.jpg"}
            [1, 2]
            {"url": 42}
            {not json
            {"url": "http://a.com/3.jpg"}
            """
        let list = try read(text)
        #expect(list.format == .jsonl)
        #expect(list.entries.map(\.line) == [1, 6])
        #expect(list.entries[0].job.metadataJSON == #"{"caption":"cup","n":2,"tags":["a","b"]}"#)
        #expect(list.entries[1].job.metadataJSON == nil)
        #expect(list.problems.map(\.line) == [2, 3, 4, 5])
        #expect(list.problems[0].reason == "no \"url\" string field")
        #expect(list.problems[1].reason.hasPrefix("not a JSON object"))
        #expect(list.problems[3].reason == "not valid JSON")
    }

    @Test(
        "the format comes from the extension, else from the first line",
        arguments: [
            ("urls.csv", JobListFormat.csv), ("a.JSONL", .jsonl), ("a.ndjson", .jsonl), ("a.txt", .lines),
        ])
    func formatFromExtension(name: String, format: JobListFormat) {
        #expect(JobListFormat.fromExtension(of: name) == format)
    }

    @Test(
        "sniffing the first line",
        arguments: [
            (#"{"url": "x"}"#, JobListFormat.jsonl), ("id,url,caption", .csv), ("\"url\",\"x\"", .csv),
            ("http://a.com/x,y", .lines), ("http://a.com/x", .lines),
        ])
    func sniff(line: String, format: JobListFormat) {
        #expect(JobListFormat.sniff(line) == format)
    }

    @Test("reading a file that does not exist says so")
    func missingFile() {
        #expect(throws: JobListError.unreadable(source: "/no/such/list.txt", reason: "no such file")) {
            try JobListReader().read(path: "/no/such/list.txt", format: nil)
        }
    }
}
