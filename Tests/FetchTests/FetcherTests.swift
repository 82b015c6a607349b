import Foundation
import TestSupport
import Testing

@testable import Fetch

/// Real transfers against a real HTTP server on 127.0.0.1 that misbehaves on purpose. Each case must end
/// in the right class with a useful message, promptly, and leave the fetcher healthy.
@Suite("Fetching from a hostile server", .serialized)
struct FetcherTests {
    static let image = try! Data(
        contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../Fixtures/golden/images/0412.jpg").standardizedFileURL)

    /// Small limits so the hostile cases end in seconds; the test server's address is the only one allowed.
    static let fetcher = makeFetcher()

    /// A fetcher of its own, for a test whose 429 or 503 pauses the host for the fetcher that saw it.
    static func makeFetcher() -> Fetcher {
        loopbackFetcher {
            $0.lowSpeedBytesPerSecond = 100
            $0.lowSpeedSeconds = 2
            $0.totalTimeoutSeconds = 30
            $0.maxBodyBytes = 4 << 20
            $0.maxDecodedBytes = 8 << 20
        }
    }

    /// A fetcher of default limits allowed to reach the test server, with `adjust` applied.
    static func loopbackFetcher(_ adjust: (inout FetchConfiguration) -> Void) -> Fetcher {
        var configuration = FetchConfiguration()
        configuration.allowedPrivateAddresses = ["127.0.0.1"]
        adjust(&configuration)
        return Fetcher(configuration: configuration)
    }

    func fail(_ path: String, fetcher: Fetcher = Self.fetcher) async throws -> (FetchFailure, Double) {
        let server = try FaultServer.shared.get()
        let start = Date()
        do {
            let resource = try await fetcher.fetch(server.url(path))
            Issue.record("\(path) should have failed, got HTTP \(resource.status) with \(resource.body.count) bytes")
            throw CancellationError()
        } catch let failure as FetchFailure {
            return (failure, Date().timeIntervalSince(start))
        }
    }

    @Test("an image, directly, through a redirect chain and gzip-encoded, arrives intact")
    func success() async throws {
        let server = try FaultServer.shared.get()
        for path in ["/image.jpg", "/redirect/3", "/gzip-image"] {
            let resource = try await Self.fetcher.fetch(server.url(path))
            #expect(resource.status == 200 && Data(resource.body) == Self.image, "\(path)")
            #expect(resource.contentType == "image/jpeg")
        }
        #expect(try await Self.fetcher.fetch(server.url("/redirect/2")).url == server.url("/image.jpg"))
    }

    @Test("transfers stalled on a host do not hold up others to the same host")
    func stalledTransfersDoNotBlock() async throws {
        let server = try FaultServer.shared.get()
        let fetcher = Self.loopbackFetcher { $0.totalTimeoutSeconds = 5 }
        // Two stalled transfers, submitted together with an image to a host with no connection yet, hold two
        // of the host's four connections; the image must still come first.
        let order = await withTaskGroup(of: String.self) { group in
            for path in ["/stall?a", "/stall?b"] {
                group.addTask { (try? await fetcher.fetch(server.url(path))) == nil ? "stall failed" : "stall succeeded" }
            }
            group.addTask {
                (try? await fetcher.fetch(server.url("/image.jpg")))?.body.count == Self.image.count ? "image" : "image failed"
            }
            return await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(order == ["image", "stall failed", "stall failed"])
    }

    @Test("a host's waiting transfers start as its connection frees, not at the fetcher's next idle wake-up")
    func waitingTransfersStartWhenAConnectionFrees() async throws {
        let server = try FaultServer.shared.get()
        // The idle wake-up stretched to 30 s: a transfer that waited for it instead of for the connection would
        // take 30 s each (with the usual one second, the worker did 9 images/s instead of 45).
        let fetcher = Self.loopbackFetcher {
            $0.maxConnectionsPerHost = 1
            $0.idlePollMilliseconds = 30_000
        }
        defer { fetcher.shutdown() }
        // Ten images of one host through its one connection: each waits for the one before.
        let start = ContinuousClock.now
        let sizes = await withTaskGroup(of: Int.self) { group in
            for index in 0..<10 { group.addTask { (try? await fetcher.fetch(server.url("/image.jpg?\(index)")))?.body.count ?? -1 } }
            return await group.reduce(into: [Int]()) { $0.append($1) }
        }
        let elapsed = ContinuousClock.now - start
        #expect(sizes == Array(repeating: Self.image.count, count: 10))
        // Five minutes if they waited for wake-ups; well under ten seconds even on a loaded machine if not.
        #expect(elapsed < .seconds(100), "10 transfers on one connection took \(elapsed): they waited for wake-ups, not for the connection")
    }

    @Test("HTTP errors: 404 and 410 are permanent, 500 transient, 503 and 429 transient with Retry-After")
    func httpErrors() async throws {
        for (path, status, transient, retryAfter) in [
            ("/status/404", 404, false, nil), ("/status/410", 410, false, nil),
            ("/status/500", 500, true, nil), ("/retry-after", 503, true, 120.0),
            ("/too-many", 429, true, 7.0),
        ] as [(String, Int, Bool, Double?)] {
            let (failure, _) = try await fail(path, fetcher: Self.makeFetcher())
            #expect(
                failure.reason == .httpStatus && failure.httpStatus == status && failure.isTransient == transient, "\(path): \(failure)")
            #expect(failure.retryAfterSeconds == retryAfter, "\(path)")
            #expect(failure.message.hasPrefix("HTTP \(status)"))
        }
    }

    @Test("a 429's Retry-After holds back the host's next request that long; a pause past the longest wait defers the job instead")
    func hostPause() async throws {
        let server = try FaultServer.shared.get()
        let fetcher = Self.makeFetcher()
        // From before the refused request: the pause starts when its 429 arrives, and a loaded machine may
        // resume this test half a second after that.
        let start = ContinuousClock.now
        let (refused, _) = try await fail("/counted/throttle-unit/1.jpg", fetcher: fetcher)
        #expect(refused.httpStatus == 429 && refused.retryAfterSeconds == 3 && refused.deferSeconds == nil)
        let resource = try await fetcher.fetch(server.url("/image.jpg"))
        let waited = ContinuousClock.now - start
        #expect(resource.status == 200 && waited >= .milliseconds(2900), "waited \(waited)")

        // A 503 asking for 120 s: long enough that a test starved for seconds on a loaded machine still asks
        // while the pause lasts (a 7 s pause once ran out first).
        let impatient = Self.loopbackFetcher { $0.longestHostWaitSeconds = 2 }
        _ = try await fail("/retry-after", fetcher: impatient)  // Retry-After: 120
        let (deferred, seconds) = try await fail("/image.jpg", fetcher: impatient)
        #expect(deferred.reason == .hostBusy && deferred.isTransient && seconds < 30, "\(deferred)")
        #expect((60...120).contains(deferred.deferSeconds ?? 0), "\(String(describing: deferred.deferSeconds))")
        // Another host is not held back.
        #expect(try await impatient.fetch(server.url("/image.jpg", host: "localhost")).status == 200)
    }

    @Test("through a proxy (tinyproxy) each target is checked here and the tunnel pinned to its address, redirects hop by hop")
    func throughProxy() async throws {
        let server = try FaultServer.shared.get()
        let proxy = try ProxyServer()
        let fetcher = Self.loopbackFetcher { $0.proxy = proxy.url }

        // By name: resolved here, and the proxy asked for the address, never the name.
        let resource = try await fetcher.fetch(server.url("/redirect/2", host: "localhost"))
        #expect(resource.status == 200 && Data(resource.body) == Self.image && resource.url == server.url("/image.jpg", host: "localhost"))
        let tunnels = try proxy.tunnels()
        // (libcurl keeps the tunnel for the later hops to the same host.)
        #expect(!tunnels.isEmpty && tunnels.allSatisfy { $0 == "127.0.0.1:\(server.port)" }, "\(tunnels)")

        // A redirect to an address the guard refuses is refused before any tunnel to it.
        let (hop, _) = try await fail("/redirect-private", fetcher: fetcher)
        #expect(hop.reason == .privateAddress && hop.message.contains("127.0.0.2"), "\(hop)")
        #expect(try !proxy.tunnels().contains { $0.hasPrefix("127.0.0.2") })

        // With nothing allowed, a loopback target is refused though the proxy itself is on loopback.
        var strict = FetchConfiguration()
        strict.proxy = proxy.url
        let (refused, _) = try await fail("/image.jpg", fetcher: Fetcher(configuration: strict))
        #expect(refused.reason == .privateAddress && refused.message.contains("through the proxy"), "\(refused)")
    }

    @Test("redirect loops, non-http redirects and redirects to private addresses are refused, permanently")
    func redirects() async throws {
        let (loop, _) = try await fail("/loop")
        #expect(loop.reason == .tooManyRedirects && !loop.isTransient)
        let (ftp, _) = try await fail("/redirect-ftp")
        #expect(ftp.reason == .badScheme && !ftp.isTransient)
        let (privateHop, _) = try await fail("/redirect-private")
        #expect(privateHop.reason == .privateAddress && !privateHop.isTransient)
        #expect(privateHop.message.contains("127.0.0.2"))
    }

    @Test("with the guard fully on, even the loopback server is refused before connecting")
    func privateNetworkGuard() async throws {
        let strict = Fetcher(configuration: FetchConfiguration())
        let (failure, _) = try await fail("/image.jpg", fetcher: strict)
        #expect(failure.reason == .privateAddress && failure.message.contains("127.0.0.1"))
        #expect(failure.message.contains("--allow-private-networks"))
    }

    @Test("a host with a refused address and an allowed one is fetched from the allowed one; with only refused ones, refused")
    func hostWithSeveralAddresses() async throws {
        let server = try FaultServer.shared.get()
        let port = server.port
        // Pinned as DNS would answer them: a private address first (refused here), then the server's own.
        let fetcher = Self.loopbackFetcher {
            $0.pinnedAddresses = ["two.test:\(port):10.255.255.1,127.0.0.1", "refused.test:\(port):10.255.255.1,127.0.0.2"]
        }
        let resource = try await fetcher.fetch("http://two.test:\(port)/image.jpg")
        #expect(resource.status == 200 && Data(resource.body) == Self.image)
        await #expect {
            try await fetcher.fetch("http://refused.test:\(port)/image.jpg")
        } throws: { error in
            guard let failure = error as? FetchFailure else { return false }
            return failure.reason == .privateAddress && !failure.isTransient
        }
    }

    @Test("a body that stalls after the headers, or drips 1 byte a second, is abandoned by the low-speed limit")
    func slowBodies() async throws {
        for path in ["/stall", "/drip"] {
            let (failure, seconds) = try await fail(path)
            #expect(failure.isTransient && (failure.reason == .stalled || failure.reason == .timeout), "\(path): \(failure)")
            // The 2 s low-speed limit, not the 30 s total timeout, ended it.
            #expect(seconds < 15, "\(path) took \(seconds) s")
        }
    }

    @Test("a Content-Length that lies is a truncated transfer (transient)")
    func lyingLength() async throws {
        let (failure, _) = try await fail("/lying-length")
        #expect(failure.reason == .truncated && failure.isTransient)
    }

    @Test("a 1 GiB body is refused from its Content-Length, or cut at the limit when unannounced; a gzip bomb is cut when decoded")
    func oversizedBodies() async throws {
        let (announced, announcedSeconds) = try await fail("/huge")
        #expect(announced.reason == .tooLarge && !announced.isTransient)
        #expect(announcedSeconds < 10)
        let (unannounced, _) = try await fail("/huge-unannounced")
        #expect(unannounced.reason == .tooLarge && !unannounced.isTransient, "\(unannounced)")
        let (bomb, _) = try await fail("/gzip-bomb")
        #expect(bomb.reason == .decodedTooLarge && !bomb.isTransient, "\(bomb)")
    }

    @Test("X-Robots-Tag: noai opts out, permanently, with the reason kept")
    func optOut() async throws {
        let (failure, _) = try await fail("/noai")
        #expect(failure.reason == .optOut && !failure.isTransient && failure.message.contains("noai"))
    }

    @Test("an empty body and a connection refused come back as such; the fetcher still works afterwards")
    func emptyAndRefused() async throws {
        let server = try FaultServer.shared.get()
        let empty = try await Self.fetcher.fetch(server.url("/empty"))
        #expect(empty.status == 200 && empty.body.isEmpty)  // the decoder refuses it ("the file is empty")

        let refused: FetchFailure
        do {
            _ = try await Self.fetcher.fetch("http://127.0.0.1:1/image.jpg")
            Issue.record("port 1 answered")
            return
        } catch let failure as FetchFailure {
            refused = failure
        }
        #expect(refused.reason == .connection && refused.isTransient)
        let healthy = try await Self.fetcher.fetch(server.url("/image.jpg"))
        #expect(Data(healthy.body) == Self.image)
    }

    @Test("many concurrent transfers all complete with the right bodies")
    func concurrency() async throws {
        let server = try FaultServer.shared.get()
        let bodies = try await withThrowingTaskGroup(of: [UInt8].self) { group in
            for index in 0..<40 {
                group.addTask { try await Self.fetcher.fetch(server.url(index % 2 == 0 ? "/image.jpg" : "/gzip-image")).body }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(bodies.count == 40 && bodies.allSatisfy { Data($0) == Self.image })
    }
}
