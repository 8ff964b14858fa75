import Foundation
import HTTPTypes
import Hummingbird
import KeelsonCore
import KeelsonService
import NIOCore

/// The context of one request: Hummingbird's core storage, and the caller once the route group's
/// ``BearerTokenAuthenticator`` has read its token.
public struct KeelsonRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var identity: Identity?

    public init(source: Source) {
        self.coreContext = .init(source: source)
    }
}

/// JSON the way Keelson writes it: sorted keys, no escaped slashes.
enum APIJSON {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static func response(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try encoder.encode(value)
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func errorResponse(_ error: APIError) -> Response {
        var response = (try? response(APIErrorBody(error: error), status: .init(code: error.status)))
            ?? Response(status: .internalServerError)
        if error.status == 401 { response.headers[.wwwAuthenticate] = "Bearer realm=\"keelson\"" }
        return response
    }
}

/// Turns every error a route throws into a JSON error body with the right status: the API never
/// answers with an HTML page or an empty 500.
struct JSONErrorMiddleware: RouterMiddleware {
    typealias Context = KeelsonRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let apiError = Self.apiError(for: error, request: request)
            if apiError.status >= 500 {
                context.logger.error("request failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            }
            var response = JSONAPIError(error: apiError).response
            if apiError.status == 405 { response.headers[.allow] = Self.allowedMethods(request.uri.path).joined(separator: ", ") }
            return response
        }
    }

    /// The methods the API's routes answer on `path` (empty: no route has this path).
    static func allowedMethods(_ path: String) -> [String] {
        APIRouter.routes.filter { $0.matches(path: path) }.map(\.method)
    }

    static func apiError(for error: any Error, request: Request) -> APIError {
        let path = BoundedInput.printable(request.uri.path, limit: 200)
        switch error {
        case let error as APIError:
            return error
        case let error as HTTPError:
            switch error.status {
            case .notFound:
                // The router answers 404 for a known path with another method: that is a 405.
                let allowed = allowedMethods(request.uri.path)
                if !allowed.isEmpty {
                    return APIError(
                        status: 405, code: "method_not_allowed",
                        message: "\(request.method) is not allowed on \(path) (allowed: \(allowed.joined(separator: ", ")))")
                }
                return .notFound("no route \(request.method) \(path) (the API is described at /api/v1/openapi.json)")
            case .methodNotAllowed:
                return APIError(status: 405, code: "method_not_allowed", message: "\(request.method) is not allowed on \(path)")
            case .contentTooLarge:
                return APIError(status: 413, code: "payload_too_large", message: error.body ?? "the request body is too large")
            default:
                return APIError(status: error.status.code, code: "http_\(error.status.code)", message: error.body ?? error.status.reasonPhrase)
            }
        case is NIOTooManyBytesError:
            return APIError(status: 413, code: "payload_too_large", message: "the request body is larger than the server accepts")
        default:
            return APIError(status: 500, code: "internal", message: "internal error: \(BoundedInput.printable("\(error)", limit: 500))")
        }
    }
}

/// An `APIError` as a response.
struct JSONAPIError {
    var error: APIError
    var response: Response { APIJSON.errorResponse(error) }
}
