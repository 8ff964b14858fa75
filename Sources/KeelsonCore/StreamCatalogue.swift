/// One stream's entry in the stream catalogue.
public struct StreamSummary: Sendable, Hashable, Codable {
    public var streamID: StreamID
    /// The version of the stream's last event (= its number of events).
    public var version: Int64
    public var firstPosition: Int64
    public var lastPosition: Int64
    public var firstRecordedAtMilliseconds: Int64
    public var lastRecordedAtMilliseconds: Int64
    public var eventCount: Int64
    /// How many events of each type the stream holds.
    public var eventCountsByType: [String: Int64]

    public init(
        streamID: StreamID, version: Int64, firstPosition: Int64, lastPosition: Int64,
        firstRecordedAtMilliseconds: Int64, lastRecordedAtMilliseconds: Int64, eventCount: Int64,
        eventCountsByType: [String: Int64]
    ) {
        self.streamID = streamID
        self.version = version
        self.firstPosition = firstPosition
        self.lastPosition = lastPosition
        self.firstRecordedAtMilliseconds = firstRecordedAtMilliseconds
        self.lastRecordedAtMilliseconds = lastRecordedAtMilliseconds
        self.eventCount = eventCount
        self.eventCountsByType = eventCountsByType
    }
}

/// The stream catalogue: every stream's version, first and last position and time, and its event
/// counts by type.
public struct StreamCatalogue: KeyedProjection {
    public static let name = "stream_catalogue"

    public init() {}

    public var readsPayload: Bool { false }

    public func keys(of event: RecordedEvent) -> [StreamID] { [event.streamID] }

    public func evolve(_ row: inout StreamSummary?, key: StreamID, event: RecordedEvent) {
        guard row != nil else {
            row = StreamSummary(
                streamID: key, version: event.version,
                firstPosition: event.position, lastPosition: event.position,
                firstRecordedAtMilliseconds: event.recordedAtMilliseconds,
                lastRecordedAtMilliseconds: event.recordedAtMilliseconds,
                eventCount: 1, eventCountsByType: [event.type: 1])
            return
        }
        row!.version = event.version
        row!.lastPosition = event.position
        row!.lastRecordedAtMilliseconds = event.recordedAtMilliseconds
        row!.eventCount += 1
        row!.eventCountsByType[event.type, default: 0] += 1
    }
}
