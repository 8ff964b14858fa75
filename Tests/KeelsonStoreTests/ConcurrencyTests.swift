import Foundation
import KeelsonCore
import Synchronization
import Testing
@testable import KeelsonStore

@Suite("Concurrent appenders")
struct ConcurrencyTests {
    @Test("50 tasks × 200 events: none lost or duplicated, positions dense, each caller gets its own", arguments: [true, false])
    func manyAppenders(groupCommit: Bool) async throws {
        let directory = TemporaryDirectory()
        let store = try makeStore(directory) { $0.groupCommit = groupCommit }
        let tasks = 50, perTask = 200
        let received = try await withThrowingTaskGroup(of: (Int, [AppendResult]).self) { group in
            for task in 0..<tasks {
                group.addTask {
                    var results: [AppendResult] = []
                    for index in 0..<perTask {
                        results.append(try await store.append(
                            [NewEvent(type: "Tick", payload: #"{"task":\#(task),"i":\#(index)}"#)],
                            to: StreamID("task-\(task)")))
                    }
                    return (task, results)
                }
            }
            return try await group.reduce(into: [Int: [AppendResult]]()) { $0[$1.0] = $1.1 }
        }

        let events = try await store.events(EventFilter())
        #expect(events.count == tasks * perTask)
        #expect(events.map(\.position) == Array(1...Int64(tasks * perTask)))
        let byPosition = Dictionary(uniqueKeysWithValues: events.map { ($0.position, $0) })
        var seen = Set<Int64>()
        for (task, results) in received {
            #expect(results.map(\.newVersion) == Array(1...Int64(perTask)))
            for (index, result) in results.enumerated() {
                let position = result.positions.lowerBound
                #expect(seen.insert(position).inserted, "position \(position) given twice")
                let event = try #require(byPosition[position])
                #expect(event.streamID == StreamID("task-\(task)"))
                #expect(event.payload == #"{"task":\#(task),"i":\#(index)}"#)
            }
        }
        let catalogue = try await store.streamCatalogue()
        #expect(catalogue.count == tasks)
        #expect(catalogue.allSatisfy { $0.version == Int64(perTask) && $0.eventCount == Int64(perTask) })
        #expect(try await store.verifyProjections().isClean)
    }

    @Test("group commit shares transactions among concurrent appenders")
    func groupCommitBatches() async throws {
        let directory = TemporaryDirectory()
        // A single-event append per request: if every request got its own transaction, each event
        // would get its own recorded-at tick. The clock ticks once per commit.
        let ticks = TickCounter()
        let store = try makeStore(directory) { configuration in
            configuration.clock = { Date(timeIntervalSince1970: Double(ticks.next())) }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<64 {
                group.addTask { try await store.append([note("\(task)")], to: StreamID("s-\(task)")) }
            }
            try await group.waitForAll()
        }
        let commits = Set(try await store.events(EventFilter()).map(\.recordedAtMilliseconds)).count
        #expect(commits < 64, "64 concurrent appends took \(commits) commits")
    }
}

final class TickCounter: Sendable {
    private let value = Synchronization.Mutex(0)
    func next() -> Int { value.withLock { $0 += 1; return $0 } }
}
