import Foundation
import KeelsonCore
import KeelsonRuntimes
import KeelsonService
import KeelsonStore
import Testing
@testable import KeelsonEngine

/// Unchanged fetches of settled instances are held back and recorded in runs: never a decision
/// made over a fetch that is not in the log, every fetch recorded in the end.
@Suite("Runs of unchanged fetches")
struct UnchangedRunTests {
    static let staging = ServiceInstanceID("shop/web@staging")!

    static func worker(_ scenario: Scenario, runLength: Duration, runtimes: [String: SimulatedRuntime]? = nil) -> Worker {
        var settings = Worker.Settings(name: "worker:test", stateRoot: scenario.directory.appendingPathComponent("state").path)
        let clock = scenario.clock
        settings.clock = { clock.now }
        settings.unchangedRunLength = runLength
        return Worker(store: scenario.store, settings: settings, declarations: ConfigRuntimes(), runtimes: runtimes ?? scenario.simulated())
    }

    /// 1.0.0 through every channel (prod approved), then half an hour of stable fetches.
    static func settle(_ scenario: Scenario, _ worker: Worker) async throws {
        try await scenario.release("1.0.0")
        try await scenario.run(worker, for: 1_500, tick: 10)
        try await scenario.signal(ApprovalGranted(instance: ServiceInstanceID("shop/web@prod")!, version: "1.0.0"), stream: "instance:shop/web@prod")
        try await scenario.run(worker, for: 900, tick: 10)
    }

    static func fetchEvents(_ store: EventStore, after position: Int64, of id: ServiceInstanceID) async throws -> [RecordedEvent] {
        try await store.stream(.instance(id)).filter {
            $0.position > position && [StateFetched.eventType, StateUnchanged.eventType, FetchFailed.eventType].contains($0.type)
        }
    }

    @Test("a settled instance's unchanged fetches are held back; its next decision is recorded after them, in the same write")
    func heldUntilTheNextDecision() async throws {
        let scenario = try await Scenario.make()
        defer { try? FileManager.default.removeItem(at: scenario.directory) }
        let worker = Self.worker(scenario, runLength: .seconds(3_600))
        try await Self.settle(scenario, worker)
        let settled = try await scenario.store.lastPosition()
        try await scenario.run(worker, for: 300, tick: 10)
        // Five minutes at the 60 s stable cadence: fetched, and nothing written.
        #expect(try await Self.fetchEvents(scenario.store, after: settled, of: Self.staging).isEmpty)
        #expect(try await scenario.store.lastPosition() == settled)
        #expect(await worker.heldUnchangedRuns == 3)
        #expect(await worker.heldUnchangedFetches >= 3 * 4)

        // A release: staging's run is recorded first, in the transaction of the decision to apply.
        try await scenario.release("1.1.0")
        try await worker.step()
        let stream = try await scenario.store.stream(.instance(Self.staging)).filter { $0.position > settled }
        let types = stream.map(\.type)
        let run = try #require(types.firstIndex(of: StateUnchanged.eventType))
        #expect(Array(types[run...].prefix(3)) == [StateUnchanged.eventType, DecisionMade.eventType, ApplyRequested.eventType])
        let unchanged = try stream[run].decode(StateUnchanged.self)
        let made = try stream[run + 1].decode(DecisionMade.self)
        #expect(unchanged.count >= 4 && unchanged.lastMilliseconds != nil && unchanged.firstMilliseconds! <= unchanged.lastMilliseconds!)
        #expect(stream[run].recordedAtMilliseconds == stream[run + 1].recordedAtMilliseconds)
        // The decision was made over the log without the run (its view ends before it).
        #expect(made.viewPosition < stream[run].position)
        #expect(made.decision.actions.contains { if case .apply(let version, _, _) = $0 { version == "1.1.0" } else { false } })

        try await scenario.run(worker, for: 600, tick: 10)
        let replay = try await Replay.run(store: scenario.store)
        #expect(replay.differences.isEmpty && replay.matched == replay.decisions && replay.decisions > 20)
        #expect(try await scenario.store.payloadProblems().problems.isEmpty)
    }

    @Test("a run is recorded once it is as old as the run length; a fetch that sees something new is recorded at once, after its run")
    func closedByAgeAndByNews() async throws {
        let scenario = try await Scenario.make()
        defer { try? FileManager.default.removeItem(at: scenario.directory) }
        let runtimes = scenario.simulated()
        let worker = Self.worker(scenario, runLength: .seconds(300), runtimes: runtimes)
        try await Self.settle(scenario, worker)
        let settled = try await scenario.store.lastPosition()
        try await scenario.run(worker, for: 900, tick: 10)
        let runs = try await Self.fetchEvents(scenario.store, after: settled, of: Self.staging).map { try $0.decode(StateUnchanged.self) }
        #expect(runs.count >= 2 && runs.count <= 4, "\(runs)")
        for run in runs {
            #expect(run.count >= 4 && run.count <= 6)
            #expect(try #require(run.lastMilliseconds) - run.firstMilliseconds! >= 180_000)
        }
        // The engine's fold takes the run's last fetch as the time the observation was last seen.
        let seen = try #require(await worker.engineState.instances[Self.staging]?.seen)
        #expect(seen.atMilliseconds == runs.last?.lastMilliseconds)

        // The instance's process dies: the next fetch sees it, and is recorded at once — after the
        // run of the unchanged fetches before it.
        let before = try await scenario.store.lastPosition()
        try await scenario.run(worker, for: 120, tick: 10)
        #expect(await worker.heldUnchangedRuns == 3)
        await runtimes["sim"]!.forget(Self.staging)
        try await scenario.run(worker, for: 70, tick: 10)
        let after = try await Self.fetchEvents(scenario.store, after: before, of: Self.staging).map(\.type)
        #expect(Array(after.prefix(2)) == [StateUnchanged.eventType, StateFetched.eventType], "\(after)")
        let replay = try await Replay.run(store: scenario.store)
        #expect(replay.differences.isEmpty && replay.matched == replay.decisions)
    }

    @Test("a worker that stops records what it held back; with a run length of 0 every fetch is recorded on its own")
    func recordedOnStop() async throws {
        let scenario = try await Scenario.make()
        defer { try? FileManager.default.removeItem(at: scenario.directory) }
        let worker = Self.worker(scenario, runLength: .seconds(3_600))
        try await Self.settle(scenario, worker)
        try await scenario.run(worker, for: 300, tick: 10)
        let held = await worker.heldUnchangedFetches
        #expect(held >= 12)
        let before = try await scenario.store.lastPosition()
        let running = Task { try await worker.run() }
        try await Task.sleep(for: .milliseconds(300))
        running.cancel()
        try await running.value
        #expect(await worker.heldUnchangedRuns == 0)
        let recorded = try await scenario.store.events(EventFilter(afterPosition: before, types: [StateUnchanged.eventType]))
        #expect(recorded.count == 3)
        #expect(try recorded.map { try $0.decode(StateUnchanged.self).count }.reduce(0, +) >= held)

        // Run length 0: one event per fetch, as a recorder without a worker writes them.
        let other = try await Scenario.make()
        defer { try? FileManager.default.removeItem(at: other.directory) }
        let each = Self.worker(other, runLength: .zero)
        try await Self.settle(other, each)
        let settled = try await other.store.lastPosition()
        try await other.run(each, for: 300, tick: 10)
        let fetches = try await Self.fetchEvents(other.store, after: settled, of: Self.staging)
        #expect(fetches.count >= 4 && fetches.allSatisfy { $0.type == StateUnchanged.eventType })
        #expect(try fetches.allSatisfy { try $0.decode(StateUnchanged.self) == StateUnchanged(instance: Self.staging, sameAs: $0.decode(StateUnchanged.self).sameAs) })
        #expect(await each.heldUnchangedRuns == 0)
    }

    @Test("the fold: a run recorded at once moves the observation's position; one recorded after its last fetch moves only its time")
    func fold() throws {
        let id = Self.staging
        var state = EngineState()
        func event<Payload: EventPayload>(_ position: Int64, _ payload: Payload, at: Int64) throws -> RecordedEvent {
            let new = try NewEvent(payload)
            return RecordedEvent(
                position: position, streamID: .instance(id), version: position, type: new.type, schemaVersion: new.schemaVersion,
                payload: new.payload, recordedAtMilliseconds: at)
        }
        let observation = Observation(objects: [.init(name: "web", version: "1.0.0", desiredReplicas: 1, readyReplicas: 1, health: .healthy)])
        state.evolve(try event(1, StateFetched(instance: id, runtime: "sim", observation: observation, digest: "sha256:x"), at: 1_000))
        state.evolve(try event(2, StateUnchanged(instance: id, sameAs: 1, fetches: 3, firstMilliseconds: 2_000), at: 4_000))
        #expect(state.instances[id]?.seen?.position == 2 && state.instances[id]?.seen?.atMilliseconds == 4_000)
        state.evolve(try event(3, StateUnchanged(instance: id, sameAs: 1, fetches: 2, firstMilliseconds: 5_000, lastMilliseconds: 6_000), at: 9_000))
        #expect(state.instances[id]?.seen?.position == 2 && state.instances[id]?.seen?.atMilliseconds == 6_000)
        // A run cannot say its last fetch came after it was recorded (a forged one, say).
        state.evolve(try event(4, StateUnchanged(instance: id, sameAs: 1, fetches: 1, firstMilliseconds: 6_000, lastMilliseconds: 99_000_000), at: 7_000))
        #expect(state.instances[id]?.seen?.atMilliseconds == 7_000)
        // A late run never takes the time back.
        state.evolve(try event(5, StateUnchanged(instance: id, sameAs: 1, fetches: 1, firstMilliseconds: 100, lastMilliseconds: 200), at: 9_500))
        #expect(state.instances[id]?.seen?.atMilliseconds == 7_000)
        // Version 1 (no run fields) reads as one fetch at the event's time.
        let old = RecordedEvent(
            position: 6, streamID: .instance(id), version: 6, type: StateUnchanged.eventType, schemaVersion: 1,
            payload: #"{"instance":"shop/web@staging","sameAs":1}"#, recordedAtMilliseconds: 10_000)
        #expect(try old.decode(StateUnchanged.self).count == 1)
        state.evolve(old)
        #expect(state.instances[id]?.seen?.position == 6 && state.instances[id]?.seen?.atMilliseconds == 10_000)

        #expect(PayloadCheck.problems(type: StateUnchanged.eventType, payload: #"{"instance":"shop/web@staging","sameAs":1,"fetches":0}"#)
            == ["fetches: expected 1 or more, found 0"])
        #expect(PayloadCheck.problems(
            type: StateUnchanged.eventType,
            payload: #"{"instance":"shop/web@staging","sameAs":1,"firstMilliseconds":5,"lastMilliseconds":4}"#)
            == ["firstMilliseconds: 5 is after lastMilliseconds 4"])
    }
}
