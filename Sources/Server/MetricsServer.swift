import Hummingbird
import Logging
import Prometheus

/// The HTTP endpoints a worker serves for people and monitoring: `/metrics` (Prometheus text format) and
/// `/healthz`. A `Service`: it runs in the worker's service group and stops with it.
public enum MetricsServer {
    /// - Parameters:
    ///   - host: the address to bind; 127.0.0.1 unless the operator asks for more.
    public static func application(registry: PrometheusCollectorRegistry, host: String, port: Int, logger: Logger)
        -> some ApplicationProtocol
    {
        let router = Router()
        router.get("metrics") { _, _ -> Response in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
        router.get("healthz") { _, _ in "ok\n" }
        return Application(
            router: router, configuration: .init(address: .hostname(host, port: port), serverName: "xceptor"), logger: logger)
    }
}
