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
}
