import AsyncHTTPClient
import Foundation
import KeelsonCore
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization

/// A resource of the API, as discovery describes it: what a kind is called in URLs and whether
/// its objects live in a namespace.
public struct KubeResource: Sendable, Hashable {
    /// "" for the core group.
    public var group: String
    public var version: String
    public var kind: String
    /// The plural name in URLs (`deployments`).
    public var name: String
    public var namespaced: Bool

    /// `apps/v1`, or `v1` for the core group.
    public var apiVersion: String { group.isEmpty ? version : "\(group)/\(version)" }

    /// The URL path of the collection (in `namespace` when namespaced), or of one object.
    public func path(namespace: String?, name object: String? = nil) -> String {
        var path = group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)"
        if namespaced, let namespace { path += "/namespaces/\(KubeClient.segment(namespace))" }
        path += "/\(name)"
        if let object { path += "/\(KubeClient.segment(object))" }
        return path
    }
}

/// An answer of the API server that is not a success: its `Status` (reason, message, the
/// fields a conflict or an invalid object names), or what came instead.
public struct KubeAPIError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Cause: Sendable, Hashable, Codable {
        public var reason: String?
        public var message: String?
        public var field: String?
    }

    /// The HTTP status code.
    public var code: Int
    /// `NotFound`, `Conflict`, `Forbidden`, `Invalid`…; empty when the server sent no `Status`.
    public var reason: String
    public var message: String
    public var causes: [Cause]
    /// The request, for messages: `PATCH /apis/apps/v1/namespaces/shop/deployments/web`.
    public var request: String

    public var description: String {
        let named = causes.compactMap { cause in cause.field.map { "\($0)\(cause.message.map { ": \($0)" } ?? "")" } ?? cause.message }
        return "\(request): \(code)\(reason.isEmpty ? "" : " \(reason)"): \(message)"
            + (named.isEmpty || message.contains(named[0]) ? "" : " (\(named.joined(separator: "; ")))")
    }
}

/// A transport failure: the server could not be reached, or its TLS identity not verified.
public struct KubeTransportError: Error, Sendable, CustomStringConvertible {
    public var server: String
    public var reason: String
    public var description: String { "cannot reach the Kubernetes API server \(server): \(reason)" }
}

/// A small client of the Kubernetes API on AsyncHTTPClient (no kubectl): discovery, GET, LIST
/// with label selectors, server-side apply (and its dry run), DELETE, `/version` and access
/// reviews. Credentials are the ``KubeConnection``'s: a bearer token (or token file, re-read at
/// each request), basic auth, client certificates, or an exec plugin's credential, refreshed at
/// expiry and after a 401.
public final class KubeClient: Sendable {
    public let connection: KubeConnection
    /// How long one request may take.
    public let timeout: Duration
    /// The largest answer read (a LIST of a big namespace is paged well below this).
    public static let maxResponseBytes = 64 << 20
    /// The objects a LIST asks for per page.
    public static let pageSize = 500

    private let exec: ExecCredentials?
    private let discovered = Mutex<[String: [String: KubeResource]]>([:])

    public init(_ connection: KubeConnection, timeout: Duration = .seconds(30)) throws {
        self.connection = connection
        self.timeout = timeout
        if case .exec(let config) = connection.authentication { exec = ExecCredentials(config) } else { exec = nil }
        // Build the TLS settings now: a CA bundle or key that does not parse is an error at once.
        _ = try Self.httpClient(for: TLSIdentity(connection: connection, credential: nil))
    }

    // MARK: operations

    /// `GET /version`: the server's `gitVersion` (`v1.31.2`).
    public func serverVersion() async throws -> String {
        let answer = try await send(.GET, "/version")
        guard case .object(let version) = answer, case .string(let git)? = version["gitVersion"] else { return "unknown" }
        return git
    }

    /// The resource `kind` of `apiVersion` is served as, from discovery (cached per group version).
    public func resource(apiVersion: String, kind: String) async throws -> KubeResource {
        if let known = discovered.withLock({ $0[apiVersion]?[kind] }) { return known }
        let parts = apiVersion.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard (1...2).contains(parts.count), parts.allSatisfy({ !$0.isEmpty && Self.isPathSafe($0) }) else {
            throw KubeAPIError(code: 0, reason: "", message: "\(BoundedInput.quoted(apiVersion)) is not an apiVersion", causes: [], request: "discovery")
        }
        let group = parts.count == 2 ? parts[0] : ""
        let version = parts.count == 2 ? parts[1] : parts[0]
        let answer: JSONValue
        do {
            answer = try await send(.GET, group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)")
        } catch var error as KubeAPIError where error.code == 404 {
            error.message = "the server does not serve \(apiVersion) (is the API group installed?)"
            throw error
        }
        var resources: [String: KubeResource] = [:]
        if case .object(let list) = answer, case .array(let items)? = list["resources"] {
            for case .object(let item) in items {
                guard case .string(let name)? = item["name"], !name.contains("/"), case .string(let itemKind)? = item["kind"] else { continue }
                var namespaced = false
                if case .bool(let flag)? = item["namespaced"] { namespaced = flag }
                resources[itemKind] = KubeResource(group: group, version: version, kind: itemKind, name: name, namespaced: namespaced)
            }
        }
        discovered.withLock { $0[apiVersion] = resources }
        guard let resource = resources[kind] else {
            throw KubeAPIError(
                code: 404, reason: "NotFound", message: "the server serves no kind \(BoundedInput.quoted(kind)) in \(apiVersion)", causes: [],
                request: "discovery")
        }
        return resource
    }

    /// One object, or nil when it does not exist.
    public func get(_ resource: KubeResource, namespace: String?, name: String) async throws -> JSONValue? {
        do {
            return try await send(.GET, resource.path(namespace: namespace, name: name))
        } catch let error as KubeAPIError where error.code == 404 {
            return nil
        }
    }

    /// Every object of `resource` (in `namespace`, or everywhere when nil) matching
    /// `labelSelector`, page by page.
    public func list(_ resource: KubeResource, namespace: String?, labelSelector: String?) async throws -> [JSONValue] {
        var objects: [JSONValue] = []
        var token: String?
        repeat {
            var query = [("limit", String(Self.pageSize))]
            if let labelSelector { query.append(("labelSelector", labelSelector)) }
            if let token { query.append(("continue", token)) }
            let page = try await send(.GET, resource.path(namespace: namespace), query: query)
            token = nil
            guard case .object(let list) = page else { break }
            if case .array(let items)? = list["items"] {
                // A LIST leaves kind and apiVersion off its items.
                for case .object(var item) in items {
                    item["apiVersion"] = .string(resource.apiVersion)
                    item["kind"] = .string(resource.kind)
                    objects.append(.object(item))
                }
            }
            if case .object(let metadata)? = list["metadata"], case .string(let next)? = metadata["continue"], !next.isEmpty { token = next }
        } while token != nil
        return objects
    }

    /// Server-side apply of `object` (which names its apiVersion, kind, name and, when
    /// namespaced, namespace) as `fieldManager`; `force` takes fields another manager owns;
    /// `dryRun` asks what the result would be without changing anything. Answers the object as the
    /// server holds it (or would).
    public func apply(
        _ object: JSONValue, resource: KubeResource, namespace: String?, name: String, fieldManager: String, force: Bool, dryRun: Bool = false
    ) async throws -> JSONValue {
        var query = [("fieldManager", fieldManager)]
        if force { query.append(("force", "true")) }
        if dryRun { query.append(("dryRun", "All")) }
        return try await send(
            .PATCH, resource.path(namespace: namespace, name: name), query: query, body: Array(try CanonicalJSON.data(object)),
            contentType: "application/apply-patch+yaml")
    }

    /// Deletes an object; false when it did not exist. Dependents go in the background, as
    /// kubectl deletes them.
    @discardableResult
    public func delete(_ resource: KubeResource, namespace: String?, name: String, propagationPolicy: String = "Background") async throws -> Bool {
        do {
            _ = try await send(.DELETE, resource.path(namespace: namespace, name: name), query: [("propagationPolicy", propagationPolicy)])
            return true
        } catch let error as KubeAPIError where error.code == 404 {
            return false
        }
    }

    /// Whether the caller may `verb` the resource in `namespace` (a `SelfSubjectAccessReview`),
    /// and the server's reason when it may not.
    public func mayI(_ verb: String, _ resource: KubeResource, namespace: String?) async throws -> (allowed: Bool, reason: String?) {
        var attributes: [String: JSONValue] = ["verb": .string(verb), "group": .string(resource.group), "resource": .string(resource.name)]
        if resource.namespaced, let namespace { attributes["namespace"] = .string(namespace) }
        let review: JSONValue = .object([
            "apiVersion": .string("authorization.k8s.io/v1"), "kind": .string("SelfSubjectAccessReview"),
            "spec": .object(["resourceAttributes": .object(attributes)]),
        ])
        let answer = try await send(
            .POST, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body: Array(try CanonicalJSON.data(review)), contentType: "application/json")
        guard case .object(let object) = answer, case .object(let status)? = object["status"] else { return (false, "no status in the review") }
        var allowed = false
        if case .bool(let flag)? = status["allowed"] { allowed = flag }
        var reason: String?
        if case .string(let text)? = status["reason"], !text.isEmpty { reason = text }
        return (allowed, reason)
    }

    // MARK: requests

    /// Sends one request and answers its JSON body; a failure status is a ``KubeAPIError``.
    func send(
        _ method: HTTPMethod, _ path: String, query: [(String, String)] = [], body: [UInt8]? = nil, contentType: String? = nil
    ) async throws -> JSONValue {
        var retried = false
        while true {
            let credential = try await exec?.credential()
            var request = HTTPClientRequest(url: connection.server + path + Self.queryString(query))
            request.method = method
            request.headers.add(name: "Accept", value: "application/json")
            request.headers.add(name: "User-Agent", value: "keelson/\(KeelsonVersion.current)")
            if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
            if let authorization = try authorization(credential) { request.headers.add(name: "Authorization", value: authorization) }
            if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
            let client = try Self.httpClient(for: TLSIdentity(connection: connection, credential: credential))
            let shown = "\(method.rawValue) \(path)"
            let response: HTTPClientResponse
            let bytes: ByteBuffer
            do {
                let deadline = NIODeadline.now() + .nanoseconds(Int64(clampingDouble: Double(timeout.components.seconds) * 1e9))
                response = try await client.execute(request, deadline: deadline)
                bytes = try await response.body.collect(upTo: Self.maxResponseBytes)
            } catch let error as NIOTooManyBytesError {
                throw KubeAPIError(code: 0, reason: "", message: "the answer is larger than \(Self.maxResponseBytes) bytes (\(error))", causes: [], request: shown)
            } catch {
                throw KubeTransportError(server: connection.server, reason: Self.describe(error))
            }
            let status = Int(response.status.code)
            if status == 401, let exec, !retried {
                // An exec credential the server no longer takes: ask the plugin again, once.
                await exec.invalidate()
                retried = true
                continue
            }
            let data = Data(bytes.readableBytesView)
            // Keelson's own JSON reader: a tree parsed once, nesting bounded (`JSONDecoder` took a
            // fifth of a settled fleet's fetching).
            let decoded = data.isEmpty ? JSONValue.null : (try? PayloadDecoder().decode(JSONValue.self, from: data))
            let text = { String(decoding: data.prefix(4096), as: UTF8.self) }
            guard (200..<300).contains(status) else {
                throw Self.apiError(status: status, body: decoded, raw: text(), request: shown)
            }
            guard let decoded else {
                throw KubeAPIError(code: status, reason: "", message: "the answer is not JSON: \(BoundedInput.printable(text(), limit: 200))", causes: [], request: shown)
            }
            return decoded
        }
    }

    private func authorization(_ credential: ExecCredential?) throws -> String? {
        if let token = credential?.token { return "Bearer \(token)" }
        switch connection.authentication {
        case .none, .exec: return nil
        case .token(let token): return "Bearer \(token)"
        case .tokenFile(let path):
            guard let bytes = try? KubeConfigLoader.read(path, for: "the token file"),
                  let token = String(validating: bytes, as: UTF8.self)?.trimmingCharacters(in: .whitespacesAndNewlines), !token.isEmpty
            else { throw KubeTransportError(server: connection.server, reason: "cannot read the token file \(BoundedInput.quoted(path))") }
            return "Bearer \(token)"
        case .basic(let username, let password):
            return "Basic " + Data("\(username):\(password)".utf8).base64EncodedString()
        }
    }

    static func apiError(status: Int, body: JSONValue?, raw: String, request: String) -> KubeAPIError {
        struct Status: Decodable {
            struct Details: Decodable { var causes: [KubeAPIError.Cause]? }
            var kind: String?
            var reason: String?
            var message: String?
            var details: Details?
        }
        if let body, let data = try? CanonicalJSON.data(body), let decoded = try? JSONDecoder().decode(Status.self, from: data),
           decoded.kind == "Status" {
            return KubeAPIError(
                code: status, reason: decoded.reason ?? "", message: decoded.message ?? "", causes: decoded.details?.causes ?? [], request: request)
        }
        let text = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        return KubeAPIError(
            code: status, reason: "", message: text.isEmpty ? HTTPResponseStatus(statusCode: status).reasonPhrase : BoundedInput.printable(text, limit: 300),
            causes: [], request: request)
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? NIOSSLError { return "TLS: \(error)" }
        if let error = error as? BoringSSLError { return "TLS: \(error)" }
        if let error = error as? HTTPClientError {
            switch error {
            case .connectTimeout: return "connecting timed out"
            case .deadlineExceeded: return "the request timed out"
            default: return "\(error)"
            }
        }
        return "\(error)"
    }

    // MARK: URLs

    /// `?a=b&c=d`, percent-encoded.
    static func queryString(_ query: [(String, String)]) -> String {
        guard !query.isEmpty else { return "" }
        return "?" + query.map { "\(encode($0.0))=\(encode($0.1))" }.joined(separator: "&")
    }

    private static let unreserved = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")

    static func encode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? text
    }

    /// A name as one path segment (names are DNS subdomains; anything else is escaped anyway).
    static func segment(_ name: String) -> String { encode(name) }

    static func isPathSafe(_ text: String) -> Bool {
        text.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-") || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
        }
    }

    // MARK: TLS

    /// What distinguishes one TLS client from another.
    struct TLSIdentity: Hashable {
        var certificateAuthority: [UInt8]?
        var clientCertificate: [UInt8]?
        var clientKey: [UInt8]?
        var insecure: Bool

        init(connection: KubeConnection, credential: ExecCredential?) {
            certificateAuthority = connection.certificateAuthority
            clientCertificate = credential?.clientCertificate ?? connection.clientCertificate
            clientKey = credential?.clientKey ?? connection.clientKey
            insecure = connection.insecureSkipTLSVerify
        }
    }

    /// One HTTP client per TLS identity, for the life of the process (a client must be shut down
    /// before it goes; these never go).
    private static let clients = Mutex<[TLSIdentity: HTTPClient]>([:])

    static func httpClient(for identity: TLSIdentity) throws -> HTTPClient {
        if let client = clients.withLock({ $0[identity] }) { return client }
        var tls = TLSConfiguration.makeClientConfiguration()
        do {
            if let authority = identity.certificateAuthority {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(authority))
            }
            if let certificate = identity.clientCertificate, let key = identity.clientKey {
                tls.certificateChain = try NIOSSLCertificate.fromPEMBytes(certificate).map { .certificate($0) }
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: key, format: .pem))
            }
        } catch {
            throw KubeTransportError(server: "(TLS settings)", reason: "a CA bundle, client certificate or key does not parse as PEM: \(error)")
        }
        if identity.insecure { tls.certificateVerification = .none }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.timeout = HTTPClient.Configuration.Timeout(connect: .seconds(10))
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.decompression = .enabled(limit: .ratio(50))
        return clients.withLock { cache in
            if let client = cache[identity] { return client }
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            cache[identity] = client
            return client
        }
    }
}
