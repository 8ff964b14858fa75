import Foundation
import KeelsonCompiler
import KeelsonCore
import KeelsonEngine
import KeelsonRuntimes
import KeelsonService
import KeelsonStore
import KeelsonTestSupport

/// Part 9: the engine end to end on simulated runtimes, then replay. `services` services × 3
/// channels (staging → canary → prod, 1 min soaks) are released and driven by a worker on a fake
/// clock for 15 simulated minutes; then every recorded decision is replayed and compared.
enum EngineBenchmark {
    struct Result {
        var instances: Int
        var decisions: Int
        var events: Int64
        var workerTime: Duration
        var replayTime: Duration
        var replayMatched: Int
        var converged: Int
    }

    static func config(services: Int) -> String {
        var text = """
            kind: Runtime
            name: sim
            type: simulated
            settings: {applyLatency: 1s, timeToHealthy: 5s}
            ---
            kind: Application
            name: shop
            channels:
              - {name: staging, runtime: sim, rules: {watch: 1m}}
              - {name: canary, runtime: sim, after: [staging], rules: {soak: 1m, watch: 1m}}
              - {name: prod, runtime: sim, after: [canary], rules: {soak: 1m, watch: 1m}}

            """
        for index in 0..<services {
            text += "---\nkind: Service\nname: svc-\(index)\napplication: shop\nrun: {simulated: {}}\n"
        }
        return text
    }

    static func run(directory: URL, services: Int) async throws -> Result {
        let path = directory.appendingPathComponent("engine.db").path
        for file in [path, path + "-wal", path + "-shm"] { try? FileManager.default.removeItem(atPath: file) }
        let configFile = directory.appendingPathComponent("engine.yaml")
        try config(services: services).write(to: configFile, atomically: true, encoding: .utf8)
        let clock = SteppedClock()
        var configuration = StoreConfiguration(durability: .normal)
        configuration.clock = { clock.now }
        let store = try EventStore(path: path, configuration: configuration)
        let recorder = DesiredStateRecorder(store: store, actor: "bench")
        _ = try await recorder.apply(path: configFile.path, dryRun: false)
        for index in 0..<services {
            _ = try await recorder.release(ReleaseRequest(application: "shop", service: "svc-\(index)", version: "1.0.0"), dryRun: false)
        }
        var settings = Worker.Settings(name: "worker:bench", stateRoot: directory.path)
        settings.clock = { clock.now }
        settings.applyConcurrency = 64
        let worker = Worker(store: store, settings: settings, declarations: ConfigRuntimes())
        let timer = ContinuousClock()
        let began = timer.now
        for _ in 0..<90 {
            try await worker.step()
            await worker.waitForApplies()
            try await worker.step()
            clock.advance(10)
        }
        let workerTime = timer.now - began
        let statuses = try await store.instanceStatuses()
        let replayBegan = timer.now
        let report = try await Replay.run(store: store)
        let replayTime = timer.now - replayBegan
        let events = try await store.lastPosition()
        try store.close()
        return Result(
            instances: services * 3, decisions: report.decisions, events: events, workerTime: workerTime, replayTime: replayTime,
            replayMatched: report.matched, converged: statuses.filter { $0.status == "converged" && $0.lastGoodVersion == "1.0.0" }.count)
    }
}
