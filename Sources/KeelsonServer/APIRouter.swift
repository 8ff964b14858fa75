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

    /// Whether a request path fits this route's path (`{name}` matches any one segment).
    func matches(path requestPath: String) -> Bool {
        let template = path.split(separator: "/", omittingEmptySubsequences: false)
        let segments = requestPath.split(separator: "/", omittingEmptySubsequences: false)
        guard template.count == segments.count else { return false }
        return zip(template, segments).allSatisfy { pattern, segment in
            pattern.hasPrefix("{") ? !segment.isEmpty : pattern == segment
        }
    }
}

/// Settings of the HTTP API.
public struct APISettings: Sendable {
    /// Request bodies larger than this get 413.
    public var maxBodyBytes = 4 * 1024 * 1024
    /// SSE streams send a comment this often when nothing happens, so proxies keep them open.
    public var keepAlive: Duration = .seconds(15)

    public init() {}
}

/// Builds the router: every route, who may call it, and how its answer is made. Each route is
/// declared once (method, path, role) and added to its role's group, whose middleware checks the
/// caller; the routes themselves are thin: they read checked parameters and call `ControlPlane`.
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
    typealias Call = RouteCall

    /// Collects the routes as they are registered (for the OpenAPI check and the auth matrix).
    final class Registry: @unchecked Sendable {
        var routes: [RouteSpec] = []
    }

    /// Every route of the API, in registration order.
    public static let routes: [RouteSpec] = {
        let registry = Registry()
        _ = Self.register(into: Router(context: Context.self), registry: registry, api: nil)
        return registry.routes
    }()

    public func makeRouter() -> Router<KeelsonRequestContext> {
        let router = Router(context: Context.self)
        router.add(middleware: JSONErrorMiddleware())
        WebUI.register(into: router)
        return Self.register(into: router, registry: Registry(), api: self)
    }

    // MARK: the routes

    private static func register(into router: Router<Context>, registry: Registry, api: APIRouter?) -> Router<Context> {
        // One group per role: the group's middleware authenticates the caller and checks the
        // role, so no handler does. Open routes are added to the router itself.
        var groups: [Role: RouterGroup<Context>] = [:]
        if let api {
            for role in Role.allCases {
                groups[role] = router.group()
                    .add(middleware: BearerTokenAuthenticator(control: api.control))
                    .add(middleware: RoleRequirement(role: role))
            }
        }

        /// Registers a route that makes its own response (metrics, the SSE stream, the OpenAPI
        /// document). `api` is nil when only listing the routes.
        func raw(
            _ method: HTTPRequest.Method, _ path: String, role: Role?,
            _ handler: @escaping @Sendable (APIRouter, Call) async throws -> Response
        ) {
            registry.routes.append(RouteSpec(method: method.rawValue, path: path, role: role))
            guard let api else { return }
            let respond: @Sendable (Request, Context) async throws -> Response = { request, context in
                try await handler(api, Call(request: request, context: context))
            }
            if let role {
                groups[role]!.on(RouterPath(path), method: method, use: respond)
            } else {
                router.on(RouterPath(path), method: method, use: respond)
            }
        }

        /// Registers a route answering JSON.
        func route<Output: Encodable & Sendable>(
            _ method: HTTPRequest.Method, _ path: String, role: Role?, status: HTTPResponse.Status = .ok,
            _ handler: @escaping @Sendable (APIRouter, Call) async throws -> Output
        ) {
            raw(method, path, role: role) { api, call in try APIJSON.response(try await handler(api, call), status: status) }
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
        route(.get, "/api/v1/whoami", role: .viewer) { _, call in
            guard let identity = call.identity else { throw APIError.unauthorized("this needs a bearer token") }
            return identity
        }

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
            var filter = StatusFilter()
            // An empty value (`status=`) filters nothing, as for every other parameter.
            filter.statuses = Set(try call.list("status") { $0.isEmpty ? .success($0) : StatusFilter.status($0) }.filter { !$0.isEmpty })
            filter.channel = try call.name(query: "channel", .channel)
            filter.limit = try call.checked("limit") { BoundedInput.integer($0, in: 1...10_000) }.map { Int($0) }
            filter.after = try call.checked("after") { text in
                ServiceInstanceID(text).map { .success($0.description) }
                    ?? .failure(InputProblem("expected an instance APPLICATION/SERVICE@CHANNEL (the `next` of the page before), found \(BoundedInput.quoted(text))"))
            }
            return try await api.control.status(
                scope: try call.scope().map(\.description), filter: filter, at: try call.time("at"), position: try call.position("position"))
        }
        route(.get, "/api/v1/instances/{application}/{service}/{channel}", role: .viewer) { api, call in
            try await api.control.instance(try call.instance(), at: try call.time("at"), position: try call.position("position"))
        }
        route(.get, "/api/v1/instances/{application}/{service}/{channel}/explain", role: .viewer) { api, call in
            try await api.control.explain(try call.instance(), at: try call.time("at"), position: try call.position("position"))
        }
        route(.get, "/api/v1/desired", role: .viewer) { api, call in
            try await api.control.desiredStates(scope: try call.requiredScope().description)
        }
        route(.get, "/api/v1/current", role: .viewer) { api, call in
            try await api.control.currentStates(scope: try call.requiredScope().description)
        }
        route(.post, "/api/v1/fetches", role: .deployer) { api, call in
            try await api.control.fetch(try await api.decode(FetchBody.self, call), actor: call.actor)
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
            query.stream = try call.checked("stream", QueryValue.stream)?.rawValue
            query.types = try call.list("type", QueryValue.eventType)
            query.limit = try call.limit(default: 1000)
            query.latest = try call.flag("latest")
            return try await api.control.events(query)
        }
        raw(.get, "/api/v1/events/stream", role: .viewer) { api, call in
            var after = try call.position("after") ?? 0
            if let header = call.request.headers[HTTPField.Name("Last-Event-ID")!] {
                switch BoundedInput.position(header.trimmingCharacters(in: .whitespaces)) {
                case .success(let position): after = position
                case .failure(let problem): throw APIError.badRequest("Last-Event-ID: \(problem.message)")
                }
            }
            var filter = EventFilter()
            filter.stream = try call.checked("stream", QueryValue.stream)
            filter.types = try call.list("type", QueryValue.eventType)
            return try await api.streams.response(after: after, filter: filter, control: api.control, keepAlive: api.settings.keepAlive)
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
                application: try call.name("application", .application), service: try call.name("service", .service),
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
        route(.get, "/api/v1/streams", role: .viewer) { api, call in
            try await api.control.streams(at: try call.time("at"), position: try call.position("position"))
        }
        route(.get, "/api/v1/runtimes", role: .viewer) { api, _ in try await api.control.runtimes() }
        route(.post, "/api/v1/runtimes/{name}/check", role: .admin) { api, call in
            try await api.control.checkRuntime(name: try call.name("name", .runtime))
        }

        // Tokens.
        route(.get, "/api/v1/tokens", role: .admin) { api, _ in try await api.control.tokens() }
        route(.post, "/api/v1/tokens", role: .admin, status: .created) { api, call in
            try await api.control.createToken(try await api.decode(TokenCreateBody.self, call), createdBy: call.actor)
        }
        route(.delete, "/api/v1/tokens/{name}", role: .admin) { api, call in
            try await api.control.revokeToken(name: try call.tokenName("name"), actor: call.actor)
        }
        return router
    }

    // MARK: helpers

    /// Reads and decodes a JSON body strictly (``StrictBodyDecoder``): 413 past the size limit,
    /// 400 naming the field that is unknown, `null`, missing or of the wrong type.
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
        return try Self.decodeBody(Body.self, Data(buffer: buffer))
    }

    /// Synchronous, and catching the decoder's typed error without a cast: Swift 6.3's ownership
    /// verifier crashes on `catch let problem as BodyProblem` inside the async `decode`.
    private static func decodeBody<Body: Decodable>(_: Body.Type, _ data: Data) throws(APIError) -> Body {
        do {
            return try StrictBodyDecoder.decode(Body.self, from: data)
        } catch {
            throw APIError.badRequest(error.path.isEmpty ? error.message : "body: \(error.description)")
        }
    }

    func timelineQuery(_ call: Call) throws -> TimelineQuery {
        var query = TimelineQuery()
        if let scope = try call.scope() {
            query = TimelineQuery(application: scope.application, service: scope.service, channel: scope.channel)
        } else {
            query = TimelineQuery(
                application: try call.name(query: "application", .application), service: try call.name(query: "service", .service),
                channel: try call.name(query: "channel", .channel))
            if query.application == nil && (query.service != nil || query.channel != nil) {
                throw APIError.badRequest("service and channel filters need application too")
            }
        }
        query.kinds = try call.list("kind") { text in
            guard let kind = TimelineEntry.Kind(rawValue: text) else {
                return .failure(InputProblem(
                    "unknown kind \(BoundedInput.quoted(text)); known: \(TimelineEntry.Kind.allCases.map(\.rawValue).joined(separator: ", "))"))
            }
            return .success(kind)
        }
        query.since = try call.time("since")
        query.until = try call.time("until")
        query.before = try call.position("before")
        query.limit = try call.limit(default: 100)
        return query
    }
}
