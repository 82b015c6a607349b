import Digests
import Hummingbird

/// Stored images' thumbnails, cacheable: an ETag of their bytes answers If-None-Match with 304.
struct ImageRoutes {
    let services: APIServices

    func add(to router: Router<BasicRequestContext>) {
        router.get("/v1/images/:image/thumbnail") { [services] request, context in
            let id = try jobID(context.parameters.get("image"), name: "image")
            guard let thumbnail = try await services.store.thumbnail(imageID: id) else {
                throw APIError.notFound("image \(id) has no stored thumbnail")
            }
            let tag = "\"" + SHA256.hex(thumbnail).prefix(32) + "\""
            var headers: HTTPFields = [.eTag: tag, .cacheControl: "private, max-age=3600"]
            if request.headers[.ifNoneMatch] == tag { return Response(status: .notModified, headers: headers) }
            headers[.contentType] = "image/jpeg"
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: thumbnail)))
        }
    }
}
