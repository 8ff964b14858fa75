import Foundation
import KeelsonCompiler
import KeelsonCore
import KeelsonEngine
import KeelsonService
import KeelsonStore
import KeelsonTestSupport

/// Part 11: the engine at fleet scale. `services` services × 5 channels in order (a simulated
/// runtime with zero latency, no soak, no watch) are released at once, and one worker — `run()`,
/// on the real clock, with the store's default (FULL) durability, as `keelson serve` runs it —
/// drives every instance through the five channels. Then the worker idles for 30 s.
enum FleetBenchmark {
    static let channels = FleetConfig.channels
    static let idleWindow: Duration = .seconds(30)

    struct Result: Codable {
        var instances: Int
        /// The release call (every service, one call).
        var releaseTime: Duration
        /// From the start of the release until every first-channel instance had its apply requested.
        var firstChannelRequested: Duration
        /// From the start of the release until every instance had converged on it.
        var converged: Duration
        var decisions: Int
        var events: Int64
        /// CPU time the process used during `idleWindow` after convergence, per second of wall time.
        var idleCPU: Double
        /// `Replay.run` over the fleet's whole log (what `keelson replay --verify` runs): its time,
        /// and how many decisions it replayed identically of how many.
        var replayTime: Duration = .zero
        var replayed = 0
        var replayMatched = 0
        /// The peak resident set of the process that ran it (bytes).
        var peakRSS: Int
    }

    static func config(services: Int) -> String { FleetConfig.text(application: "fleet", services: services) }

    /// Counts, from the worker's reports, what the run waits for.
    final class Progress: @unchecked Sendable {
        private let lock = NSLock()
        private var requested: Set<ServiceInstanceID> = []
        private var status: [ServiceInstanceID: InstanceStatus] = [:]
        private var convergedCount = 0
        private(set) var decisions = 0
        var firstChannelDone: ContinuousClock.Instant?
        var allDone: ContinuousClock.Instant?
        let instances: Int
        let firstChannel: Int

        init(instances: Int, firstChannel: Int) {
            self.instances = instances
            self.firstChannel = firstChannel
        }

        func report(_ report: Worker.Report) {
            let now = ContinuousClock.now
            lock.withLock {
                decisions += 1
                let id = report.instance
                if id.channel == FleetBenchmark.channels[0], report.decision.actions.contains(where: { if case .apply = $0 { true } else { false } }) {
                    requested.insert(id)
                    if requested.count == firstChannel, firstChannelDone == nil { firstChannelDone = now }
                }
                let was = status[id] == .converged
                let isNow = report.decision.status == .converged
                status[id] = report.decision.status
                convergedCount += (isNow ? 1 : 0) - (was ? 1 : 0)
                if convergedCount == instances, allDone == nil { allDone = now }
            }
        }

        var done: Bool { lock.withLock { allDone != nil } }
        var snapshot: (requested: Int, converged: Int, decisions: Int) { lock.withLock { (requested.count, convergedCount, decisions) } }
    }

    static func run(directory: URL, services: Int, log: (String) -> Void) async throws -> Result {
        let instances = services * channels.count
        let path = directory.appendingPathComponent("fleet-\(instances).db").path
        for file in [path, path + "-wal", path + "-shm"] { try? FileManager.default.removeItem(atPath: file) }
        let configFile = directory.appendingPathComponent("fleet-\(instances).yaml")
        try config(services: services).write(to: configFile, atomically: true, encoding: .utf8)
        let store = try EventStore(path: path, configuration: StoreConfiguration())
        let recorder = DesiredStateRecorder(store: store, actor: "bench")
        _ = try await recorder.apply(path: configFile.path, dryRun: false)

        let progress = Progress(instances: instances, firstChannel: services)
        let settings = Worker.Settings(name: "worker:fleet", stateRoot: directory.appendingPathComponent("fleet-state-\(instances)").path)
        let worker = Worker(store: store, settings: settings, declarations: ConfigRuntimes()) { progress.report($0) }
        try await worker.start()
        let running = Task { try await worker.run() }
        defer { running.cancel() }

        let timer = ContinuousClock()
        let began = timer.now
        _ = try await recorder.release(
            (0..<services).map { ReleaseRequest(application: "fleet", service: "svc-\($0)", version: "1.0.0") }, dryRun: false)
        let releaseTime = timer.now - began
        var lastLog = timer.now
        let limit = began + .seconds(1_800)
        while !progress.done {
            try await Task.sleep(for: .milliseconds(20))
            if timer.now - lastLog > .seconds(10) {
                let seen = progress.snapshot
                log("    \(Format.duration(timer.now - began)): \(seen.requested) of \(services) first-channel applies requested, \(seen.converged) of \(instances) converged, \(seen.decisions) decisions")
                lastLog = timer.now
            }
            if timer.now > limit { throw BenchmarkError(description: "the fleet of \(instances) did not converge within 30 minutes") }
        }
        let firstChannel = (progress.firstChannelDone ?? timer.now) - began
        let converged = progress.allDone! - began

        log("    all \(instances) converged after \(Format.duration(converged)); idling \(Format.duration(idleWindow))…")
        let cpuBefore = cpuTime()
        let idleBegan = timer.now
        try await Task.sleep(for: idleWindow)
        let idleCPU = (cpuTime() - cpuBefore) / (timer.now - idleBegan).seconds
        running.cancel()
        _ = await running.result
        let events = try await store.lastPosition()
        // The worker's peak, before the replay (which folds the log again in this process).
        let workerPeak = (RebuildChild.peakKilobytes(status: "/proc/self/status") ?? 0) * 1_024
        let replayBegan = timer.now
        let replay = try await Replay.run(store: store)
        let replayTime = timer.now - replayBegan
        var result = Result(
            instances: instances, releaseTime: releaseTime, firstChannelRequested: firstChannel, converged: converged,
            decisions: progress.decisions, events: events, idleCPU: idleCPU, peakRSS: workerPeak)
        result.replayTime = replayTime
        result.replayed = replay.decisions
        result.replayMatched = replay.matched
        return result
    }

    /// User + system CPU seconds of this process so far.
    static func cpuTime() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }
}
