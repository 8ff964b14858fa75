/// A projection whose state is a set of rows by key, where each event touches a few keys.
///
/// The fold is pure: the same events in the same order give the same rows, in any process. The
/// store keeps the rows in a table and folds each append into it in the same transaction; the
/// same `evolve` also folds forward from a snapshot for point-in-time reads.
public protocol KeyedProjection: Sendable {
    associatedtype Key: Hashable & Comparable & Sendable
    associatedtype Row: Equatable & Sendable

    /// The projection's name: its checkpoint, snapshot and table names derive from it.
    static var name: String { get }

    /// The keys whose rows `event` changes, in a fixed order.
    func keys(of event: RecordedEvent) -> [Key]

    /// Applies `event` to the row for `key` in place (`nil`: no row yet; set `nil` to remove it).
    /// In place, so that a row holding collections is not copied on every event.
    func evolve(_ row: inout Row?, key: Key, event: RecordedEvent)

    /// Whether `evolve` looks at payloads. Folds of projections that do not are fed events
    /// without their payloads, which makes rebuilds and point-in-time reads cheaper.
    var readsPayload: Bool { get }
}

extension KeyedProjection {
    public var readsPayload: Bool { true }

    /// Folds `events` (in log order) into an in-memory state.
    public func fold(_ events: some Sequence<RecordedEvent>, into state: inout [Key: Row]) {
        // Runs of events on the same single key (a batch appended to one stream, say) evolve one
        // row held outside the dictionary, instead of hashing the key for every event.
        var runKey: Key?
        var runRow: Row?
        for event in events {
            let eventKeys = keys(of: event)
            if eventKeys.count == 1, let runKey, eventKeys[0] == runKey {
                evolve(&runRow, key: runKey, event: event)
                continue
            }
            if let key = runKey { state[key] = runRow }
            runKey = nil
            if eventKeys.count == 1 {
                runKey = eventKeys[0]
                runRow = state.removeValue(forKey: eventKeys[0])
                evolve(&runRow, key: eventKeys[0], event: event)
            } else {
                for key in eventKeys { evolve(&state[key], key: key, event: event) }
            }
        }
        if let key = runKey { state[key] = runRow }
    }
}
