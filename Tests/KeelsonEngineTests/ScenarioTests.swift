import Foundation
import KeelsonCompiler
import KeelsonCore
import KeelsonRuntimes
import KeelsonStore
import Testing
@testable import KeelsonEngine

/// A time that only moves when a test says so: the store, the simulated runtimes and the worker
/// all read it.
final class FakeClock: @unchecked Sendable {
    private let lock = NSLock()
    private var date = Date(timeIntervalSince1970: 1_795_600_800)  // 2026-11-25T10:00:00Z, a Wednesday
    var now: Date { lock.withLock { date } }
    func advance(_ seconds: TimeInterval) { lock.withLock { date = date.addingTimeInterval(seconds) } }
}

/// A store, a config applied to it, and a worker on simulated runtimes, driven tick by tick.
struct Scenario {
    let store: EventStore
    let clock: FakeClock
    let worker: Worker
    let directory: URL

    static let config = """
        kind: Runtime
        name: sim
        type: simulated
        settings: {applyLatency: 1s, timeToHealthy: 5s}
        ---
        kind: Runtime
        name: sim-canary
        type: simulated
        settings: {applyLatency: 1s, timeToHealthy: 5s, unhealthyVersions: [2.0.0]}
        ---
        kind: Application
        name: shop
        channels:
          - name: staging
            runtime: sim
            rules: {watch: 2m}
          - name: canary
            runtime: sim-canary
            after: [staging]
            rules: {soak: 10m, watch: 5m}
          - name: prod
            runtime: sim
            after: [canary]
            rules:
              soak: 10m
              watch: 5m
              approval: {approvers: 1}
              alertGates:
                - matchLabels: {severity: critical}
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

    static func make(config: String = Scenario.config) async throws -> Scenario {
        let clock = FakeClock()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-scenario-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var configuration = StoreConfiguration(durability: .normal)
        configuration.clock = { clock.now }
        let store = try EventStore(path: directory.appendingPathComponent("k.db").path, configuration: configuration)
        try config.write(to: directory.appendingPathComponent("shop.yaml"), atomically: true, encoding: .utf8)
        _ = try await DesiredStateRecorder(store: store, actor: "test").apply(path: directory.appendingPathComponent("shop.yaml").path, dryRun: false)
        var settings = Worker.Settings(name: "worker:test", stateRoot: directory.appendingPathComponent("state").path)
        settings.clock = { clock.now }
        return Scenario(store: store, clock: clock, worker: Worker(store: store, settings: settings), directory: directory)
    }

    func release(_ version: String, service: String = "web") async throws {
        _ = try await DesiredStateRecorder(store: store, actor: "alice").release(
            ReleaseRequest(application: "shop", service: service, version: version), dryRun: false)
    }

    func signal<Payload: EventPayload>(_ payload: Payload, stream: String, actor: String = "alice") async throws {
        try await store.append([try NewEvent(payload, actor: actor)], to: StreamID(stream))
    }

    /// Runs the worker for `seconds` of fake time in steps of `tick` seconds.
    func run(for seconds: Int, tick: Int = 5) async throws {
        for _ in 0..<(seconds / tick) {
            try await worker.step()
            await worker.waitForApplies()
            try await worker.step()
            clock.advance(TimeInterval(tick))
        }
    }

    func record(_ channel: String, service: String = "web") async -> InstanceRecord? {
        await worker.engineState.instances[ServiceInstanceID(application: "shop", service: service, channel: channel)]
    }

    func status(_ channel: String, service: String = "web") async -> String {
        guard let record = await record(channel, service: service) else { return "none" }
        return "\(record.status.rawValue) \(record.converged?.release.version ?? "-")"
    }

    /// Every recorded decision of an instance, as `status: reason`.
    func decisions(_ channel: String, service: String = "web") async throws -> [Decision] {
        try await store.stream(StreamID("instance:shop/\(service)@\(channel)"))
            .filter { $0.type == DecisionMade.eventType }
            .map { try $0.decode(DecisionMade.self).decision }
    }
}

@Suite("Engine scenarios on the simulated runtime", .serialized)
struct ScenarioTests {
    @Test("a release moves staging → canary → prod, waiting for soak and for the approval")
    func promotion() async throws {
        let scenario = try await Scenario.make()
        defer { try? FileManager.default.removeItem(at: scenario.directory) }
        try await scenario.release("1.0.0")
        try await scenario.run(for: 60)
        #expect(await scenario.status("staging") == "converged 1.0.0")
        #expect(await scenario.record("canary")?.status == .waiting)
        #expect(await scenario.record("canary")?.reason.contains("soak: staging stable on 1.0.0") == true)
        #expect(await scenario.record("prod")?.status == .waiting)

        try await scenario.run(for: 660)
        #expect(await scenario.status("canary") == "converged 1.0.0")
        try await scenario.run(for: 660)
        let prod = await scenario.record("prod")
        #expect(prod?.status == .waiting)
        #expect(prod?.reason.contains("approval: 0 of 1") == true, "\(prod?.reason ?? "")")

        try await scenario.signal(ApprovalGranted(instance: ServiceInstanceID("shop/web@prod")!, version: "1.0.0"), stream: "instance:shop/web@prod", actor: "bob")
        try await scenario.run(for: 60)
        #expect(await scenario.status("prod") == "converged 1.0.0")
        #expect(await scenario.record("prod")?.approvals["1.0.0"] == ["bob"])
        // Every channel passes its watch and becomes good.
        try await scenario.run(for: 360)
        for channel in ["staging", "canary", "prod"] {
            #expect(await scenario.record(channel)?.lastGood?.version == "1.0.0", "\(channel)")
        }
        let prodDecisions = try await scenario.decisions("prod").map(\.waitingFor)
        #expect(prodDecisions.contains(.upstream) && prodDecisions.contains(.soak) && prodDecisions.contains(.approval))
        #expect(try await scenario.store.verifyProjections().isClean)
    }

    @Test("a bad release fails its health in canary, is rolled back automatically and never reaches prod")
    func rollback() async throws {
        let scenario = try await Scenario.make()
        defer { try? FileManager.default.removeItem(at: scenario.directory) }
        try await scenario.release("1.0.0")
        try await scenario.run(for: 1_500, tick: 10)
        try await scenario.signal(ApprovalGranted(instance: ServiceInstanceID("shop/web@prod")!, version: "1.0.0"), stream: "instance:shop/web@prod")
        try await scenario.run(for: 600, tick: 10)
        #expect(await scenario.record("canary")?.lastGood?.version == "1.0.0")
        #expect(await scenario.record("prod")?.lastGood?.version == "1.0.0")

        // 2.0.0 is healthy in staging but never becomes healthy on canary's runtime.
        try await scenario.release("2.0.0")
        try await scenario.run(for: 900, tick: 10)
        #expect(await scenario.status("staging") == "converged 2.0.0")
        let canary = await scenario.record("canary")
        #expect(canary?.status == .rolledBack, "\(canary?.reason ?? "")")
        #expect(canary?.converged?.release.version == "1.0.0")
        let bad = try await scenario.store.events(EventFilter(types: [ReleaseMarkedBad.eventType]))
        #expect(bad.count == 1)
        #expect(try bad.first?.decode(ReleaseMarkedBad.self).reason.contains("failed in canary: not healthy within its progress deadline of 2m") == true)
        let canaryStatuses = try await scenario.decisions("canary").map(\.status)
        #expect(canaryStatuses.contains(.rollingBack))
        // Prod never saw 2.0.0: it waits on a bad release and still runs 1.0.0.
        try await scenario.run(for: 1_200, tick: 20)
        let prod = await scenario.record("prod")
        #expect(prod?.converged?.release.version == "1.0.0")
        #expect(prod?.request?.release.version == "1.0.0")
        #expect(prod?.reason.contains("2.0.0 is marked bad") == true, "\(prod?.reason ?? "")")
        #expect(try await scenario.store.verifyProjections().isClean)
    }

    @Test("a critical alert holds promotion to prod; its resolution lets it go on")
    func alertGate() async throws {
        let scenario = try await Scenario.make()
        defer { try? FileManager.default.removeItem(at: scenario.directory) }
        try await scenario.release("1.0.0")
        try await scenario.signal(ApprovalGranted(instance: ServiceInstanceID("shop/web@prod")!, version: "1.0.0"), stream: "instance:shop/web@prod")
        try await scenario.signal(AlertFired(name: "HighErrorRate", labels: ["severity": "critical", "service": "web"]), stream: "alerts")
        try await scenario.run(for: 1_500, tick: 10)
        let held = await scenario.record("prod")
        #expect(held?.status == .waiting)
        #expect(held?.reason.contains("alert firing: HighErrorRate{service=\"web\",severity=\"critical\"}") == true, "\(held?.reason ?? "")")
        #expect(held?.converged == nil)
        try await scenario.signal(AlertResolved(name: "HighErrorRate", labels: ["severity": "critical", "service": "web"]), stream: "alerts")
        try await scenario.run(for: 60, tick: 10)
        #expect(await scenario.status("prod") == "converged 1.0.0")
    }

    @Test("a newer release supersedes one in flight")
    func supersede() async throws {
        let scenario = try await Scenario.make()
        defer { try? FileManager.default.removeItem(at: scenario.directory) }
        try await scenario.release("1.0.0")
        try await scenario.run(for: 1_500, tick: 10)
        try await scenario.signal(ApprovalGranted(instance: ServiceInstanceID("shop/web@prod")!, version: "1.0.0"), stream: "instance:shop/web@prod")
        try await scenario.run(for: 600, tick: 10)
        // 1.1.0 starts in staging, then 1.2.0 arrives while 1.1.0 is still becoming healthy there.
        try await scenario.release("1.1.0")
        try await scenario.run(for: 5, tick: 5)
        #expect(await scenario.record("staging")?.request?.release.version == "1.1.0")
        #expect(await scenario.record("staging")?.converged?.release.version == "1.0.0")
        try await scenario.release("1.2.0")
        try await scenario.run(for: 60, tick: 5)
        let staging = try await scenario.decisions("staging")
        #expect(staging.contains { $0.reason.contains("1.1.0 superseded by 1.2.0") }, "\(staging.map(\.reason))")
        #expect(await scenario.status("staging") == "converged 1.2.0")
        // Canary goes straight to 1.2.0 after its soak; 1.1.0 is never applied there.
        try await scenario.run(for: 700, tick: 10)
        #expect(await scenario.status("canary") == "converged 1.2.0")
        let canaryApplies = try await scenario.store.stream(StreamID("instance:shop/web@canary"))
            .filter { $0.type == ApplyRequested.eventType }.map { try $0.decode(ApplyRequested.self).version }
        #expect(canaryApplies == ["1.0.0", "1.2.0"])
    }
}
