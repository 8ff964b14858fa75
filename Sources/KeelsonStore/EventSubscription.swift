import Foundation
import KeelsonCore

/// The events after a position, as they are appended. Pull-based: it reads the next chunk only
/// when the consumer has taken the previous one, so a slow consumer never piles up memory.
public struct EventSubscription: AsyncSequence, Sendable {
    public typealias Element = RecordedEvent

    let store: EventStore
    let after: Int64
    let filter: EventFilter

    public func makeAsyncIterator() -> Iterator {
        Iterator(store: store, cursor: after, filter: filter)
    }

    public struct Iterator: AsyncIteratorProtocol {
        let store: EventStore
        var cursor: Int64
        let filter: EventFilter
        var buffer: [RecordedEvent] = []
        var index = 0

        /// The next event, or `nil` once the task is cancelled.
        public mutating func next() async throws -> RecordedEvent? {
            do {
                return try await nextEvent()
            } catch is CancellationError {
                // Cancellation ends the sequence cleanly, wherever it struck (GRDB throws it
                // from a read that was cancelled).
                return nil
            }
        }

        private mutating func nextEvent() async throws -> RecordedEvent? {
            while index == buffer.count {
                if Task.isCancelled { return nil }
                var chunkFilter = filter
                chunkFilter.afterPosition = cursor
                chunkFilter.limit = 500
                chunkFilter.latest = false
                let upTo = try await store.lastPosition()
                chunkFilter.upToPosition = Swift.min(filter.upToPosition ?? upTo, upTo)
                buffer = upTo > cursor ? try await store.pool.read { [chunkFilter] in try chunkFilter.fetch($0) } : []
                index = 0
                if let last = buffer.last {
                    cursor = last.position
                } else {
                    // Nothing matched up to `upTo`: skip past it, then sleep until something new.
                    cursor = Swift.max(cursor, upTo)
                    await store.notifier.wait(beyond: cursor, timeout: store.configuration.externalAppendPollInterval)
                }
            }
            defer { index += 1 }
            return buffer[index]
        }
    }
}
