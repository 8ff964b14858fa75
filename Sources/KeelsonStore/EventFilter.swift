import Foundation
import GRDB
import KeelsonCore

/// Which events to read. Every condition is optional; results are in log order.
public struct EventFilter: Sendable, Hashable {
    /// Only this stream.
    public var stream: StreamID?
    /// With `stream`: only events at this version or later.
    public var fromVersion: Int64?
    /// Only events after this position (exclusive).
    public var afterPosition: Int64 = 0
    /// Only these event types (any of them); empty means all.
    public var types: [String] = []
    /// Only events recorded at or after this time.
    public var since: Date?
    /// Only events recorded before this time.
    public var until: Date?
    /// At most this many events.
    public var limit: Int?
    /// Take the *last* `limit` matching events instead of the first (still returned in log order).
    public var latest = false
    /// Only events at or before this position.
    public var upToPosition: Int64?
    /// Read in position order, skipping other types, instead of through the type index: for types
    /// that are most of the log (an engine fold's). Through the index, SQLite gathers every
    /// remaining match and sorts them all for each page — a page's cost growing with what is
    /// left to read, a whole paged read's with its square — while for rare types the index finds
    /// a page without reading the rest of the log.
    public var typesAreMostOfTheLog = false

    public init(
        stream: StreamID? = nil, fromVersion: Int64? = nil, afterPosition: Int64 = 0, types: [String] = [],
        since: Date? = nil, until: Date? = nil, limit: Int? = nil, latest: Bool = false, upToPosition: Int64? = nil
    ) {
        self.upToPosition = upToPosition
        self.stream = stream
        self.fromVersion = fromVersion
        self.afterPosition = afterPosition
        self.types = types
        self.since = since
        self.until = until
        self.limit = limit
        self.latest = latest
    }

    /// Whether `event` passes every condition except the position and the limit.
    public func matches(_ event: RecordedEvent) -> Bool {
        if let stream, event.streamID != stream { return false }
        if let fromVersion, event.version < fromVersion { return false }
        if !types.isEmpty, !types.contains(event.type) { return false }
        if let since, event.recordedAtMilliseconds < since.millisecondsSince1970 { return false }
        if let until, event.recordedAtMilliseconds >= until.millisecondsSince1970 { return false }
        return true
    }

    func fetch(_ db: Database) throws -> [RecordedEvent] {
        var conditions = ["position > ?"]
        var arguments: [any DatabaseValueConvertible] = [afterPosition]
        if let upTo = upToPosition {
            conditions.append("position <= ?")
            arguments.append(upTo)
        }
        if let stream {
            conditions.append("stream_id = ?")
            arguments.append(stream.rawValue)
        }
        if let fromVersion {
            conditions.append("version >= ?")
            arguments.append(fromVersion)
        }
        if !types.isEmpty {
            // `+type` keeps the (type, position) index out.
            let column = typesAreMostOfTheLog ? "+type" : "type"
            conditions.append("\(column) IN (\(databaseQuestionMarks(count: types.count)))")
            arguments.append(contentsOf: types as [any DatabaseValueConvertible])
        }
        if let since {
            conditions.append("recorded_at >= ?")
            arguments.append(since.millisecondsSince1970)
        }
        if let until {
            conditions.append("recorded_at < ?")
            arguments.append(until.millisecondsSince1970)
        }
        var sql = "SELECT \(EventRows.columns) FROM \(ArchiveAttachments.segmentPlaceholder) WHERE \(conditions.joined(separator: " AND "))"
        sql += latest ? " ORDER BY position DESC" : " ORDER BY position"
        // Segment by segment (archives, then the live file; the other way for the latest), each
        // row decoded where it stands in the statement.
        var events: [RecordedEvent] = []
        try ArchiveAttachments.fetch(db, sql: sql, arguments: StatementArguments(arguments), descending: latest, limit: limit, cached: false) {
            events.append(EventRows.decode($0))
        }
        return latest ? events.reversed() : events
    }
}
