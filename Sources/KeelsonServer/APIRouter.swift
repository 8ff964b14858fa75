import Foundation
import HTTPTypes
import Hummingbird
import KeelsonCore
import KeelsonService
import KeelsonStore
import NIOCore

/// One route of the API: method, path (OpenAPI's `{name}` form) and the role it needs (nil: none).
public struct RouteSpec: Sendable, Hashable, CustomStringConvertible {
    public var method: String
    public var path: String
    public var role: Role?

    public var description: String { "\(method) \(path)" }
}

/// Settings of the HTTP API.
public struct APISettings: Sendable {
    /// Request bodies larger than this get 413.
    public var maxBodyBytes = 4 * 1024 * 1024
    /// SSE streams send a comment this often when nothing happens, so proxies keep them open.
    public var keepAlive: Duration = .seconds(15)

    public init() {}
}

/// Builds the router: every route, who may call it, and how its answer is made. The routes are
/// thin: they read the request, check the caller's role, and call `ControlPlane`.
public struct APIRouter: Sendable {
    public let control: ControlPlane
    public let settings: APISettings
    public let metrics: ServerMetrics
    public let streams: EventStreams
    /// Whether the worker has caught up with the log (`/readyz`).
    public let readiness: Readiness

    public init(control: ControlPlane, settings: APISettings = APISettings(), metrics: ServerMetrics, streams: EventStreams, readiness: Readiness) {
        self.control = control
        self.settings = settings
        self.metrics = metrics
        self.streams = streams
        self.readiness = readiness
    }

    typealias Context = KeelsonRequestContext

    /// A route's inputs: the request, its path parameters, and the caller (nil on open routes).
    struct Call: Sendable {
        var request: Request
        var context: Context
        var identity: Identity?

        /// The actor recorded on events: the token's name.
        var actor: String { identity?.actor ?? "anonymous" }

        func parameter(_ name: String) throws -> String {
            guard let value = context.parameters.get(name) else { throw APIError.badRequest("missing path parameter \(name)") }
            return value
        }

        func query(_ name: String) -> String? {
            request.uri.queryParameters[Substring(name)].map(String.init)
        }

        func queryAll(_ name: String) -> [String] {
            request.uri.queryParameters[values: Substring(name)].flatMap { $0.split(separator: ",").map(String.init) }
        }

        /// A query parameter through one of `BoundedInput`'s checked parsers: 400 naming the
        /// parameter when it is out of range or malformed.
        func checked<Value>(_ name: String, _ parse: (String) -> Result<Value, InputProblem>) throws -> Value? {
            guard let text = query(name) else { return nil }
            switch parse(text) {
            case .success(let value): return value
            case .failure(let problem): throw APIError.badRequest("\(name): \(problem.message)")
            }
        }

        /// A log position (0 to 2^53 − 1).
        func position(_ name: String) throws -> Int64? { try checked(name, BoundedInput.position) }

        /// A page size, 1 to 10,000.
        func limit(_ name: String = "limit", default fallback: Int) throws -> Int {
            Int(try checked(name) { BoundedInput.integer($0, in: 1...10_000) } ?? Int64(fallback))
        }

        /// A time: an age or an ISO 8601 time, as a date.
        func time(_ name: String) throws -> Date? {
            try checked(name, PointInTime.parse).map { $0.date(relativeTo: Date()) }
        }

        func instance() throws -> ServiceInstanceID {
            ServiceInstanceID(application: try parameter("application"), service: try parameter("service"), channel: try parameter("channel"))
        }
    }

    /// Collects the routes as they are registered (for the OpenAPI check and the auth matrix).
    final class Registry: @unchecked Sendable {
        var routes: [RouteSpec] = []
    }

    /// Every route of the API, in registration order.
    public static var routes: [RouteSpec] {
        let registry = Registry()
        _ = Self.register(into: Router(context: Context.self), registry: registry, api: nil)
        return registry.routes
    }

    public func makeRouter() -> Router<KeelsonRequestContext> {
        let router = Router(context: Context.self)
        router.add(middleware: JSONErrorMiddleware())
        return Self.register(into: router, registry: Registry(), api: self)
    }

    // MARK: the routes

    private static func register(into router: Router<Context>, registry: Registry, api: APIRouter?) -> Router<Context> {
        /// Registers a route answering JSON. `api` is nil when only listing the routes.
        func route<Output: Encodable & Sendable>(
            _ method: HTTPRequest.Method, _ path: String, role: Role?, status: HTTPResponse.Status = .ok,
            _ handler: @escaping @Sendable (APIRouter, Call) async throws -> Output
        ) {
            registry.routes.append(RouteSpec(method: method.rawValue, path: path, role: role))
            guard let api else { return }
            router.on(RouterPath(path), method: method) { request, context in
                let identity = try await api.authenticate(request, needs: role)
                let output = try await handler(api, Call(request: request, context: context, identity: identity))
                return try APIJSON.response(output, status: status)
            }
        }

        /// Registers a route that makes its own response (metrics, the SSE stream, the OpenAPI document).
        func raw(
            _ method: HTTPRequest.Method, _ path: String, role: Role?,
            _ handler: @escaping @Sendable (APIRouter, Call) async throws -> Response
        ) {
            registry.routes.append(RouteSpec(method: method.rawValue, path: path, role: role))
            guard let api else { return }
            router.on(RouterPath(path), method: method) { request, context in
                let identity = try await api.authenticate(request, needs: role)
                return try await handler(api, Call(request: request, context: context, identity: identity))
            }
        }

        struct Health: Codable, Sendable { var status: String; var position: Int64? }

        // Operations.
        route(.get, "/healthz", role: nil) { api, _ in
            Health(status: "ok", position: try await api.control.store.lastPosition())
        }
        raw(.get, "/readyz", role: nil) { api, _ in
            let ready = await api.readiness.isReady
            return try APIJSON.response(Health(status: ready ? "ready" : "starting", position: nil), status: ready ? .ok : .serviceUnavailable)
        }
        raw(.get, "/metrics", role: nil) { api, _ in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            let text = try await api.metrics.render(store: api.control.store)
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        raw(.get, "/api/v1/openapi.json", role: nil) { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "application/json; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: OpenAPIDocument.bytes)))
        }
        route(.get, "/api/v1/whoami", role: .viewer) { _, call in call.identity! }

        // Config and releases.
        route(.post, "/api/v1/config", role: .admin) { api, call in
            let body = try await api.decode(ApplyConfigRequest.self, call)
            return try await api.control.applyConfig(body, actor: call.actor)
        }
        route(.post, "/api/v1/releases", role: .deployer) { api, call in
            let body = try await api.decode(ReleaseBody.self, call)
            return try await api.control.release(body, actor: call.actor)
        }

        // Reading.
        route(.get, "/api/v1/status", role: .viewer) { api, call in
            try await api.control.status(scope: call.query("scope"))
        }
        route(.get, "/api/v1/instances/{application}/{service}/{channel}", role: .viewer) { api, call in
            try await api.control.instance(try call.instance(), at: try call.time("at"), position: try call.position("position"))
        }
        route(.get, "/api/v1/instances/{application}/{service}/{channel}/explain", role: .viewer) { api, call in
            try await api.control.explain(try call.instance(), at: try call.time("at"), position: try call.position("position"))
        }
        route(.get, "/api/v1/timeline", role: .viewer) { api, call in
            try await api.control.timeline(try api.timelineQuery(call))
        }
        route(.get, "/api/v1/events", role: .viewer) { api, call in
            var query = EventsQuery()
            query.after = try call.position("after") ?? 0
            query.to = try call.position("to")
            query.since = try call.time("since")
            query.until = try call.time("until")
            query.stream = call.query("stream")
            query.types = call.queryAll("type")
            query.limit = try call.limit(default: 1000)
            query.latest = call.query("latest") == "true"
            return try await api.control.events(query)
        }
        raw(.get, "/api/v1/events/stream", role: .viewer) { api, call in
            try await api.streams.response(for: call.request, control: api.control, keepAlive: api.settings.keepAlive)
        }

        // Signals.
        route(.post, "/api/v1/instances/{application}/{service}/{channel}/approve", role: .deployer) { api, call in
            try await api.control.approve(try call.instance(), try await api.decode(ApproveBody.self, call, empty: ApproveBody()), actor: call.actor)
        }
        route(.post, "/api/v1/instances/{application}/{service}/{channel}/reject", role: .deployer) { api, call in
            try await api.control.reject(try call.instance(), try await api.decode(ReasonBody.self, call, empty: ReasonBody()), actor: call.actor)
        }
        route(.post, "/api/v1/instances/{application}/{service}/{channel}/rollback", role: .deployer) { api, call in
            try await api.control.rollback(try call.instance(), try await api.decode(ReasonBody.self, call, empty: ReasonBody()), actor: call.actor)
        }
        route(.post, "/api/v1/services/{application}/{service}/mark-bad", role: .deployer) { api, call in
            try await api.control.markBad(
                application: try call.parameter("application"), service: try call.parameter("service"),
                try await api.decode(ReasonBody.self, call), actor: call.actor)
        }
        route(.post, "/api/v1/pause", role: .deployer) { api, call in
            try await api.control.pause(try await api.decode(ScopeBody.self, call), actor: call.actor)
        }
        route(.post, "/api/v1/resume", role: .deployer) { api, call in
            try await api.control.resume(try await api.decode(ScopeBody.self, call), actor: call.actor)
        }
        route(.post, "/api/v1/alerts", role: .deployer) { api, call in
            try await api.control.alert(try await api.decode(AlertBody.self, call), actor: call.actor)
        }
        route(.post, "/api/v1/alertmanager", role: .deployer) { api, call in
            try await api.control.alertmanager(try await api.decode(AlertmanagerWebhook.self, call), actor: call.actor)
        }

        // Runtimes.
        route(.get, "/api/v1/runtimes", role: .viewer) { api, _ in try await api.control.runtimes() }
        route(.post, "/api/v1/runtimes/{name}/check", role: .admin) { api, call in
            try await api.control.checkRuntime(name: try call.parameter("name"))
        }

        // Tokens.
        route(.get, "/api/v1/tokens", role: .admin) { api, _ in try await api.control.tokens() }
        route(.post, "/api/v1/tokens", role: .admin, status: .created) { api, call in
            try await api.control.createToken(try await api.decode(TokenCreateBody.self, call), createdBy: call.actor)
        }
        route(.delete, "/api/v1/tokens/{name}", role: .admin) { api, call in
            try await api.control.revokeToken(name: try call.parameter("name"))
        }
        return router
    }

    // MARK: helpers

    /// The caller, checked against the role the route needs: 401 without a valid token, 403 when
    /// the token's role is not enough.
    func authenticate(_ request: Request, needs role: Role?) async throws -> Identity? {
        guard let role else { return nil }
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
        guard identity.role >= role else {
            throw APIError.forbidden("token '\(identity.name)' has role \(identity.role.rawValue); this needs \(role.rawValue) or more")
        }
        return identity
    }

    /// Reads and decodes a JSON body: 413 past the size limit, 400 naming what is wrong.
    func decode<Body: Decodable>(_ type: Body.Type, _ call: Call, empty: Body? = nil) async throws -> Body {
        if let length = call.request.headers[.contentLength].flatMap(Int.init), length > settings.maxBodyBytes {
            throw APIError.tooLarge(settings.maxBodyBytes)
        }
        let buffer: ByteBuffer
        do {
            buffer = try await call.request.body.collect(upTo: settings.maxBodyBytes)
        } catch is NIOTooManyBytesError {
            throw APIError.tooLarge(settings.maxBodyBytes)
        }
        if buffer.readableBytes == 0, let empty { return empty }
        guard buffer.readableBytes > 0 else { throw APIError.badRequest("the request needs a JSON body") }
        let data = Data(buffer: buffer)
        do {
            if let strict = Body.self as? any StrictBody.Type,
               case .object(let object) = try JSONDecoder().decode(JSONValue.self, from: data) {
                let unknown = Set(object.keys).subtracting(strict.fields).sorted()
                if let first = unknown.first {
                    throw APIError.badRequest(
                        "unknown field '\(first)' in the body (known: \(strict.fields.sorted().joined(separator: ", ")))")
                }
            }
            return try JSONDecoder().decode(Body.self, from: data)
        } catch let error as DecodingError {
            throw APIError.badRequest("malformed JSON body: \(Self.describe(error))")
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            let text = keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return text.isEmpty ? "the body" : String(text.drop { $0 == "." })
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "\(path(context.codingPath + [key])): required, missing"
        case .typeMismatch(let type, let context):
            return "\(path(context.codingPath)): expected \(type)"
        case .valueNotFound(let type, let context):
            return "\(path(context.codingPath)): expected \(type), found null"
        case .dataCorrupted(let context):
            let underlying = (context.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String
            return "\(path(context.codingPath)): \(underlying ?? context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }

    func timelineQuery(_ call: Call) throws -> TimelineQuery {
        var query = TimelineQuery()
        if let scope = call.query("scope") {
            let parsed = try ControlPlane.scope(scope)
            query = TimelineQuery(application: parsed.application, service: parsed.service, channel: parsed.channel)
        } else {
            query = TimelineQuery(application: call.query("application"), service: call.query("service"), channel: call.query("channel"))
            if query.application == nil && (query.service != nil || query.channel != nil) {
                throw APIError.badRequest("service and channel filters need application too")
            }
        }
        query.kinds = try call.queryAll("kind").map { text in
            guard let kind = TimelineEntry.Kind(rawValue: text) else {
                throw APIError.badRequest("kind: unknown kind '\(text)'; known: \(TimelineEntry.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return kind
        }
        query.since = try call.time("since")
        query.until = try call.time("until")
        query.before = try call.position("before")
        query.limit = try call.limit(default: 100)
        return query
    }
}
