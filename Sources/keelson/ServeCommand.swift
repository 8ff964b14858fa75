import ArgumentParser
import Foundation
import KeelsonCore
import KeelsonEngine
import KeelsonServer
import KeelsonService
import Logging

/// `--listen HOST:PORT`: a host name or address, and a port from 0 (pick a free one) to 65535.
struct ListenAddress: Sendable, CustomStringConvertible {
    var host: String
    var port: Int

    @Sendable static func parse(_ text: String) throws -> ListenAddress {
        let expected = "expected HOST:PORT such as 127.0.0.1:7420 (port 0 picks a free one), found \(BoundedInput.quoted(text))"
        guard text.utf8.count <= 300, let colon = text.lastIndex(of: ":") else { throw InputProblem(expected) }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }  // [::1]:7420
        guard !host.isEmpty, host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-.:".contains($0)) }) else {
            throw InputProblem(expected)
        }
        guard case .success(let port) = BoundedInput.integer(String(text[text.index(after: colon)...]), in: 0...65_535) else {
            throw InputProblem(expected)
        }
        return ListenAddress(host: host, port: Int(port))
    }

    var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    static let local = ListenAddress(host: "127.0.0.1", port: 7420)
}

/// A server timeout: `30s`, `2m`… from 1 second to 1 hour.
struct ServerDuration: ExpressibleByArgument {
    var seconds: Int

    init(seconds: Int) { self.seconds = seconds }

    init?(argument: String) {
        guard case .success(let seconds) = BoundedInput.durationSeconds(argument, max: 3600), seconds >= 1 else { return nil }
        self.seconds = seconds
    }

    var defaultValueDescription: String { seconds % 60 == 0 ? "\(seconds / 60)m" : "\(seconds)s" }
}

/// `--max-connections`: 1 to 100,000.
struct ServerCount: ExpressibleByArgument {
    var value: Int

    init(value: Int) { self.value = value }

    init?(argument: String) {
        guard case .success(let value) = BoundedInput.integer(argument, in: 1...100_000) else { return nil }
        self.value = Int(value)
    }

    var defaultValueDescription: String { "\(value)" }
}

/// Options `serve` and `up` share.
struct ServerOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Where to listen, HOST:PORT (port 0 picks a free one; default 127.0.0.1:7420).", valueName: "host:port"), transform: ListenAddress.parse)
    var listen: ListenAddress = .local

    @Option(parsing: .unconditional, help: ArgumentHelp("Request bodies larger than this many bytes get 413 (1 to 1073741824).", valueName: "bytes"),
            transform: { Int(try BoundedInput.integer($0, in: 1...(1 << 30)).get()) })
    var maxBody: Int = 4 * 1024 * 1024

    @Option(help: ArgumentHelp("A request's head (request line and headers) must arrive within this, from its first byte.", valueName: "duration"))
    var headerTimeout: ServerDuration = ServerDuration(seconds: 10)

    @Option(help: ArgumentHelp("A kept-alive connection is closed after this long without a request.", valueName: "duration"))
    var idleTimeout: ServerDuration = ServerDuration(seconds: 60)

    @Option(help: ArgumentHelp("A request's body must arrive within this, from the end of its head.", valueName: "duration"))
    var bodyTimeout: ServerDuration = ServerDuration(seconds: 60)

    @Option(help: ArgumentHelp("Open connections at most; more are answered 503 and closed.", valueName: "count"))
    var maxConnections: ServerCount = ServerCount(value: 512)

    @Option(help: ArgumentHelp("Log level: trace, debug, info, notice, warning, error.", valueName: "level"), transform: ServerOptions.level)
    var logLevel: Logger.Level = .info

    @Option(help: ArgumentHelp("The worker's name (default server:HOST:PORT; keep it stable so a restart resumes its leases at once).", valueName: "name"),
            transform: ArgumentParsers.printable("--worker-name", limit: 128))
    var workerName: String?

    @Option(help: ArgumentHelp(
        "How long the unchanged fetches of a settled instance may be held back and recorded together, as one event (0s to 1d, default 10m; 0s records every fetch as it ends).",
        valueName: "duration"), transform: DurationArgument.parse(between: 0, and: 86_400))
    var unchangedRunLength: DurationArgument?

    @Sendable static func level(_ text: String) throws -> Logger.Level {
        guard let level = Logger.Level(rawValue: text) else {
            throw InputProblem("expected one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")), found \(BoundedInput.quoted(text))")
        }
        return level
    }

    func logger(label: String) throws -> Logger {
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: label)
        logger.logLevel = level
        return logger
    }

    func settings(databasePath: String) -> KeelsonServer.Settings {
        var settings = KeelsonServer.Settings(stateRoot: RuntimeFactory.stateRoot(forDatabase: databasePath))
        settings.host = listen.host
        settings.port = listen.port
        settings.api.maxBodyBytes = maxBody
        settings.limits.headerTimeout = .seconds(headerTimeout.seconds)
        settings.limits.idleTimeout = .seconds(idleTimeout.seconds)
        settings.limits.bodyTimeout = .seconds(bodyTimeout.seconds)
        settings.limits.maxConnections = maxConnections.value
        settings.workerName = workerName
        settings.unchangedRunLength = unchangedRunLength.map(\.duration)
        settings.bootstrapTokenFile = URL(fileURLWithPath: databasePath).deletingLastPathComponent().appendingPathComponent("admin.token").path
        return settings
    }
}

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the state server: the event store, a worker and the HTTP API.",
        discussion: """
            Serves the JSON API under /api/v1 (described at /api/v1/openapi.json), a live event \
            stream (Server-Sent Events), Prometheus metrics at /metrics, and /healthz and /readyz; \
            and runs a worker that decides, applies and fetches. Listens on 127.0.0.1:7420 unless \
            told otherwise.

            Every /api/v1 route needs a bearer token. When the database has no token yet, serve \
            creates an admin token named 'admin' and writes it to admin.token next to the database \
            (readable by you only). Make more with `keelson token create`.

            SIGTERM or Ctrl-C stops it gracefully: live streams end, requests in flight finish, the \
            worker lets running applies finish and gives up its leases. After a crash or SIGKILL, \
            start it again: unfinished applies are re-issued or abandoned by recorded decisions.

            Examples:
              keelson serve
              keelson serve --db /var/lib/keelson/keelson.db --listen 127.0.0.1:8080
              KEELSON_SERVER=http://127.0.0.1:7420 KEELSON_TOKEN=$(cat .keelson/admin.token) keelson status
            """)

    @OptionGroup var server: ServerOptions
    @OptionGroup var store: StoreOptions

    func run() async throws {
        let logger = try server.logger(label: "keelson")
        let store = try store.open(.write(create: true))
        _ = self.store.stateRoot()  // created 0700 before the runtimes put anything in it
        let settings = server.settings(databasePath: self.store.path)
        try await KeelsonServer.run(store: store, settings: settings, logger: logger) { url in
            emit("keelson serve: listening on \(url) (database \(self.store.path))")
        }
        try store.close()
    }
}

struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "API tokens for the server: create, list, revoke.",
        discussion: """
            Roles: viewer (read), deployer (release, approve, reject, pause, resume, roll back, \
            mark bad, alerts), admin (config, tokens; everything). Only a hash of each token is \
            stored; `create` prints the token once. Works on the database file (--db) or through a \
            server with an admin token (--server).

            Examples:
              keelson token create --role deployer --name ci
              keelson token list
              keelson token revoke ci
            """,
        subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a token and print it (only this once).")
        @Option(help: ArgumentHelp("viewer, deployer or admin.", valueName: "role"), transform: Create.role) var role: Role
        @Option(help: ArgumentHelp("A unique name; events the token causes record token:NAME as their actor.", valueName: "name")) var name: String
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var format: OutputOptions

        @Sendable static func role(_ text: String) throws -> Role {
            guard let role = Role(rawValue: text) else { throw InputProblem("expected viewer, deployer or admin, found \(BoundedInput.quoted(text))") }
            return role
        }

        func run() async throws {
            let created = try await connection.creatingAPI { try await $0.createToken(TokenCreateBody(name: name, role: role)) }
            switch format.output {
            case .json, .yaml: try printStructured(created, format.output)
            case .table:
                print(created.token)
                FileHandle.standardError.write(Data("token '\(name)' (\(role.rawValue)) created; it is not shown again. Use it as KEELSON_TOKEN or 'Authorization: Bearer <token>'.\n".utf8))
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every token: name, role, when made and last used, revoked or not.")
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var readOnly: ReadOnlyOption
        @OptionGroup var format: OutputOptions

        func run() async throws {
            let tokens = try await connection.readingAPI(readOnly).tokens()
            switch format.output {
            case .json, .yaml: try printStructured(tokens, format.output)
            case .table:
                guard !tokens.isEmpty else { print("no tokens (`keelson token create --role admin --name NAME`)"); return }
                print(TextTable.render(
                    headers: ["NAME", "ROLE", "TOKEN", "CREATED", "BY", "LAST USED", "REVOKED"],
                    rows: tokens.map { [$0.name, $0.role, $0.hint, $0.createdAt, $0.createdBy, $0.lastUsedAt ?? "-", $0.revokedAt ?? "-"] }))
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token by name; it stops working at once.")
        @Argument(help: ArgumentHelp("The token's name.", valueName: "name")) var name: String
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var format: OutputOptions

        func run() async throws {
            try printSignal(try await connection.api().revokeToken(name: name), format)
        }
    }
}
