import Foundation
import KeelsonCore
import KeelsonEngine
import KeelsonService
import KeelsonStore

/// Part 12: a worker's start and `explain` on a long log. The fleet of part 11 (every instance
/// converged through 5 channels) is followed by stable fetches (`StateUnchanged`, as a worker
/// records them) until the log holds `events` events. Then a worker starts on it without a
/// snapshot (folding the whole log), and with a snapshot `Worker.Settings.snapshotEvery` events
/// before the end (the most a worker that stores them at that interval ever folds after one),
/// and `explain` answers about random instances at random positions.
enum StartBenchmark {
    /// How many callers release at once in 12e (as the release route's clients would).
    static let releaseCallers = 8

    struct Result {
        var instances: Int
        var events: Int64
        var fileBytes: Int64
        /// A worker's start: folding the whole log; from a snapshot at the end (after a stop); from
        /// one `crashTail` events before the end (after a crash).
        var startWithout: Duration
        var startAfterStop: Duration
        var startAfterCrash: Duration
        var crashTail: Int64
        var snapshotBytes: Int
        var snapshotWrite: Duration
        var snapshotRead: Duration
        var explain: Measurements.Latencies
        var status: Measurements.Latencies
        var releases: Int
        var releaseTime: Duration
        /// One instance's state (status, desired and current state) at a random position.
        var pastInstance: Measurements.Latencies
        /// Every instance's status at a position, by position.
        var pastFleet: [(position: Int64, milliseconds: Double)]
        /// Bytes of each table and index in the file (SQLite's `dbstat`), largest first.
        var tableBytes: [(name: String, bytes: Int64)]
    }

    /// Pads the log with stable fetches of every instance, round robin, to `events` events.
    static func pad(_ store: EventStore, to events: Int64, log: (String) -> Void) async throws {
        var latest: [ServiceInstanceID: Int64] = [:]
        var after: Int64 = 0
        while true {
            let page = try await store.events(EventFilter(afterPosition: after, types: [StateFetched.eventType], limit: 10_000))
            for event in page { if case .instance(let id) = event.streamID.kind { latest[id] = event.position } }
            guard let last = page.last, page.count == 10_000 else { break }
            after = last.position
        }
        let instances = latest.keys.sorted()
        let payloads = try instances.map { try CanonicalJSON.string(StateUnchanged(instance: $0, sameAs: latest[$0]!)) }
        var position = try await store.lastPosition()
        var next = 0
        while position < events {
            var appends: [StreamAppend] = []
            var count: Int64 = 0
            while count < 2_000, position + count < events {
                appends.append(StreamAppend(
                    stream: .instance(instances[next]),
                    events: [NewEvent(type: StateUnchanged.eventType, payload: payloads[next], actor: "worker:fleet")]))
                next = (next + 1) % instances.count
                count += 1
            }
            try await store.append(appends)
            position += count
            if position % 200_000 < 2_000 { log("    \(Format.count(Int(position))) events") }
        }
    }

    /// Releases services 0..<count of the fleet one by one at `version`, as clients of the release
    /// route would: `releaseCallers` at once, each taking the next service when its call returned.
    static func releaseSingles(_ control: ControlPlane, count: Int, version: String) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for caller in 0..<releaseCallers {
                group.addTask {
                    for index in stride(from: caller, to: count, by: releaseCallers) {
                        _ = try await control.release(ReleaseBody(application: "fleet", service: "svc-\(index)", version: version), actor: "bench")
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    static func run(directory: URL, services: Int, events: Int64, explains: Int, log: @escaping (String) -> Void) async throws -> Result {
        let instances = services * FleetBenchmark.channels.count
        let path = directory.appendingPathComponent("fleet-\(instances).db").path
        if !FileManager.default.fileExists(atPath: path) {
            log("  the fleet of \(Format.count(instances)) instances (part 11's run)…")
            _ = try await FleetBenchmark.run(directory: directory, services: services, log: log)
        }
        let store = try EventStore(path: path, configuration: StoreConfiguration())
        try await store.deleteEngineSnapshots()
        log("  padding the log with stable fetches to \(Format.count(Int(events))) events…")
        try await pad(store, to: events, log: log)
        let last = try await store.lastPosition()
        let clock = ContinuousClock()

        func startedWorker(_ name: String, snapshots: Bool) async throws -> (Worker, Duration) {
            var settings = Worker.Settings(name: name, stateRoot: directory.appendingPathComponent("start-state").path)
            settings.snapshotEvery = snapshots ? Worker.Settings(stateRoot: "").snapshotEvery : 0
            let worker = Worker(store: store, settings: settings, declarations: ConfigRuntimes())
            let began = clock.now
            try await worker.start()
            return (worker, clock.now - began)
        }
        log("  a worker starts without a snapshot (folds \(Format.count(Int(last))) events)…")
        let (plain, startWithout) = try await startedWorker("worker:start-1", snapshots: false)

        // After a stop: the worker stored a snapshot of where it got to (`snapshotOnStop`).
        let wrote = clock.now
        var atEnd = EngineSnapshot(await plain.engineState)
        atEnd.position = await plain.engineState.position
        try await store.writeEngineSnapshot(atEnd, nowMilliseconds: Date().millisecondsSince1970)
        let snapshotWrite = clock.now - wrote
        let bytes = try await store.engineSnapshots().last?.bytes ?? 0
        let read = clock.now
        _ = try await store.latestEngineSnapshot()?.state
        let snapshotRead = clock.now - read
        log("  a worker starts from a snapshot at the end of the log (\(Format.mebibytes(bytes: Int64(bytes))), after a stop)…")
        let (_, startAfterStop) = try await startedWorker("worker:start-2", snapshots: true)

        // After a crash: the last snapshot is up to `snapshotEvery` events, or `snapshotInterval`
        // of time, old — about 5 minutes of this fleet's stable fetches.
        let crashTail = min(last - 1, Int64(50_000))
        let at = last - crashTail
        log("  a worker starts from a snapshot \(Format.count(Int(crashTail))) events before the end (after a crash)…")
        var state = try await store.engineState(upTo: at)
        state.position = at
        var older = EngineSnapshot(state)
        older.position = at
        try await store.deleteEngineSnapshots()
        try await store.writeEngineSnapshot(older, nowMilliseconds: Date().millisecondsSince1970)
        let (_, startAfterCrash) = try await startedWorker("worker:start-3", snapshots: true)

        log("  explain, \(explains) times: random instances at random positions…")
        let control = ControlPlane(store: store)
        var random = SystemRandomNumberGenerator()
        let ids = Array(state.instances.keys).sorted()
        var latencies: [Double] = []
        for index in 0..<explains {
            let id = ids.randomElement(using: &random)!
            let position: Int64? = index % 2 == 0 ? nil : Int64.random(in: (last / 2)...last, using: &random)
            let began = clock.now
            _ = try await control.explain(id, position: position)
            latencies.append((clock.now - began).seconds * 1_000)
        }
        log("  status of every instance, 20 times…")
        var statuses: [Double] = []
        for _ in 0..<20 {
            let began = clock.now
            let answer = try await control.status(scope: nil)
            statuses.append((clock.now - began).seconds * 1_000)
            guard answer.instances.count == instances else { throw BenchmarkError(description: "status listed \(answer.instances.count) instances, not \(instances)") }
        }

        // The past: one instance at random positions, every instance at a few.
        log("  one instance's state at a random position, \(explains * 2) times…")
        let pastInstance = try await Measurements.pastInstance(store, instances: ids, upTo: last, times: explains * 2)
        var pastFleet: [(Int64, Double)] = []
        for fraction in [0.1, 0.3, 0.5, 0.7, 1.0] {
            let position = max(1, Int64(Double(last) * fraction))
            log("  every instance's status at position \(Format.count(Int(position)))…")
            let began = clock.now
            let answer = try await control.status(scope: nil, position: position)
            pastFleet.append((position, (clock.now - began).seconds * 1_000))
            if fraction == 1.0, answer.instances.count != instances {
                throw BenchmarkError(description: "status at the end listed \(answer.instances.count) instances, not \(instances)")
            }
        }

        // Single-service releases from several callers at once, while a worker runs (and rolls them out).
        let services = instances / FleetBenchmark.channels.count
        let releases = min(services, 1_000)
        log("  \(releases) single-service releases while a worker runs…")
        var settings = Worker.Settings(name: "worker:start-4", stateRoot: directory.appendingPathComponent("start-state").path)
        settings.snapshotEvery = 0
        let worker = Worker(store: store, settings: settings, declarations: ConfigRuntimes())
        let running = Task { try await worker.run() }
        try await Task.sleep(for: .seconds(2))
        let released = clock.now
        try await releaseSingles(control, count: releases, version: "2.0.\(last)")
        let releaseTime = clock.now - released
        running.cancel()
        _ = await running.result

        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return Result(
            instances: instances, events: last, fileBytes: (attributes[.size] as? Int64) ?? 0, startWithout: startWithout,
            startAfterStop: startAfterStop, startAfterCrash: startAfterCrash, crashTail: crashTail, snapshotBytes: bytes,
            snapshotWrite: snapshotWrite, snapshotRead: snapshotRead, explain: Measurements.Latencies(milliseconds: latencies),
            status: Measurements.Latencies(milliseconds: statuses), releases: releases, releaseTime: releaseTime,
            pastInstance: pastInstance, pastFleet: pastFleet,
            tableBytes: try tableBytes(path))
    }

    /// The bytes of each table and index of the file at `path`, largest first, from SQLite's
    /// `dbstat` (read with the sqlite3 shell; empty when it is not installed).
    static func tableBytes(_ path: String) throws -> [(name: String, bytes: Int64)] {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/sqlite3") else { return [] }
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        shell.arguments = [path, "SELECT name || '|' || SUM(pgsize) FROM dbstat GROUP BY name ORDER BY SUM(pgsize) DESC"]
        let out = Pipe()
        shell.standardOutput = out
        try shell.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        shell.waitUntilExit()
        return String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap { line in
            let parts = line.split(separator: "|")
            guard parts.count == 2, let bytes = Int64(parts[1]) else { return nil }
            return (String(parts[0]), bytes)
        }
    }
}
