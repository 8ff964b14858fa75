import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KeelsonCore
import KeelsonEngine
import KeelsonServer
import KeelsonService
import KeelsonStore
import NIOCore
import Testing

/// A time that moves only when a test says so (the store and the worker read it).
final class TestClock: @unchecked Sendable {
    private let lock = NSLock()
    private var date = Date(timeIntervalSince1970: 1_795_600_800)  // 2026-11-25T10:00:00Z, a Wednesday
    var now: Date { lock.withLock { date } }
    func advance(_ seconds: TimeInterval) { lock.withLock { date = date.addingTimeInterval(seconds) } }
}

/// A store with a config on simulated runtimes, one token per role, and the API's router.
struct Harness {
    let store: EventStore
    let control: ControlPlane
    let directory: URL
    let clock: TestClock
    let router: APIRouter
    /// Role → token.
    let tokens: [Role: String]

    static let config = """
        kind: Runtime
        name: sim
        type: simulated
        settings: {applyLatency: 1s, timeToHealthy: 5s}
        ---
        kind: Application
        name: shop
        channels:
          - name: staging
            runtime: sim
            rules: {watch: 1m}
          - name: prod
            runtime: sim
            after: [staging]
            rules:
              soak: 1m
              watch: 1m
              alertGates:
                - matchLabels: {service: web, severity: critical}
        ---
        kind: Service
        name: web
        application: shop
        parameters:
          - name: version
            required: true
        run: {simulated: {}}
        progressDeadline: 2m
        """

    static func make(applyConfig: Bool = true, settings: APISettings = APISettings()) async throws -> Harness {
        let clock = TestClock()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-server-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var configuration = StoreConfiguration(durability: .normal)
        configuration.clock = { clock.now }
        let store = try EventStore(path: directory.appendingPathComponent("k.db").path, configuration: configuration)
        let control = ControlPlane(store: store)
        var tokens: [Role: String] = [:]
        for role in Role.allCases {
            tokens[role] = try await control.createToken(TokenCreateBody(name: role.rawValue, role: role), createdBy: "test").token
        }
        try config.write(to: directory.appendingPathComponent("shop.yaml"), atomically: true, encoding: .utf8)
        if applyConfig {
            _ = try await control.applyConfig(path: directory.appendingPathComponent("shop.yaml").path, dryRun: false, actor: "test")
        }
        let router = APIRouter(control: control, settings: settings, metrics: ServerMetrics(), streams: EventStreams(), readiness: Readiness())
        return Harness(store: store, control: control, directory: directory, clock: clock, router: router, tokens: tokens)
    }

    func worker() -> Worker {
        var settings = Worker.Settings(name: "worker:test", stateRoot: directory.appendingPathComponent("state").path)
        settings.clock = { [clock] in clock.now }
        return Worker(store: store, settings: settings, declarations: ConfigRuntimes())
    }

    /// Runs the router in-process (no sockets) and hands the test a client.
    func test<Value: Sendable>(_ body: @Sendable (any TestClientProtocol) async throws -> Value) async throws -> Value {
        let app = Application(router: router.makeRouter())
        return try await app.test(.router, body)
    }

    func headers(_ role: Role?) -> HTTPFields {
        var headers = HTTPFields()
        if let role { headers[.authorization] = "Bearer \(tokens[role]!)" }
        headers[.contentType] = "application/json"
        return headers
    }
}

extension TestClientProtocol {
    /// Sends `body` (JSON-encoded when it is not already text) and returns status and body.
    func call(
        _ method: HTTPRequest.Method, _ uri: String, as role: Role? = .admin, json: String? = nil, harness: Harness
    ) async throws -> (status: Int, body: String) {
        try await execute(uri: uri, method: method, headers: harness.headers(role), body: json.map { ByteBuffer(string: $0) }) { response in
            (Int(response.status.code), String(buffer: response.body))
        }
    }
}

func decode<Value: Decodable>(_ type: Value.Type, _ text: String) throws -> Value {
    try JSONDecoder().decode(Value.self, from: Data(text.utf8))
}

func json(_ value: some Encodable) throws -> String {
    String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
}

/// The test fixture folder.
let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
