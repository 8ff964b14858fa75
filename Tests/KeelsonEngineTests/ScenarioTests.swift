import Foundation
import KeelsonCompiler
import KeelsonCore
import KeelsonRuntimes
import KeelsonService
import KeelsonStore
import KeelsonTestSupport
import Testing
@testable import KeelsonEngine

/// The tests' clock (see `SteppedClock`).
typealias FakeClock = SteppedClock

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
        return Scenario(store: store, clock: clock, worker: Worker(store: store, settings: settings, declarations: ConfigRuntimes()), directory: directory)
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

    /// 1.0.0 until prod waits for its approval, then 2.0.0, which canary's runtime never runs healthy.
    func releaseOneThenTwo() async throws {
        try await release("1.0.0")
        try await run(for: 1_500, tick: 10)
        try await release("2.0.0")
        try await run(for: 900, tick: 10)
    }

    /// Releases `version` and follows it through every channel (approving prod) until all converged.
    func rollOut(_ version: String) async throws {
        try await release(version)
        try await run(for: 1_500, tick: 10)
        try await signal(ApprovalGranted(instance: ServiceInstanceID("shop/web@prod")!, version: version), stream: "instance:shop/web@prod")
        try await run(for: 600, tick: 10)
    }

    /// Every recorded decision of an instance, with its reason in words as of the decision.
    func decisions(_ channel: String, service: String = "web") async throws -> [RecordedDecision] {
        try await store.stream(StreamID("instance:shop/\(service)@\(channel)"))
            .filter { $0.type == DecisionMade.eventType }
            .map { event in
                let made = try event.decode(DecisionMade.self)
                return RecordedDecision(decision: made.decision, words: made.decision.reason.words(at: made.nowMilliseconds))
            }
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
        let canaryNow = await scenario.record("canary")
        #expect(canaryNow?.words.contains("soak: staging stable on 1.0.0") == true, "\(canaryNow?.words ?? "")")
        #expect(await scenario.record("prod")?.status == .waiting)

        try await scenario.run(for: 660)
        #expect(await scenario.status("canary") == "converged 1.0.0")
        try await scenario.run(for: 660)
        let prod = await scenario.record("prod")
        #expect(prod?.status == .waiting)
        #expect(prod?.words.contains("approval: 0 of 1") == true, "\(prod?.words ?? "")")

        try await scenario.signal(ApprovalGranted(instance: ServiceInstanceID("shop/web@prod")!, version: "1.0.0"), stream: "instance:shop/web@prod", actor: "bob")
        try await scenario.run(for: 60)
        #expect(await scenario.status("prod") == "converged 1.0.0")
        #expect(await scenario.record("prod")?.approvals["1.0.0"] == ["bob"])
        // Every channel passes its watch and becomes good.
        try await scenario.run(for: 360)
        for channel in ["staging", "canary", "prod"] {
            #expect(await scenario.record(channel)?.lastGood?.version == "1.0.0", "\(channel)")
        }
        // The instance_status table says what the engine's fold says.
        let rows = try await scenario.store.instanceStatuses(prefix: "shop/")
        let state = await scenario.worker.engineState
        #expect(rows.map(\.instance) == ["shop/web@canary", "shop/web@prod", "shop/web@staging"])
        for row in rows {
            let record = state.instances[ServiceInstanceID(row.instance)!]
            #expect(row.status == record?.status.rawValue && row.reason == record?.words)
            #expect(row.lastGoodVersion == "1.0.0" && row.desiredVersion == "1.0.0" && row.currentVersions == "1.0.0")
        }
        let prodDecisions = try await scenario.decisions("prod").map(\.waitingFor)
        #expect(prodDecisions.contains(.upstream) && prodDecisions.contains(.soak) && prodDecisions.contains(.approval))
        #expect(try await scenario.store.verifyProjections().isClean)
    }

    @Test("a bad release fails its health in canary, is rolled back automatically and never reaches prod")
    func rollback() async throws {
        let scenario = try await Scenario.make()
        defer { try? FileManager.default.removeItem(at: scenario.directory) }
        try await scenario.rollOut("1.0.0")
        #expect(await scenario.record("canary")?.lastGood?.version == "1.0.0")
        #expect(await scenario.record("prod")?.lastGood?.version == "1.0.0")

        // 2.0.0 is healthy in staging but never becomes healthy on canary's runtime.
        try await scenario.release("2.0.0")
        try await scenario.run(for: 900, tick: 10)
        #expect(await scenario.status("staging") == "converged 2.0.0")
        let canary = await scenario.record("canary")
        #expect(canary?.status == .rolledBack, "\(canary?.words ?? "")")
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
        #expect(prod?.words.contains("2.0.0 is held back here: it is marked bad") == true, "\(prod?.words ?? "")")
        #expect(try await scenario.store.verifyProjections().isClean)

        // Someone asks to retry it by releasing 2.0.0 again: canary tries it again (and fails again).
        try await scenario.release("2.0.0")
        try await scenario.run(for: 400, tick: 10)
        let again = try await scenario.store.stream(StreamID("instance:shop/web@canary"))
            .filter { $0.type == ApplyRequested.eventType }.map { try $0.decode(ApplyRequested.self) }
        #expect(again.map { "\($0.version)\($0.rollback ? " rollback" : "")" } == ["1.0.0", "2.0.0", "1.0.0 rollback", "2.0.0", "1.0.0 rollback"])
        #expect(try await scenario.store.events(EventFilter(types: [ReleaseMarkedBad.eventType])).count == 2)
        #expect(await scenario.record("canary")?.status == .rolledBack)
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
        #expect(held?.words.contains("alert firing: HighErrorRate{service=\"web\",severity=\"critical\"}") == true, "\(held?.words ?? "")")
        #expect(held?.converged == nil)
        try await scenario.signal(AlertResolved(name: "HighErrorRate", labels: ["severity": "critical", "service": "web"]), stream: "alerts")
        try await scenario.run(for: 60, tick: 10)
        #expect(await scenario.status("prod") == "converged 1.0.0")
    }

    @Test("a newer release supersedes one in flight")
    func supersede() async throws {
        let scenario = try await Scenario.make()
        defer { try? FileManager.default.removeItem(at: scenario.directory) }
        try await scenario.rollOut("1.0.0")
        // 1.1.0 starts in staging, then 1.2.0 arrives while 1.1.0 is still becoming healthy there.
        try await scenario.release("1.1.0")
        try await scenario.run(for: 5, tick: 5)
        #expect(await scenario.record("staging")?.request?.release.version == "1.1.0")
        #expect(await scenario.record("staging")?.converged?.release.version == "1.0.0")
        try await scenario.release("1.2.0")
        try await scenario.run(for: 60, tick: 5)
        let staging = try await scenario.decisions("staging")
        #expect(staging.contains { $0.words.contains("1.1.0 superseded by 1.2.0") }, "\(staging.map(\.words))")
        #expect(await scenario.status("staging") == "converged 1.2.0")
        // Canary goes straight to 1.2.0 after its soak; 1.1.0 is never applied there.
        try await scenario.run(for: 700, tick: 10)
        #expect(await scenario.status("canary") == "converged 1.2.0")
        let canaryApplies = try await scenario.store.stream(StreamID("instance:shop/web@canary"))
            .filter { $0.type == ApplyRequested.eventType }.map { try $0.decode(ApplyRequested.self).version }
        #expect(canaryApplies == ["1.0.0", "1.2.0"])
    }

    static let twoServices = """
        kind: Runtime
        name: sim
        type: simulated
        settings: {applyLatency: 1s, timeToHealthy: 20s}
        ---
        kind: Application
        name: shop
        maxConverging: 1
        channels:
          - name: staging
            runtime: sim
          - name: prod
            runtime: sim
            after: [staging]
            rules:
              freezes:
                - {from: 2026-11-25T09:00:00Z, until: 2026-11-25T12:00:00Z, reason: migration}
        ---
        kind: Service
        name: web
        application: shop
        run: {simulated: {}}
        ---
        kind: Service
        name: api
        application: shop
        run: {simulated: {}}
        """

    @Test("the concurrency limit holds: one instance of the application converges at a time")
    func concurrency() async throws {
        let scenario = try await Scenario.make(config: Self.twoServices)
        defer { try? FileManager.default.removeItem(at: scenario.directory) }
        try await scenario.release("1.0.0", service: "api")
        try await scenario.release("1.0.0", service: "web")
        try await scenario.run(for: 10, tick: 5)
        // api comes first (instances are decided in sorted order); web waits for it.
        #expect(await scenario.record("staging", service: "api")?.status == .converging)
        let web = await scenario.record("staging", service: "web")
        #expect(web?.status == .waiting)
        #expect(web?.words.contains("at most 1 instance(s) of shop converge at a time") == true, "\(web?.words ?? "")")
        try await scenario.run(for: 60, tick: 5)
        #expect(await scenario.status("staging", service: "api") == "converged 1.0.0")
        #expect(await scenario.status("staging", service: "web") == "converged 1.0.0")
        // Never two converging at once: every decision that started an apply saw the other settled.
        let starts = try await scenario.store.events(EventFilter(types: [ApplyRequested.eventType])).map(\.position)
        let converged = try await scenario.store.events(EventFilter(types: [DecisionMade.eventType]))
            .filter { (try? $0.decode(DecisionMade.self).decision.actions.contains { if case .markConverged = $0 { true } else { false } }) == true }
            .map(\.position)
        #expect(starts.count == 2 && converged.count == 2)
        #expect(converged[0] < starts[1])
    }

    @Test("a freeze holds prod until it ends")
    func freeze() async throws {
        let scenario = try await Scenario.make(config: Self.twoServices)
        defer { try? FileManager.default.removeItem(at: scenario.directory) }
        try await scenario.release("1.0.0", service: "web")
        try await scenario.run(for: 3_600, tick: 30)
        let held = await scenario.record("prod")
        #expect(held?.status == .waiting)
        #expect(held?.words.contains("freeze until 2026-11-25T12:00:00Z (migration)") == true, "\(held?.words ?? "")")
        #expect(held?.request == nil)
        try await scenario.run(for: 3_660, tick: 30)
        #expect(await scenario.status("prod") == "converged 1.0.0")
        let applied = try #require(try await scenario.store.events(EventFilter(stream: "instance:shop/web@prod", types: [ApplyRequested.eventType])).first)
        #expect(applied.recordedAtMilliseconds >= 1_795_608_000_000)
    }

    @Test("crash resume: an apply recorded by a worker that died is re-issued once, with its key; a stale one is abandoned")
    func crashResume() async throws {
        let scenario = try await Scenario.make()
        defer { try? FileManager.default.removeItem(at: scenario.directory) }
        try await scenario.release("1.0.0")
        // A worker recorded its decision and the apply request, then died before applying.
        let staging = ServiceInstanceID("shop/web@staging")!
        let desired = try #require(try await scenario.store.desiredState(of: staging))
        try await scenario.signal(
            ApplyRequested(instance: staging, requestID: "req-crashed", version: "1.0.0", digest: desired.digest, document: desired.document, rollback: false),
            stream: "instance:shop/web@staging", actor: "worker:dead")
        try await scenario.run(for: 30, tick: 5)
        #expect(await scenario.status("staging") == "converged 1.0.0")
        let events = try await scenario.store.stream(StreamID("instance:shop/web@staging"))
        let decisions = try await scenario.decisions("staging")
        #expect(events.filter { $0.type == ApplyRequested.eventType }.count == 1, "\(decisions.map(\.words))")
        let started = events.filter { $0.type == ApplyStarted.eventType }.map { try? $0.decode(ApplyStarted.self).idempotencyKey }
        #expect(started == ["req-crashed"])
        #expect(decisions.contains { $0.actions == [.reissue(requestID: "req-crashed")] })
        #expect(decisions.first?.words.contains("resuming after a restart: fetching") == true)

        // A stale request: the release moved on while no worker ran.
        let second = try await Scenario.make()
        defer { try? FileManager.default.removeItem(at: second.directory) }
        try await second.release("1.0.0")
        let old = try #require(try await second.store.desiredState(of: staging))
        try await second.signal(
            ApplyRequested(instance: staging, requestID: "req-stale", version: "1.0.0", digest: old.digest, document: old.document, rollback: false),
            stream: "instance:shop/web@staging", actor: "worker:dead")
        try await second.release("1.1.0")
        try await second.run(for: 30, tick: 5)
        let failed = try await second.store.stream(StreamID("instance:shop/web@staging")).filter { $0.type == ApplyFinished.failedType }
        #expect(failed.count == 1)
        #expect(failed.first?.payload.contains("abandoned: superseded by 1.1.0 while no worker ran") == true)
        #expect(await second.status("staging") == "converged 1.1.0")
    }

    @Test("replay recomputes every recorded decision identically, and a forged one is reported with a diff")
    func replay() async throws {
        let scenario = try await Scenario.make()
        defer { try? FileManager.default.removeItem(at: scenario.directory) }
        try await scenario.releaseOneThenTwo()
        let clean = try await Replay.run(store: scenario.store)
        #expect(clean.decisions > 20)
        #expect(clean.matched == clean.decisions, "\(clean.differences.map(\.diff))")

        // A decision nobody's engine would make from that view.
        let last = try #require(try await scenario.store.events(EventFilter(types: [DecisionMade.eventType], limit: 1, latest: true)).first)
        var forged = try last.decode(DecisionMade.self)
        forged.decision.status = .failed
        forged.decision.actions = [.markBad(version: "1.0.0", reason: "forged")]
        try await scenario.signal(forged, stream: "instance:\(forged.instance)", actor: "mallory")
        let report = try await Replay.run(store: scenario.store, from: last.position + 1)
        #expect(report.decisions == 1)
        #expect(report.differences.count == 1)
        let diff = try #require(report.differences.first?.diff)
        #expect(diff.contains { $0.hasPrefix("status: failed → ") })
        #expect(diff.contains { $0.hasPrefix("actions: [\"mark 1.0.0 bad (forged)\"] → ") })
    }

    @Test("recorded decisions hold reasons as values, never words: rewording a reason changes no recorded decision and no replay")
    func reasonsAreValues() async throws {
        let scenario = try await Scenario.make()
        defer { try? FileManager.default.removeItem(at: scenario.directory) }
        try await scenario.releaseOneThenTwo()
        let events = try await scenario.store.events(EventFilter(types: [DecisionMade.eventType], limit: 10_000))
        #expect(events.count > 20)
        var kinds: Set<String> = []
        for event in events {
            let made = try event.decode(DecisionMade.self)
            #expect(made.engineVersion == Engine.version)
            if case .words = made.decision.reason { Issue.record("a decision recorded words: \(event.payload)") }
            // The words people read appear nowhere in what was recorded: the payload is the same
            // whatever the words say, so a reworded Keelson records and replays the same bytes.
            let words = made.decision.reason.words(at: made.nowMilliseconds)
            #expect(!event.payload.contains(words), "\(event.payload)")
            kinds.insert(String(describing: made.decision.reason).prefix { $0 != "(" }.description)
            // Read back and written again: the same bytes (what the log holds is all there is).
            #expect(try CanonicalJSON.string(made) == CanonicalJSON.string(try JSONDecoder().decode(DecisionMade.self, from: Data(event.payload.utf8))))
        }
        #expect(kinds.count >= 5, "\(kinds)")

    }

    @Test("a log replays clean under the engine that recorded it; under engine 2 it lists what engine 2 would have decided differently")
    func replayAcrossEngineVersions() async throws {
        let scenario = try await Scenario.make()
        defer { try? FileManager.default.removeItem(at: scenario.directory) }
        try await scenario.rollOut("1.0.0")
        // 2.0.0 fails in canary: prod keeps 1.0.0 and never receives 2.0.0.
        try await scenario.release("2.0.0")
        try await scenario.run(for: 900, tick: 10)
        #expect(await scenario.record("prod")?.status == .converged)

        let recorded = try await Replay.run(store: scenario.store)
        #expect(recorded.decisions > 20 && recorded.matched == recorded.decisions && recorded.skipped == 0)
        let three = try await Replay.run(store: scenario.store, engine: 3)
        #expect(three.matched == recorded.decisions)
        // Engine 2 says the same in words until 2.0.0 is marked bad; then prod, converged on
        // 1.0.0 with 2.0.0 held back, is a decision about 2.0.0 to engine 2.
        let two = try await Replay.run(store: scenario.store, engine: 2)
        #expect(two.engine == 2 && two.decisions == recorded.decisions)
        #expect(two.matched > recorded.decisions / 2 && !two.differences.isEmpty, "\(two.differences.map(\.diff))")
        let prod = try #require(two.differences.first { $0.instance == "shop/web@prod" })
        #expect(prod.recorded.status == .converged && prod.replayed.status == .converged)
        #expect(prod.diff.contains("version: 1.0.0 → 2.0.0"), "\(prod.diff)")
        #expect(prod.diff.contains { $0.hasPrefix("reason: on 1.0.0; 2.0.0 is held back here") && $0.contains("→ 2.0.0 is marked bad") }, "\(prod.diff)")
    }

    @Test("two workers share one database through leases; when one stops, the other takes its instances over and resumes its apply")
    func leases() async throws {
        let scenario = try await Scenario.make()
        defer { try? FileManager.default.removeItem(at: scenario.directory) }
        var simulation = SimulationSettings()
        simulation.applyLatency = .seconds(1)
        simulation.timeToHealthy = .seconds(5)
        let clock = scenario.clock
        func worker(_ name: String, _ runtimes: [String: any Runtime]) -> Worker {
            var settings = Worker.Settings(name: name, stateRoot: scenario.directory.path)
            settings.clock = { clock.now }
            return Worker(store: scenario.store, settings: settings, declarations: ConfigRuntimes(), runtimes: runtimes)
        }
        // worker:a's runtime never finishes an apply: it "dies" with its apply requested.
        let first = worker("worker:a", ["sim": HangingRuntime(name: "sim"), "sim-canary": HangingRuntime(name: "sim-canary")])
        let second = worker("worker:b", [
            "sim": SimulatedRuntime(name: "sim", settings: simulation, clock: { clock.now }),
            "sim-canary": SimulatedRuntime(name: "sim-canary", settings: simulation, clock: { clock.now }),
        ])
        try await scenario.release("1.0.0")
        try await first.step()
        try await second.step()
        #expect(try await scenario.store.instanceLeases().map(\.owner) == ["worker:a", "worker:a", "worker:a"])
        let staging = ServiceInstanceID("shop/web@staging")!
        let pending = try #require(await first.engineState.instances[staging]?.request)
        #expect(pending.result == nil && pending.requestedBy == "worker:a")
        #expect(Set(try await scenario.store.events(EventFilter(types: [DecisionMade.eventType])).compactMap(\.actor)) == ["worker:a"])

        // Nobody renews worker:a's leases (30 s); worker:b takes over once they expire.
        clock.advance(20)
        try await second.step()
        #expect(try await scenario.store.instanceLeases().allSatisfy { $0.owner == "worker:a" })
        clock.advance(15)
        for _ in 0..<6 {
            try await second.step()
            await second.waitForApplies()
            clock.advance(5)
        }
        #expect(try await scenario.store.instanceLeases().allSatisfy { $0.owner == "worker:b" })
        let taken = try await scenario.store.events(EventFilter(types: [LeaseAcquired.eventType]))
            .map { try $0.decode(LeaseAcquired.self) }.filter { $0.worker == "worker:b" }
        #expect(taken.count == 3 && taken.allSatisfy { $0.previousOwner == "worker:a" })
        let record = await second.engineState.instances[staging]
        #expect(record?.converged?.release.version == "1.0.0", "\(record?.words ?? "")")
        // worker:a's request was re-issued with its id by worker:b; no second request was made.
        let events = try await scenario.store.stream(StreamID("instance:shop/web@staging"))
        #expect(events.filter { $0.type == ApplyRequested.eventType }.count == 1)
        let started = events.filter { $0.type == ApplyStarted.eventType }.compactMap { try? $0.decode(ApplyStarted.self) }
        #expect(started.map(\.idempotencyKey) == [pending.requestID, pending.requestID])
        #expect(events.filter { $0.type == ApplyStarted.eventType }.map(\.actor) == ["worker:a", "worker:b"])
        #expect(try await scenario.decisions("staging").contains { $0.actions == [.reissue(requestID: pending.requestID)] })
        let replay = try await Replay.run(store: scenario.store)
        #expect(replay.matched == replay.decisions)
    }
}

extension EventStore {
    /// The leases on instances (not on worker names).
    func instanceLeases() async throws -> [(key: String, owner: String, expiresAtMilliseconds: Int64)] {
        try await leases().filter { $0.key.hasPrefix("instance:") }
    }
}

/// A runtime whose applies never finish (a worker that died mid-apply, as far as the log knows).
struct HangingRuntime: Runtime {
    let name: String
    func fetch(_ instance: ServiceInstanceID, desired: DesiredState?) async throws -> Observation { Observation(objects: []) }
    func apply(_ state: DesiredState, idempotencyKey: String, timeout: Duration) async throws -> ApplyResult {
        try await Task.sleep(for: .seconds(3_600))
        return ApplyResult(succeeded: false, durationMilliseconds: 0)
    }
    func remove(_ instance: ServiceInstanceID, desired: DesiredState?, timeout: Duration) async throws -> ApplyResult {
        ApplyResult(succeeded: true, durationMilliseconds: 0)
    }
    func check() async -> [RuntimeCheck] { [] }
}

/// A recorded decision and its reason in words.
@dynamicMemberLookup
struct RecordedDecision {
    var decision: Decision
    var words: String

    subscript<T>(dynamicMember path: KeyPath<Decision, T>) -> T { decision[keyPath: path] }
}
