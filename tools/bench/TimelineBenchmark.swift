import Foundation
import KeelsonCore
import KeelsonStore

/// Part 10: "the latest 100 entries of shop/web@prod" from the timeline projection, on a log of
/// 1,000 events and on a big one (10 million by default). Every event is a decision about one of
/// 10,000 instances (so every event lands in the timeline); shop/web@prod gets 1 % of them.
enum TimelineBenchmark {
    struct Result {
        var smallEvents: Int64
        var bigEvents: Int64
        var small: Measurements.Latencies
        var big: Measurements.Latencies
        var buildTime: Duration
        var bytes: Int64
    }

    static let instances = 10_000

    static func instance(_ index: Int) -> ServiceInstanceID {
        index == 0 ? ServiceInstanceID("shop/web@prod")!
            : ServiceInstanceID(application: "app-\(index % 100)", service: "svc-\(index / 100)", channel: index % 2 == 0 ? "prod" : "staging")
    }

    /// Appends `count` decision events, about 1,000 per call: 100 instances × 10 events, and every
    /// 10th call 10 more for shop/web@prod.
    static func fill(_ store: EventStore, count: Int, progress: (Int) -> Void) async throws {
        var payloads: [String] = []
        for index in 0..<instances {
            let made = DecisionMade(
                instance: instance(index), viewPosition: 0, nowMilliseconds: 1_795_600_800_000, engineVersion: 1,
                decision: Decision(status: .converging, version: "1.4.2", reason: .applyRunning(version: "1.4.2", rollback: false, sinceMilliseconds: 0)))
            payloads.append(try CanonicalJSON.string(made))
        }
        var next = 1
        var appended = 0
        var calls = 0
        while appended < count {
            var appends: [StreamAppend] = []
            calls += 1
            // Every 10th call also writes 10 events of shop/web@prod: 1 % of the log.
            if calls % 10 == 0 {
                let n = min(10, count - appended)
                appends.append(StreamAppend(
                    stream: StreamID("instance:\(instance(0))"),
                    events: Array(repeating: NewEvent(type: DecisionMade.eventType, payload: payloads[0], actor: "worker:bench"), count: n)))
                appended += n
            }
            let perStream = min(10, count - appended)
            for _ in 0..<100 where appended < count {
                let index = next % instances == 0 ? 1 : next % instances
                next += 1
                let n = min(perStream, count - appended)
                appends.append(StreamAppend(
                    stream: StreamID("instance:\(instance(index))"),
                    events: Array(repeating: NewEvent(type: DecisionMade.eventType, payload: payloads[index], actor: "worker:bench"), count: n)))
                appended += n
            }
            try await store.append(appends)
            if appended % 1_000_000 == 0 { progress(appended) }
        }
    }

    static func query(_ store: EventStore, repetitions: Int) async throws -> Measurements.Latencies {
        var samples: [Double] = []
        let query = TimelineQuery(application: "shop", service: "web", channel: "prod")
        for _ in 0..<repetitions {
            let (entries, time) = try await timed { try await store.timeline(query) }
            precondition(entries.count == 100, "the target instance has fewer than 100 entries")
            samples.append(time.milliseconds)
        }
        return Measurements.Latencies(milliseconds: samples)
    }

    static func run(directory: URL, bigEvents: Int, progress: @escaping (String) -> Void) async throws -> Result {
        func fresh(_ name: String) -> String {
            let path = directory.appendingPathComponent(name).path
            for file in [path, path + "-wal", path + "-shm"] { try? FileManager.default.removeItem(atPath: file) }
            return path
        }
        // Small: the target instance's 100 entries and a few others.
        let smallPath = fresh("timeline-small.db")
        let small = try EventStore(path: smallPath, configuration: StoreConfiguration(durability: .normal))
        try await small.append([StreamAppend(
            stream: "instance:shop/web@prod",
            events: Array(repeating: NewEvent(type: DecisionMade.eventType, payload: try CanonicalJSON.string(DecisionMade(
                instance: instance(0), viewPosition: 0, nowMilliseconds: 0, engineVersion: 1,
                decision: Decision(status: .converged, version: "1.4.2", reason: .convergedOn(version: "1.4.2")))), actor: "worker:bench"), count: 100))])
        try await fill(small, count: 900) { _ in }
        let smallLatencies = try await query(small, repetitions: 1_000)
        let smallCount = try await small.lastPosition()
        try small.close()

        let bigPath = fresh("timeline-big.db")
        var configuration = StoreConfiguration(durability: .normal)
        configuration.checkIntegrityOnOpen = false
        let big = try EventStore(path: bigPath, configuration: configuration)
        let clock = ContinuousClock()
        let began = clock.now
        try await fill(big, count: bigEvents) { progress("  \(Format.count($0)) events appended") }
        let buildTime = clock.now - began
        let bigLatencies = try await query(big, repetitions: 1_000)
        let bigCount = try await big.lastPosition()
        try big.close()
        let bytes = Measurements.fileSize(bigPath)
        for path in [smallPath, bigPath] { for file in [path, path + "-wal", path + "-shm"] { try? FileManager.default.removeItem(atPath: file) } }
        return Result(smallEvents: smallCount, bigEvents: bigCount, small: smallLatencies, big: bigLatencies, buildTime: buildTime, bytes: bytes)
    }
}
