import Foundation
import KeelsonCore
import KeelsonStore
import Synchronization

/// Part 14: what the log costs over a month. A fleet of `services` × 5 channels lives 30 days on
/// a fake clock, its events appended as a worker and the CLI append them (typed payloads, the
/// store's projections folded): every instance's unchanged fetches at the 60 s stable cadence,
/// recorded as the worker records a settled instance's — one `StateUnchanged` run per
/// `runMinutes`; two releases a day of every service through the 5 channels (a compile per
/// instance, then per instance a decision to apply, the apply request, its start and result with
/// the fetch after it, and the decision that it converged); one rollback a day. The file's size
/// is read at the end of every day; the table sizes at the end.
enum HistoryBenchmark {
    static let channels = ["c1", "c2", "c3", "c4", "c5"]
    static let dayMilliseconds: Int64 = 86_400_000

    struct Result {
        var instances: Int
        var days: Int
        var events: Int64
        /// The main file plus its WAL at the end of each day.
        var bytesByDay: [Int64]
        var tableBytes: [(name: String, bytes: Int64)]
        var generation: Duration
        var pastInstance: Measurements.Latencies
        var pastFleet: [Double]
        var rebuild: Duration
        var verify: Duration
    }

    /// A fake clock the store stamps events with.
    final class FakeClock: Sendable {
        let milliseconds: Mutex<Int64>
        init(_ start: Int64) { milliseconds = Mutex(start) }
        func set(_ value: Int64) { milliseconds.withLock { $0 = value } }
        func date() -> Date { Date(timeIntervalSince1970: Double(milliseconds.withLock { $0 }) / 1_000) }
    }

    static func run(directory: URL, services: Int, days: Int, runMinutes: Int, log: (String) -> Void) async throws -> Result {
        let path = directory.appendingPathComponent("history-\(services * channels.count).db").path
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        let start: Int64 = 1_796_083_200_000  // 2026-12-01T00:00:00Z
        let clock = FakeClock(start)
        var configuration = StoreConfiguration()
        configuration.durability = .normal
        configuration.clock = { clock.date() }
        let store = try EventStore(path: path, configuration: configuration)
        let instances = (0..<services).flatMap { service in
            channels.map { ServiceInstanceID("fleet/svc-\(String(format: "%04d", service))@\($0)")! }
        }
        var fetched: [ServiceInstanceID: Int64] = [:]
        var version: [Int: Int] = [:]
        var bytesByDay: [Int64] = []
        let began = ContinuousClock.now
        let runMilliseconds = Int64(runMinutes) * 60_000

        for day in 0..<days {
            let dayStart = start + Int64(day) * dayMilliseconds
            // The day in steps of one run: the runs of every instance, spread over the step; the
            // releases at 09:00 and 15:00, the rollback at 12:00.
            var step = dayStart
            while step < dayStart + dayMilliseconds {
                clock.set(step)
                var appends: [StreamAppend] = []
                for (index, id) in instances.enumerated() {
                    guard let sameAs = fetched[id] else { continue }
                    let first = step - runMilliseconds + Int64(index % 60) * 1_000
                    appends.append(StreamAppend(stream: StreamID("instance:\(id)"), events: [try NewEvent(
                        StateUnchanged(instance: id, sameAs: sameAs, fetches: runMinutes, firstMilliseconds: first, lastMilliseconds: first + runMilliseconds - 60_000),
                        actor: "worker:history")]))
                    if appends.count == 500 {
                        _ = try await store.append(appends)
                        appends.removeAll()
                    }
                }
                if !appends.isEmpty { _ = try await store.append(appends) }
                let hour = (step - dayStart) / 3_600_000
                let previousHour = (step - runMilliseconds - dayStart) / 3_600_000
                for releaseHour in [9, 15] where hour >= releaseHour && (step == dayStart || previousHour < releaseHour) {
                    try await releaseEveryService(store, clock: clock, at: step, services: services, version: &version, fetched: &fetched)
                }
                if hour >= 12 && (step == dayStart || previousHour < 12) {
                    try await rollBack(store, clock: clock, at: step, service: day % services, version: version[day % services] ?? 0, fetched: &fetched)
                }
                step += runMilliseconds
            }
            let bytes = fileBytes(path)
            bytesByDay.append(bytes)
            log("    day \(day + 1): \(Format.count(Int(try await store.lastPosition()))) events, \(Format.mebibytes(bytes: bytes))")
        }
        let generation = ContinuousClock.now - began
        let last = try await store.lastPosition()

        log("  one instance's state at a random position, 1,000 times…")
        let pastInstance = try await Measurements.pastInstance(store, instances: instances, upTo: last, times: 1_000)
        var pastFleet: [Double] = []
        for fraction in [0.25, 0.5, 0.75, 1.0] {
            let began = ContinuousClock.now
            _ = try await store.instanceStatuses(atPosition: Int64(Double(last) * fraction))
            pastFleet.append((ContinuousClock.now - began).seconds * 1_000)
        }
        log("  rebuilding every projection…")
        let rebuildStart = ContinuousClock.now
        try await store.rebuildProjections()
        let rebuild = ContinuousClock.now - rebuildStart
        log("  verifying every projection (db check's rebuild into scratch tables)…")
        let verifyStart = ContinuousClock.now
        let report = try await store.verifyProjections()
        let verify = ContinuousClock.now - verifyStart
        guard report.isClean else { throw BenchmarkError(description: "the 30-day log's projections differ from a rebuild: \(report.differences.prefix(3))") }
        try store.close()
        return Result(
            instances: instances.count, days: days, events: last, bytesByDay: bytesByDay, tableBytes: try StartBenchmark.tableBytes(path),
            generation: generation, pastInstance: pastInstance, pastFleet: pastFleet,
            rebuild: rebuild, verify: verify)
    }

    static func fileBytes(_ path: String) -> Int64 {
        ["", "-wal"].reduce(0) { $0 + (((try? FileManager.default.attributesOfItem(atPath: path + $1)[.size]) as? Int64) ?? 0) }
    }

    /// A compiled document as `keelson release` records it (about 400 bytes).
    static func document(service: Int, version: String, channel: String) -> String {
        #"{"health":{"http":{"path":"/healthz","port":8080},"progressDeadlineSeconds":600},"labels":{"app":"svc-\#(service)","channel":"\#(channel)","team":"fleet"},"replicas":3,"run":{"env":{"LOG_LEVEL":"info","REGION":"eu-west-1"},"image":"registry.example.com/fleet/svc-\#(service):\#(version)","ports":[8080]},"runtime":"sim","version":"\#(version)"}"#
    }

    static func digest(_ text: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return "sha256:" + String(format: "%016llx", hash) + String(repeating: "0", count: 48)
    }

    /// A release of every service: compiled for its 5 instances, then rolled through them.
    static func releaseEveryService(
        _ store: EventStore, clock: FakeClock, at time: Int64, services: Int, version: inout [Int: Int],
        fetched: inout [ServiceInstanceID: Int64]
    ) async throws {
        var compiles: [StreamAppend] = []
        for service in 0..<services {
            version[service, default: 0] += 1
            let release = "1.0.\(version[service]!)"
            compiles.append(StreamAppend(stream: StreamID("service:fleet/svc-\(String(format: "%04d", service))"), events: [try NewEvent(
                ReleaseRequested(application: "fleet", service: "svc-\(String(format: "%04d", service))", version: release, parameters: [:]), actor: "user:ci")]))
            for channel in channels {
                let id = ServiceInstanceID("fleet/svc-\(String(format: "%04d", service))@\(channel)")!
                let document = document(service: service, version: release, channel: channel)
                compiles.append(StreamAppend(stream: StreamID("instance:\(id)"), events: [try NewEvent(
                    DesiredStateCompiled(instance: id.description, digest: digest(document), document: document, version: release, parameters: [:], configDigest: "sha256:config"),
                    actor: "user:ci")]))
            }
            if compiles.count >= 500 {
                _ = try await store.append(compiles)
                compiles.removeAll()
            }
        }
        if !compiles.isEmpty { _ = try await store.append(compiles) }
        for (index, channel) in channels.enumerated() {
            clock.set(time + Int64(index) * 60_000)
            try await rollOut(store, at: time + Int64(index) * 60_000, ids: (0..<services).map {
                (ServiceInstanceID("fleet/svc-\(String(format: "%04d", $0))@\(channel)")!, $0, "1.0.\(version[$0]!)", false)
            }, fetched: &fetched)
        }
    }

    /// One service's release rolled back on every channel.
    static func rollBack(
        _ store: EventStore, clock: FakeClock, at time: Int64, service: Int, version: Int, fetched: inout [ServiceInstanceID: Int64]
    ) async throws {
        guard version > 1 else { return }
        let bad = "1.0.\(version)", good = "1.0.\(version - 1)"
        let name = "fleet/svc-\(String(format: "%04d", service))"
        _ = try await store.append([try NewEvent(ReleaseMarkedBad(service: name, version: bad, reason: "failed in c1: unhealthy after its progress deadline"), actor: "worker:history")],
                                   to: StreamID("service:\(name)"))
        try await rollOut(store, at: time, ids: channels.map { (ServiceInstanceID("\(name)@\($0)")!, service, good, true) }, fetched: &fetched)
    }

    /// For each instance: the decision to apply and its request; the apply's start; its result
    /// and the fetch after it; the decision that it converged.
    static func rollOut(
        _ store: EventStore, at time: Int64, ids: [(id: ServiceInstanceID, service: Int, version: String, rollback: Bool)],
        fetched: inout [ServiceInstanceID: Int64]
    ) async throws {
        let position = try await store.lastPosition()
        for chunk in stride(from: 0, to: ids.count, by: 100) {
            var appends: [StreamAppend] = []
            for (id, service, version, rollback) in ids[chunk..<min(chunk + 100, ids.count)] {
                let document = document(service: service, version: version, channel: id.channel)
                let digest = digest(document)
                let request = "\(id)#\(version)#\(time)"
                let apply = Decision(
                    status: rollback ? .rollingBack : .converging, version: version,
                    reason: .applyRunning(version: version, rollback: rollback, sinceMilliseconds: time),
                    actions: [.apply(version: version, digest: digest, rollback: rollback)])
                let observation = Observation(objects: (1...3).map {
                    ObservedObject(name: "r\($0)", version: version, desiredReplicas: 1, readyReplicas: 1, health: .healthy)
                })
                let converged = Decision(
                    status: .converged, version: version, reason: .converged(version: version, ready: 3, desired: 3, rolledBack: rollback),
                    actions: [.markConverged(version: version, digest: digest)])
                appends.append(StreamAppend(stream: StreamID("instance:\(id)"), events: [
                    try NewEvent(DecisionMade(instance: id, viewPosition: position, nowMilliseconds: time, engineVersion: Engine.version, decision: apply), actor: "worker:history"),
                    try NewEvent(ApplyRequested(instance: id, requestID: request, version: version, digest: digest, document: document, rollback: rollback), actor: "worker:history"),
                    try NewEvent(ApplyStarted(instance: id, runtime: "sim", digest: digest, version: version, idempotencyKey: request), actor: "worker:history"),
                    try NewEvent(type: ApplyFinished.succeededType, encoding: ApplyFinished(
                        instance: id, runtime: "sim", digest: digest, idempotencyKey: request,
                        result: ApplyResult(succeeded: true, durationMilliseconds: 1_200, output: "rolled out \(version): 3 of 3 replicas")), actor: "worker:history"),
                    try NewEvent(StateFetched(instance: id, runtime: "sim", observation: observation, digest: Self.digest("\(id)\(version)")), actor: "worker:history"),
                    try NewEvent(DecisionMade(instance: id, viewPosition: position, nowMilliseconds: time + 30_000, engineVersion: Engine.version, decision: converged), actor: "worker:history"),
                ]))
            }
            let results = try await store.append(appends)
            for (append, result) in zip(appends, results) {
                // The StateFetched is the fifth of the six.
                fetched[ServiceInstanceID(String(append.stream.rawValue.dropFirst("instance:".count)))!] = result.positions.lowerBound + 4
            }
        }
    }
}
