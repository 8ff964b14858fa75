import KeelsonCore

/// A filter's events in log order, page by page, each page read while the caller works through
/// the one before (reading is about a third of a fold: the store's reader and the fold then share
/// two cores instead of taking turns).
public struct EventPages: Sendable {
    private let store: EventStore
    private var filter: EventFilter
    private let size: Int
    private var pending: Task<[RecordedEvent], any Error>?

    /// Starts reading the first page at once. `filter.limit` is replaced by `size`.
    public init(_ store: EventStore, _ filter: EventFilter, size: Int = 5_000) {
        self.store = store
        self.filter = filter
        self.size = max(1, size)
        self.filter.limit = self.size
        pending = Self.read(store, self.filter)
    }

    /// The next page, or nil after the last (a page shorter than `size`, or an empty one).
    public mutating func next() async throws -> [RecordedEvent]? {
        guard let reading = pending else { return nil }
        let page = try await reading.value
        if page.count == size, let last = page.last {
            filter.afterPosition = last.position
            pending = Self.read(store, filter)
        } else {
            pending = nil
        }
        return page.isEmpty ? nil : page
    }

    /// Stops a page being read ahead (for a caller that stops before the last page).
    public func cancel() { pending?.cancel() }

    private static func read(_ store: EventStore, _ filter: EventFilter) -> Task<[RecordedEvent], any Error> {
        Task { try await store.events(filter) }
    }
}
