import CCurl
import Foundation
import Synchronization

/// A fetched response body, with where it finally came from.
public struct FetchedResource: Sendable {
    /// The URL after redirects.
    public var url: String
    public var status: Int
    public var contentType: String?
    /// The decoded body (gzip and deflate undone).
    public var body: [UInt8]
    /// Where a redirect points, for a transfer told not to follow it (hops through a proxy).
    var redirectTarget: String?
}

/// HTTP(S) downloads through libcurl's multi interface: one thread drives many transfers at once (with
/// connection reuse and HTTP/2 where offered), under the limits of `FetchConfiguration`. Safe to call
/// from any number of tasks.
public final class Fetcher: Sendable {
    public let configuration: FetchConfiguration
    private let engine: CurlEngine
    private let robots: RobotsRules?

    public init(configuration: FetchConfiguration = FetchConfiguration()) {
        self.configuration = configuration
        engine = CurlEngine(configuration: configuration)
        robots = configuration.respectRobotsTxt ? RobotsRules(userAgent: configuration.userAgent) : nil
    }

    deinit { engine.stop() }

    /// Downloads `url`; throws `FetchFailure` with its class and reason.
    public func fetch(_ url: String) async throws -> FetchedResource {
        if let robots { try await robots.check(url, fetchingWith: engine) }
        guard configuration.proxy != nil else { return try await engine.fetch(url, configuration: configuration) }
        return try await fetchThroughProxy(url)
    }

    /// Through a proxy the connect-time guard sees only the proxy, so each hop's target is resolved and
    /// checked here, and the tunnel is pinned to the address checked (the proxy never resolves the name
    /// itself, so a second DNS answer cannot differ); redirects are hops of their own, checked the same way.
    private func fetchThroughProxy(_ url: String) async throws -> FetchedResource {
        var hop = url
        for _ in 0...configuration.maxRedirects {
            let pin = try await ProxyTarget.pin(hop, configuration: configuration)
            let resource = try await engine.fetch(hop, configuration: configuration, connectTo: pin, followRedirects: false)
            guard let next = resource.redirectTarget else { return resource }
            guard let scheme = URLComponents(string: next)?.scheme?.lowercased(), scheme == "http" || scheme == "https" else {
                throw FetchFailure(reason: .badScheme, message: "redirected to a URL that is not http or https", isTransient: false)
            }
            hop = next
        }
        throw FetchFailure(
            reason: .tooManyRedirects, message: "more than \(configuration.maxRedirects) redirects (a loop?)", isTransient: false)
    }

    /// Stops the transfer thread after the transfers in flight end; later fetches fail.
    public func shutdown() { engine.stop() }
}

/// One transfer's state, reached from libcurl's C callbacks through an opaque pointer.
/// @unchecked Sendable: the submitting task hands it over whole; afterwards only the transfer thread uses it.
final class Transfer: @unchecked Sendable {
    let url: String
    let configuration: FetchConfiguration
    let continuation: CheckedContinuation<FetchedResource, Error>
    /// The host politeness is kept for (lowercased), nil when the URL has none (libcurl then refuses it).
    let host: String?
    let queuedAt = ContinuousClock.now
    /// Through a proxy: curl's CONNECT_TO entry pinning the tunnel to the checked address, and no redirects
    /// followed by libcurl (the fetcher follows them hop by hop).
    let connectTo: String?
    let followsRedirects: Bool
    /// `connectTo` as libcurl's list, for the transfer's life.
    var connectToList: UnsafeMutablePointer<curl_slist>?
    /// The status of the latest response's status line, as the headers arrive.
    var status = 0
    var body: [UInt8] = []
    /// Headers of the latest response (a redirect chain starts over at each status line).
    var headers: [String: String] = [:]
    /// Set by a callback that aborted the transfer, saying why.
    var failure: FetchFailure?
    /// Set when an address of the host was refused: the failure, should no other address connect.
    var refusedAddress: FetchFailure?

    init(
        url: String, configuration: FetchConfiguration, connectTo: String? = nil, followsRedirects: Bool = true,
        continuation: CheckedContinuation<FetchedResource, Error>
    ) {
        self.url = url
        self.configuration = configuration
        self.continuation = continuation
        self.connectTo = connectTo
        self.followsRedirects = followsRedirects
        host = URLComponents(string: url)?.host?.lowercased()
    }

    static func from(_ pointer: UnsafeMutableRawPointer?) -> Transfer {
        Unmanaged<Transfer>.fromOpaque(pointer!).takeUnretainedValue()
    }
}

/// The multi handle and the thread that drives it.
final class CurlEngine: @unchecked Sendable {
    // @unchecked: `multi` and `active` are used only on the transfer thread; `queue` is behind its mutex.
    private let multi: UnsafeMutableRawPointer
    let configuration: FetchConfiguration
    private let queue = Mutex<(pending: [Transfer], stopped: Bool)>(([], false))
    private var active = 0
    /// Transfers handed over but not started: their host is paused, at its rate or at its connections.
    private var waiting: [Transfer] = []
    private var pacing: HostPacing
    /// `pinnedAddresses` as libcurl's list, kept for the engine's life.
    private let pinned: UnsafeMutablePointer<curl_slist>?

    private static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    init(configuration: FetchConfiguration) {
        _ = Self.globalInit
        self.configuration = configuration
        pacing = HostPacing(requestsPerSecond: configuration.perHostRequestsPerSecond, maxOpenPerHost: configuration.maxConnectionsPerHost)
        pinned = configuration.pinnedAddresses.reduce(nil) { list, entry in curl_slist_append(list, entry) }
        multi = curl_multi_init()
        // Connections per host are limited here too, though the fetcher starts no more than that many
        // transfers per host: libcurl would queue the rest where a host's pause could not hold them back.
        xceptor_curl_multi_set_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, configuration.maxConnectionsPerHost)
        let thread = Thread { [self] in
            // Named for top -H; Thread.name does not reach the OS on Linux.
            try? "xc-fetch".write(toFile: "/proc/thread-self/comm", atomically: false, encoding: .utf8)
            run()
        }
        thread.start()
    }

    func fetch(_ url: String, configuration: FetchConfiguration, connectTo: String? = nil, followRedirects: Bool = true) async throws
        -> FetchedResource
    {
        try await withCheckedThrowingContinuation { continuation in
            submit(
                Transfer(
                    url: url, configuration: configuration, connectTo: connectTo, followsRedirects: followRedirects,
                    continuation: continuation))
        }
    }

    func submit(_ transfer: Transfer) {
        let accepted = queue.withLock { state -> Bool in
            guard !state.stopped else { return false }
            state.pending.append(transfer)
            return true
        }
        if accepted {
            curl_multi_wakeup(multi)
        } else {
            transfer.continuation.resume(throwing: FetchFailure(reason: .other, message: "the fetcher has shut down", isTransient: true))
        }
    }

    /// The thread keeps the engine alive while it runs, so the handle outlives every call on it.
    deinit {
        curl_multi_cleanup(multi)
        curl_slist_free_all(pinned)
    }

    func stop() {
        queue.withLock { $0.stopped = true }
        curl_multi_wakeup(multi)
    }

    private func run() {
        while true {
            let (arrived, stopped) = queue.withLock { state -> ([Transfer], Bool) in
                defer { state.pending = [] }
                return (state.pending, state.stopped)
            }
            waiting += arrived
            let wake = startWaiting(stopped: stopped)
            if stopped && active == 0 && waiting.isEmpty && queue.withLock({ $0.pending.isEmpty }) { break }

            var running: Int32 = 0
            curl_multi_perform(multi, &running)
            var left: Int32 = 0
            var finished = false
            while let message = curl_multi_info_read(multi, &left) {
                guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle else { continue }
                finish(easy, code: message.pointee.data.result)
                finished = true
            }
            // A finished transfer frees its host's connection: the transfers waiting for one start now, not
            // after the poll below (which nothing may end for up to a second: one host's images came at a few per second).
            if finished && !waiting.isEmpty { continue }
            let idle = configuration.idlePollMilliseconds
            let timeout = wake.map { min(idle, max(1, Int32(($0 - .now).seconds * 1000))) } ?? idle
            curl_multi_poll(multi, nil, 0, timeout, nil)
        }
    }

    /// Starts the waiting transfers their hosts allow now, in the order they came; sends back those that
    /// would wait too long; returns when the next one may start (nil: when a transfer ends).
    private func startWaiting(stopped: Bool) -> ContinuousClock.Instant? {
        let now = ContinuousClock.now
        pacing.forgetIdle(now: now)
        var wake: ContinuousClock.Instant?
        var stillWaiting: [Transfer] = []
        for transfer in waiting {
            if stopped {
                transfer.continuation.resume(
                    throwing: FetchFailure(reason: .other, message: "the fetcher has shut down", isTransient: true))
                continue
            }
            guard active < configuration.maxInFlight else {
                stillWaiting.append(transfer)
                continue
            }
            guard let host = transfer.host else {
                start(transfer)
                continue
            }
            switch pacing.decision(for: host, now: now) {
            case .start:
                pacing.started(host, now: now)
                start(transfer)
            case let .wait(until):
                if let deferral = deferral(of: transfer, host: host, now: now) {
                    transfer.continuation.resume(throwing: deferral)
                    continue
                }
                stillWaiting.append(transfer)
                if let until { wake = min(wake ?? until, until) }
            }
        }
        waiting = stillWaiting
        return wake
    }

    /// The failure that sends a waiting transfer's job back to the queue, when its host asked for a longer
    /// pause than `longestHostWaitSeconds` or it has waited that long already.
    private func deferral(of transfer: Transfer, host: String, now: ContinuousClock.Instant) -> FetchFailure? {
        let longest = configuration.longestHostWaitSeconds
        let paused = pacing.pauseSeconds(for: host, now: now)
        if paused > longest {
            return FetchFailure(
                reason: .hostBusy,
                message:
                    "\(host) asked for a pause (HTTP 429 or 503) of \(Int(paused.rounded(.up))) s; the job waits in the queue until then",
                isTransient: true, deferSeconds: paused)
        }
        guard (now - transfer.queuedAt).seconds > longest else { return nil }
        return FetchFailure(
            reason: .hostBusy,
            message:
                "\(host) has more jobs waiting than it takes in \(Int(longest)) s (its pause, rate or connections); the job waits in the queue",
            isTransient: true, deferSeconds: max(paused, longest))
    }

    private func start(_ transfer: Transfer) {
        guard let easy = curl_easy_init() else {
            transfer.continuation.resume(
                throwing: FetchFailure(reason: .other, message: "libcurl could not start a transfer", isTransient: true))
            return
        }
        let context = Unmanaged.passRetained(transfer).toOpaque()
        let limits = transfer.configuration
        xceptor_curl_set_string(easy, CURLOPT_URL, transfer.url)
        xceptor_curl_set_pointer(easy, CURLOPT_PRIVATE, context)
        // Only http and https, also after redirects (no file://, gopher://, ...).
        xceptor_curl_set_string(easy, CURLOPT_PROTOCOLS_STR, "http,https")
        xceptor_curl_set_string(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https")
        // Never a proxy from the environment (http_proxy, https_proxy, ALL_PROXY): the address guard would
        // see only the proxy's address, and any private target would be reached through it. A configured
        // proxy is always a CONNECT tunnel, to the address `connectTo` pins (checked by the fetcher).
        if let proxy = limits.proxy {
            xceptor_curl_set_string(easy, CURLOPT_PROXY, proxy)
            xceptor_curl_set_long(easy, CURLOPT_HTTPPROXYTUNNEL, 1)
            xceptor_curl_set_string(easy, CURLOPT_NOPROXY, "")
        } else {
            xceptor_curl_set_string(easy, CURLOPT_PROXY, "")
        }
        if let connectTo = transfer.connectTo {
            transfer.connectToList = curl_slist_append(nil, connectTo)
            xceptor_curl_set_pointer(easy, CURLOPT_CONNECT_TO, transfer.connectToList)
        }
        if let pinned { xceptor_curl_set_pointer(easy, CURLOPT_RESOLVE, pinned) }
        xceptor_curl_set_long(easy, CURLOPT_FOLLOWLOCATION, transfer.followsRedirects ? 1 : 0)
        xceptor_curl_set_long(easy, CURLOPT_MAXREDIRS, limits.maxRedirects)
        xceptor_curl_set_long(easy, CURLOPT_CONNECTTIMEOUT, limits.connectTimeoutSeconds)
        xceptor_curl_set_long(easy, CURLOPT_TIMEOUT, limits.totalTimeoutSeconds)
        xceptor_curl_set_long(easy, CURLOPT_LOW_SPEED_LIMIT, limits.lowSpeedBytesPerSecond)
        xceptor_curl_set_long(easy, CURLOPT_LOW_SPEED_TIME, limits.lowSpeedSeconds)
        // Refuses a larger Content-Length before reading the body; the progress callback enforces the rest.
        xceptor_curl_set_offset(easy, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(limits.maxBodyBytes))
        xceptor_curl_set_string(easy, CURLOPT_ACCEPT_ENCODING, "gzip, deflate")
        xceptor_curl_set_string(easy, CURLOPT_USERAGENT, limits.userAgent)
        xceptor_curl_set_long(easy, CURLOPT_NOSIGNAL, 1)
        xceptor_curl_set_data_callback(easy, CURLOPT_WRITEFUNCTION, writeBody)
        xceptor_curl_set_pointer(easy, CURLOPT_WRITEDATA, context)
        xceptor_curl_set_data_callback(easy, CURLOPT_HEADERFUNCTION, readHeader)
        xceptor_curl_set_pointer(easy, CURLOPT_HEADERDATA, context)
        xceptor_curl_set_long(easy, CURLOPT_NOPROGRESS, 0)
        xceptor_curl_set_progress_callback(easy, watchProgress)
        xceptor_curl_set_pointer(easy, CURLOPT_XFERINFODATA, context)
        xceptor_curl_set_open_socket_callback(easy, openSocket)
        xceptor_curl_set_pointer(easy, CURLOPT_OPENSOCKETDATA, context)
        curl_multi_add_handle(multi, easy)
        active += 1
    }

    private func finish(_ easy: UnsafeMutableRawPointer, code: CURLcode) {
        var context: UnsafeMutableRawPointer?
        xceptor_curl_get_pointer(easy, CURLINFO_PRIVATE, &context)
        let transfer = Unmanaged<Transfer>.fromOpaque(context!).takeRetainedValue()
        var status = 0
        xceptor_curl_get_long(easy, CURLINFO_RESPONSE_CODE, &status)
        var effective: UnsafeMutablePointer<CChar>?
        xceptor_curl_get_string(easy, CURLINFO_EFFECTIVE_URL, &effective)
        var contentType: UnsafeMutablePointer<CChar>?
        xceptor_curl_get_string(easy, CURLINFO_CONTENT_TYPE, &contentType)
        let finalURL = effective.map { String(cString: $0) } ?? transfer.url
        let type = contentType.map { String(cString: $0) }
        var redirect: UnsafeMutablePointer<CChar>?
        if !transfer.followsRedirects, (300..<400).contains(status) { xceptor_curl_get_string(easy, CURLINFO_REDIRECT_URL, &redirect) }
        let redirectTarget = redirect.map { String(cString: $0) }
        curl_multi_remove_handle(multi, easy)
        curl_easy_cleanup(easy)
        curl_slist_free_all(transfer.connectToList)
        active -= 1
        if let host = transfer.host {
            pacing.finished(
                host, status: status, retryAfterSeconds: FetchClassifier.retryAfter(transfer.headers["retry-after"]), now: .now)
        }
        if let redirectTarget, code == CURLE_OK {
            transfer.continuation.resume(
                returning: FetchedResource(url: finalURL, status: status, contentType: type, body: [], redirectTarget: redirectTarget))
            return
        }
        switch FetchClassifier.classify(code: code, status: status, transfer: transfer) {
        case .success:
            transfer.continuation.resume(returning: FetchedResource(url: finalURL, status: status, contentType: type, body: transfer.body))
        case let .failure(failure):
            transfer.continuation.resume(throwing: failure)
        }
    }
}

// MARK: libcurl callbacks (C function pointers: no captures, state through the opaque pointer)

private let writeBody: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = {
    data, size, count, context in
    let transfer = Transfer.from(context)
    let bytes = size * count
    guard transfer.body.count + bytes <= transfer.configuration.maxDecodedBytes else {
        transfer.failure = FetchFailure(
            reason: .decodedTooLarge,
            message: "the body decodes to more than \(transfer.configuration.maxDecodedBytes >> 20) MiB (a compression bomb?)",
            isTransient: false)
        return 0  // aborts the transfer
    }
    transfer.body.append(contentsOf: UnsafeRawBufferPointer(start: data, count: bytes))
    return bytes
}

private let readHeader: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = {
    data, size, count, context in
    let transfer = Transfer.from(context)
    let line = String(decoding: UnsafeRawBufferPointer(start: data, count: size * count), as: UTF8.self)
        .trimmingCharacters(in: .whitespacesAndNewlines)
    if line.hasPrefix("HTTP/") {
        transfer.headers = [:]  // a new response (after a redirect, or a 100 Continue)
        let fields = line.split(separator: " ", maxSplits: 2)
        transfer.status = fields.count > 1 ? Int(fields[1]) ?? 0 : 0
    } else if line.isEmpty {
        // The end of a response's headers: an opted-out image is refused before its body is downloaded.
        if (200..<300).contains(transfer.status), let optOut = FetchClassifier.optOut(transfer) {
            transfer.failure = optOut
            return 0  // aborts the transfer
        }
    } else if let colon = line.firstIndex(of: ":") {
        let name = line[..<colon].lowercased()
        let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        transfer.headers[name] = transfer.headers[name].map { "\($0), \(value)" } ?? value
    }
    return size * count
}

private let watchProgress: @convention(c) (UnsafeMutableRawPointer?, curl_off_t, curl_off_t, curl_off_t, curl_off_t) -> Int32 = {
    context, _, received, _, _ in
    let transfer = Transfer.from(context)
    guard received <= transfer.configuration.maxBodyBytes else {
        transfer.failure = FetchFailure(
            reason: .tooLarge, message: "the body is larger than \(transfer.configuration.maxBodyBytes >> 20) MiB",
            isTransient: false)
        return 1  // aborts the transfer
    }
    return 0
}

private let openSocket: @convention(c) (UnsafeMutableRawPointer?, curlsocktype, UnsafeMutablePointer<curl_sockaddr>?) -> curl_socket_t = {
    context, purpose, address in
    let transfer = Transfer.from(context)
    guard let address else { return xceptor_curl_socket_bad() }
    // Through a proxy every connection is to the proxy, which the operator chose; the targets were
    // resolved and checked before their requests (`ProxyTarget`).
    if purpose == CURLSOCKTYPE_IPCXN, transfer.configuration.proxy == nil, let ip = ipAddress(address), ip.isPrivate,
        !transfer.configuration.allowPrivateNetworks, !transfer.configuration.allowedPrivateAddresses.contains(ip.text)
    {
        // Not the transfer's failure yet: libcurl goes on to the host's other addresses, and a public one
        // may serve it. It is the failure when none connects.
        transfer.refusedAddress = FetchFailure(
            reason: .privateAddress,
            message: "refused to connect to \(ip.text), a private or local address (--allow-private-networks allows it)",
            isTransient: false)
        return xceptor_curl_socket_bad()
    }
    return socket(address.pointee.family, address.pointee.socktype, address.pointee.protocol)
}

/// The text and class of the address libcurl is about to connect to.
private func ipAddress(_ address: UnsafeMutablePointer<curl_sockaddr>) -> (text: String, isPrivate: Bool)? {
    let socketAddress = UnsafeRawPointer(address) + MemoryLayout<curl_sockaddr>.offset(of: \curl_sockaddr.addr)!
    return AddressPolicy.describe(family: address.pointee.family, socketAddress)
}
