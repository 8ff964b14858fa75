import Foundation
import KeelsonCore
import KeelsonRuntimes
import KeelsonService
import KeelsonStore
import Testing
@testable import KeelsonEngine

/// Snapshots of the engine's state: what a worker starts from instead of the log's first event,
/// and the per-instance fold `explain` reads.
@Suite("Engine snapshots and per-instance folds")
struct SnapshotTests {
    /// A worker that stores a snapshot every `every` events.
    static func worker(_ scenario: Scenario, _ name: String = "worker:a", every: Int64, runtimes: [String: any Runtime]) -> Worker {
        var settings = Worker.Settings(name: name, stateRoot: scenario.directory.appendingPathComponent("state").path)
        let clock = scenario.clock
        settings.clock = { clock.now }
        settings.snapshotEvery = every
        return Worker(store: scenario.store, settings: settings, declarations: ConfigRuntimes(), runtimes: runtimes)
    }

    /// 1.0.0 through every channel, then 2.0.0 failing in canary and rolled back, with `worker`.
    static func history(_ scenario: Scenario, _ worker: Worker) async throws {
        try await scenario.release("1.0.0")
        try await scenario.run(worker, for: 1_500, tick: 10)
        try await scenario.signal(ApprovalGranted(instance: ServiceInstanceID("shop/web@prod")!, version: "1.0.0"), stream: "instance:shop/web@prod")
        try await scenario.run(worker, for: 600, tick: 10)
        try await scenario.release("2.0.0")
        try await scenario.run(worker, for: 900, tick: 10)
    }

    @Test("a worker stores snapshots as the log grows; one that starts from the latest holds what a fold of the whole log holds, and goes on from there")
    func startFromSnapshot() async throws {
        let scenario = try await Scenario.make()
        defer { try? FileManager.default.removeItem(at: scenario.directory) }
        let runtimes = scenario.simulated()
        let first = Self.worker(scenario, every: 40, runtimes: runtimes)
        try await Self.history(scenario, first)
        await first.waitForSnapshot()
        let stored = try await scenario.store.engineSnapshots()
        #expect(stored.count == 2, "only the latest two are kept: \(stored)")
        #expect(stored.allSatisfy { $0.foldVersion == EngineSnapshot.foldVersion && $0.position > 40 })
        let checks = try await scenario.store.verifyEngineSnapshots()
        #expect(checks.count == 2 && checks.allSatisfy { $0.problem == nil }, "\(checks)")

        // Another worker, once the first stopped and its leases ran out: it starts from the latest
        // snapshot, not from position 0.
        scenario.clock.advance(60)
        let again = Self.worker(scenario, "worker:b", every: 40, runtimes: runtimes)
        try await again.start()
        let startedFrom = await again.snapshotAt
        #expect(startedFrom == stored.last?.position)
        let folded = try await scenario.store.engineState()
        #expect(await again.engineState.holdsTheSame(as: folded))
        #expect(await again.live == first.live)

        // …and decides on from there as the first would have: 3.0.0 goes through.
        try await scenario.release("3.0.0")
        try await scenario.run(again, for: 1_500, tick: 10)
        let staging = await again.engineState.instances[ServiceInstanceID("shop/web@staging")!]
        #expect(staging?.status == .converged && staging?.converged?.release.version == "3.0.0", "\(staging?.words ?? "")")
        let replay = try await Replay.run(store: scenario.store)
        #expect(replay.matched == replay.decisions && replay.decisions > 30)
    }

    @Test("a worker that stops stores a snapshot of where it got to; the next start folds nothing before it")
    func snapshotOnStop() async throws {
        let scenario = try await Scenario.make()
        defer { try? FileManager.default.removeItem(at: scenario.directory) }
        try await scenario.release("1.0.0")
        let worker = Self.worker(scenario, every: 10_000, runtimes: scenario.simulated())
        let running = Task { try await worker.run() }
        for _ in 0..<100 where await worker.engineState.instances.isEmpty { try await Task.sleep(for: .milliseconds(50)) }
        #expect(try await scenario.store.engineSnapshots().isEmpty, "not due while it runs: 10,000 events, 5 minutes")
        running.cancel()
        _ = await running.result
        let stored = try #require(try await scenario.store.engineSnapshots().last)
        #expect(stored.position == (await worker.folded))
        #expect(try await scenario.store.verifyEngineSnapshots().allSatisfy { $0.problem == nil })

        scenario.clock.advance(60)
        let next = Self.worker(scenario, "worker:b", every: 10_000, runtimes: scenario.simulated())
        try await next.start()
        #expect(await next.snapshotAt == stored.position)
        #expect(await next.engineState.holdsTheSame(as: try await scenario.store.engineState()))
    }

    @Test("db check finds a snapshot that does not hold what the log says; a snapshot of another fold version is not started from")
    func wrongSnapshots() async throws {
        let scenario = try await Scenario.make()
        defer { try? FileManager.default.removeItem(at: scenario.directory) }
        let worker = Self.worker(scenario, every: 0, runtimes: scenario.simulated())
        try await Self.history(scenario, worker)
        #expect(try await scenario.store.engineSnapshots().isEmpty, "0: never")

        var state = try await scenario.store.engineState()
        let position = try await scenario.store.lastPosition()
        state.instances[ServiceInstanceID("shop/web@prod")!]?.status = .failed
        var forged = EngineSnapshot(state)
        forged.position = position
        try await scenario.store.writeEngineSnapshot(forged, nowMilliseconds: 0)
        let checks = try await scenario.store.verifyEngineSnapshots()
        #expect(checks.first?.problem?.contains("differs from a fold of the log to position \(position): shop/web@prod") == true, "\(checks)")

        var other = EngineSnapshot(state)
        other.foldVersion = EngineSnapshot.foldVersion + 1
        other.position = position
        try await scenario.store.deleteEngineSnapshots()
        try await scenario.store.writeEngineSnapshot(other, nowMilliseconds: 0)
        #expect(try await scenario.store.latestEngineSnapshot() == nil)
        #expect(try await scenario.store.verifyEngineSnapshots().allSatisfy { $0.problem == nil })
    }

    @Test("a snapshot reads back as the state it was made of (documents kept once per digest)")
    func roundTrip() async throws {
        let scenario = try await Scenario.make()
        defer { try? FileManager.default.removeItem(at: scenario.directory) }
        try await Self.history(scenario, Self.worker(scenario, every: 0, runtimes: scenario.simulated()))
        let state = try await scenario.store.engineState()
        let snapshot = EngineSnapshot(state)
        #expect(snapshot.records.allSatisfy { ($0.desired?.document ?? "").isEmpty })
        #expect(!snapshot.documents.isEmpty)
        let decoded = try JSONDecoder().decode(EngineSnapshot.self, from: try JSONEncoder().encode(snapshot))
        #expect(decoded.state.instances == state.instances)
        // The stored form: a header line, then one line per instance, read back in parallel.
        let stored = try snapshot.encoded()
        #expect(stored.split(separator: 0x0A).count == 1 + state.instances.count)
        #expect(try await EngineSnapshot.decoded(stored) == snapshot)
        await #expect(throws: DecodingError.self) { try await EngineSnapshot.decoded(stored.dropLast(40)) }
        #expect(decoded.state.holdsTheSame(as: state) && decoded.state.convergingByApplication.values.map(\.count).reduce(0, +)
            == state.convergingByApplication.values.map(\.count).reduce(0, +))
    }

    @Test("one instance's record folded from its own events equals the whole log's fold, at every position")
    func perInstanceFold() async throws {
        let scenario = try await Scenario.make()
        defer { try? FileManager.default.removeItem(at: scenario.directory) }
        try await Self.history(scenario, Self.worker(scenario, every: 0, runtimes: scenario.simulated()))
        let last = try await scenario.store.lastPosition()
        let instances = ["staging", "canary", "prod"].map { ServiceInstanceID(application: "shop", service: "web", channel: $0) }
        var state = EngineState()
        var compared = 0
        for position in stride(from: Int64(1), through: last, by: 3) {
            state = try await scenario.store.engineState(upTo: position)
            for id in instances {
                let record = try await scenario.store.instanceRecord(id, upTo: position)
                #expect(record == state.instances[id], "\(id) at \(position)")
                // The same from the instance's whole stream read beforehand (as explain does).
                let stream = try await scenario.store.stream(.instance(id))
                #expect(try await scenario.store.instanceRecord(id, upTo: position, stream: stream) == record, "\(id) at \(position)")
                compared += 1
            }
        }
        #expect(compared > 100)
        // Read in pages one ahead (what `engineState` folds) or all at once: the same state.
        var plain = EngineState()
        for event in try await scenario.store.events(EventFilter(types: EngineState.eventTypes)) { plain.evolve(event) }
        #expect(plain == (try await scenario.store.engineState()))
        #expect(plain.instances.count == 3)
    }
}
