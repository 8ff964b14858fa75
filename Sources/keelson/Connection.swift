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
    func status(scope: String?, filter: StatusFilter, at: TimeArgument?, position: Int64?) async throws -> StatusResponse
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
    func streams(at: TimeArgument?, position: Int64?) async throws -> [StreamSummary]
    func runtimes() async throws -> [RuntimeInfo]
    func checkRuntime(name: String) async throws -> RuntimeCheckReport
    func desiredStates(scope: String) async throws -> DesiredStatesResponse
    func currentStates(scope: String) async throws -> CurrentStatesResponse
    func fetch(_ body: FetchBody) async throws -> FetchReport
}

extension KeelsonAPI {
    /// Every instance with a release under `scope`.
    func status(scope: String?) async throws -> StatusResponse { try await status(scope: scope, filter: StatusFilter(), at: nil, position: nil) }
    func status(scope: String?, filter: StatusFilter) async throws -> StatusResponse {
        try await status(scope: scope, filter: filter, at: nil, position: nil)
    }
}

/// `--server URL` / `--token-file` (or KEELSON_SERVER / KEELSON_TOKEN), else the database file.
///
/// Everything is checked in `validate()`, before a command does anything: the URL (scheme, host,
/// port), the token, the request timeout, and that the command is not told to use both a server
/// and a file.
struct ConnectionOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "A Keelson server to talk to, e.g. http://127.0.0.1:7420 (env KEELSON_SERVER). Without it, the command opens the database file (--db).",
        valueName: "url"))
    var server: String?

    @Option(help: ArgumentHelp(
        "Read the API token from this file (default: env KEELSON_TOKEN). Only with a server.", valueName: "path"),
        transform: StoreOptions.parsePath)
    var tokenFile: String?

    @Option(help: ArgumentHelp(
        "With a server: give up on a request after this long (env KEELSON_REQUEST_TIMEOUT; default \(ServerAddress.defaultRequestTimeout.text)). Connecting gives up after \(ServerAddress.connectTimeoutSeconds)s.",
        valueName: "duration"),
        transform: DurationArgument.parse)
    var requestTimeout: DurationArgument?

    @OptionGroup var store: StoreOptions

    /// The server URL as given (flag, or environment when no --db says to use a file).
    var serverURL: String? {
        if let server { return server }
        if store.db != nil { return nil }  // an explicit --db wins over KEELSON_SERVER
        return Environment.value("KEELSON_SERVER")
    }

    func validate() throws {
        if server != nil && store.db != nil {
            throw ValidationError("give --server URL or --db PATH, not both: a command talks to a server or opens a database file")
        }
        if let serverURL { _ = try ServerAddress.parse(serverURL, source: server != nil ? "--server" : "KEELSON_SERVER") }
        _ = try timeout()
        if serverURL != nil { _ = try token() }
    }

    private func timeout() throws -> DurationArgument {
        if let requestTimeout { return requestTimeout }
        guard let text = Environment.value("KEELSON_REQUEST_TIMEOUT") else { return ServerAddress.defaultRequestTimeout }
        do { return try DurationArgument.parse(text) } catch { throw ValidationError("KEELSON_REQUEST_TIMEOUT: \(error)") }
    }

    /// The bearer token: from --token-file (a regular file of at most 64 KiB), else KEELSON_TOKEN.
    private func token() throws -> String? {
        var token = Environment.value("KEELSON_TOKEN")
        if let tokenFile {
            let data = try BoundedFile.read(tokenFile, flag: "--token-file", maxBytes: 64 * 1024)
            token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        // A token goes into an HTTP header: refuse what no token holds (a newline would split it).
        if let token, token.utf8.count > 4096 || token.unicodeScalars.contains(where: { $0.value < 0x21 || $0.value > 0x7E }) {
            throw ValidationError("\(tokenFile == nil ? "KEELSON_TOKEN" : "--token-file") does not hold a token (printable ASCII without spaces, at most 4096 characters)")
        }
        return token
    }

    /// The API, to read: through the server, or on the database file (read-only when asked, or
    /// when the file cannot be written).
    func readingAPI(_ readOnly: ReadOnlyOption) throws -> any KeelsonAPI {
        if let remote = try remote() { return remote }
        let store = try store.open(.read(readOnly: readOnly.readOnly))
        return LocalAPI(control: ControlPlane(store: store), path: store.path)
    }

    /// The API, to record events. `mustExist: false` creates the database file when missing.
    func api(mustExist: Bool = true) throws -> any KeelsonAPI {
        if let remote = try remote() { return remote }
        let store = try store.open(.write(create: !mustExist))
        return LocalAPI(control: ControlPlane(store: store), path: store.path)
    }

    /// Runs `body` with an API that may create the database file — and removes the file (and the
    /// folder made for it) again when `body` fails, unless an event was recorded in it (a config
    /// that failed to compile is kept in the log): a command that fails leaves nothing behind.
    /// `lookOnly` (a dry run) on a database that does not exist works on a scratch database in a
    /// temporary folder instead, so that no other process can meet a file about to be removed.
    func creatingAPI<T>(lookOnly: Bool = false, _ body: (any KeelsonAPI) async throws -> T) async throws -> T {
        if try remote() != nil { return try await body(try api()) }
        let path = store.path
        guard !FileManager.default.fileExists(atPath: path) else { return try await body(try api()) }
        if lookOnly {
            let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-scratch-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            defer { try? FileManager.default.removeItem(at: scratch) }
            let opened = try EventStore(path: scratch.appendingPathComponent("keelson.db").path, configuration: StoreConfiguration())
            defer { try? opened.close() }
            return try await body(LocalAPI(control: ControlPlane(store: opened), path: path))
        }
        let folder = FilePaths.parent(path)
        let folderExisted = FileManager.default.fileExists(atPath: folder)
        let opened = try store.open(.write(create: true))
        func discard() async {
            guard ((try? await opened.lastPosition()) ?? 1) == 0 else { return }
            try? opened.close()
            for suffix in ["", "-wal", "-shm", "-journal"] { try? FileManager.default.removeItem(atPath: path + suffix) }
            if !folderExisted, (try? FileManager.default.contentsOfDirectory(atPath: folder))?.isEmpty == true {
                try? FileManager.default.removeItem(atPath: folder)
            }
        }
        do {
            return try await body(LocalAPI(control: ControlPlane(store: opened), path: opened.path))
        } catch {
            await discard()
            throw error
        }
    }

    private func remote() throws -> RemoteAPI? {
        guard let serverURL else { return nil }
        let address = try ServerAddress.parse(serverURL, source: server != nil ? "--server" : "KEELSON_SERVER")
        var api = RemoteAPI(base: address.base, token: try token(), requestTimeout: try timeout().duration)
        if let tokenFile { api.tokenSource = "--token-file \(BoundedInput.printable(tokenFile, limit: 200))" }
        return api
    }
}

/// A server's address, checked before anything connects: `http` or `https`, a host, a port from 1
/// to 65535, an optional path prefix (behind a proxy), no user, query or fragment.
struct ServerAddress {
    var base: String

    static let connectTimeoutSeconds = 5
    static let defaultRequestTimeout = DurationArgument("60s")

    static func parse(_ text: String, source: String) throws -> ServerAddress {
        func problem(_ detail: String) -> ValidationError {
            ValidationError("\(source): \(detail); expected a URL such as http://127.0.0.1:7420, found \(BoundedInput.quoted(text))")
        }
        guard text.utf8.count <= 2048, !text.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F }) else {
            throw problem("a URL has no spaces or control characters and at most 2048 characters")
        }
        guard let schemeEnd = text.range(of: "://") else { throw problem("no scheme (http:// or https://)") }
        let scheme = text[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "http" || scheme == "https" else { throw problem("the scheme is http or https") }
        let rest = text[schemeEnd.upperBound...]
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        let tail = rest.dropFirst(authority.count)
        guard !authority.contains("@") else { throw problem("no user or password in the URL (the token goes in KEELSON_TOKEN)") }
        guard !tail.contains("?"), !tail.contains("#") else { throw problem("no query or fragment") }
        // The host, and the port after the last ':' (an IPv6 host is in brackets).
        var host = Substring(authority)
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw problem("an IPv6 host ends with ']'") }
            host = authority[...close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw problem("expected ':PORT' after the host") }
                portText = after.dropFirst()
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        }
        guard !host.isEmpty, host != "[]" else { throw problem("no host") }
        if !host.hasPrefix("["), !host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == ".") }) {
            throw problem("the host is a name or an address (letters, digits, '-' and '.')")
        }
        if let portText {
            if case .failure(let error) = BoundedInput.port(String(portText)) { throw problem("the port: \(error)") }
        }
        var base = "\(scheme)://\(authority)\(tail)"
        while base.hasSuffix("/") { base.removeLast() }
        return ServerAddress(base: base)
    }
}

/// A file named by a flag, read whole: only a regular file (a FIFO would block, a device would
/// never end), and at most `maxBytes`.
enum BoundedFile {
    static func read(_ path: String, flag: String, maxBytes: Int) throws -> Data {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw ValidationError("\(flag): cannot read \(BoundedInput.quoted(path)) (\(String(cString: strerror(errno))))")
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw ValidationError("\(flag): \(BoundedInput.quoted(path)) is not a regular file")
        }
        guard info.st_size <= maxBytes else {
            throw ValidationError("\(flag): \(BoundedInput.quoted(path)) is larger than \(maxBytes) bytes")
        }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ValidationError("\(flag): cannot read \(BoundedInput.quoted(path))")
        }
        defer { try? handle.close() }
        let data = (try? handle.read(upToCount: maxBytes + 1)) ?? Data()
        guard data.count <= maxBytes else { throw ValidationError("\(flag): \(BoundedInput.quoted(path)) is larger than \(maxBytes) bytes") }
        return data
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
    func status(scope: String?, filter: StatusFilter, at: TimeArgument?, position: Int64?) async throws -> StatusResponse {
        try await control.status(scope: scope, filter: filter, at: at?.date(relativeTo: Date()), position: position)
    }
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
    func streams(at: TimeArgument?, position: Int64?) async throws -> [StreamSummary] {
        try await control.streams(at: at?.date(relativeTo: Date()), position: position)
    }
    func runtimes() async throws -> [RuntimeInfo] { try await control.runtimes() }
    func checkRuntime(name: String) async throws -> RuntimeCheckReport { try await control.checkRuntime(name: name) }
    func desiredStates(scope: String) async throws -> DesiredStatesResponse { try await control.desiredStates(scope: scope) }
    func currentStates(scope: String) async throws -> CurrentStatesResponse { try await control.currentStates(scope: scope) }
    func fetch(_ body: FetchBody) async throws -> FetchReport { try await control.fetch(body, actor: actor) }
}

/// The CLI as a client of `keelson serve`, over HTTP with a bearer token.
struct RemoteAPI: KeelsonAPI {
    let base: String
    let token: String?
    /// Where the token came from, for messages.
    var tokenSource = "KEELSON_TOKEN"
    /// How long one request may take, from connecting to the last byte of the answer.
    var requestTimeout: Duration = ServerAddress.defaultRequestTimeout.duration
    var location: String { base }
    static let maxResponseBytes = 256 * 1024 * 1024

    /// One client for the process: connecting gives up after a few seconds, and a refused
    /// connection fails at once instead of being retried until the request's deadline.
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = HTTPClient.Configuration.Timeout(connect: .seconds(Int64(ServerAddress.connectTimeoutSeconds)))
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    private var deadline: TimeAmount { .nanoseconds(Int64(clampingDouble: Double(requestTimeout.components.seconds) * 1e9)) }

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
    func status(scope: String?, filter: StatusFilter, at: TimeArgument?, position: Int64?) async throws -> StatusResponse {
        try await send(.GET, "/api/v1/status", query: [
            ("scope", scope), ("status", filter.statuses.isEmpty ? nil : filter.statuses.sorted().joined(separator: ",")),
            ("channel", filter.channel), ("limit", filter.limit.map(String.init)), ("after", filter.after),
            ("at", at?.text), ("position", position.map(String.init)),
        ])
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
    func streams(at: TimeArgument?, position: Int64?) async throws -> [StreamSummary] {
        try await send(.GET, "/api/v1/streams", query: [("at", at?.text), ("position", position.map(String.init))])
    }
    func runtimes() async throws -> [RuntimeInfo] { try await send(.GET, "/api/v1/runtimes") }
    func checkRuntime(name: String) async throws -> RuntimeCheckReport {
        try await send(.POST, "/api/v1/runtimes/\(Self.escape(name))/check")
    }
    func desiredStates(scope: String) async throws -> DesiredStatesResponse {
        try await send(.GET, "/api/v1/desired", query: [("scope", scope)])
    }
    func currentStates(scope: String) async throws -> CurrentStatesResponse {
        try await send(.GET, "/api/v1/current", query: [("scope", scope)])
    }
    func fetch(_ body: FetchBody) async throws -> FetchReport { try await send(.POST, "/api/v1/fetches", body: body) }

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
                        let response = try await headWithin(request)
                        guard response.status == .ok else {
                            throw explained(try Self.error(from: try await response.body.collect(upTo: 1 << 20), status: Int(response.status.code)))
                        }
                        failures = 0
                        var parser = ServerSentEvents(maxPendingBytes: Self.maxResponseBytes)
                        for try await buffer in response.body {
                            for message in try parser.feed(String(buffer: buffer)) {
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

    /// Starts the live stream: the connection stays open as long as events may come, but the
    /// answer's head must arrive within the request timeout (a port that accepts and never
    /// answers is a failure, not a wait).
    private func headWithin(_ request: HTTPClientRequest) async throws -> HTTPClientResponse {
        let timeout = requestTimeout
        let base = base
        return try await withThrowingTaskGroup(of: HTTPClientResponse?.self) { group in
            group.addTask { try await Self.client.execute(request, timeout: .hours(24 * 365)) }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let response = first else {
                throw RemoteFailure(message: "the Keelson server at \(base) did not answer within \(timeout) (--request-timeout / KEELSON_REQUEST_TIMEOUT)")
            }
            return response
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
        let bytes: ByteBuffer
        do {
            response = try await Self.client.execute(request, timeout: deadline)
            bytes = try await response.body.collect(upTo: Self.maxResponseBytes)
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            throw RemoteFailure(
                message: "the Keelson server at \(base) did not answer \(method.rawValue) \(path) within \(Text.duration(Int64(requestTimeout.components.seconds) * 1000)) (--request-timeout / KEELSON_REQUEST_TIMEOUT)")
        } catch let error as HTTPClientError where error == .connectTimeout {
            throw RemoteFailure(message: "cannot reach the Keelson server at \(base): no connection within \(ServerAddress.connectTimeoutSeconds)s (is `keelson serve` running? check --server / KEELSON_SERVER)")
        } catch {
            throw RemoteFailure(message: "cannot reach the Keelson server at \(base): \(error) (is `keelson serve` running? check --server / KEELSON_SERVER)")
        }
        guard (200..<300).contains(response.status.code) else {
            throw explained(try Self.error(from: bytes, status: Int(response.status.code)))
        }
        do {
            return try JSONDecoder().decode(Output.self, from: Data(bytes.readableBytesView))
        } catch {
            throw RemoteFailure(message: "the server at \(base) answered \(path) with something this CLI cannot read (\(error)); are the CLI and server the same version?")
        }
    }

    /// A refusal said for someone at a terminal: which setting gives the token, and how to get one.
    func explained(_ error: APIError) -> APIError {
        var error = error
        switch error.status {
        case 401 where token == nil:
            error.message = "the Keelson server at \(base) needs a token: set KEELSON_TOKEN (or give --token-file PATH) — "
                + "`keelson token create --role deployer --name NAME` on the server's database makes one, and "
                + "`keelson serve` wrote an admin token to .keelson/admin.token on its first start"
        case 401:
            error.message = "the Keelson server at \(base) does not accept the token in \(tokenSource): \(error.message)"
        case 403:
            error.message = "the token in \(tokenSource) may not do this: \(error.message)"
        default:
            break
        }
        return error
    }

    static func error(from bytes: ByteBuffer, status: Int) throws -> APIError {
        if let body = try? JSONDecoder().decode(APIErrorBody.self, from: Data(bytes.readableBytesView)) { return body.error }
        return APIError(status: status, code: "http_\(status)", message: "the server answered \(status): \(String(buffer: bytes).prefix(200))")
    }
}

/// The server could not be reached, did not answer in time, or answered something unreadable
/// (exit 1, one sentence: not a usage error).
struct RemoteFailure: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// A Server-Sent Events parser: feed it text as it arrives; it returns complete messages.
struct ServerSentEvents {
    struct Message { var id: String?; var event: String?; var data: String }

    /// A line (or message) longer than this is not an event stream: give up rather than grow.
    var maxPendingBytes = 256 * 1024 * 1024
    private var pending = ""
    private var id: String?
    private var event: String?
    private var data: [String] = []

    init(maxPendingBytes: Int = 256 * 1024 * 1024) {
        self.maxPendingBytes = maxPendingBytes
    }

    mutating func feed(_ text: String) throws -> [Message] {
        pending += text
        if pending.utf8.count + data.reduce(0, { $0 + $1.utf8.count }) > maxPendingBytes {
            throw RemoteFailure(message: "the server's event stream sent more than \(maxPendingBytes) bytes without ending a message")
        }
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
