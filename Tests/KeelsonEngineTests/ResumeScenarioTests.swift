import Foundation
import KeelsonCompiler
import KeelsonCore
import KeelsonRuntimes
import KeelsonService
import KeelsonStore
import Testing
@testable import KeelsonEngine

extension Scenario {
    /// A worker of its own on this scenario's store and clock, with the runtimes given.
    func worker(_ name: String, _ runtimes: [String: any Runtime]) -> Worker {
        var settings = Worker.Settings(name: name, stateRoot: directory.appendingPathComponent("state").path)
        let clock = clock
        settings.clock = { clock.now }
        return Worker(store: store, settings: settings, declarations: ConfigRuntimes(), runtimes: runtimes)
    }

    /// Simulated runtimes for the scenario's config, on its clock.
    func simulated(timeToHealthy: Int = 5) -> [String: SimulatedRuntime] {
        var settings = SimulationSettings()
        settings.applyLatency = .seconds(1)
        settings.timeToHealthy = .seconds(timeToHealthy)
        var canary = settings
        canary.unhealthyVersions = ["2.0.0"]
        let clock = clock
        return [
            "sim": SimulatedRuntime(name: "sim", settings: settings, clock: { clock.now }),
            "sim-canary": SimulatedRuntime(name: "sim-canary", settings: canary, clock: { clock.now }),
        ]
    }

    /// Runs `worker` for `seconds` of fake time in steps of `tick` seconds.
    func run(_ worker: Worker, for seconds: Int, tick: Int = 5) async throws {
        for _ in 0..<(seconds / tick) {
            try await worker.step()
            await worker.waitForApplies()
            try await worker.step()
            clock.advance(TimeInterval(tick))
        }
    }

    func events(_ channel: String, _ type: String, service: String = "web") async throws -> [RecordedEvent] {
        try await store.stream(StreamID("instance:shop/\(service)@\(channel)")).filter { $0.type == type }
    }
}

@Suite("Engine resume and robustness, in process", .serialized)
struct ResumeScenarioTests {
    static let staging = ServiceInstanceID("shop/web@staging")!

    @Test("taken over, re-issued, then the re-issuer restarts under its name: the apply is resumed, not waited on forever")
    func takeoverThenRestart() async throws {
        let scenario = try await Scenario.make()
        defer { try? FileManager.default.removeItem(at: scenario.directory) }
        let hanging: [String: any Runtime] = ["sim": HangingRuntime(name: "sim"), "sim-canary": HangingRuntime(name: "sim-canary")]
        try await scenario.release("1.0.0")
        // w1 requests the apply, and is killed while it runs.
        let w1 = scenario.worker("w1", hanging)
        try await w1.step()
        let request = try #require(await w1.engineState.instances[Self.staging]?.request)
        await w1.abandon()
        // Its leases expire; w2 takes them over and re-issues the apply, and is killed during it.
        scenario.clock.advance(35)
        let w2 = scenario.worker("w2", hanging)
        for _ in 0..<4 {
            try await w2.step()
            scenario.clock.advance(2)
        }
        #expect(try await scenario.decisions("staging").contains { $0.actions == [.reissue(requestID: request.requestID)] })
        await w2.abandon()
        // w2 starts again under its name: it holds the lease at once (no hand-over is recorded)
        // and resumes the apply it ran, though w1 asked for it.
        let restarted = scenario.worker("w2", scenario.simulated())
        try await scenario.run(restarted, for: 30)
        let record = await restarted.engineState.instances[Self.staging]
        #expect(record?.converged?.release.version == "1.0.0", "\(record?.words ?? "")")
        #expect(record?.request?.requestedBy == "w1" && record?.request?.executor == "w2")
        #expect(try await scenario.events("staging", ApplyRequested.eventType).count == 1)
        let keys = try await scenario.events("staging", ApplyStarted.eventType).map { try $0.decode(ApplyStarted.self).idempotencyKey }
        #expect(keys == [request.requestID, request.requestID, request.requestID])
        #expect(try await scenario.events("staging", LeaseAcquired.eventType).compactMap(\.actor) == ["w1", "w2"])
        let replay = try await Replay.run(store: scenario.store)
        #expect(replay.matched == replay.decisions, "\(replay.differences.map(\.diff))")
    }

    @Test("a worker name is exclusive while its holder lives, even past its lease; once it stops, the name is free at once")
    func exclusiveName() async throws {
        let scenario = try await Scenario.make()
        defer { try? FileManager.default.removeItem(at: scenario.directory) }
        let first = scenario.worker("w", scenario.simulated())
        try await first.start()
        scenario.clock.advance(300)
        let second = scenario.worker("w", scenario.simulated())
        do {
            try await second.start()
            Issue.record("a second live worker took the name")
        } catch let failure as Worker.Failure {
            #expect(failure.description.contains(#"the worker name "w" is in use by a running process"#), "\(failure)")
            #expect(failure.description.contains("give this one another name"), "\(failure)")
        }
        #expect(try await scenario.store.events(EventFilter(types: [WorkerStarted.eventType])).count == 1)
        await first.stop()
        try await second.start()
        // A holder that died (here: forgotten without stopping) gives the name up at once too.
        await second.abandon()
        let third = scenario.worker("w", scenario.simulated())
        try await third.start()
        #expect(try await scenario.store.events(EventFilter(types: [WorkerStarted.eventType])).count == 3)
        await third.stop()
    }

    @Test("the runtime loses an applied release before it converged: applied again once, with a new key; not failed")
    func healedBeforeConvergence() async throws {
        let scenario = try await Scenario.make()
        defer { try? FileManager.default.removeItem(at: scenario.directory) }
        let runtimes = scenario.simulated(timeToHealthy: 30)
        let worker = scenario.worker("worker:test", runtimes)
        try await scenario.release("1.0.0")
        try await worker.step()
        await worker.waitForApplies()
        #expect(try await scenario.events("staging", ApplyFinished.succeededType).count == 1)
        // The worker dies before the release is healthy, and the runtime's state goes with it.
        await runtimes["sim"]!.forget(Self.staging)
        try await scenario.run(worker, for: 200)
        let record = await worker.engineState.instances[Self.staging]
        #expect(record?.converged?.release.version == "1.0.0", "\(record?.words ?? "")")
        let requests = try await scenario.events("staging", ApplyRequested.eventType).map { try $0.decode(ApplyRequested.self) }
        #expect(requests.count == 2 && Set(requests.map(\.requestID)).count == 2)
        #expect(try await scenario.decisions("staging").contains { $0.words.contains("drift before converging: nothing runs") })
        #expect(try await scenario.store.events(EventFilter(types: [ReleaseMarkedBad.eventType])).isEmpty)
        let replay = try await Replay.run(store: scenario.store)
        #expect(replay.matched == replay.decisions, "\(replay.differences.map(\.diff))")
    }

    @Test("releasing a version again after its health failed (not its apply) applies it again instead of re-marking it bad at once")
    func retryAfterHealthFailure() async throws {
        let scenario = try await Scenario.make()
        defer { try? FileManager.default.removeItem(at: scenario.directory) }
        let worker = scenario.worker("worker:test", scenario.simulated())
        // 2.0.0 is the first release: healthy in staging, never healthy in canary, nothing to roll back to.
        try await scenario.release("2.0.0")
        try await scenario.run(worker, for: 1_200, tick: 10)
        let canary = await worker.engineState.instances[ServiceInstanceID("shop/web@canary")!]
        #expect(canary?.status == .failed, "\(canary?.words ?? "")")
        #expect(try await scenario.store.events(EventFilter(types: [ReleaseMarkedBad.eventType])).count == 1)
        #expect(try await scenario.events("canary", ApplyRequested.eventType).count == 1)

        try await scenario.release("2.0.0")
        try await scenario.run(worker, for: 30, tick: 5)
        #expect(try await scenario.events("canary", ApplyRequested.eventType).count == 2, "applied again")
        #expect(try await scenario.store.events(EventFilter(types: [ReleaseMarkedBad.eventType])).count == 1, "not re-marked at once")
        let retried = await worker.engineState.instances[ServiceInstanceID("shop/web@canary")!]
        #expect(retried?.status == .converging, "\(retried?.words ?? "")")
        // Staging, good on 2.0.0, is left alone.
        #expect(try await scenario.events("staging", ApplyRequested.eventType).count == 1)
        // Still unhealthy: it fails again, after a deadline of its own.
        try await scenario.run(worker, for: 180, tick: 10)
        #expect(try await scenario.store.events(EventFilter(types: [ReleaseMarkedBad.eventType])).count == 2)
    }

    static let threeServices = """
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
        ---
        kind: Service
        name: db
        application: shop
        run: {simulated: {}}
        """

    @Test("what the worker cannot decide about fails that instance with the reason; the others go on, and the loop never throws")
    func undecidable() async throws {
        let scenario = try await Scenario.make(config: Self.threeServices)
        defer { try? FileManager.default.removeItem(at: scenario.directory) }
        for service in ["web", "api", "db"] { try await scenario.release("1.0.0", service: service) }
        // web: an event of its stream that does not decode.
        try await scenario.store.append(
            [NewEvent(type: ApplyRequested.eventType, payload: #"{"instance":"shop/web@staging","version":1}"#, actor: "mallory")],
            to: "instance:shop/web@staging")
        // api: a desired state naming a runtime the config does not declare.
        let api = try #require(try await scenario.store.desiredState(of: ServiceInstanceID("shop/api@staging")!))
        var document = try #require(try JSONSerialization.jsonObject(with: Data(api.document.utf8)) as? [String: Any])
        var runtime = try #require(document["runtime"] as? [String: Any])
        runtime["name"] = "gone"
        document["runtime"] = runtime
        let gone = String(decoding: try JSONSerialization.data(withJSONObject: document, options: .sortedKeys), as: UTF8.self)
        try await scenario.signal(
            DesiredStateCompiled(instance: "shop/api@staging", digest: "sha256:gone", document: gone, version: "1.0.1", parameters: [:], configDigest: "x"),
            stream: "instance:shop/api@staging")
        // db: a progress deadline no bounded input allows (recorded before bounds existed).
        let db = try #require(try await scenario.store.desiredState(of: ServiceInstanceID("shop/db@staging")!))
        document = try #require(try JSONSerialization.jsonObject(with: Data(db.document.utf8)) as? [String: Any])
        document["progressDeadlineSeconds"] = 9_000_000_000_000_000
        let huge = String(decoding: try JSONSerialization.data(withJSONObject: document, options: .sortedKeys), as: UTF8.self)
        try await scenario.signal(
            DesiredStateCompiled(instance: "shop/db@staging", digest: "sha256:huge", document: huge, version: "1.0.1", parameters: [:], configDigest: "x"),
            stream: "instance:shop/db@staging")

        let worker = scenario.worker("worker:test", scenario.simulated())
        try await scenario.run(worker, for: 60)
        let state = await worker.engineState
        let web = state.instances[ServiceInstanceID("shop/web@staging")!]
        #expect(web?.status == .failed)
        #expect(web?.words.contains("cannot decide: event") == true && web?.words.contains("(ApplyRequested on instance:shop/web@staging) cannot be read") == true, "\(web?.words ?? "")")
        let apiRecord = state.instances[ServiceInstanceID("shop/api@staging")!]
        #expect(apiRecord?.status == .failed)
        #expect(apiRecord?.words.contains(#"runtime "gone" is not declared by the config in force"#) == true, "\(apiRecord?.words ?? "")")
        #expect(state.instances[ServiceInstanceID("shop/db@staging")!]?.converged?.release.version == "1.0.1")
        // Said once, not every pass; shown by status like any decision.
        #expect(try await scenario.events("staging", DecisionFailed.eventType, service: "api").count == 1)
        let rows = try await scenario.store.instanceStatuses(prefix: "shop/")
        #expect(rows.first { $0.instance == "shop/api@staging" }?.status == "failed")
        #expect(rows.first { $0.instance == "shop/web@staging" }?.status == "failed")
        #expect(try await scenario.store.verifyProjections().isClean)
        let replay = try await Replay.run(store: scenario.store)
        #expect(replay.matched == replay.decisions, "\(replay.differences.map(\.diff))")
    }

    @Test("an instance removed from config: its runtime's remove is called once and recorded; it is neither decided nor fetched after")
    func removal() async throws {
        let scenario = try await Scenario.make()
        defer { try? FileManager.default.removeItem(at: scenario.directory) }
        let runtimes = scenario.simulated()
        let worker = scenario.worker("worker:test", runtimes)
        try await scenario.release("1.0.0")
        try await scenario.run(worker, for: 30)
        #expect(await runtimes["sim"]!.count == 1)
        try await scenario.signal(InstanceRemoved(instance: Self.staging.description, version: "1.0.0", configDigest: "sha256:pruned"), stream: "instance:shop/web@staging")
        try await scenario.run(worker, for: 120)
        #expect(await runtimes["sim"]!.count == 0)
        let events = try await scenario.store.stream(StreamID("instance:shop/web@staging"))
        let finished = try #require(events.last { $0.type == InstanceRemovalFinished.eventType })
        #expect(try finished.decode(InstanceRemovalFinished.self).result.succeeded)
        #expect(events.filter { $0.type == InstanceRemovalFinished.eventType }.count == 1)
        let after = events.filter { $0.position > finished.position }.map(\.type)
        #expect(after.isEmpty, "nothing after the removal: \(after)")

        // A worker that starts later does not remove it again; one that died during the removal does it.
        await worker.stop()
        let later = scenario.worker("worker:test", runtimes)
        try await scenario.run(later, for: 20)
        #expect(try await scenario.events("staging", InstanceRemovalFinished.eventType).count == 1)
        let canary = ServiceInstanceID("shop/web@canary")!
        try await scenario.signal(InstanceRemoved(instance: canary.description, version: "1.0.0", configDigest: "sha256:pruned"), stream: "instance:shop/web@canary")
        await later.abandon()
        let resumed = scenario.worker("worker:test", runtimes)
        try await scenario.run(resumed, for: 20)
        #expect(try await scenario.events("canary", InstanceRemovalFinished.eventType).count == 1)
    }
}
