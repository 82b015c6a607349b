import Hummingbird
import Logging

/// Turns every error a route throws (and the router's own: unknown route, body too large) into the API's
/// JSON error, and logs the ones that are the server's fault.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPResponseError where !(error is APIError) && error.status == .notFound {
            // The router found no route: a known path asked with another method is 405, with what it takes.
            if let methods = APIServer.methods(forPath: request.uri.path) {
                var response = try APIError(
                    .methodNotAllowed, code: "method_not_allowed", "\(request.uri.path) takes \(methods.joined(separator: ", "))"
                ).response(from: request, context: context)
                response.headers[.allow] = methods.joined(separator: ", ")
                return response
            }
            return try APIError.from(error).response(from: request, context: context)
        } catch {
            let failure = APIError.from(error)
            if failure.status.code >= 500 {
                context.logger.error("request failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            }
            return try failure.response(from: request, context: context)
        }
    }
}
