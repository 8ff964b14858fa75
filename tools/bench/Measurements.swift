import Foundation
import KeelsonCore
import KeelsonStore
import Synchronization

/// Events written (or read) in some wall time.
struct Throughput {
    var events: Int
    var time: Duration

    var perSecond: Double { Double(events) / time.seconds }

    /// The run with the median rate.
    static func median(_ runs: [Throughput]) -> Throughput {
        runs.sorted { $0.perSecond < $1.perSecond }[runs.count / 2]
    }
}

/// Times `body` with the continuous clock.
func timed<T>(_ body: () async throws -> T) async rethrows -> (T, Duration) {
    let clock = ContinuousClock()
    let start = clock.now
    let result = try await body()
    return (result, clock.now - start)
}

/// The measurements themselves: each starts from a fresh database file unless it says otherwise.
enum Measurements {
    // MARK: Appends

    /// Opens (or creates: the migrations make the schema) the store at `path`.
    static func openStore(
        _ path: String, durability: Durability, configure: (inout StoreConfiguration) -> Void = { _ in }
    ) throws -> EventStore {
        var configuration = StoreConfiguration(durability: durability)
        configure(&configuration)
        return try EventStore(path: path, configuration: configuration)
    }

    /// Append calls `calls` of a batched run: call `i` appends the prepared batch of stream
    /// `i % streams` to that stream, each call awaited before the next. Returns the wall time.
    static func keelsonBatched(_ store: EventStore, calls: Range<Int>, workload: Workload) async throws -> Duration {
        let (_, time) = try await timed {
            for call in calls {
                let stream = call % workload.streams.count
                try await store.append(workload.batches[stream], to: workload.streams[stream])
            }
        }
        return time
    }

    /// The same calls as ``keelsonBatched(_:calls:workload:)`` through the C API.
    static func baselineBatched(_ baseline: SQLiteBaseline, calls: Range<Int>, workload: Workload) throws -> Duration {
        let start = ContinuousClock.now
        for call in calls {
            let stream = call % workload.streams.count
            try baseline.append(workload.batches[stream], to: workload.streams[stream])
        }
        return ContinuousClock.now - start
    }

    /// `count` appends of one event each, one after the other.
    static func keelsonSingles(
        _ path: String, durability: Durability, count: Int, workload: Workload
    ) async throws -> Throughput {
        let store = try openStore(path, durability: durability)
        let (_, time) = try await timed {
            for call in 0..<count {
                let (stream, event) = workload.single(call)
                try await store.append([event], to: stream)
            }
        }
        return Throughput(events: count, time: time)
    }

    /// The same single events through the C API, one row per transaction.
    static func baselineSingles(_ path: String, durability: Durability, count: Int, workload: Workload) throws -> Throughput {
        try createSchema(path)
        let baseline = try SQLiteBaseline(path: path, durability: durability)
        let start = ContinuousClock.now
        for call in 0..<count {
            let (stream, event) = workload.single(call)
            try baseline.append([event], to: stream)
        }
        return Throughput(events: count, time: ContinuousClock.now - start)
    }

    /// A fresh file with the store's schema (migrations, indexes, triggers), closed again.
    static func createSchema(_ path: String) throws {
        _ = try EventStore(path: path, configuration: StoreConfiguration(durability: .normal))
    }

    /// Counts the commits of a store through its clock, which it reads once per commit.
    final class CommitCounter: Sendable {
        private let reads = Atomic<Int>(0)

        func now() -> Date {
            reads.add(1, ordering: .relaxed)
            return Date()
        }

        var count: Int { reads.load(ordering: .relaxed) }
    }

    struct ConcurrentResult {
        var throughput: Throughput
        /// Commits as counted by the store's clock reads.
        var commits: Int
    }

    /// `appenders` tasks at once, each appending `perAppender` single events to its own stream.
    static func concurrentAppenders(
        _ path: String, groupCommit: Bool, appenders: Int, perAppender: Int, workload: Workload
    ) async throws -> ConcurrentResult {
        let counter = CommitCounter()
        let store = try openStore(path, durability: .full) { configuration in
            configuration.groupCommit = groupCommit
            configuration.clock = { counter.now() }
        }
        let commitsBefore = counter.count
        let (_, time) = try await timed {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for appender in 0..<appenders {
                    group.addTask {
                        let stream = workload.streams[appender % workload.streams.count]
                        let batch = workload.batches[appender % workload.batches.count]
                        for index in 0..<perAppender {
                            try await store.append([batch[index % batch.count]], to: stream)
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        return ConcurrentResult(
            throughput: Throughput(events: appenders * perAppender, time: time), commits: counter.count - commitsBefore)
    }

    // MARK: Reads

    /// Latencies of repeated calls, in milliseconds.
    struct Latencies {
        var milliseconds: [Double]

        var median: Double { percentile(50) }
        var max: Double { milliseconds.max() ?? 0 }

        /// Nearest-rank percentile.
        func percentile(_ p: Double) -> Double {
            let sorted = milliseconds.sorted()
            guard !sorted.isEmpty else { return 0 }
            let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
            return sorted[Swift.max(0, Swift.min(sorted.count - 1, rank - 1))]
        }
    }

    /// One random instance's status, desired and current state at a random position of the
    /// log (each from its projection's row history), `times` times.
    static func pastInstance(_ store: EventStore, instances: [ServiceInstanceID], upTo last: Int64, times: Int) async throws -> Latencies {
        var random = SystemRandomNumberGenerator()
        var latencies: [Double] = []
        for _ in 0..<times {
            let key = instances.randomElement(using: &random)!.description
            let position = Int64.random(in: 1...last, using: &random)
            let began = ContinuousClock.now
            _ = try await store.row(of: InstanceStatusProjection.self, key: key, atPosition: position)
            _ = try await store.row(of: DesiredStateProjection.self, key: key, atPosition: position)
            _ = try await store.row(of: CurrentStateProjection.self, key: key, atPosition: position)
            latencies.append((ContinuousClock.now - began).seconds * 1_000)
        }
        return Latencies(milliseconds: latencies)
    }

    /// `store.streamCatalogue(atPosition:)` at `position`, `repetitions` times.
    static func pointInTime(_ store: EventStore, at position: Int64, repetitions: Int) async throws -> (Latencies, Int) {
        var samples: [Double] = []
        var streams = 0
        for _ in 0..<repetitions {
            let (rows, time) = try await timed { try await store.streamCatalogue(atPosition: position) }
            samples.append(time.milliseconds)
            streams = rows.count
        }
        return (Latencies(milliseconds: samples), streams)
    }

    /// The catalogue at `position` the way it would cost without snapshots: every event from the
    /// start of the log read through the store's public API and folded with the same pure fold.
    static func fullFold(_ store: EventStore, to position: Int64, page: Int = 10_000) async throws -> ([StreamSummary], Throughput) {
        let catalogue = StreamCatalogue()
        var state: [StreamID: StreamSummary] = [:]
        var cursor: Int64 = 0
        var folded = 0
        let (_, time) = try await timed {
            while cursor < position {
                let events = try await store.events(EventFilter(afterPosition: cursor, limit: page))
                guard let last = events.last else { break }
                let wanted = events.prefix { $0.position <= position }
                catalogue.fold(wanted, into: &state)
                folded += wanted.count
                cursor = last.position
            }
        }
        let rows = state.keys.sorted().map { state[$0]! }
        return (rows, Throughput(events: folded, time: time))
    }

    // MARK: Opening

    /// The wall time of `EventStore(path:)` with and without the integrity check, alternating,
    /// `repetitions` times each. Returns the medians in milliseconds.
    static func openCost(_ path: String, repetitions: Int) async throws -> (withCheck: Latencies, withoutCheck: Latencies) {
        var withCheck: [Double] = []
        var withoutCheck: [Double] = []
        for _ in 0..<repetitions {
            for check in [true, false] {
                let (store, time) = try await timed {
                    try openStore(path, durability: .full) { $0.checkIntegrityOnOpen = check }
                }
                withExtendedLifetime(store) {}
                if check { withCheck.append(time.milliseconds) } else { withoutCheck.append(time.milliseconds) }
            }
        }
        return (Latencies(milliseconds: withCheck), Latencies(milliseconds: withoutCheck))
    }

    /// The database's size on disk: the main file plus its WAL, if any.
    static func fileSize(_ path: String) -> Int64 {
        [path, path + "-wal"].reduce(0) { total, file in
            let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? NSNumber)?.int64Value ?? 0
            return total + size
        }
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
    var milliseconds: Double { seconds * 1_000 }
}
