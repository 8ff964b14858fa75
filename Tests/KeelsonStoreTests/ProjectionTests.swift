import Foundation
import GRDB
import KeelsonCore
import KeelsonTestSupport
import Testing
@testable import KeelsonStore

@Suite("Projections: live fold, rebuild, verify, history")
struct ProjectionTests {
    /// Appends a random history: random streams, types, batch sizes, multi-stream requests and
    /// concurrent appenders, with the clock moving between rounds.
    static func randomHistory(seed: UInt64, into store: EventStore, clock: ManualClock) async throws {
        var random = SeededRandom(seed: seed)
        let types = ["Created", "Applied", "Failed", "Converged", "Note"]
        for _ in 0..<Int.random(in: 20...40, using: &random) {
            var requests: [[StreamAppend]] = []
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                var request: [StreamAppend] = []
                for _ in 0..<Int.random(in: 1...3, using: &random) {
                    let stream = StreamID("s-\(Int.random(in: 0..<12, using: &random))")
                    let events = (0..<Int.random(in: 1...9, using: &random)).map { _ in
                        NewEvent(type: types.randomElement(using: &random)!, payload: #"{"r":\#(random.next() % 1000)}"#)
                    }
                    if !request.contains(where: { $0.stream == stream }) {
                        request.append(StreamAppend(stream: stream, events: events))
                    }
                }
                requests.append(request)
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for request in requests { group.addTask { try await store.append(request) } }
                try await group.waitForAll()
            }
            clock.advance(by: Double(Int.random(in: 1...300, using: &random)))
        }
    }

    @Test("random histories: rebuild equals live, verify passes, point-in-time equals a fold from zero",
          arguments: [UInt64(1), 7, 42, 2026])
    func property(seed: UInt64) async throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        let store = try makeStore(directory, clock: clock) { $0.checkpointEvery = 16 }
        try await Self.randomHistory(seed: seed, into: store, clock: clock)

        let report = try await store.verifyProjections()
        #expect(report.isClean, "\(report.differences)")
        #expect(report.checkpoints[StreamCatalogue.name] == report.lastPosition)

        let live = try await store.streamCatalogue()
        let liveHistory = try historyRows(store)
        #expect(!liveHistory.isEmpty)
        try await store.rebuildProjections()
        #expect(try await store.streamCatalogue() == live)
        #expect(try historyRows(store) == liveHistory)

        let events = try await store.events(EventFilter())
        var random = SeededRandom(seed: seed &+ 1)
        let last = events.last!.position
        let positions = [0, 1, 15, 16, 17, last - 1, last] + (0..<10).map { _ in Int64.random(in: 1...last, using: &random) }
        for position in positions {
            var expected: [StreamID: StreamSummary] = [:]
            StreamCatalogue().fold(events.prefix { $0.position <= position }, into: &expected)
            let atPosition = try await store.streamCatalogue(atPosition: position)
            #expect(atPosition == expected.keys.sorted().map { expected[$0]! }, "at position \(position)")
        }
    }

    func historyRows(_ store: EventStore) throws -> [Row] {
        try store.pool.read {
            try Row.fetchAll($0, sql: "SELECT * FROM stream_catalogue_history ORDER BY 1, 2")
                + Row.fetchAll($0, sql: "SELECT * FROM stream_catalogue_checkpoints ORDER BY 1")
        }
    }

    @Test("the catalogue's versions are kept at checkpoints, of the streams changed since the last one, once they are 1 per 10 events")
    func checkpointCadence() async throws {
        let directory = TemporaryDirectory()
        let store = try makeStore(directory) { $0.checkpointEvery = 10 }
        try await store.append((0..<25).map { note("\($0)") }, to: "a")       // 1–25
        try await store.append((0..<20).map { note("\($0)") }, to: "b")       // 26–45
        let (checkpoints, versions) = try await store.pool.read { db in
            (try Int64.fetchAll(db, sql: "SELECT position FROM stream_catalogue_checkpoints ORDER BY 1"),
             try Row.fetchAll(db, sql: "SELECT stream_id, valid_from, version FROM stream_catalogue_history ORDER BY valid_from, stream_id")
                .map { "\($0[0] as String)@\($0[1] as Int64)=\($0[2] as Int64)" })
        }
        // At 30, two streams changed in the 10 events since 20: too many versions for so few
        // events, so the checkpoint waits until 40.
        #expect(checkpoints == [10, 20, 40])
        #expect(versions == ["a@10=10", "a@20=20", "a@40=25", "b@40=15"])
        #expect(try await store.streamCatalogue(atPosition: 33).map(\.version) == [25, 8])
        #expect(try await store.streamCatalogue(atPosition: 9).map(\.version) == [9])
    }

    @Test("verify reports a planted difference with table, key and both values")
    func plantedDifference() async throws {
        let directory = TemporaryDirectory()
        let store = try makeStore(directory) { $0.checkpointEvery = 4 }
        try await store.append((1...13).map { note("\($0)") }, to: "app:shop")   // a checkpoint at 12
        try await store.append([note("14"), note("15")], to: "service:shop/web")
        #expect(try await store.verifyProjections().isClean)

        let raw = try DatabaseQueue(path: store.path)
        try await raw.write { db in
            try db.execute(sql: "UPDATE stream_catalogue SET event_count = 99 WHERE stream_id = 'app:shop'")
            try db.execute(sql: "DELETE FROM stream_catalogue WHERE stream_id = 'service:shop/web'")
            try db.execute(sql: "INSERT INTO stream_catalogue VALUES ('ghost', 1, 1, 1, 0, 0, 1, '{}')")
            try db.execute(sql: "UPDATE stream_catalogue_history SET version = 0 WHERE valid_from = 12 AND stream_id = 'app:shop'")
        }
        let report = try await store.verifyProjections()
        #expect(!report.isClean)
        let byKey = Dictionary(uniqueKeysWithValues: report.differences.map { ("\($0.table) \($0.key)", $0) })
        #expect(byKey.count == 4)
        let changed = try #require(byKey["stream_catalogue stream_id=app:shop"])
        #expect(changed.live == "{event_count=99}")
        #expect(changed.rebuilt == "{event_count=13}")
        #expect(byKey["stream_catalogue stream_id=service:shop/web"]?.live == nil)
        #expect(byKey["stream_catalogue stream_id=service:shop/web"]?.rebuilt?.contains("version=2") == true)
        #expect(byKey["stream_catalogue stream_id=ghost"]?.rebuilt == nil)
        #expect(byKey["stream_catalogue_history stream_id=app:shop, valid_from=12"]?.live == "{version=0}")

        try await store.rebuildProjections()
        #expect(try await store.verifyProjections().isClean)
    }

    @Test("verify flags a checkpoint that lags the log")
    func laggingCheckpoint() async throws {
        let directory = TemporaryDirectory()
        let store = try makeStore(directory)
        try await store.append([note("1"), note("2")], to: "a")
        try await store.pool.write { try ProjectionCheckpoints.set(StreamCatalogue.name, to: 1, in: $0) }
        let report = try await store.verifyProjections()
        #expect(report.differences.isEmpty)
        #expect(!report.isClean)
    }

    @Test("a projection that is behind the log catches up when the store opens")
    func catchUpOnOpen() async throws {
        let directory = TemporaryDirectory()
        let store = try makeStore(directory)
        try await store.append([note("1"), note("2"), note("3")], to: "a")
        try await store.pool.write { db in
            try db.execute(sql: "DELETE FROM stream_catalogue")
            try db.execute(sql: "DELETE FROM projection_checkpoints")
        }
        try store.close()
        let reopened = try makeStore(directory)
        #expect(try await reopened.streamCatalogue().map(\.version) == [3])
        #expect(try await reopened.verifyProjections().isClean)
    }
}

@Suite("The event-counts column codec")
struct CountsJSONTests {
    @Test("round-trips any type names, and agrees with JSONDecoder", arguments: [
        [:], ["A": 1], ["StateFetched": 40, "ApplyFailed": 1], ["wëird \"quoted\" \\ name\n": 3, "zz": Int64.max],
        ["/slash": 7, "é": 0],
    ] as [[String: Int64]])
    func roundTrip(counts: [String: Int64]) throws {
        let json = CountsJSON.encode(counts)
        #expect(try CountsJSON.decode(json) == counts)
        #expect(try JSONDecoder().decode([String: Int64].self, from: Data(json.utf8)) == counts)
    }

    @Test("keys come out sorted")
    func sorted() {
        #expect(CountsJSON.encode(["b": 2, "a": 1, "c": 3]) == #"{"a":1,"b":2,"c":3}"#)
    }
}
