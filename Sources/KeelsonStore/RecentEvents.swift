import KeelsonCore
import Synchronization

/// The events this process committed last, in memory with the typed payloads they were written
/// from: a reader in the same process — the worker catching up on what the server's release
/// route or its own runtimes just recorded — gets them without reading SQLite or decoding their
/// JSON again.
///
/// It only ever holds a run of consecutive positions `first…last`, so that it answers exactly
/// as the log would for that range: a commit that does not follow on from `last` (another
/// process appended in between, or two commits finished out of order) starts the run afresh.
/// Reads it cannot answer whole go to the database for the rest.
final class RecentEvents: Sendable {
    private struct Run {
        var events: [RecordedEvent] = []
        /// Index of the oldest event kept (the ones before it are dropped, then compacted).
        var start = 0
        var payloadBytes = 0

        var first: Int64? { start < events.count ? events[start].position : nil }
        var last: Int64? { events.last?.position }
    }

    private let run = Mutex(Run())
    /// At most this many events, and this many bytes of payload, are kept.
    let capacity: Int
    let payloadByteCapacity: Int

    init(capacity: Int = 16_384, payloadByteCapacity: Int = 16 << 20) {
        self.capacity = max(0, capacity)
        self.payloadByteCapacity = max(0, payloadByteCapacity)
    }

    /// Keeps `written`, a commit's events in position order.
    func record(_ written: [RecordedEvent]) {
        guard capacity > 0, let firstWritten = written.first?.position else { return }
        run.withLock { run in
            if run.last.map({ $0 + 1 != firstWritten }) ?? true {
                run = Run()
            }
            for event in written {
                run.events.append(event)
                run.payloadBytes += event.payload.utf8.count
            }
            while run.events.count - run.start > capacity || (run.payloadBytes > payloadByteCapacity && run.start < run.events.count) {
                run.payloadBytes -= run.events[run.start].payload.utf8.count
                run.start += 1
            }
            if run.start > capacity / 2 && run.start * 2 > run.events.count {
                run.events.removeFirst(run.start)
                run.start = 0
            }
        }
    }

    /// The events after `filter.afterPosition` that match `filter`, up to its limit, from memory —
    /// and the position read through — when the run covers that position and the filter asks
    /// only for positions and types; nil otherwise.
    func read(_ filter: EventFilter) -> (events: [RecordedEvent], through: Int64)? {
        guard filter.stream == nil, filter.fromVersion == nil, filter.since == nil, filter.until == nil, !filter.latest
        else { return nil }
        let limit = filter.limit.map { max(0, $0) } ?? .max
        let types = filter.types.isEmpty ? nil : Set(filter.types)
        return run.withLock { run -> (events: [RecordedEvent], through: Int64)? in
            guard let first = run.first, let last = run.last, filter.afterPosition >= first - 1 else { return nil }
            let upTo = min(last, filter.upToPosition ?? .max)
            var events: [RecordedEvent] = []
            var through = filter.afterPosition
            var index = run.start + Int(max(0, filter.afterPosition - first + 1))
            while index < run.events.count, events.count < limit {
                let event = run.events[index]
                guard event.position <= upTo else { break }
                if types?.contains(event.type) ?? true { events.append(event) }
                through = event.position
                index += 1
            }
            return (events, through)
        }
    }
}
