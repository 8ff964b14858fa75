import Foundation
import KeelsonCore
import Testing
@testable import KeelsonStore

@Suite("Following the log")
struct SubscriptionTests {
    @Test("wakes for new appends, applies the filter, and ends when cancelled")
    func follow() async throws {
        let directory = TemporaryDirectory()
        let store = try makeStore(directory) { $0.externalAppendPollInterval = .seconds(60) }
        try await store.append([note("old")], to: "a")

        let received = AsyncStream.makeStream(of: RecordedEvent.self)
        let follower = Task {
            defer { received.continuation.finish() }
            for try await event in store.follow(after: 1, matching: EventFilter(types: ["Wanted"])) {
                received.continuation.yield(event)
            }
        }
        var iterator = received.stream.makeAsyncIterator()
        try await store.append([note("skip", type: "Unwanted")], to: "a")
        try await store.append([note("one", type: "Wanted")], to: "b")
        // The poll interval is a minute, so only the in-process wake-up can deliver these.
        let first = await iterator.next()
        #expect(first?.position == 3)
        try await store.append([note("two", type: "Wanted"), note("three", type: "Wanted")], to: "b")
        #expect(await iterator.next()?.position == 4)
        #expect(await iterator.next()?.position == 5)

        follower.cancel()
        #expect(await iterator.next() == nil)
        try await follower.value
    }

    @Test("sees appends made by another process's connection through the poll interval")
    func otherConnection() async throws {
        let directory = TemporaryDirectory()
        let store = try makeStore(directory) { $0.externalAppendPollInterval = .milliseconds(50) }
        let other = try makeStore(directory)
        let follower = Task { () -> RecordedEvent? in
            for try await event in store.follow(after: 0) { return event }
            return nil
        }
        try await Task.sleep(for: .milliseconds(100))
        try await other.append([note("from elsewhere")], to: "x")
        let event = try await follower.value
        #expect(event?.payload == #"{"text":"from elsewhere"}"#)
    }
}
