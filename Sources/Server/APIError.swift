import Foundation
import HTTPTypes
import Hummingbird
import Imaging
import Queue
import Retrieval

/// An error as the API reports it: a status, a stable code and a message that says what to do, as
/// `{"error": {"code", "message"}}`. Library errors are mapped here, in one place, not per route.
public struct APIError: Error, HTTPResponseError, Equatable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String

    public init(_ status: HTTPResponse.Status, code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    static func badRequest(_ message: String) -> APIError { APIError(.badRequest, code: "bad_request", message) }
    static func notFound(_ message: String) -> APIError { APIError(.notFound, code: "not_found", message) }
    static func unprocessable(_ message: String) -> APIError { APIError(.unprocessableContent, code: "unprocessable", message) }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = try JSONResponse.make(Body(error: .init(code: code, message: message)), status: status)
        if status == .unauthorized { response.headers[.wwwAuthenticate] = "Bearer" }
        return response
    }

    private struct Body: Encodable {
        var error: Detail
        struct Detail: Encodable {
            var code: String
            var message: String
        }
    }

    /// What any error thrown while answering becomes.
    static func from(_ error: Error) -> APIError {
        switch error {
        case let error as APIError:
            return error
        case let error as RetrievalError:
            return from(error)
        case let error as ImageError:
            return .unprocessable("the image cannot be used: \(error)")
        case let error as QueueError:
            switch error {
            case .invalidArgument: return .badRequest("\(error)")
            case .busy: return APIError(.serviceUnavailable, code: "unavailable", "\(error)")
            default: return APIError(.internalServerError, code: "internal", "the store failed: \(error)")
            }
        case let error as DecodingError:
            return .badRequest("the request body is not what this route takes: \(describe(error))")
        case let error as HTTPResponseError:
            return APIError(error.status, code: code(for: error.status), message(for: error.status))
        default:
            return APIError(.internalServerError, code: "internal", "an internal error occurred: \(error)")
        }
    }

    private static func from(_ error: RetrievalError) -> APIError {
        switch error {
        case .noEmbeddings, .noEmbedding, .noIndex: return .notFound("\(error)")
        case .severalModels, .unknownModel, .invalidRequest: return .badRequest("\(error)")
        case .modelMismatch, .badQueryVector, .dimensionMismatch, .badURL: return .unprocessable("\(error)")
        case .modelRequired: return APIError(.serviceUnavailable, code: "not_ready", "\(error); start the server with --model")
        // The client's URL did not deliver an image: its request cannot be answered, and the server is fine.
        case .fetchFailed: return APIError(.unprocessableContent, code: "fetch_failed", "\(error)")
        case .cannotWrite, .inconsistentEmbeddings: return APIError(.internalServerError, code: "internal", "\(error)")
        }
    }

    private static func code(for status: HTTPResponse.Status) -> String {
        switch status.code {
        case 400: return "bad_request"
        case 401: return "unauthorized"
        case 404: return "not_found"
        case 405: return "method_not_allowed"
        case 413: return "too_large"
        case 415: return "unsupported_media_type"
        case 422: return "unprocessable"
        case 503: return "unavailable"
        case 500...: return "internal"
        default: return "error"
        }
    }

    private static func message(for status: HTTPResponse.Status) -> String {
        switch status.code {
        case 404: return "no such route; /openapi.yaml lists them"
        case 405: return "this route does not take that method; /openapi.yaml lists them"
        case 413: return "the request body is over this server's limit"
        default: return status.reasonPhrase
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        switch error {
        case let .typeMismatch(_, context), let .valueNotFound(_, context), let .keyNotFound(_, context), let .dataCorrupted(context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? context.debugDescription : "\(path): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }
}

/// JSON responses in the shape of the command line's --json output.
enum JSONResponse {
    static func make(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        make(bytes: try JSONReport.encoder().encode(value), status: status)
    }

    /// A body already written (`JSONWriter`).
    static func make(bytes: some Sequence<UInt8>, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
