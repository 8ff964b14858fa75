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
        for event in events {
            for key in keys(of: event) {
                evolve(&state[key], key: key, event: event)
            }
        }
    }
}
