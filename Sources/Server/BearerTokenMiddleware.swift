import Digests
import Hummingbird

/// Every route but the open ones needs `Authorization: Bearer TOKEN`. The comparison takes the same time
/// wherever the tokens differ: both are hashed, and the digests compared byte by byte without stopping early.
struct BearerTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let expectedDigest: [UInt8]
    /// Paths anyone may read: the page (it holds no data; it asks for the token), health, readiness, the API description.
    static var openPaths: Set<String> { ["/", "/healthz", "/readyz", "/openapi.yaml"] }

    init(token: String) {
        expectedDigest = SHA256.hash(Array(token.utf8))
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard !Self.openPaths.contains(request.uri.path) else { return try await next(request, context) }
        let header = request.headers[.authorization] ?? ""
        let prefix = "Bearer "
        guard header.hasPrefix(prefix) else {
            throw APIError(.unauthorized, code: "unauthorized", "this server needs Authorization: Bearer TOKEN (the server's --token-file)")
        }
        let given = SHA256.hash(Array(header.dropFirst(prefix.count).utf8))
        var difference: UInt8 = 0
        for (a, b) in zip(given, expectedDigest) { difference |= a ^ b }
        guard difference == 0 else { throw APIError(.unauthorized, code: "unauthorized", "the bearer token is wrong") }
        return try await next(request, context)
    }
}
