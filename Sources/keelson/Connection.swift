import ArgumentParser
import AsyncHTTPClient
import Foundation
import KeelsonCompiler
import KeelsonCore
import KeelsonEngine
import KeelsonService
import KeelsonStore
import NIOCore
import NIOHTTP1

/// What the CLI can ask Keelson, whether it talks to a server (`--server`) or opens the database
/// file itself (`--db`): the same operations and the same answers either way.
protocol KeelsonAPI: Sendable {
    /// Where the answers come from, for messages ("http://127.0.0.1:7420" or a file path).
    var location: String { get }
    func applyConfig(path: String, options: DesiredStateRecorder.ApplyOptions) async throws -> ChangeReport
    func release(_ body: ReleaseBody) async throws -> ChangeReport
    func status(scope: String?) async throws -> StatusResponse
    func explain(_ id: ServiceInstanceID, at: TimeArgument?, position: Int64?) async throws -> Explanation
    func timeline(_ query: TimelineQuery, since: TimeArgument?, until: TimeArgument?) async throws -> TimelinePage
    func events(_ query: EventsQuery) async throws -> EventsResponse
    /// Every event after `after` (matching `stream`/`types`), then each new one, until cancelled.
    func follow(after: Int64, stream: String?, types: [String]) -> AsyncThrowingStream<RecordedEvent, any Error>
    func lastPosition() async throws -> Int64
    func approve(_ id: ServiceInstanceID, _ body: ApproveBody) async throws -> SignalResult
    func reject(_ id: ServiceInstanceID, _ body: ReasonBody) async throws -> SignalResult
    func rollback(_ id: ServiceInstanceID, _ body: ReasonBody) async throws -> SignalResult
    func markBad(application: String, service: String, _ body: ReasonBody) async throws -> SignalResult
    func pause(_ body: ScopeBody) async throws -> SignalResult
    func resume(_ body: ScopeBody) async throws -> SignalResult
    func alert(_ body: AlertBody) async throws -> SignalResult
    func createToken(_ body: TokenCreateBody) async throws -> CreatedToken
    func tokens() async throws -> [TokenInfo]
    func revokeToken(name: String) async throws -> SignalResult
    func runtimes() async throws -> [RuntimeInfo]
    func checkRuntime(name: String) async throws -> RuntimeCheckReport
}

/// `--server URL` / `--token-file` (or KEELSON_SERVER / KEELSON_TOKEN), else the database file.
struct ConnectionOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "A Keelson server to talk to, e.g. http://127.0.0.1:7420 (env KEELSON_SERVER). Without it, the command opens the database file (--db).",
        valueName: "url"))
    var server: String?

    @Option(help: ArgumentHelp(
        "Read the API token from this file (default: env KEELSON_TOKEN). Only with a server.", valueName: "path"))
    var tokenFile: String?

    @OptionGroup var store: StoreOptions

    var serverURL: String? {
        let url = server ?? ProcessInfo.processInfo.environment["KEELSON_SERVER"]
        return url.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The API to use. `mustExist`: a command that only reads refuses to create a database file.
    func api(mustExist: Bool = true) throws -> any KeelsonAPI {
        if let serverURL {
            guard let url = URL(string: serverURL), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
                throw ValidationError("--server / KEELSON_SERVER: expected a URL such as http://127.0.0.1:7420, found '\(serverURL)'")
            }
            var token = ProcessInfo.processInfo.environment["KEELSON_TOKEN"]
            if let tokenFile {
                guard let data = FileManager.default.contents(atPath: tokenFile) else {
                    throw ValidationError("--token-file: cannot read \(tokenFile)")
                }
                token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            }
            return RemoteAPI(base: serverURL.hasSuffix("/") ? String(serverURL.dropLast()) : serverURL, token: token)
        }
        return LocalAPI(control: ControlPlane(store: try store.open(checkIntegrity: !mustExist, mustExist: mustExist)), path: store.path)
    }

    /// For commands that work on the database file only.
    func requireLocal(_ command: String) throws {
        if serverURL != nil {
            throw ValidationError("`keelson \(command)` works on the database file only (--db); it has no server form yet. Unset KEELSON_SERVER or drop --server.")
        }
    }
}

/// The CLI on the database file: `ControlPlane` called directly, the user as the actor.
struct LocalAPI: KeelsonAPI {
    let control: ControlPlane
    let path: String
    var location: String { path }
    var actor: String { CommandActor.current }

    func applyConfig(path: String, options: DesiredStateRecorder.ApplyOptions) async throws -> ChangeReport {
        try await control.applyConfig(path: path, options: options, actor: actor)
    }
    func release(_ body: ReleaseBody) async throws -> ChangeReport { try await control.release(body, actor: actor) }
    func status(scope: String?) async throws -> StatusResponse { try await control.status(scope: scope) }
    func explain(_ id: ServiceInstanceID, at: TimeArgument?, position: Int64?) async throws -> Explanation {
        try await control.explain(id, at: at?.date(relativeTo: Date()), position: position)
    }
    func timeline(_ query: TimelineQuery, since: TimeArgument?, until: TimeArgument?) async throws -> TimelinePage {
        var query = query
        query.since = since?.date(relativeTo: Date())
        query.until = until?.date(relativeTo: Date())
        return try await control.timeline(query)
    }
    func events(_ query: EventsQuery) async throws -> EventsResponse { try await control.events(query) }
    func follow(after: Int64, stream: String?, types: [String]) -> AsyncThrowingStream<RecordedEvent, any Error> {
        let subscription = control.store.follow(after: after, matching: EventFilter(stream: stream.map { StreamID($0) }, types: types))
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    for try await event in subscription { continuation.yield(event) }
                    continuation.finish()
                } catch { continuation.finish(throwing: error) }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
    func lastPosition() async throws -> Int64 { try await control.store.lastPosition() }
    func approve(_ id: ServiceInstanceID, _ body: ApproveBody) async throws -> SignalResult { try await control.approve(id, body, actor: actor) }
    func reject(_ id: ServiceInstanceID, _ body: ReasonBody) async throws -> SignalResult { try await control.reject(id, body, actor: actor) }
    func rollback(_ id: ServiceInstanceID, _ body: ReasonBody) async throws -> SignalResult { try await control.rollback(id, body, actor: actor) }
    func markBad(application: String, service: String, _ body: ReasonBody) async throws -> SignalResult {
        try await control.markBad(application: application, service: service, body, actor: actor)
    }
    func pause(_ body: ScopeBody) async throws -> SignalResult { try await control.pause(body, actor: actor) }
    func resume(_ body: ScopeBody) async throws -> SignalResult { try await control.resume(body, actor: actor) }
    func alert(_ body: AlertBody) async throws -> SignalResult { try await control.alert(body, actor: actor) }
    func createToken(_ body: TokenCreateBody) async throws -> CreatedToken { try await control.createToken(body, createdBy: actor) }
    func tokens() async throws -> [TokenInfo] { try await control.tokens() }
    func revokeToken(name: String) async throws -> SignalResult { try await control.revokeToken(name: name, actor: actor) }
    func runtimes() async throws -> [RuntimeInfo] { try await control.runtimes() }
    func checkRuntime(name: String) async throws -> RuntimeCheckReport { try await control.checkRuntime(name: name) }
}

/// The CLI as a client of `keelson serve`, over HTTP with a bearer token.
struct RemoteAPI: KeelsonAPI {
    let base: String
    let token: String?
    var location: String { base }
    static let maxResponseBytes = 256 * 1024 * 1024

    func applyConfig(path: String, options: DesiredStateRecorder.ApplyOptions) async throws -> ChangeReport {
        // Upload the files the config reads, as an apply on a database file reads them. Paths are
        // absolute, so paths inside the config (programs, manifests) resolve on this machine.
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        guard FileManager.default.fileExists(atPath: absolute) else {
            throw ValidationError("-f: no file or directory at \(path)")
        }
        let allowed = options.allowFilesFrom.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        switch ConfigUpload.collect(source: absolute, allowing: allowed) {
        case .problems(let problems):
            throw APIError(
                status: 422, code: "config_invalid",
                message: "\(problems.count) problem\(problems.count == 1 ? "" : "s") in the config's files on this machine; nothing was sent to the server",
                diagnostics: problems)
        case .files(let files):
            let body = ApplyConfigRequest(
                source: absolute, files: files.map { ConfigFileUpload(path: $0.path, text: $0.text) }, dryRun: options.dryRun,
                prune: options.prune, allowFilesFrom: allowed)
            return try await send(.POST, "/api/v1/config", body: body)
        }
    }
    func release(_ body: ReleaseBody) async throws -> ChangeReport { try await send(.POST, "/api/v1/releases", body: body) }
    func status(scope: String?) async throws -> StatusResponse {
        try await send(.GET, "/api/v1/status", query: [("scope", scope)])
    }
    func explain(_ id: ServiceInstanceID, at: TimeArgument?, position: Int64?) async throws -> Explanation {
        try await send(.GET, "\(Self.path(id))/explain", query: [("at", at?.text), ("position", position.map(String.init))])
    }
    func timeline(_ query: TimelineQuery, since: TimeArgument?, until: TimeArgument?) async throws -> TimelinePage {
        var items: [(String, String?)] = [
            ("application", query.application), ("service", query.service), ("channel", query.channel),
            ("since", since?.text), ("until", until?.text), ("before", query.before.map(String.init)), ("limit", String(query.limit)),
        ]
        items += query.kinds.map { ("kind", $0.rawValue) }
        return try await send(.GET, "/api/v1/timeline", query: items)
    }
    func events(_ query: EventsQuery) async throws -> EventsResponse {
        var items: [(String, String?)] = [
            ("after", String(query.after)), ("to", query.to.map(String.init)), ("stream", query.stream), ("limit", String(query.limit)),
            ("latest", query.latest ? "true" : nil), ("since", query.since.map { Text.time($0.millisecondsSince1970) }),
            ("until", query.until.map { Text.time($0.millisecondsSince1970) }),
        ]
        items += query.types.map { ("type", $0) }
        return try await send(.GET, "/api/v1/events", query: items)
    }
    func lastPosition() async throws -> Int64 {
        struct Health: Decodable { var position: Int64? }
        let health: Health = try await send(.GET, "/healthz")
        return health.position ?? 0
    }
    func approve(_ id: ServiceInstanceID, _ body: ApproveBody) async throws -> SignalResult { try await send(.POST, "\(Self.path(id))/approve", body: body) }
    func reject(_ id: ServiceInstanceID, _ body: ReasonBody) async throws -> SignalResult { try await send(.POST, "\(Self.path(id))/reject", body: body) }
    func rollback(_ id: ServiceInstanceID, _ body: ReasonBody) async throws -> SignalResult { try await send(.POST, "\(Self.path(id))/rollback", body: body) }
    func markBad(application: String, service: String, _ body: ReasonBody) async throws -> SignalResult {
        try await send(.POST, "/api/v1/services/\(Self.escape(application))/\(Self.escape(service))/mark-bad", body: body)
    }
    func pause(_ body: ScopeBody) async throws -> SignalResult { try await send(.POST, "/api/v1/pause", body: body) }
    func resume(_ body: ScopeBody) async throws -> SignalResult { try await send(.POST, "/api/v1/resume", body: body) }
    func alert(_ body: AlertBody) async throws -> SignalResult { try await send(.POST, "/api/v1/alerts", body: body) }
    func createToken(_ body: TokenCreateBody) async throws -> CreatedToken { try await send(.POST, "/api/v1/tokens", body: body) }
    func tokens() async throws -> [TokenInfo] { try await send(.GET, "/api/v1/tokens") }
    func revokeToken(name: String) async throws -> SignalResult { try await send(.DELETE, "/api/v1/tokens/\(Self.escape(name))") }
    func runtimes() async throws -> [RuntimeInfo] { try await send(.GET, "/api/v1/runtimes") }
    func checkRuntime(name: String) async throws -> RuntimeCheckReport {
        try await send(.POST, "/api/v1/runtimes/\(Self.escape(name))/check")
    }

    // MARK: the live stream

    /// Follows `GET /api/v1/events/stream`; when the connection drops (a server restarting), it
    /// reconnects with `Last-Event-ID` after a moment, so nothing is missed or seen twice.
    func follow(after: Int64, stream: String?, types: [String]) -> AsyncThrowingStream<RecordedEvent, any Error> {
        AsyncThrowingStream { continuation in
            let task = Task {
                var last = after
                var failures = 0
                while !Task.isCancelled {
                    do {
                        var request = HTTPClientRequest(url: base + "/api/v1/events/stream" + Self.queryString([("stream", stream)] + types.map { ("type", $0) }))
                        authorize(&request)
                        request.headers.add(name: "Last-Event-ID", value: String(last))
                        request.headers.add(name: "Accept", value: "text/event-stream")
                        let response = try await HTTPClient.shared.execute(request, timeout: .hours(24 * 365))
                        guard response.status == .ok else {
                            throw try Self.error(from: try await response.body.collect(upTo: 1 << 20), status: Int(response.status.code))
                        }
                        failures = 0
                        var parser = ServerSentEvents()
                        for try await buffer in response.body {
                            for message in parser.feed(String(buffer: buffer)) {
                                guard let data = message.data.data(using: .utf8) else { continue }
                                let event = try JSONDecoder().decode(APIEvent.self, from: data)
                                last = event.position
                                continuation.yield(event.recorded)
                            }
                        }
                    } catch let error as APIError where [401, 403, 400].contains(error.status) {
                        continuation.finish(throwing: error)
                        return
                    } catch {
                        if Task.isCancelled { break }
                        failures += 1
                        if failures == 1 { FileHandle.standardError.write(Data("(lost the server at \(base); reconnecting…)\n".utf8)) }
                    }
                    try? await Task.sleep(for: .seconds(min(2 * failures, 10)))
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    // MARK: plumbing

    static func path(_ id: ServiceInstanceID) -> String {
        "/api/v1/instances/\(escape(id.application))/\(escape(id.service))/\(escape(id.channel))"
    }

    static func escape(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? text
    }

    static func queryString(_ items: [(String, String?)]) -> String {
        let present = items.compactMap { item in item.1.map { "\(escape(item.0))=\(escape($0))" } }
        return present.isEmpty ? "" : "?" + present.joined(separator: "&")
    }

    private func authorize(_ request: inout HTTPClientRequest) {
        if let token, !token.isEmpty { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
    }

    private func send<Output: Decodable>(
        _ method: HTTPMethod, _ path: String, query: [(String, String?)] = [], body: (some Encodable)? = nil as String?
    ) async throws -> Output {
        var request = HTTPClientRequest(url: base + path + Self.queryString(query))
        request.method = method
        authorize(&request)
        if let body {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            request.body = .bytes(ByteBuffer(bytes: try encoder.encode(body)))
            request.headers.add(name: "Content-Type", value: "application/json")
        }
        let response: HTTPClientResponse
        do {
            response = try await HTTPClient.shared.execute(request, timeout: .seconds(120))
        } catch {
            throw ValidationError("cannot reach the Keelson server at \(base): \(error) (is `keelson serve` running? check --server / KEELSON_SERVER)")
        }
        let bytes = try await response.body.collect(upTo: Self.maxResponseBytes)
        guard (200..<300).contains(response.status.code) else {
            throw try Self.error(from: bytes, status: Int(response.status.code))
        }
        do {
            return try JSONDecoder().decode(Output.self, from: Data(bytes.readableBytesView))
        } catch {
            throw ValidationError("the server at \(base) answered \(path) with something this CLI cannot read (\(error)); are the CLI and server the same version?")
        }
    }

    static func error(from bytes: ByteBuffer, status: Int) throws -> APIError {
        if let body = try? JSONDecoder().decode(APIErrorBody.self, from: Data(bytes.readableBytesView)) { return body.error }
        return APIError(status: status, code: "http_\(status)", message: "the server answered \(status): \(String(buffer: bytes).prefix(200))")
    }
}

/// A Server-Sent Events parser: feed it text as it arrives; it returns complete messages.
struct ServerSentEvents {
    struct Message { var id: String?; var event: String?; var data: String }

    private var pending = ""
    private var id: String?
    private var event: String?
    private var data: [String] = []

    mutating func feed(_ text: String) -> [Message] {
        pending += text
        var messages: [Message] = []
        while let newline = pending.firstIndex(where: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }) {
            let line = String(pending[..<newline])
            pending = String(pending[pending.index(after: newline)...])
            if line.isEmpty {
                if !data.isEmpty { messages.append(Message(id: id, event: event, data: data.joined(separator: "\n"))) }
                data = []
                event = nil
                continue
            }
            if line.hasPrefix(":") { continue }
            let parts = line.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            let field = String(parts[0])
            var value = parts.count > 1 ? String(parts[1]) : ""
            if value.hasPrefix(" ") { value.removeFirst() }
            switch field {
            case "id": id = value
            case "event": event = value
            case "data": data.append(value)
            default: break
            }
        }
        return messages
    }
}

extension APIEvent {
    /// Back to the log's own form (for the tables the CLI prints).
    var recorded: RecordedEvent {
        RecordedEvent(
            position: position, streamID: StreamID(stream), version: version, type: type, schemaVersion: schemaVersion,
            payload: (try? CanonicalJSON.string(payload)) ?? "{}", recordedAtMilliseconds: recordedAtMilliseconds, actor: actor,
            correlationID: correlationID, causationPosition: causationPosition)
    }
}
