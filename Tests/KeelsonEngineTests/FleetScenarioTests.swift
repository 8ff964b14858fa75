import Foundation
import KeelsonCompiler
import KeelsonCore
import KeelsonService
import KeelsonStore
import KeelsonTestSupport
import Testing

@testable import KeelsonEngine

/// The worker's work grows with what changed, not with the fleet: 1,000 instances on the
/// simulated runtime, then one service released again.
@Suite("A fleet of 1,000 instances")
struct FleetScenarioTests {
    static func config(services: Int) -> String { FleetConfig.text(application: "shop", services: services, servicePrefix: "s") }

    /// Steps the worker (`advance` seconds of fake time per round) until `done` or `rounds` run out.
    static func drive(_ scenario: Scenario, rounds: Int, advance: TimeInterval = 1, until done: () async throws -> Bool) async throws {
        for _ in 0..<rounds {
            try await scenario.worker.step()
            await scenario.worker.waitForApplies()
            try await scenario.worker.step()
            if try await done() { return }
            scenario.clock.advance(advance)
        }
    }

    @Test("released all at once, 1,000 instances converge; then one service's release asks decide about its own 5 instances, not the fleet's")
    func decideCallsFollowWhatChanged() async throws {
        let services = 200
        let scenario = try await Scenario.make(config: Self.config(services: services))
        let recorder = DesiredStateRecorder(store: scenario.store, actor: "alice")
        _ = try await recorder.release((0..<services).map { ReleaseRequest(application: "shop", service: "s\($0)", version: "1.0.0") }, dryRun: false)
        func convergedCount(_ version: String) async throws -> Int {
            let rows = try await scenario.store.instanceStatuses()
            return rows.filter { $0.status == "converged" && $0.decisionVersion == version }.count
        }
        try await Self.drive(scenario, rounds: 40) { try await convergedCount("1.0.0") == services * 5 }
        #expect(try await convergedCount("1.0.0") == services * 5)

        // Idle: once what was recorded has been folded, a pass with no news and no timer or fetch
        // due asks nothing.
        for _ in 0..<3 { try await scenario.worker.step() }
        let idle = await scenario.worker.decideCalls
        try await scenario.worker.step()
        #expect(await scenario.worker.decideCalls == idle)

        // One service released, the clock standing still (no fetch falls due): only its instances
        // are decided about — each a few times as its release moves (apply, result, fetch,
        // converged, passed its watch) — whatever the fleet's size.
        let before = await scenario.worker.decideCalls
        _ = try await recorder.release(ReleaseRequest(application: "shop", service: "s7", version: "2.0.0"), dryRun: false)
        try await Self.drive(scenario, rounds: 20, advance: 0) {
            try await scenario.store.instanceStatuses().filter { $0.instance.hasPrefix("shop/s7@") && $0.status == "converged" && $0.decisionVersion == "2.0.0" }.count == 5
        }
        let asked = await scenario.worker.decideCalls - before
        #expect(try await convergedCount("2.0.0") == 5)
        #expect(asked <= 5 * 12, "decide was asked \(asked) times for one service's 5 instances")

        // Two minutes later every instance is due for its stable fetch: they are fetched in batches
        // of the runtime, not one by one; none sees anything new, so none is written yet — each
        // waits in its instance's run of unchanged fetches, and no decision is asked again.
        let batches = await scenario.worker.fetchBatchesStarted
        let fetchTypes = [StateUnchanged.eventType, StateFetched.eventType, FetchFailed.eventType]
        let fetchesBefore = try await scenario.store.events(EventFilter(types: fetchTypes)).count
        let decidedBefore = await scenario.worker.decideCalls
        scenario.clock.advance(121)
        try await scenario.worker.step()
        let fetched = try await scenario.store.events(EventFilter(types: fetchTypes)).count - fetchesBefore
        let batchesNow = await scenario.worker.fetchBatchesStarted - batches
        #expect(fetched == 0)
        #expect(await scenario.worker.heldUnchangedRuns == services * 5)
        // (Only the service just released may be asked again: its last release's watch ends.)
        let decidedNow = await scenario.worker.decideCalls
        #expect(decidedNow - decidedBefore <= 5)
        #expect(batchesNow == services * 5 / Worker.fetchBatchLimit, "\(services * 5) fetches took \(batchesNow) batches")

        // Once a run is as old as `unchangedRunLength`, it is recorded: one event per instance for
        // all its fetches, and replay still matches every decision.
        let last = try await scenario.store.lastPosition()
        for _ in 0..<6 {
            scenario.clock.advance(121)
            try await scenario.worker.step()
        }
        let runs = try await scenario.store.events(EventFilter(afterPosition: last, types: fetchTypes))
        #expect(Set(runs.map(\.streamID)).count == services * 5)
        #expect(try runs.map { try $0.decode(StateUnchanged.self).count }.reduce(0, +) >= services * 5 * 5)
        let recordedLate = try runs.filter { try $0.decode(StateUnchanged.self).lastMilliseconds != nil }
        #expect(recordedLate.count == runs.count && runs.allSatisfy { $0.schemaVersion == 2 })
        let replay = try await Replay.run(store: scenario.store)
        #expect(replay.matched == replay.decisions)
    }

    @Test("an instance that passed its watch is next fetched by the stable cadence, not once more by the converging one")
    func settledInstancesWaitForTheirStableFetch() async throws {
        let scenario = try await Scenario.make(config: Self.config(services: 4))
        let recorder = DesiredStateRecorder(store: scenario.store, actor: "alice")
        _ = try await recorder.release((0..<4).map { ReleaseRequest(application: "shop", service: "s\($0)", version: "1.0.0") }, dryRun: false)
        // Converged, and passed the watch (0 s here) after the fetch that confirmed it.
        func settled() async -> [InstanceRecord] {
            await scenario.worker.state.instances.values.filter { Worker.isSettled($0) && $0.lastGood != nil }
        }
        try await Self.drive(scenario, rounds: 60) { await settled().count == 20 }
        #expect(await settled().count == 20)
        // The fetches that confirmed them were the last: none is fetched again for most of a
        // minute (the first of them settled 5 s ago), where each used to be fetched once more
        // by the converging cadence, 2 s after settling.
        let batches = await scenario.worker.fetchBatchesStarted
        for _ in 0..<50 {
            scenario.clock.advance(1)
            try await scenario.worker.step()
        }
        #expect(await scenario.worker.fetchBatchesStarted == batches)
        #expect(await settled().count == 20)
    }
}
