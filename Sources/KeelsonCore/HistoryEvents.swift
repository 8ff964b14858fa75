/// The stream of the log's own bookkeeping: archives made and restored.
public let historyStream: StreamID = "history"

/// Closed history moved to an archive file (`keelson db archive`): the events at positions
/// `firstPosition`–`lastPosition` now live in `file`, whose events hash (chained to the
/// archive before) to `digest`. Nothing was forgotten: the store reads through the archive.
public struct HistoryArchived: EventPayload, Hashable {
    public static let eventType = "HistoryArchived"
    public var file: String
    public var firstPosition: Int64
    public var lastPosition: Int64
    public var events: Int64
    public var digest: String

    public init(file: String, firstPosition: Int64, lastPosition: Int64, events: Int64, digest: String) {
        self.file = file
        self.firstPosition = firstPosition
        self.lastPosition = lastPosition
        self.events = events
        self.digest = digest
    }
}

/// An archive's events brought back into the live file (`keelson db restore`).
public struct HistoryRestored: EventPayload, Hashable {
    public static let eventType = "HistoryRestored"
    public var file: String
    public var firstPosition: Int64
    public var lastPosition: Int64
    public var events: Int64
    public var digest: String

    public init(file: String, firstPosition: Int64, lastPosition: Int64, events: Int64, digest: String) {
        self.file = file
        self.firstPosition = firstPosition
        self.lastPosition = lastPosition
        self.events = events
        self.digest = digest
    }
}
