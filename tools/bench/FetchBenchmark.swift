import Foundation
import KeelsonCompiler
import KeelsonCore
import KeelsonEngine
import KeelsonRuntimes
import KeelsonService
import KeelsonStore
import KeelsonTestSupport

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
        /// C: the same day through a worker, which records the unchanged fetches in runs.
        var workerBytes: Int64 = 0
        var workerEvents: Int64 = 0

        var compactPerInstance: Double { Double(compactBytes) / Double(instances) }
        var workerPerInstance: Double { Double(workerBytes) / Double(instances) }
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
        var result = Result(
            instances: instances, fetchesPerInstance: fetchTimes.count, compactBytes: compactBytes, fullBytes: fullBytes,
            compactPayload: compactPayload, fullPayload: fullPayload, recordingTime: recordingTime)
        (result.workerBytes, result.workerEvents) = try await throughWorker(directory: directory, instances: instances)
        return result
    }

    /// C: `instances` (services of 5 channels) released and converged by a worker on the simulated
    /// runtime, then a day of the worker's passes a minute apart: what the file grows by, and how
    /// many events. The worker is stopped and the store closed around the day, so that both sizes
    /// are after a checkpoint.
    static func throughWorker(directory: URL, instances: Int) async throws -> (bytes: Int64, events: Int64) {
        let clock = SteppedClock()
        let path = directory.appendingPathComponent("fetch-worker.db").path
        for file in [path, path + "-wal", path + "-shm"] { try? FileManager.default.removeItem(atPath: file) }
        var configuration = StoreConfiguration(durability: .normal)
        configuration.clock = { clock.now }
        let services = max(1, instances / FleetConfig.channels.count)
        let configFile = directory.appendingPathComponent("fetch-worker.yaml")
        try FleetConfig.text(application: "day", services: services).write(to: configFile, atomically: true, encoding: .utf8)
        var settings = Worker.Settings(name: "worker:day", stateRoot: directory.appendingPathComponent("fetch-worker-state").path)
        settings.clock = { clock.now }
        settings.leaseDuration = .seconds(3_600)

        var store = try EventStore(path: path, configuration: configuration)
        let recorder = DesiredStateRecorder(store: store, actor: "bench")
        _ = try await recorder.apply(path: configFile.path, dryRun: false)
        _ = try await recorder.release(
            (0..<services).map { ReleaseRequest(application: "day", service: "svc-\($0)", version: "1.0.0") }, dryRun: false)
        var worker = Worker(store: store, settings: settings, declarations: ConfigRuntimes())
        // Converged and settled: ten minutes of passes a second apart, then one a minute for an hour.
        for _ in 0..<600 {
            try await worker.step()
            clock.advance(1)
        }
        for _ in 0..<60 {
            try await worker.step()
            clock.advance(60)
        }
        let converged = try await store.instanceStatuses().filter { $0.status == InstanceStatus.converged.rawValue }.count
        guard converged == services * FleetConfig.channels.count else {
            throw BenchmarkError(description: "part 8: \(converged) of \(services * FleetConfig.channels.count) instances converged before the day")
        }
        await worker.stop()
        let eventsBefore = try await store.lastPosition()
        try store.close()
        let before = Measurements.fileSize(path)

        store = try EventStore(path: path, configuration: configuration)
        worker = Worker(store: store, settings: settings, declarations: ConfigRuntimes())
        for _ in 0..<1_440 {
            try await worker.step()
            clock.advance(60)
        }
        await worker.stop()
        let events = try await store.lastPosition() - eventsBefore
        try store.close()
        return (Measurements.fileSize(path) - before, events)
    }
}
