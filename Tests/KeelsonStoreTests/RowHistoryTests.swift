import Foundation
import GRDB
import KeelsonCore
import KeelsonTestSupport
import Testing
@testable import KeelsonStore

@Suite("Row history: versions of changes, point-in-time reads from them")
struct RowHistoryTests {
    static let instances = ["shop/api@prod", "shop/web@canary", "shop/web@prod", "shop/web@staging", "tools/db@prod"]

    /// Appends a random history of the instance events the keyed projections fold: compiles,
    /// removals, changed and unchanged fetches, apply requests, across a few instances, in
    /// batches of several requests at once.
    static func randomHistory(seed: UInt64, into store: EventStore, clock: ManualClock) async throws -> (changedFetches: Int, unchanged: Int) {
        var random = SeededRandom(seed: seed)
        var fetchedAt: [String: Int64] = [:]
        var changedFetches = 0, unchanged = 0
        for round in 0..<60 {
            var requests: [StreamAppend] = []
            for name in instances.shuffled(using: &random).prefix(Int.random(in: 1...3, using: &random)) {
                let id = ServiceInstanceID(name)!
                let version = "1.\(Int.random(in: 0..<3, using: &random)).0"
                let event: NewEvent
                switch Int.random(in: 0..<10, using: &random) {
                case 0...2:
                    let document = #"{"image":"shop:\#(version)","replicas":\#(Int.random(in: 1...3, using: &random))}"#
                    event = try NewEvent(DesiredStateCompiled(
                        instance: name, digest: "sha256:\(document.utf8.count)-\(version)", document: document, version: version,
                        parameters: ["round": "\(round)"], configDigest: "sha256:config"))
                case 3:
                    event = try NewEvent(InstanceRemoved(instance: name, version: version, configDigest: "sha256:config"))
                case 4...6:
                    let ready = Int.random(in: 0...2, using: &random)
                    let observation = Observation(objects: [
                        ObservedObject(name: "main", version: version, desiredReplicas: 2, readyReplicas: ready, health: ready == 2 ? .healthy : .unhealthy),
                    ])
                    event = try NewEvent(StateFetched(instance: id, runtime: "sim", observation: observation, digest: "sha256:\(version)-\(ready)"))
                    changedFetches += 1
                case 7, 8:
                    // Unchanged fetches move `last_seen_*` only, and are not versioned.
                    event = try NewEvent(StateUnchanged(instance: id, sameAs: fetchedAt[name] ?? 1, fetches: Int.random(in: 1...20, using: &random)))
                    unchanged += 1
                default:
                    event = try NewEvent(ApplyRequested(
                        instance: id, requestID: "r\(round)", version: version, digest: "sha256:x", document: "{}", rollback: false))
                }
                requests.append(StreamAppend(stream: StreamID("instance:\(name)"), events: [event]))
            }
            let appended = try await store.append(requests)
            for (request, result) in zip(requests, appended) where request.events[0].type == StateFetched.eventType {
                fetchedAt[String(request.stream.rawValue.dropFirst("instance:".count))] = result.positions.lowerBound
            }
            clock.advance(by: Double(Int.random(in: 1...90, using: &random)))
        }
        return (changedFetches, unchanged)
    }

    @Test("every position: the history's rows equal a fold of the log up to it, one row or all", arguments: [UInt64(3), 11, 2026])
    func pointInTime(seed: UInt64) async throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        let store = try makeStore(directory, clock: clock)
        let counts = try await Self.randomHistory(seed: seed, into: store, clock: clock)
        #expect(try await store.verifyProjections().isClean)

        let events = try await store.events(EventFilter())
        let last = events.last!.position
        for position in Int64(0)...last {
            let upTo = events.prefix { $0.position <= position }
            var desired: [String: DesiredStateRow] = [:]
            DesiredStateProjection().fold(upTo, into: &desired)
            var status: [String: InstanceStatusRow] = [:]
            InstanceStatusProjection().fold(upTo, into: &status)
            var current: [String: CurrentStateRow] = [:]
            CurrentStateProjection().fold(upTo, into: &current)
            // A version of the current state reads as of the fetch that recorded it.
            for (key, row) in current {
                current[key]?.lastSeenPosition = row.fetchedPosition
                current[key]?.lastSeenAtMilliseconds = events.first { $0.position == row.fetchedPosition }!.recordedAtMilliseconds
            }

            #expect(try await store.rows(of: DesiredStateProjection.self, atPosition: position) == desired.keys.sorted().map { desired[$0]! }, "desired at \(position)")
            #expect(try await store.instanceStatuses(atPosition: position) == status.keys.sorted().map { status[$0]! }, "status at \(position)")
            #expect(try await store.rows(of: CurrentStateProjection.self, atPosition: position) == current.keys.sorted().map { current[$0]! }, "current at \(position)")
            #expect(try await store.instanceStatuses(prefix: "shop/web@", atPosition: position)
                    == status.keys.sorted().filter { $0.hasPrefix("shop/web@") }.map { status[$0]! })
            for instance in Self.instances {
                #expect(try await store.row(of: DesiredStateProjection.self, key: instance, atPosition: position) == desired[instance])
                #expect(try await store.row(of: InstanceStatusProjection.self, key: instance, atPosition: position) == status[instance])
            }
        }

        // Storage follows changes: one current-state version per changed fetch, none for the
        // unchanged ones; no version keeps a document or an observation.
        let versions = try await store.pool.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM current_state_history")!
        }
        #expect(counts.unchanged > 0)
        #expect(versions == counts.changedFetches)
        let columns = try await store.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT name FROM pragma_table_info('desired_state_history') UNION ALL SELECT name FROM pragma_table_info('current_state_history')").map { $0[0] as String }
        }
        #expect(!columns.contains("document") && !columns.contains("observation"))

        // A rebuild writes the same history.
        let before = try Self.history(store)
        try await store.rebuildProjections()
        #expect(try Self.history(store) == before)
    }

    /// A store in `directory` holding a random history.
    static func storeWithHistory(seed: UInt64, in directory: TemporaryDirectory) async throws -> EventStore {
        let clock = ManualClock()
        let store = try makeStore(directory, clock: clock)
        _ = try await randomHistory(seed: seed, into: store, clock: clock)
        return store
    }

    static func history(_ store: EventStore) throws -> [Row] {
        try store.pool.read { db in
            try ["desired_state_history", "current_state_history", "instance_status_history"].flatMap {
                try Row.fetchAll(db, sql: "SELECT * FROM \($0) ORDER BY 1, 2")
            }
        }
    }

    @Test("db check finds a version that a rebuild would not write, and one that is missing")
    func verifyHistory() async throws {
        let directory = TemporaryDirectory()
        let store = try await Self.storeWithHistory(seed: 5, in: directory)
        #expect(try await store.verifyProjections().isClean)
        let raw = try DatabaseQueue(path: store.path)
        let (instance, validFrom) = try await raw.write { db in
            let row = try Row.fetchOne(db, sql: "SELECT instance, valid_from FROM desired_state_history WHERE removed = 0 ORDER BY valid_from LIMIT 1")!
            try db.execute(sql: "UPDATE desired_state_history SET version = 'forged' WHERE instance = ? AND valid_from = ?", arguments: [row[0], row[1]])
            try db.execute(sql: "DELETE FROM instance_status_history WHERE valid_from = (SELECT MAX(valid_from) FROM instance_status_history)")
            return (row[0] as String, row[1] as Int64)
        }
        let report = try await store.verifyProjections()
        let tables = Set(report.differences.map(\.table))
        #expect(tables == ["desired_state_history", "instance_status_history"], "\(report.differences)")
        let forged = try #require(report.differences.first { $0.table == "desired_state_history" })
        #expect(forged.key == "instance=\(instance), valid_from=\(validFrom)")
        #expect(forged.live == "{version=forged}")
        try await store.rebuildProjections()
        #expect(try await store.verifyProjections().isClean)
    }

    @Test("a version whose event is not in the log is an error that names the table, not a crash")
    func danglingVersion() async throws {
        let directory = TemporaryDirectory()
        let store = try await Self.storeWithHistory(seed: 9, in: directory)
        let raw = try DatabaseQueue(path: store.path)
        try await raw.write { db in
            try db.execute(sql: "UPDATE desired_state_history SET position = 999999 WHERE removed = 0")
        }
        let last = try await store.lastPosition()
        await #expect {
            _ = try await store.rows(of: DesiredStateProjection.self, atPosition: last)
        } throws: { error in
            "\(error)".contains("desired_state_history") && "\(error)".contains("999999")
        }
    }
}
