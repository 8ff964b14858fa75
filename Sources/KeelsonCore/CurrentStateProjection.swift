/// One service instance's latest observation.
public struct CurrentStateRow: Sendable, Hashable, Codable {
    public var instance: String
    public var runtime: String
    /// The observation as canonical JSON, and its digest.
    public var observation: String
    public var digest: String
    public var healthy: Bool
    /// The `StateFetched` event that recorded it.
    public var fetchedPosition: Int64
    /// The last fetch that saw it (`StateFetched` or `StateUnchanged`).
    public var lastSeenPosition: Int64
    public var lastSeenAtMilliseconds: Int64

    public init(
        instance: String, runtime: String, observation: String, digest: String, healthy: Bool, fetchedPosition: Int64,
        lastSeenPosition: Int64, lastSeenAtMilliseconds: Int64
    ) {
        self.instance = instance
        self.runtime = runtime
        self.observation = observation
        self.digest = digest
        self.healthy = healthy
        self.fetchedPosition = fetchedPosition
        self.lastSeenPosition = lastSeenPosition
        self.lastSeenAtMilliseconds = lastSeenAtMilliseconds
    }
}

/// Per service instance: the latest observation from its runtime.
public struct CurrentStateProjection: KeyedProjection {
    public static let name = "current_state"

    public init() {}

    public func keys(of event: RecordedEvent) -> [String] {
        switch event.type {
        case StateFetched.eventType, StateUnchanged.eventType:
            [String(event.streamID.rawValue.dropFirst("instance:".count))]
        default: []
        }
    }

    public func evolve(_ row: inout CurrentStateRow?, key: String, event: RecordedEvent) {
        if event.type == StateUnchanged.eventType {
            guard var seen = row else { return }
            let last = (try? event.decode(StateUnchanged.self))?.lastMilliseconds
            seen.lastSeenPosition = event.position
            seen.lastSeenAtMilliseconds = last.map { max(min($0, event.recordedAtMilliseconds), seen.lastSeenAtMilliseconds) }
                ?? event.recordedAtMilliseconds
            row = seen
            return
        }
        guard let fetched = try? event.decode(StateFetched.self) else { return }
        row = CurrentStateRow(
            instance: key, runtime: fetched.runtime,
            observation: (try? CanonicalJSON.string(fetched.observation)) ?? "{}", digest: fetched.digest,
            healthy: fetched.observation.isHealthy, fetchedPosition: event.position, lastSeenPosition: event.position,
            lastSeenAtMilliseconds: event.recordedAtMilliseconds)
    }
}
