import Testing

@testable import Fetch

/// robots.txt matching as RFC 9309 specifies it, on the RFC's own examples and the cases crawlers get wrong.
@Suite("robots.txt rules")
struct RobotsFileTests {
    @Test("the longest matching rule decides, Allow wins a tie, and no match allows (RFC 9309, 2.2.2)")
    func longestMatch() {
        let file = RobotsFile(
            """
            User-Agent: *
            Disallow: /example/page/
            Disallow: /example/page/disallowed.gif
            Allow: /example/page/allowed
            Allow: /tie
            Disallow: /tie
            """)
        #expect(!file.allows("/example/page/x.gif", for: "xceptor"))
        #expect(!file.allows("/example/page/disallowed.gif", for: "xceptor"))
        #expect(file.allows("/example/page/allowed.gif", for: "xceptor"))
        #expect(file.allows("/example/other", for: "xceptor"))
        #expect(file.allows("/tie/x", for: "xceptor"))
        #expect(file.allows("/robots.txt", for: "xceptor"))
    }

    @Test("* matches any run of characters and $ the end of the path (RFC 9309, 2.2.3)")
    func wildcards() {
        let file = RobotsFile("user-agent: *\ndisallow: /*.gif$\ndisallow: /private*/secret\n")
        #expect(!file.allows("/a/b.gif", for: "x"))
        #expect(file.allows("/a/b.gif?x", for: "x"), "$ anchors: the path does not end in .gif")
        #expect(!file.allows("/private-area/secret/1", for: "x"))
        #expect(file.allows("/private-area/public", for: "x"))
        let rootOnly = RobotsFile("user-agent: *\nallow: /$\ndisallow: /\n")
        #expect(rootOnly.allows("/", for: "x") && !rootOnly.allows("/anything", for: "x"))
        #expect(RobotsFile.matches(Array("/a*b*c$".utf8), Array("/aXbYbZc".utf8)))
        #expect(!RobotsFile.matches(Array("/a*b*c$".utf8), Array("/aXbYbZcd".utf8)))
        #expect(RobotsFile.matches(Array("*".utf8), Array("".utf8)))
    }

    @Test("the agent's groups are merged and chosen over *, matched case-insensitively; comments, blank lines and unknown lines ignored")
    func groups() {
        let file = RobotsFile(
            """
            # a comment
            User-agent: XCEPTOR
            User-agent: other
            Disallow: /a  # trailing comment

            Sitemap: https://example.com/sitemap.xml
            User-agent: *
            Disallow: /

            user-agent: xceptor
            disallow: /b
            nonsense line
            """)
        #expect(!file.allows("/a", for: "xceptor") && !file.allows("/b", for: "xceptor"))
        #expect(file.allows("/c", for: "xceptor"), "the * group does not apply to an agent with its own")
        #expect(!file.allows("/c", for: "somebot"))
        #expect(file.allows("/b", for: "other"))
    }

    @Test("an empty file, an empty Disallow and rules before any group allow everything")
    func permissive() {
        #expect(RobotsFile("").allows("/x", for: "xceptor"))
        #expect(RobotsFile("User-agent: *\nDisallow:\n").allows("/x", for: "xceptor"))
        #expect(RobotsFile("Disallow: /\nUser-agent: *\nAllow: /\n").allows("/x", for: "xceptor"))
    }
}
