import Foundation
import TestSupport
import Testing

@testable import Queue

/// What site owners see of a worker, through the real binary against the fault server, which records each
/// request's arrival, status and User-Agent: the rate per host, the pause after 429 with Retry-After, the
/// opt-out header acted on before the body, robots.txt.
@Suite("Polite fetching", .serialized)
struct PoliteFetchingTests {
    struct Arrival {
        var seconds: Double
        var path: String
        var status: Int
        var userAgent: String
    }

    /// The requests the server recorded under `token`, in order, and the body bytes it sent for it.
    static func arrivals(_ server: FaultServer, _ token: String) throws -> (arrivals: [Arrival], sent: Int) {
        let data = try Data(contentsOf: URL(string: server.url("/arrivals/\(token)"))!)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let rows = try #require(object["arrivals"] as? [[Any]])
        let arrivals = rows.map {
            Arrival(seconds: $0[0] as! Double, path: $0[1] as! String, status: $0[2] as! Int, userAgent: $0[3] as! String)
        }
        return (arrivals, object["sent"] as? Int ?? 0)
    }

    @Test(
        "--per-host-rate 5: over 200 URLs of one host, at most five requests in any second by the server's clock (within its jitter), and every job done"
    )
    func perHostRate() async throws {
        let site = try WorkerTests.Site()
        try await site.enqueue((0..<200).map { site.server.url("/counted/paced/\($0).jpg") })
        let run = try await XceptorProcess.run(try await site.workerArguments(["--until-empty", "--per-host-rate", "5"]), in: site.dir)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try await site.store().status().counts[.done] == 200)

        let times = try Self.arrivals(site.server, "paced").arrivals.map(\.seconds)
        #expect(times.count == 200)
        // Requests start 1.05/5 s apart, so any six span 1.05 s at the worker. The server's clock is a Python
        // handler thread's, which a loaded machine (the whole test run at once on 2 cores) delays by up to
        // about 0.1 s: six within 0.9 s by that clock would be a real excess.
        let tightest = zip(times, times.dropFirst(5)).map { $1 - $0 }.min() ?? 0
        #expect(tightest >= 0.9, "six requests within \(tightest) s")
        // Over the whole run the jitter cancels: 200 requests at most 5 a second take at least 39.8 s.
        let span = (times.last ?? 0) - (times.first ?? 0)
        #expect(span >= 199.0 / 5, "200 requests in \(span) s")
        print(
            "--per-host-rate 5: 200 requests over \(String(format: "%.1f", span)) s, tightest six in \(String(format: "%.3f", tightest)) s")
    }

    @Test("a 429 with Retry-After: 3 pauses every job of that host for 3 s, and the refused job is done on its retry")
    func retryAfterPausesHost() async throws {
        let site = try WorkerTests.Site()
        let urls = (0..<20).map { site.server.url("/counted/throttle/\($0).jpg") }
        try await site.enqueue(urls)
        // At 5/s the run lasts about 4 s without a pause: requests after the refusal would arrive within it.
        let run = try await XceptorProcess.run(try await site.workerArguments(["--until-empty", "--per-host-rate", "5"]), in: site.dir)
        #expect(run.status == 0, "\(run.stderr)")
        let jobs = try await site.jobsByURL()
        #expect(jobs.values.allSatisfy { $0.state == .done }, "\(jobs.values.map { "\($0.state) \($0.lastError ?? "")" })")

        let arrivals = try Self.arrivals(site.server, "throttle").arrivals
        let refusal = try #require(arrivals.first)
        #expect(refusal.status == 429)
        let afterRefusal = arrivals.dropFirst().map { $0.seconds - refusal.seconds }
        let during = afterRefusal.filter { $0 < 3.0 }
        #expect(during.isEmpty, "requests \(during) s after the 429")
        #expect(arrivals.count == 21, "20 images and the refused one's retry")
        #expect(jobs[site.server.url(refusal.path)]?.attempts == 2 && jobs.values.filter { $0.attempts == 1 }.count == 19)
    }

    @Test("X-Robots-Tag: noai ends the transfer at the headers: the 16 MiB body is not downloaded")
    func optOutBeforeBody() async throws {
        let site = try WorkerTests.Site()
        let url = site.server.url("/counted/optout/1.jpg")
        try await site.enqueue([url])
        let run = try await XceptorProcess.run(try await site.workerArguments(["--until-empty"]), in: site.dir)
        #expect(run.status == 0, "\(run.stderr)")
        let job = try #require(try await site.jobsByURL()[url])
        #expect(job.state == .failed && job.lastError?.contains("opted out of AI use") == true)
        // Sockets buffer a few MiB on loopback before the server notices the client is gone.
        let sent = try Self.arrivals(site.server, "optout").sent
        #expect(sent < 12 << 20, "the server sent \(sent) bytes of the body")
        print("opt-out: the server got \(sent >> 10) KiB of the 16 MiB body out before the client hung up")
    }

    @Test("--respect-robots-txt: fetched once, the agent's own group decides (longest match, Allow on ties), * only without one")
    func robotsTxt() async throws {
        let site = try WorkerTests.Site()
        let disallowed = site.server.url("/counted/robots-private/a.jpg")
        let allowedByLongerRule = site.server.url("/counted/robots-private/open-b.jpg")
        let onlyForOthers = site.server.url("/counted/robots-everyone/c.jpg")
        let unlisted = site.server.url("/counted/robots-free/d.jpg")
        try await site.enqueue([disallowed, allowedByLongerRule, onlyForOthers, unlisted])
        let run = try await XceptorProcess.run(try await site.workerArguments(["--until-empty", "--respect-robots-txt"]), in: site.dir)
        #expect(run.status == 0, "\(run.stderr)")
        let jobs = try await site.jobsByURL()
        #expect(jobs[disallowed]?.state == .failed && jobs[disallowed]?.lastError?.contains("robots.txt disallows") == true)
        for url in [allowedByLongerRule, onlyForOthers, unlisted] { #expect(jobs[url]?.state == .done, "\(url)") }
        let robots = try Self.arrivals(site.server, "robots.txt").arrivals
        #expect(robots.count == 1, "robots.txt fetched \(robots.count) times")
        // The default User-Agent names the product and where site owners read about it.
        #expect(robots.first?.userAgent.hasPrefix("xceptor/") == true && robots.first?.userAgent.contains("+https://") == true)
        #expect(try Self.arrivals(site.server, "robots-private").arrivals.map(\.path) == ["/counted/robots-private/open-b.jpg"])

        // Another agent, named by --user-agent, is disallowed everything by its own group.
        let other = try WorkerTests.Site()
        let url = other.server.url("/counted/robots-free/e.jpg")
        try await other.enqueue([url])
        let otherRun = try await XceptorProcess.run(
            try await other.workerArguments([
                "--until-empty", "--respect-robots-txt", "--user-agent", "OtherBot/2.0 (+https://example.org)",
            ]),
            in: other.dir)
        #expect(otherRun.status == 0, "\(otherRun.stderr)")
        #expect(try await other.jobsByURL()[url]?.lastError?.contains("disallows this URL for otherbot") == true)
        #expect(try Self.arrivals(other.server, "robots.txt").arrivals.first?.userAgent == "OtherBot/2.0 (+https://example.org)")
    }

    @Test(
        "hostile politeness flags are refused with the flag named",
        arguments: [
            ["--per-host-rate", "0"], ["--per-host-rate", "nan"], ["--per-host-rate", "1e308"],
            ["--user-agent", "bot\r\nX-Injected: 1"], ["--user-agent", ""],
        ])
    func hostileFlags(flags: [String]) async throws {
        let run = try await XceptorProcess.run(["worker", "--db", "q.sqlite", "--until-empty"] + flags, in: try makeScratchDirectory())
        #expect(run.status == 64)
        #expect(run.stderr.contains(flags[0]), "\(run.stderr)")
    }
}
