import Foundation
import KeelsonCompiler
import KeelsonCore
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
        // of the runtime (one write each), not one by one.
        let batches = await scenario.worker.fetchBatchesStarted
        let fetchesBefore = try await scenario.store.events(EventFilter(types: [StateUnchanged.eventType, StateFetched.eventType])).count
        scenario.clock.advance(121)
        try await scenario.worker.step()
        let fetched = try await scenario.store.events(EventFilter(types: [StateUnchanged.eventType, StateFetched.eventType])).count - fetchesBefore
        let batchesNow = await scenario.worker.fetchBatchesStarted - batches
        #expect(fetched == services * 5)
        #expect(batchesNow == services * 5 / Worker.fetchBatchLimit, "\(fetched) fetches took \(batchesNow) batches")
    }
}
