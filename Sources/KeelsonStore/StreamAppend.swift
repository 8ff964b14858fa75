import KeelsonCore

/// Events to append to one stream, with the version the appender expects it to be at.
public struct StreamAppend: Sendable, Hashable {
    public var stream: StreamID
    public var expectedVersion: ExpectedVersion
    public var events: [NewEvent]

    public init(stream: StreamID, expectedVersion: ExpectedVersion = .any, events: [NewEvent]) {
        self.stream = stream
        self.expectedVersion = expectedVersion
        self.events = events
    }
}

/// Where an append landed.
public struct AppendResult: Sendable, Hashable {
    public var stream: StreamID
    /// Global positions of the appended events (consecutive).
    public var positions: ClosedRange<Int64>
    /// The stream's version after the append (= the version of its last event).
    public var newVersion: Int64
    /// When the events were recorded (ms since 1970): the time of their transaction.
    public var recordedAtMilliseconds: Int64

    /// The events of `append` (the request this result answers) as the log now holds them: what
    /// reading their positions would give, typed payloads included.
    public func recordedEvents(of append: StreamAppend) -> [RecordedEvent] {
        let firstVersion = newVersion - Int64(append.events.count) + 1
        return append.events.enumerated().map { index, event in
            RecordedEvent(
                event, position: positions.lowerBound + Int64(index), streamID: stream, version: firstVersion + Int64(index),
                recordedAtMilliseconds: recordedAtMilliseconds)
        }
    }
}
