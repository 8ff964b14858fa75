import Foundation
import Hummingbird
import KeelsonCore
import KeelsonEngine
import KeelsonService
import KeelsonStore
import Logging
import NIOCore
import ServiceLifecycle

/// `keelson serve`: the event store, one worker and the HTTP API in one process.
///
/// Shutdown on SIGTERM or SIGINT is graceful, in this order: live event streams end (clients
/// reconnect elsewhere with `Last-Event-ID`); the HTTP server stops taking connections and
/// finishes the requests in flight (their appends commit); the worker stops deciding, lets
/// running applies finish and gives up its leases. A server killed outright (SIGKILL, power
/// loss) resumes when started again: its worker has the same name, so it takes its own leases
/// back at once, and each apply requested but not finished is re-issued or abandoned by a
/// recorded decision.
public enum KeelsonServer {
    public struct Settings: Sendable {
        public var host = "127.0.0.1"
        /// 0 picks a free port (tests); the chosen one is passed to `onListening`.
        public var port = 7420
        public var api = APISettings()
        /// Timeouts and the connection limit.
        public var limits = ServerLimits()
        /// Counts open connections (tests read it).
        public var connections = ConnectionCount()
        /// Where local runtimes keep state (see `RuntimeFactory.stateRoot`).
        public var stateRoot: String
        /// The worker's name; stable across restarts so a restarted server resumes its own leases.
        /// Nil: `defaultWorkerName`.
        public var workerName: String?
        /// The worker's `unchangedRunLength` (nil: its default).
        public var unchangedRunLength: Duration?

        /// `server:HOST:PORT`; with port 0 (any free port, different every time) a name of this
        /// process, `server:HOST:pid-PID`, so that two such servers never share a name.
        public var defaultWorkerName: String {
            port == 0 ? "server:\(host):pid-\(ProcessInfo.processInfo.processIdentifier)" : "server:\(host):\(port)"
        }
        /// Where to write a first admin token when the database has none (nil: don't).
        public var bootstrapTokenFile: String?
        /// Told about every decision the worker records (`keelson up` prints them).
        public var onDecision: @Sendable (Worker.Report) -> Void = { _ in }

        public init(stateRoot: String) {
            self.stateRoot = stateRoot
        }
    }

    /// Runs until SIGTERM/SIGINT (or until the task is cancelled). `onListening` gets the URL
    /// once the server accepts connections.
    public static func run(
        store: EventStore, settings: Settings, logger: Logger, onListening: @escaping @Sendable (String) -> Void = { _ in }
    ) async throws {
        var control = ControlPlane(store: store)
        control.stateRoot = settings.stateRoot
        if let file = settings.bootstrapTokenFile, try await bootstrapAdminToken(control: control, file: SecretFile(path: file)) {
            logger.notice("no API tokens existed: created admin token 'admin'", metadata: ["file": "\(file)"])
        }
        let metrics = ServerMetrics()
        let streams = EventStreams()
        let readiness = Readiness()

        var workerSettings = Worker.Settings(name: settings.workerName ?? settings.defaultWorkerName, stateRoot: settings.stateRoot)
        if let length = settings.unchangedRunLength { workerSettings.unchangedRunLength = length }
        workerSettings.onFetch = { runtime, succeeded, duration in metrics.fetched(runtime: runtime, succeeded: succeeded, duration: duration) }
        workerSettings.onProblem = { problem in logger.warning("worker", metadata: ["problem": "\(problem)"]) }
        let onDecision = settings.onDecision
        let worker = Worker(store: store, settings: workerSettings, declarations: ConfigRuntimes()) { report in
            onDecision(report)
            logger.info("decision", metadata: [
                "instance": "\(report.instance)", "status": "\(report.decision.status.rawValue)",
                "reason": "\(report.words)", "position": "\(report.position)",
            ])
        }

        control.runtimeSource = { [worker] name in await worker.runtime(named: name) }
        let api = APIRouter(control: control, settings: settings.api, metrics: metrics, streams: streams, readiness: readiness)

        let app = Application(
            router: api.makeRouter(),
            server: GuardedHTTP1Channel.builder(limits: settings.limits, connections: settings.connections),
            configuration: ApplicationConfiguration(address: .hostname(settings.host, port: settings.port), serverName: "keelson"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? settings.port
                let url = "http://\(settings.host):\(port)"
                logger.notice("listening", metadata: ["url": "\(url)"])
                onListening(url)
            },
            logger: logger)

        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [
                    WorkerService(worker: worker, readiness: readiness, logger: logger),
                    LogFollower(store: store, metrics: metrics),
                    app,
                    StreamCloser(streams: streams),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
        logger.notice("stopped")
    }

    /// When the database has no token at all, makes an admin token named `admin`: writes it to
    /// `file` first (atomically, 0600), then records it. If the file cannot be written, nothing is
    /// recorded; if recording fails, the file is removed — so a full disk leaves neither an empty
    /// token file nor a token nobody has. Returns whether it made one.
    static func bootstrapAdminToken(control: ControlPlane, file: SecretFile) async throws -> Bool {
        guard try await control.store.tokens().isEmpty else { return false }
        let secret = ControlPlane.newTokenSecret()
        do {
            try file.write(secret + "\n")
        } catch {
            throw BootstrapFailure(message: "no API token exists and the first admin token could not be written: \(error); nothing was recorded")
        }
        do {
            _ = try await control.createToken(TokenCreateBody(name: "admin", role: .admin), createdBy: "keelson serve", secret: secret)
        } catch {
            file.remove()
            throw BootstrapFailure(
                message: "no API token exists and the first admin token could not be recorded in the database: \(Self.describe(error)); \(file.path) was removed")
        }
        return true
    }

    static func describe(_ error: any Error) -> String {
        let text = "\(error)"
        return text.contains("SQLite error 13") || text.localizedCaseInsensitiveContains("disk is full")
            ? "the disk is full (\(text))" : text
    }
}

/// Why `keelson serve` could not make its first admin token, in a sentence.
struct BootstrapFailure: Error, CustomStringConvertible, LocalizedError {
    var message: String
    var description: String { message }
    var errorDescription: String? { message }
}

/// The worker as a service: folds the log, reports ready, then decides until shutdown.
struct WorkerService: Service {
    let worker: Worker
    let readiness: Readiness
    let logger: Logger

    func run() async throws {
        try await worker.start()
        await readiness.markReady()
        let name = await worker.settings.name
        logger.notice("worker started", metadata: ["worker": "\(name)"])
        try await cancelWhenGracefulShutdown { try await worker.run() }
        logger.notice("worker stopped; leases released")
    }
}

/// Follows the log for the metrics.
struct LogFollower: Service {
    let store: EventStore
    let metrics: ServerMetrics

    func run() async throws {
        let start = try await store.lastPosition()
        let (store, metrics) = (store, metrics)
        try await cancelWhenGracefulShutdown {
            for try await event in store.follow(after: start) { metrics.observe(event) }
        }
    }
}

/// Ends live event streams first on shutdown, so that the HTTP server need not wait for them.
struct StreamCloser: Service {
    let streams: EventStreams

    func run() async throws {
        try? await gracefulShutdown()
        streams.closeAll()
    }
}
