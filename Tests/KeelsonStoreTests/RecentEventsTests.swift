import Foundation
import KeelsonCore
import Testing
@testable import KeelsonStore

/// Reads of what this process committed last come from memory (`RecentEvents`), and answer
/// exactly as the file does — with other processes' appends in between included.
@Suite("Recent events in memory")
struct RecentEventsTests {
    /// Filters over positions, types and limits, at the edges of what memory holds.
    static func filters(upTo last: Int64) -> [EventFilter] {
        var filters: [EventFilter] = []
        for after in [0, 1, last / 2, last - 5, last - 4, last - 3, last - 1, last, last + 5] {
            for types in [[], ["Note"], ["Other", "Note"], ["Missing"]] {
                for limit in [nil, 0, 1, 3, 1_000] {
                    var filter = EventFilter(afterPosition: after, types: types, limit: limit)
                    filters.append(filter)
                    filter.upToPosition = after + 2
                    filters.append(filter)
                    filter.typesAreMostOfTheLog = true
                    filters.append(filter)
                }
            }
        }
        // Filters memory does not answer: the file does.
        filters.append(EventFilter(stream: "app:a"))
        filters.append(EventFilter(afterPosition: 2, limit: 2, latest: true))
        filters.append(EventFilter(since: Date(timeIntervalSince1970: 0)))
        return filters
    }

    @Test("every read of positions and types answers as the file does, with another process's appends in between")
    func sameAsTheFile() async throws {
        let directory = TemporaryDirectory()
        let store = try makeStore(directory)
        let other = try makeStore(directory)
        for round in 0..<3 {
            try await store.append([note("a\(round)"), note("b\(round)", type: "Other")], to: "app:a")
            try await store.append([note("c\(round)")], to: "app:b")
            // Another process (another store on the file): its events are not in this one's memory.
            try await other.append([note("x\(round)"), note("y\(round)", type: "Other")], to: "app:x")
        }
        // The last commits follow on from each other: reads of them come from memory.
        for index in 0..<4 {
            try await store.append([note("last\(index)", type: index.isMultiple(of: 2) ? "Note" : "Other")], to: "app:a")
        }
        let last = try await store.lastPosition()
        #expect(last == 19)
        #expect(store.notifier.recent.read(EventFilter(afterPosition: last - 4))?.events.count == 4)
        // A third store has nothing in memory: it reads the file.
        let reader = try makeStore(directory)
        for filter in Self.filters(upTo: last) {
            let fromFile = try await reader.events(filter)
            #expect(try await store.events(filter) == fromFile, "\(filter)")
            #expect(try await other.events(filter) == fromFile, "\(filter)")
        }
    }

    @Test("events read back in the process that appended them bring their typed payloads; a long run keeps only the last ones")
    func typedAndBounded() async throws {
        let directory = TemporaryDirectory()
        let store = try makeStore(directory)
        let id = ServiceInstanceID("shop/web@prod")!
        let lease = LeaseAcquired(instance: id, worker: "w", previousOwner: nil)
        try await store.append([try NewEvent(lease)], to: .instance(id))
        let read = try await store.events(EventFilter())
        #expect(read.count == 1 && read[0].decoded != nil)
        #expect(try read[0].decode(LeaseAcquired.self) == lease)

        let recent = RecentEvents(capacity: 4)
        let events = (1...10).map { RecordedEvent(position: Int64($0), streamID: "s", version: Int64($0), type: "T", schemaVersion: 1, payload: "{}", recordedAtMilliseconds: 0) }
        recent.record(Array(events[0..<6]))
        recent.record(Array(events[6...]))
        #expect(recent.read(EventFilter(afterPosition: 5)) == nil)
        #expect(recent.read(EventFilter(afterPosition: 6))?.events.map(\.position) == [7, 8, 9, 10])
        #expect(recent.read(EventFilter(afterPosition: 7, limit: 2))?.events.map(\.position) == [8, 9])
        #expect(recent.read(EventFilter(afterPosition: 7, limit: 2))?.through == 9)
        // A commit that does not follow on starts the run afresh.
        recent.record([RecordedEvent(position: 12, streamID: "s", version: 12, type: "T", schemaVersion: 1, payload: "{}", recordedAtMilliseconds: 0)])
        #expect(recent.read(EventFilter(afterPosition: 10)) == nil)
        #expect(recent.read(EventFilter(afterPosition: 11))?.events.map(\.position) == [12])
    }
}
