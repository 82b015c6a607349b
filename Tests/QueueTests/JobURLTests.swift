import Queue
import Testing

@Suite("Job URLs")
struct JobURLTests {
    @Test(
        "valid URLs are normalised",
        arguments: [
            ("http://example.com/a.jpg", "http://example.com/a.jpg"),
            ("  https://Example.COM/A.jpg  ", "https://example.com/A.jpg"),
            ("HTTP://example.com:80/x#frag", "http://example.com/x"),
            ("https://example.com:443/x?q=1", "https://example.com/x?q=1"),
            ("https://example.com:8443/x", "https://example.com:8443/x"),
            ("http://example.com", "http://example.com/"),
            ("http://example.com/ü.png?q=ä", "http://example.com/%C3%BC.png?q=%C3%A4"),
            ("http://münchen.de/x", "http://xn--mnchen-3ya.de/x"),
            ("http://[::1]:8080/x", "http://[::1]:8080/x"),
            ("http://example.com/a b.jpg", "http://example.com/a%20b.jpg"),
        ])
    func normalises(raw: String, expected: String) throws {
        #expect(try JobURL.normalize(raw).get() == expected)
    }

    @Test(
        "invalid URLs are refused with the reason",
        arguments: [
            ("", JobURL.Rejection.empty),
            ("   ", .empty),
            ("example.com/a.jpg", .missingScheme),
            ("/just/a/path", .missingScheme),
            ("ftp://example.com/a.jpg", .unsupportedScheme("ftp")),
            ("file:///etc/passwd", .unsupportedScheme("file")),
            ("javascript:alert(1)", .unsupportedScheme("javascript")),
            ("data:image/png;base64,AAAA", .unsupportedScheme("data")),
            ("http:/example.com", .missingHost),
            ("http:///path", .missingHost),
            ("http://:80/x", .missingHost),
            ("http://example.com:99999/", .invalidPort),
            ("http://example.com:abc/", .invalidPort),
            ("http://exa mple.com/", .malformed),
            ("http://example.com/\u{0}x", .controlCharacter),
            ("http://example.com/\tx", .controlCharacter),
            ("http://ana:s3cret@example.com/a.jpg", .credentials),
            ("https://TOKEN@example.com/a.jpg", .credentials),
            ("http://:pw@example.com/", .credentials),
        ])
    func refuses(raw: String, rejection: JobURL.Rejection) {
        #expect(throws: rejection) { try JobURL.normalize(raw).get() }
    }

    @Test("URLs over 4 KiB are refused with their size")
    func tooLong() throws {
        let url = "http://example.com/" + String(repeating: "a", count: 4096)
        #expect(throws: JobURL.Rejection.tooLong(bytes: url.utf8.count, limit: 4096)) { try JobURL.normalize(url).get() }
        #expect(JobURL.Rejection.tooLong(bytes: 5000, limit: 4096).description == "URL is 5000 bytes, over the 4 KiB limit")
        let justFits = "http://example.com/" + String(repeating: "a", count: 4096 - 19)
        #expect(try JobURL.normalize(justFits).get() == justFits)
    }
}
