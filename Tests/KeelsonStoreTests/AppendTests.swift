import Foundation
import GRDB
import KeelsonCore
import Testing
@testable import KeelsonStore

@Suite("Appending and reading events")
struct AppendTests {
    @Test("appended events read back identically, by stream and by global range")
    func roundTrip() async throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        let store = try makeStore(directory, clock: clock)

        let first = try await store.append([note("a"), note("b")], to: "app:shop", expecting: .noStream)
        #expect(first.positions == 1...2)
        #expect(first.newVersion == 2)
        clock.advance(by: 60)
        let second = try await store.append(
            [NewEvent(type: "Other", schemaVersion: 2, payload: #"{"n":1}"#, actor: "alice", correlationID: "c-1", causationPosition: 2)],
            to: "service:shop/web")
        #expect(second.positions == 3...3)
        #expect(second.newVersion == 1)

        let all = try await store.events(EventFilter())
        #expect(all.map(\.position) == [1, 2, 3])
        #expect(all.map(\.version) == [1, 2, 1])
        #expect(all[0].payload == #"{"text":"a"}"#)
        #expect(all[0].recordedAt == clock.read().addingTimeInterval(-60))
        let other = all[2]
        #expect(other.type == "Other")
        #expect(other.schemaVersion == 2)
        #expect(other.actor == "alice")
        #expect(other.correlationID == "c-1")
        #expect(other.causationPosition == 2)

        #expect(try await store.stream("app:shop").map(\.payload) == [#"{"text":"a"}"#, #"{"text":"b"}"#])
        #expect(try await store.stream("app:shop", fromVersion: 2).map(\.version) == [2])
        #expect(try await store.events(EventFilter(afterPosition: 1, limit: 1)).map(\.position) == [2])
        #expect(try await store.events(EventFilter(limit: 2, latest: true)).map(\.position) == [2, 3])
        #expect(try await store.version(of: "app:shop") == 2)
        #expect(try await store.version(of: "app:nothing") == 0)
        #expect(try await store.lastPosition() == 3)
    }

    @Test("filters by type and by time range")
    func filters() async throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        let store = try makeStore(directory, clock: clock)
        let start = clock.read()
        for minute in 0..<6 {
            try await store.append([note("\(minute)", type: minute.isMultiple(of: 2) ? "Even" : "Odd")], to: "s")
            clock.advance(by: 60)
        }
        #expect(try await store.events(EventFilter(types: ["Even"])).map(\.position) == [1, 3, 5])
        #expect(try await store.events(EventFilter(types: ["Even", "Odd"])).count == 6)
        let window = EventFilter(since: start.addingTimeInterval(120), until: start.addingTimeInterval(240))
        #expect(try await store.events(window).map(\.position) == [3, 4])
        #expect(try await store.events(EventFilter(types: ["Odd"], since: start.addingTimeInterval(120))).map(\.position) == [4, 6])
        #expect(try await store.position(atTime: start.addingTimeInterval(90)) == 2)
    }

    @Test("filters of several types, read through the type index or in position order, and pages read ahead find what a scan of the log finds")
    func manyTypes() async throws {
        let directory = TemporaryDirectory()
        let store = try makeStore(directory)
        let types = (0..<12).map { "Type\($0)" }
        for round in 0..<50 {
            try await store.append((0..<7).map { note("\(round)", type: types[(round * 7 + $0 * 5) % types.count]) }, to: StreamID("s-\(round % 3)"))
        }
        let all = try await store.events(EventFilter())
        for wanted in [Array(types.prefix(9)), Array(types.suffix(8)), ["Type3"], Array(types.prefix(2))] {
            let expected = all.filter { wanted.contains($0.type) }
            #expect(expected.count > 20)
            #expect(try await store.events(EventFilter(types: wanted)) == expected)
            var inOrder = EventFilter(afterPosition: 30, types: wanted, upToPosition: 300)
            inOrder.typesAreMostOfTheLog = true
            #expect(try await store.events(inOrder) == expected.filter { $0.position > 30 && $0.position <= 300 })
            #expect(try await store.events(EventFilter(afterPosition: 100, types: wanted, limit: 7)) == Array(expected.filter { $0.position > 100 }.prefix(7)))
            #expect(try await store.events(EventFilter(types: wanted, limit: 5, latest: true)) == Array(expected.suffix(5)))
            var pages = EventPages(store, inOrder, size: 4)
            var paged: [RecordedEvent] = []
            while let page = try await pages.next() {
                #expect(page.count <= 4)
                paged += page
            }
            #expect(paged == expected.filter { $0.position > 30 && $0.position <= 300 })
        }
    }

    @Test("typed payloads are encoded canonically and decode back")
    func typedPayloads() async throws {
        struct Greeting: EventPayload, Equatable {
            static let eventType = "Greeting"
            var to: String
            var times: Int
        }
        let directory = TemporaryDirectory()
        let store = try makeStore(directory)
        try await store.append([try NewEvent(Greeting(to: "web", times: 2))], to: "app:shop")
        let event = try #require(try await store.stream("app:shop").first)
        #expect(event.type == "Greeting")
        #expect(event.payload == #"{"times":2,"to":"web"}"#)
        #expect(try event.decode(Greeting.self) == Greeting(to: "web", times: 2))
    }

    @Test(
        "expected versions are enforced and a conflict names stream, expectation and actual version",
        arguments: [
            (ExpectedVersion.noStream, false, Int64(2)),
            (.exact(1), false, 2),
            (.exact(2), true, 2),
            (.exact(3), false, 2),
            (.any, true, 2),
        ])
    func expectedVersions(expected: ExpectedVersion, succeeds: Bool, actual: Int64) async throws {
        let directory = TemporaryDirectory()
        let store = try makeStore(directory)
        try await store.append([note("1"), note("2")], to: "app:shop", expecting: .noStream)
        if succeeds {
            let result = try await store.append([note("3")], to: "app:shop", expecting: expected)
            #expect(result.newVersion == 3)
        } else {
            let error = await #expect(throws: StoreError.self) {
                try await store.append([note("3")], to: "app:shop", expecting: expected)
            }
            #expect(error == .versionConflict(stream: "app:shop", expected: expected, actual: actual))
            #expect(error?.description.contains("app:shop") == true)
            #expect(try await store.lastPosition() == 2)
        }
    }

    @Test("a batch with one bad event leaves nothing behind")
    func batchAtomicity() async throws {
        let directory = TemporaryDirectory()
        let store = try makeStore(directory)
        try await store.append([note("before")], to: "app:shop")
        let bad = [note("1"), note("2"), NewEvent(type: "Note", payload: "{not json"), note("4")]
        let error = await #expect(throws: StoreError.self) {
            try await store.append(bad, to: "app:shop")
        }
        #expect(error == .invalidEvent(stream: "app:shop", index: 2, reason: "the payload is not valid JSON"))
        #expect(try await store.lastPosition() == 1)
        #expect(try await store.version(of: "app:shop") == 1)
        #expect(try await store.streamCatalogue().map(\.eventCount) == [1])

        // Across streams: a conflict on the second stream leaves the first unwritten too.
        await #expect(throws: StoreError.self) {
            try await store.append([
                StreamAppend(stream: "service:shop/web", events: [note("x")]),
                StreamAppend(stream: "app:shop", expectedVersion: .noStream, events: [note("y")]),
            ])
        }
        #expect(try await store.lastPosition() == 1)
        #expect(try await store.version(of: "service:shop/web") == 0)
    }

    @Test("a failing request in a group commit does not affect the others in the batch")
    func groupCommitIsolation() async throws {
        let directory = TemporaryDirectory()
        let store = try makeStore(directory)
        let outcomes = await withTaskGroup(of: (Int, Bool).self) { group in
            for index in 0..<40 {
                group.addTask {
                    let payload = index.isMultiple(of: 4) ? "{broken" : #"{"i":\#(index)}"#
                    do {
                        try await store.append([NewEvent(type: "N", payload: payload), note("\(index)")], to: StreamID("s-\(index)"))
                        return (index, true)
                    } catch {
                        return (index, false)
                    }
                }
            }
            return await group.reduce(into: [Int: Bool]()) { $0[$1.0] = $1.1 }
        }
        for (index, succeeded) in outcomes { #expect(succeeded == !index.isMultiple(of: 4), "request \(index)") }
        let events = try await store.events(EventFilter())
        #expect(events.count == 30 * 2)
        #expect(events.map(\.position) == Array(1...60))
        #expect(!events.contains { ["s-0", "s-4", "s-8"].contains($0.streamID.rawValue) })
        let report = try await store.verifyProjections()
        #expect(report.isClean)
    }

    @Test("empty appends and empty types are refused")
    func invalidRequests() async throws {
        let directory = TemporaryDirectory()
        let store = try makeStore(directory)
        await #expect(throws: StoreError.emptyAppend) { try await store.append([], to: "s") }
        await #expect(throws: StoreError.invalidEvent(stream: "s", index: 1, reason: "the event type is empty")) {
            try await store.append([note("ok"), NewEvent(type: "")], to: "s")
        }
        await #expect(throws: StoreError.self) { try await store.append([note("x")], to: "") }
        #expect(try await store.lastPosition() == 0)
    }
}
