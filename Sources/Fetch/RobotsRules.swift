import Foundation

/// robots.txt (RFC 9309) per site, for `--respect-robots-txt`: fetched once per origin through the same
/// transfers as images (so its request is paced like any other to that host), kept for a day, and asked
/// before every fetch. Redirect targets are not checked again.
actor RobotsRules {
    /// The product token groups are matched against: "xceptor" from "xceptor/0.1.0 (...)".
    let productToken: String
    private var sites: [String: Site] = [:]

    private enum Site {
        case loading(Task<RobotsFile.Verdict, Never>)
        case known(RobotsFile.Verdict, until: ContinuousClock.Instant)
    }

    /// RFC 9309 asks crawlers not to use a cached copy for more than a day; a site whose robots.txt could
    /// not be read is asked again after a minute.
    static let keepSeconds = 86_400.0
    static let keepUnavailableSeconds = 60.0
    /// The RFC's minimum a crawler must parse; larger files are read that far.
    static let maxBytes = 512 << 10

    init(userAgent: String) {
        productToken = String(userAgent.prefix { $0 != "/" && $0 != " " }).lowercased()
    }

    /// Throws the `FetchFailure` that stops a fetch of `url`: disallowed (permanent), or the site's
    /// robots.txt unreadable for now (transient, as the RFC says to assume complete disallow then).
    func check(_ url: String, fetchingWith engine: CurlEngine) async throws {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            let host = components.percentEncodedHost?.lowercased()
        else { return }  // libcurl refuses the URL itself
        let origin = "\(scheme)://\(host)" + (components.port.map { ":\($0)" } ?? "")
        let path =
            (components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath)
            + (components.percentEncodedQuery.map { "?\($0)" } ?? "")
        switch await verdict(for: origin, engine: engine) {
        case .allowAll:
            return
        case let .unavailable(reason, deferral):
            if let deferral { throw deferral }  // the host asked for a pause: the job waits its turn
            throw FetchFailure(
                reason: .robotsUnavailable,
                message:
                    "\(origin)/robots.txt could not be read (\(reason)); its site is not fetched until it can be (--respect-robots-txt)",
                isTransient: true)
        case let .rules(file):
            guard !file.allows(path, for: productToken) else { return }
            throw FetchFailure(
                reason: .robotsDisallowed, message: "\(origin)/robots.txt disallows this URL for \(productToken) (--respect-robots-txt)",
                isTransient: false)
        }
    }

    private func verdict(for origin: String, engine: CurlEngine) async -> RobotsFile.Verdict {
        switch sites[origin] {
        case let .known(verdict, until) where until > .now:
            return verdict
        case let .loading(task):
            return await task.value
        default:
            break
        }
        let task = Task { await Self.fetch(origin, engine: engine) }
        sites[origin] = .loading(task)
        let verdict = await task.value
        let keep = if case .unavailable = verdict { Self.keepUnavailableSeconds } else { Self.keepSeconds }
        sites[origin] = .known(verdict, until: .now + .seconds(keep))
        if sites.count > 100_000 { sites = sites.filter { if case .loading = $1 { true } else { false } } }
        return verdict
    }

    private static func fetch(_ origin: String, engine: CurlEngine) async -> RobotsFile.Verdict {
        var configuration = engine.configuration
        configuration.maxBodyBytes = maxBytes
        configuration.maxDecodedBytes = maxBytes
        configuration.honourOptOut = false
        do {
            let resource = try await engine.fetch("\(origin)/robots.txt", configuration: configuration)
            return .rules(RobotsFile(String(decoding: resource.body, as: UTF8.self)))
        } catch let failure as FetchFailure {
            // 4xx but 429: there are no rules ("unavailable" in the RFC's words, and crawling is allowed).
            if let status = failure.httpStatus, (400..<500).contains(status), status != 429 { return .allowAll }
            if failure.reason == .tooLarge || failure.reason == .decodedTooLarge { return .unavailable("larger than 512 KiB") }
            return .unavailable(failure.message, deferral: failure.deferSeconds == nil ? nil : failure)
        } catch {
            return .unavailable("\(error)")
        }
    }
}

/// The groups and rules of one robots.txt, parsed as RFC 9309 says.
struct RobotsFile: Sendable {
    enum Verdict: Sendable {
        case allowAll
        /// Why not, and the deferral to pass on when the host itself asked for a pause.
        case unavailable(String, deferral: FetchFailure? = nil)
        case rules(RobotsFile)
    }

    struct Rule: Sendable {
        var allow: Bool
        var pattern: [UInt8]
    }

    struct Group: Sendable {
        var agents: [String] = []
        var rules: [Rule] = []
    }

    private(set) var groups: [Group] = []

    init(_ text: String) {
        var current: Group?
        var lastWasAgent = false
        for rawLine in text.split(omittingEmptySubsequences: true, whereSeparator: \.isNewline) {
            let line = rawLine.prefix { $0 != "#" }
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            switch key {
            case "user-agent":
                if !lastWasAgent {
                    if let current { groups.append(current) }
                    current = Group()
                }
                current?.agents.append(value.lowercased())
                lastWasAgent = true
            case "allow", "disallow":
                lastWasAgent = false
                // An empty Disallow allows everything; rules before any user-agent line belong to no group.
                guard !value.isEmpty else { continue }
                current?.rules.append(Rule(allow: key == "allow", pattern: Array(value.utf8)))
            default:
                continue  // sitemap and other records end nothing
            }
        }
        if let current { groups.append(current) }
    }

    /// Whether `path` (percent-encoded, with its query) may be fetched by `agent`: the rules of every group
    /// naming the agent (case-insensitively), else of every "*" group; the longest matching pattern decides,
    /// Allow winning a tie; no match allows. /robots.txt itself is always allowed.
    func allows(_ path: String, for agent: String) -> Bool {
        guard path != "/robots.txt" else { return true }
        var chosen = groups.filter { $0.agents.contains(agent) }
        if chosen.isEmpty { chosen = groups.filter { $0.agents.contains("*") } }
        let target = Array(path.utf8)
        var best: Rule?
        for rule in chosen.flatMap(\.rules) where Self.matches(rule.pattern, target) {
            if let current = best,
                current.pattern.count > rule.pattern.count || (current.pattern.count == rule.pattern.count && current.allow)
            {
                continue
            }
            best = rule
        }
        return best?.allow ?? true
    }

    /// Whether `pattern` matches a prefix of `path`: `*` matches any run of characters, a final `$` the end.
    static func matches(_ pattern: [UInt8], _ path: [UInt8]) -> Bool {
        let anchored = pattern.last == UInt8(ascii: "$")
        let pattern = anchored ? pattern.dropLast() : pattern[...]
        let star = UInt8(ascii: "*")
        // Greedy wildcard matching with backtracking to the last star: linear in practice, quadratic at worst.
        var p = pattern.startIndex, s = 0
        var lastStar: Int?, resume = 0
        while true {
            if p == pattern.endIndex {
                if !anchored || s == path.count { return true }
            } else if pattern[p] == star {
                lastStar = p
                p += 1
                resume = s
                continue
            } else if s < path.count, pattern[p] == path[s] {
                p += 1
                s += 1
                continue
            }
            // Mismatch (or an anchored pattern ended early): let the last star take one more character.
            guard let star = lastStar, resume < path.count else { return false }
            resume += 1
            s = resume
            p = star + 1
        }
    }
}
