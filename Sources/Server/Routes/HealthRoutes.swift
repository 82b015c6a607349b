import Hummingbird

/// The page, liveness, readiness, metrics and the API's own description.
struct HealthRoutes {
    let services: APIServices

    private struct Health: Encodable { var status: String }

    func add(to router: Router<BasicRequestContext>) {
        router.get("/healthz") { _, _ in try JSONResponse.make(Health(status: "ok")) }
        router.get("/readyz") { [services] _, _ in
            guard services.isReady else {
                throw APIError(.serviceUnavailable, code: "not_ready", "the model and the index are still loading")
            }
            return try JSONResponse.make(Health(status: "ready"))
        }
        router.get("/") { _, _ in
            Response(
                status: .ok,
                headers: [
                    .contentType: "text/html; charset=utf-8",
                    // The page runs its own inline script and loads nothing from elsewhere.
                    .contentSecurityPolicy:
                        "default-src 'self'; img-src 'self' blob:; style-src 'unsafe-inline'; script-src 'unsafe-inline'",
                    .xContentTypeOptions: "nosniff",
                ],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: PackageResources.page_html)))
        }
        router.get("/openapi.yaml") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/yaml; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: PackageResources.openapi_yaml)))
        }
        router.get("/metrics") { [services] _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: services.registry.emitToBuffer())))
        }
    }
}
