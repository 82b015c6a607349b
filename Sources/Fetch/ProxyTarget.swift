import Foundation

/// Resolves a URL's host the way libcurl would (getaddrinfo), checks each address against the address
/// guard, and names the one to tunnel to, as a CURLOPT_CONNECT_TO entry ("HOST:PORT:ADDRESS:PORT"). Used
/// only through a proxy, where the guard at connect time sees nothing but the proxy.
enum ProxyTarget {
    static func pin(_ url: String, configuration: FetchConfiguration) async throws -> String {
        guard let components = URLComponents(string: url), let host = components.host, !host.isEmpty,
            let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https"
        else {
            throw FetchFailure(reason: .invalidURL, message: "libcurl cannot parse the URL", isTransient: false)
        }
        let port = components.port ?? (scheme == "https" ? 443 : 80)
        // URLComponents gives an IPv6 literal without its brackets on Linux and with them elsewhere.
        let bare = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        let addresses = try await resolve(bare, port: port)
        let allowed = addresses.first { address in
            !address.isPrivate || configuration.allowPrivateNetworks || configuration.allowedPrivateAddresses.contains(address.text)
        }
        guard let address = allowed else {
            let refused = addresses.first?.text ?? bare
            throw FetchFailure(
                reason: .privateAddress,
                message:
                    "refused to fetch \(bare) through the proxy: it resolves to \(refused), a private or local address (--allow-private-networks allows it)",
                isTransient: false)
        }
        let requested = bare.contains(":") ? "[\(bare)]" : bare
        let target = address.text.contains(":") ? "[\(address.text)]" : address.text
        return "\(requested):\(port):\(target):\(port)"
    }

    /// The host's addresses, in getaddrinfo's order; its lookup blocks, so it runs off the cooperative pool.
    private static func resolve(_ host: String, port: Int) async throws -> [(text: String, isPrivate: Bool)] {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                var hints = addrinfo()
                hints.ai_family = AF_UNSPEC
                hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
                var list: UnsafeMutablePointer<addrinfo>?
                let status = getaddrinfo(host, String(port), &hints, &list)
                guard status == 0 else {
                    continuation.resume(
                        throwing: FetchFailure(reason: .dns, message: "the host name did not resolve (DNS)", isTransient: true))
                    return
                }
                defer { freeaddrinfo(list) }
                var addresses: [(text: String, isPrivate: Bool)] = []
                var entry = list
                while let current = entry {
                    if let socketAddress = current.pointee.ai_addr,
                        let address = AddressPolicy.describe(family: current.pointee.ai_family, UnsafeRawPointer(socketAddress))
                    {
                        addresses.append(address)
                    }
                    entry = current.pointee.ai_next
                }
                continuation.resume(returning: addresses)
            }
        }
    }
}
