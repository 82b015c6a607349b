import Foundation
import TestSupport
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The search page in a real browser: Debian's headless Chromium, driven through chromedriver's WebDriver
/// protocol (plain HTTP and JSON, so no client library), against a running `xceptor serve` with a token.
/// The protocol goes through curl: chromedriver writes headers without a space after the colon, which
/// Foundation's URLSession on Linux rejects ("Failed writing header").
@Suite("search page in Chromium", .serialized)
struct SearchPageTests {
    /// A WebDriver session on a chromedriver started for the test.
    final class Browser: @unchecked Sendable {
        let driver: Process
        let base: String
        var session = ""

        init() async throws {
            guard FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver") else {
                throw CocoaError(
                    .fileNoSuchFile,
                    userInfo: [
                        NSLocalizedDescriptionKey:
                            "chromedriver is missing: scripts/install-deps.sh installs Debian's chromium and chromium-driver"
                    ])
            }
            let port = Int.random(in: 20_000..<40_000)
            driver = Process()
            driver.executableURL = URL(fileURLWithPath: "/usr/bin/chromedriver")
            driver.arguments = ["--port=\(port)"]
            driver.standardOutput = FileHandle.nullDevice
            driver.standardError = FileHandle.nullDevice
            try driver.run()
            base = "http://127.0.0.1:\(port)"
            for _ in 0..<100 {
                if (try? await call("GET", "/status")) != nil { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            let profile = try makeScratchDirectory()
            let created = try await call(
                "POST", "/session",
                [
                    "capabilities": [
                        "alwaysMatch": [
                            "goog:chromeOptions": [
                                "binary": "/usr/bin/chromium",
                                "args": [
                                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000",
                                    "--user-data-dir=\(profile.path)",
                                ],
                            ]
                        ]
                    ]
                ])
            session = try #require(created["sessionId"] as? String, "\(created)")
        }

        @discardableResult
        func call(_ method: String, _ path: String, _ body: [String: Any]? = nil) async throws -> [String: Any] {
            let object = try await Self.curl(method, base + path, body)
            return (object["value"] as? [String: Any]) ?? object
        }

        func value(_ method: String, _ path: String, _ body: [String: Any]? = nil) async throws -> Any? {
            try await Self.curl(method, base + "/session/\(session)" + path, body)["value"]
        }

        /// One WebDriver command; its error, if any, thrown with WebDriver's message.
        static func curl(_ method: String, _ url: String, _ body: [String: Any]?) async throws -> [String: Any] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
            process.arguments =
                ["-s", "--max-time", "120", "-X", method, "-H", "Content-Type: application/json"]
                + (body.map { ["--data-binary", String(decoding: try! JSONSerialization.data(withJSONObject: $0), as: UTF8.self)] } ?? [])
                + [url]
            let output = Pipe()
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            try process.run()
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            guard process.terminationStatus == 0, let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw CocoaError(
                    .fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "\(method) \(url): curl exit \(process.terminationStatus)"])
            }
            if let value = object["value"] as? [String: Any], let error = value["error"] as? String {
                throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "\(error): \(value["message"] ?? "")"])
            }
            return object
        }

        /// The elements matching a CSS selector, by WebDriver element id.
        func elements(_ selector: String) async throws -> [String] {
            let found = try await value("POST", "/elements", ["using": "css selector", "value": selector]) as? [[String: Any]] ?? []
            return found.compactMap { $0.values.first as? String }
        }

        func attribute(_ element: String, _ name: String) async throws -> String? {
            try await value("GET", "/element/\(element)/attribute/\(name)") as? String
        }

        /// Waits up to 60 s for `condition`.
        func wait(_ what: String, until condition: () async throws -> Bool) async throws {
            for _ in 0..<600 {
                if try await condition() { return }
                try await Task.sleep(for: .milliseconds(100))
            }
            Issue.record("timed out waiting for \(what)")
        }

        /// Ends the session (which closes Chromium), then chromedriver: with SIGKILL, because it inherits
        /// the test process's blocked signals and never sees a SIGTERM.
        func quit() async {
            _ = try? await value("DELETE", "")
            kill(driver.processIdentifier, SIGKILL)
            driver.waitUntilExit()
        }
    }

    @Test("an uploaded sample shows its stored copy first; clicking a neighbour searches from it; a screenshot is kept")
    func uploadAndClick() async throws {
        let server = try await ServeTests.Server()
        defer { Task { await server.stop() } }
        let browser = try await Browser()
        // Quit before the test returns: a quit left to a task could outlive the test process, and the browser too.
        do {
            try await drive(browser, on: server)
        } catch {
            await browser.quit()
            throw error
        }
        await browser.quit()
    }

    private func drive(_ browser: Browser, on server: ServeTests.Server) async throws {
        let site = server.run.site

        try await browser.value("POST", "/url", ["url": server.base + "/"])
        // The server needs a token: the page asks for it once an API call is refused.
        try await browser.wait("the token form") {
            try await browser.elements("#auth.shown").count == 1
        }
        let tokenField = try #require(try await browser.elements("#token").first)
        try await browser.value("POST", "/element/\(tokenField)/value", ["text": ServeTests.token + "\n"])

        // Choosing a file, as a person would with the file picker.
        let sample = site.files.appendingPathComponent(site.images[2])
        let input = try #require(try await browser.elements("#file").first)
        try await browser.value("POST", "/element/\(input)/value", ["text": sample.path])
        try await browser.wait("the neighbours") { try await browser.elements("#results button.card").count >= 2 }
        let cards = try await browser.elements("#results button.card")
        let jobs = try await site.jobsByURL()
        let expected = try #require(jobs[site.url(site.images[2])]).id
        #expect(try await browser.attribute(cards[0], "data-job") == "\(expected)", "the sample's stored copy comes first")
        let firstScore = try #require(try await browser.elements("#results .score").first)
        #expect(try await browser.value("GET", "/element/\(firstScore)/text") as? String == "1.000")
        try await browser.wait("the thumbnails") {
            guard let image = try await browser.elements("#results img").first else { return false }
            return try await browser.attribute(image, "src")?.hasPrefix("blob:") == true
        }

        // Clicking a neighbour searches from it: it then comes first, at score 1.
        let clicked = try #require(try await browser.attribute(cards[1], "data-job"))
        try await browser.value("POST", "/element/\(cards[1])/click", [:])
        try await browser.wait("the search from the neighbour") {
            guard let first = try await browser.elements("#results button.card").first else { return false }
            return try await browser.attribute(first, "data-job") == clicked
        }
        let status = try #require(try await browser.elements("#message").first)
        #expect((try await browser.value("GET", "/element/\(status)/text") as? String)?.contains("similar image") == true)

        let screenshot = try #require(try await browser.value("GET", "/screenshot") as? String)
        let artifacts = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../.build/test-artifacts")
        try FileManager.default.createDirectory(at: artifacts, withIntermediateDirectories: true)
        let file = artifacts.appendingPathComponent("search-page.png")
        try #require(Data(base64Encoded: screenshot)).write(to: file)
        print("search page screenshot: \(file.standardizedFileURL.path)")
    }
}
