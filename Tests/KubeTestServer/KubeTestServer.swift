import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import KeelsonCore
import NIOCore

/// A **test** Kubernetes API server — not Kubernetes: a fake that speaks the API's HTTP protocol
/// (discovery, GET, LIST with label selectors, server-side apply with field managers and
/// conflicts, merge patches as kubectl edit/scale/patch send them, DELETE, `dryRun=All`,
/// `SelfSubjectAccessReview`) over a ``FakeCluster``, on 127.0.0.1. It exists because no
/// Kubernetes API server can be installed where Keelson is built and tested.
public final class KubeTestServer: Sendable {
    public let cluster: FakeCluster
    public let url: String
    /// The bearer token every request must carry (nil: none needed).
    public let token: String?
    private let task: Task<Void, any Error>

    /// Starts a server on a free port of 127.0.0.1; `tickEvery` runs the scripted controller
    /// (nil: only when a test calls `cluster.tick()`).
    public static func start(token: String? = nil, tickEvery: Duration? = .milliseconds(200)) async throws -> KubeTestServer {
        let cluster = FakeCluster()
        let router = Router()
        let handler = Handler(cluster: cluster, token: token)
        for method in [HTTPRequest.Method.get, .post, .patch, .put, .delete] {
            router.on("/**", method: method) { request, _ in try await handler.respond(request) }
        }
        let started = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router, configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0), serverName: "kube-test-server"),
            onServerRunning: { channel in
                started.continuation.yield(channel.localAddress?.port ?? 0)
                started.continuation.finish()
            })
        let task = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await app.runService() }
                if let tickEvery {
                    group.addTask {
                        while !Task.isCancelled {
                            try await Task.sleep(for: tickEvery)
                            await cluster.tick()
                        }
                    }
                }
                try await group.next()
                group.cancelAll()
            }
        }
        var port = 0
        for await value in started.stream { port = value }
        guard port > 0 else {
            task.cancel()
            throw CancellationError()
        }
        return KubeTestServer(cluster: cluster, url: "http://127.0.0.1:\(port)", token: token, task: task)
    }

    private init(cluster: FakeCluster, url: String, token: String?, task: Task<Void, any Error>) {
        self.cluster = cluster
        self.url = url
        self.token = token
        self.task = task
    }

    public func stop() async {
        task.cancel()
        _ = try? await task.value
    }

    /// A kubeconfig for this server (`http`, with the token when one is needed).
    public func kubeconfig(namespace: String = "default") -> String {
        """
        apiVersion: v1
        kind: Config
        current-context: test
        clusters:
          - name: test
            cluster: {server: "\(url)"}
        users:
          - name: tester
            user: {\(token.map { "token: \"\($0)\"" } ?? "")}
        contexts:
          - name: test
            context: {cluster: test, user: tester, namespace: \(namespace)}
        """
    }
}

/// Turns requests into ``FakeCluster`` calls.
struct Handler: Sendable {
    let cluster: FakeCluster
    let token: String?
    static let maxBody = 8 << 20

    func respond(_ request: Request) async throws -> Response {
        let path = request.uri.path
        let query = request.uri.queryParameters
        let contentType = request.headers[.contentType]
        let body = try await request.body.collect(upTo: Self.maxBody)
        let text = String(decoding: body.readableBytesView, as: UTF8.self)
        await cluster.record("\(request.method.rawValue) \(request.uri.description)", contentType: contentType, body: text)
        if let token, request.headers[.authorization] != "Bearer \(token)" {
            return Self.json(cluster.failure(401, "Unauthorized", "Unauthorized"))
        }
        let delay = await cluster.delay(for: path)
        if delay > .zero { try await Task.sleep(for: delay) }
        if let raw = await cluster.rawAnswer(for: path) {
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: raw)))
        }
        let answer = await route(request.method, path: path, query: query, contentType: contentType, body: text)
        await cluster.recordAnswer("\(request.method.rawValue) \(request.uri.description)", answer)
        return Self.json(answer)
    }

    func route(_ method: HTTPRequest.Method, path: String, query: FlatDictionary<Substring, Substring>, contentType: String?, body: String) async -> FakeCluster.Answer {
        let segments = path.split(separator: "/").map(String.init)
        let ok = { (value: JSONValue) in FakeCluster.Answer(status: 200, body: value) }
        switch segments {
        case ["version"]:
            return ok(.object(["major": .string("1"), "minor": .string("31"), "gitVersion": .string("v1.31.0-keelson-test"), "platform": .string("linux/amd64")]))
        case ["api"]:
            return ok(.object(["kind": .string("APIVersions"), "versions": .array([.string("v1")]), "serverAddressByClientCIDRs": .array([])]))
        case ["apis"]:
            return ok(Self.groupList)
        default: break
        }
        // /api/v1/… or /apis/GROUP/VERSION/…
        let group: String
        let version: String
        var rest: [String]
        if segments.first == "api", segments.count >= 2 {
            (group, version, rest) = ("", segments[1], Array(segments.dropFirst(2)))
        } else if segments.first == "apis", segments.count >= 3 {
            (group, version, rest) = (segments[1], segments[2], Array(segments.dropFirst(3)))
        } else {
            return cluster.failure(404, "NotFound", "the server could not find the requested resource")
        }
        if rest.isEmpty { return Self.resourceList(group: group, version: version).map(ok) ?? (cluster.failure(404, "NotFound", "no \(group)/\(version)")) }
        if group == "authorization.k8s.io", rest == ["selfsubjectaccessreviews"], method == .post {
            return await cluster.accessReview(Self.decode(body) ?? .null)
        }
        var namespace: String?
        if rest.count >= 3, rest[0] == "namespaces" {
            namespace = rest[1]
            rest = Array(rest.dropFirst(2))
        }
        guard let kind = FakeCluster.kinds.first(where: { $0.group == group && $0.version == version && $0.resource == rest[0] }) else {
            return cluster.failure(404, "NotFound", "the server could not find the requested resource")
        }
        let name = rest.count > 1 ? rest[1] : nil
        let subresource = rest.count > 2 ? rest[2] : nil
        let dryRun = query["dryRun"] == "All"
        switch (method, name) {
        case (.get, nil):
            return await cluster.list(kind, namespace: namespace, selector: query["labelSelector"].map { String($0).removingPercentEncoding ?? String($0) })
        case (.get, let name?):
            return await cluster.get(kind, namespace: namespace, name: name)
        case (.patch, let name?):
            guard let patch = Self.decode(body) else { return cluster.failure(400, "BadRequest", "the body is not JSON") }
            switch contentType?.split(separator: ";").first.map(String.init) {
            case "application/apply-patch+yaml":
                return await cluster.apply(
                    kind, namespace: namespace, name: name, body: patch, manager: query["fieldManager"].map { String($0).removingPercentEncoding ?? String($0) },
                    force: query["force"] == "true", dryRun: dryRun)
            case "application/merge-patch+json", "application/strategic-merge-patch+json":
                return await cluster.patch(
                    kind, namespace: namespace, name: name, subresource: subresource, body: patch, manager: query["fieldManager"].map { String($0).removingPercentEncoding ?? String($0) },
                    dryRun: dryRun)
            default:
                return cluster.failure(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml")
            }
        case (.delete, let name?):
            return await cluster.delete(kind, namespace: namespace, name: name, dryRun: dryRun)
        default:
            return cluster.failure(405, "MethodNotAllowed", "the test API server does not serve \(method.rawValue) here")
        }
    }

    static func decode(_ text: String) -> JSONValue? {
        try? PayloadDecoder().decode(JSONValue.self, from: text)
    }

    static func json(_ answer: FakeCluster.Answer) -> Response {
        let data = (try? CanonicalJSON.data(answer.body)) ?? Data("{}".utf8)
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: HTTPResponse.Status(code: answer.status), headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    static var groupList: JSONValue {
        let groups = Set(FakeCluster.kinds.map(\.group)).subtracting([""]).union(["authorization.k8s.io"]).sorted()
        return .object([
            "kind": .string("APIGroupList"), "apiVersion": .string("v1"),
            "groups": .array(groups.map { group in
                let version: JSONValue = .object(["groupVersion": .string("\(group)/v1"), "version": .string("v1")])
                return .object(["name": .string(group), "versions": .array([version]), "preferredVersion": version])
            }),
        ])
    }

    static func resourceList(group: String, version: String) -> JSONValue? {
        let verbs: JSONValue = .array(["create", "delete", "get", "list", "patch", "update", "watch"].map(JSONValue.string))
        var resources: [JSONValue] = []
        for kind in FakeCluster.kinds where kind.group == group && kind.version == version {
            resources.append(.object([
                "name": .string(kind.resource), "singularName": .string(kind.kind.lowercased()), "namespaced": .bool(kind.namespaced),
                "kind": .string(kind.kind), "verbs": verbs,
            ]))
            for sub in kind.subresources {
                resources.append(.object([
                    "name": .string("\(kind.resource)/\(sub)"), "singularName": .string(""), "namespaced": .bool(kind.namespaced),
                    "kind": .string(sub == "scale" ? "Scale" : kind.kind), "verbs": .array(["get", "patch", "update"].map(JSONValue.string)),
                ]))
            }
        }
        if group == "authorization.k8s.io" {
            resources.append(.object([
                "name": .string("selfsubjectaccessreviews"), "singularName": .string("selfsubjectaccessreview"), "namespaced": .bool(false),
                "kind": .string("SelfSubjectAccessReview"), "verbs": .array([.string("create")]),
            ]))
        }
        guard !resources.isEmpty, version == "v1" else { return nil }
        return .object(["kind": .string("APIResourceList"), "apiVersion": .string("v1"), "groupVersion": .string(group.isEmpty ? version : "\(group)/\(version)"), "resources": .array(resources)])
    }
}
