import HTTPTypes
import Hummingbird
import KeelsonService

/// Reads the bearer token of a request and puts the caller it stands for in the context, as
/// hummingbird-auth's authenticators do. Every route group that needs a role starts with it.
/// A request without a usable token is refused here with 401, saying why.
struct BearerTokenAuthenticator: RouterMiddleware {
    typealias Context = KeelsonRequestContext
    let control: ControlPlane

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization] else {
            throw APIError.unauthorized("this needs a bearer token: send 'Authorization: Bearer <token>' (`keelson token create` makes one)")
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw APIError.unauthorized("the Authorization header must be 'Bearer <token>'")
        }
        guard let identity = try await control.authenticate(token: String(parts[1]).trimmingCharacters(in: .whitespaces)) else {
            throw APIError.unauthorized("unknown or revoked token")
        }
        var context = context
        context.identity = identity
        return try await next(request, context)
    }
}

/// Lets a request through only when its caller's role is `role` or higher (403 otherwise). One
/// per route group: viewer, deployer, admin.
struct RoleRequirement: RouterMiddleware {
    typealias Context = KeelsonRequestContext
    let role: Role

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let identity = context.identity else {
            throw APIError.unauthorized("this needs a bearer token: send 'Authorization: Bearer <token>'")
        }
        guard identity.role >= role else {
            throw APIError.forbidden("token '\(identity.name)' has role \(identity.role.rawValue); this needs \(role.rawValue) or more")
        }
        return try await next(request, context)
    }
}
