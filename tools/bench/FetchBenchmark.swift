import Foundation
import KeelsonCore
import KeelsonEngine
import KeelsonRuntimes
import KeelsonStore

/// Part 8: what a day of fetches of stable instances costs on disk. Stable instances are fetched
/// at the stable cadence (`FetchCadence`, 60 s by default); every fetch is recorded, and an
/// unchanged observation is a small `StateUnchanged` event. The baseline is the same day if every
/// fetch stored its whole observation (`StateFetched`), as a log without that compaction would.
enum FetchBenchmark {
    struct Result {
        var instances: Int
        var fetchesPerInstance: Int
        var compactBytes: Int64
        var fullBytes: Int64
        var compactPayload: Int
        var fullPayload: Int
        var recordingTime: Duration

        var compactPerInstance: Double { Double(compactBytes) / Double(instances) }
        var fullPerInstance: Double { Double(fullBytes) / Double(instances) }
    }

    static func run(directory: URL, instances: Int) async throws -> Result {
        let cadence = FetchCadence()
        // The day's schedule of one stable instance, as the cadence gives it.
        let start = Date(timeIntervalSince1970: 1_795_000_000)
        var fetchTimes: [Date] = []
        var next = start
        while next < start.addingTimeInterval(86_400) {
            fetchTimes.append(next)
            next = cadence.next(after: next, stable: true)
        }
        var settings = SimulationSettings()
        settings.applyLatency = .zero
        settings.timeToHealthy = .zero
        let runtime = SimulatedRuntime(name: "sim", settings: settings, clock: { start })
        let ids = (0..<instances).map { ServiceInstanceID(application: "bench", service: "svc-\($0)", channel: "prod") }
        let states = ids.map { DesiredState(instance: $0, digest: "sha256:\($0)", version: "1.0.0", document: "{}", replicas: 2) }

        /// A store where every instance has been applied and fetched once (so it is stable).
        func prepared(_ name: String) async throws -> (String, Int64) {
            let path = directory.appendingPathComponent(name).path
            for file in [path, path + "-wal", path + "-shm"] { try? FileManager.default.removeItem(atPath: file) }
            let store = try EventStore(path: path, configuration: StoreConfiguration(durability: .normal))
            let recorder = RuntimeRecorder(runtime: runtime, store: store, actor: "bench")
            for state in states {
                _ = try await recorder.apply(state, idempotencyKey: "k-\(state.instance)", timeout: .seconds(30))
                let observation = try await recorder.fetch(state.instance, desired: state)
                precondition(FetchCadence.isStable(desiredVersion: "1.0.0", observation: observation))
            }
            try store.close()
            return (path, Measurements.fileSize(path))
        }

        // A: the real thing, through the recorder, one fetch at a time.
        let (compactPath, compactBefore) = try await prepared("fetch-compact.db")
        var store = try EventStore(path: compactPath, configuration: StoreConfiguration(durability: .normal))
        let recorder = RuntimeRecorder(runtime: runtime, store: store, actor: "bench")
        let clock = ContinuousClock()
        let began = clock.now
        for _ in fetchTimes {
            for state in states { try await recorder.fetch(state.instance, desired: state) }
        }
        let recordingTime = clock.now - began
        let compactPayload = try await store.events(EventFilter(types: [StateUnchanged.eventType], limit: 1)).first?.payload.utf8.count ?? 0
        try store.close()
        let compactBytes = Measurements.fileSize(compactPath) - compactBefore

        // B: the baseline, the same observations stored whole each time.
        let (fullPath, fullBefore) = try await prepared("fetch-full.db")
        store = try EventStore(path: fullPath, configuration: StoreConfiguration(durability: .normal))
        var fullPayload = 0
        for _ in fetchTimes {
            for state in states {
                let observation = try await runtime.fetch(state.instance, desired: state)
                let digest = "sha256:" + String(repeating: "0", count: 64)
                let event = try NewEvent(StateFetched(instance: state.instance, runtime: "sim", observation: observation, digest: digest), actor: "bench")
                fullPayload = event.payload.utf8.count
                try await store.append([event], to: StreamID("instance:\(state.instance)"))
            }
        }
        try store.close()
        let fullBytes = Measurements.fileSize(fullPath) - fullBefore
        return Result(
            instances: instances, fetchesPerInstance: fetchTimes.count, compactBytes: compactBytes, fullBytes: fullBytes,
            compactPayload: compactPayload, fullPayload: fullPayload, recordingTime: recordingTime)
    }
}
