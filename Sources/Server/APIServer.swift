import Foundation
import Hummingbird
import Logging
import Prometheus
import Queue
import Retrieval
import Synchronization

/// How `xceptor serve` listens and what it accepts.
public struct APIConfiguration: Sendable {
    /// The address to bind: loopback unless the operator asks for more.
    public var host = "127.0.0.1"
    public var port = 8080
    /// When set, every route but health, readiness and the OpenAPI document needs `Authorization: Bearer TOKEN`.
    public var token: String?
    /// An origin allowed to call the API from a browser page elsewhere ("*" for any); none by default.
    public var corsOrigin: String?
    /// The largest request body, in bytes (larger ones get 413 before they are read to the end).
    public var maxRequestBytes = 1 << 20
    /// The largest image upload to `POST /v1/search`, in bytes (its decoded size is bounded as the worker's is).
    public var maxUploadBytes = 32 << 20
    /// The longest a job list a `POST /v1/jobs` may carry, in lines.
    public var maxEnqueueLines = 100_000

    public init() {}
}

/// What the routes work with: the store, the search over it, the metrics, and whether the server is ready.
public final class APIServices: Sendable {
    public let store: any JobStore
    public let search: SearchService
    public let registry: PrometheusCollectorRegistry
    private let readiness = Atomic<Bool>(false)

    public init(store: any JobStore, search: SearchService, registry: PrometheusCollectorRegistry) {
        self.store = store
        self.search = search
        self.registry = registry
    }

    /// Ready once the model and the index are loaded; until then `/readyz` answers 503.
    public var isReady: Bool {
        get { readiness.load(ordering: .acquiring) }
        set { readiness.store(newValue, ordering: .releasing) }
    }
}

/// The HTTP API and its OpenAPI document: a shell over the same library calls the command line makes.
public enum APIServer {
    /// The application `xceptor serve` runs (a `Service`: it shuts down gracefully with its service group).
    /// `onListening` hears the port it bound (the one asked for, or the one the system chose for port 0).
    public static func application(
        configuration: APIConfiguration, services: APIServices, logger: Logger,
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        Application(
            router: router(configuration: configuration, services: services),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "xceptor"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? configuration.port) },
            logger: logger)
    }

    /// The routes, with error mapping, the token check and CORS (when configured) in front of them.
    public static func router(configuration: APIConfiguration, services: APIServices) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: ErrorMiddleware())
        if let origin = configuration.corsOrigin {
            router.add(middleware: CORSMiddleware(allowOrigin: origin == "*" ? .all : .custom(origin)))
        }
        if let token = configuration.token {
            router.add(middleware: BearerTokenMiddleware(token: token))
        }
        HealthRoutes(services: services).add(to: router)
        JobRoutes(services: services, configuration: configuration).add(to: router)
        SearchRoutes(services: services, configuration: configuration).add(to: router)
        ImageRoutes(services: services).add(to: router)
        return router
    }

    /// Every route's path template and methods (a `{name}` segment matches any one segment), for 405 answers.
    static let routes: [(path: [String], methods: [String])] = [
        ("/", ["GET"]), ("/healthz", ["GET"]), ("/readyz", ["GET"]), ("/openapi.yaml", ["GET"]), ("/metrics", ["GET"]),
        ("/v1/stats", ["GET"]), ("/v1/jobs", ["GET", "POST"]), ("/v1/jobs/retry", ["POST"]), ("/v1/jobs/cancel", ["POST"]),
        ("/v1/jobs/{job}", ["GET"]), ("/v1/search", ["POST"]), ("/v1/images/{image}/thumbnail", ["GET"]),
    ].map { ($0.0.split(separator: "/", omittingEmptySubsequences: false).map(String.init), $0.1) }

    /// The methods a path takes, or nil for a path that is no route.
    static func methods(forPath path: String) -> [String]? {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        let matches = routes.filter { route in
            route.path.count == segments.count
                && zip(route.path, segments).allSatisfy { template, segment in template.hasPrefix("{") || template == segment }
        }
        // The most literal match names the route: /v1/jobs/retry is not /v1/jobs/{job}.
        let wildcards = { (route: (path: [String], methods: [String])) in route.path.filter { $0.hasPrefix("{") }.count }
        guard let fewest = matches.map(wildcards).min() else { return nil }
        return Array(Set(matches.filter { wildcards($0) == fewest }.flatMap(\.methods))).sorted()
    }

    /// The OpenAPI 3.1 document of this API, as served at /openapi.yaml.
    public static var openAPIDocument: String { String(decoding: PackageResources.openapi_yaml, as: UTF8.self) }
}

extension Request {
    /// The body, at most `limit` bytes (413 beyond).
    func bodyData(limit: Int) async throws -> Data {
        var buffer = try await body.collect(upTo: limit)
        return buffer.readData(length: buffer.readableBytes) ?? Data()
    }

    /// The media type of the body, without parameters, lower-cased.
    var mediaType: String {
        (headers[.contentType] ?? "").split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
    }
}
