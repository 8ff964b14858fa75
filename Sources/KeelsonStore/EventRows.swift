import GRDB
import KeelsonCore

/// Reading and writing `events` rows. One place knows the column order.
enum EventRows {
    static let columns =
        "position, stream_id, version, type, schema_version, payload, recorded_at, actor, correlation_id, causation_position"

    static let insertSQL = """
        INSERT INTO events (stream_id, version, type, schema_version, payload, recorded_at, actor, correlation_id, causation_position)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
        """

    static func decode(_ row: Row) -> RecordedEvent {
        RecordedEvent(
            position: row[0],
            streamID: StreamID(row[1] as String),
            version: row[2],
            type: row[3],
            schemaVersion: row[4],
            payload: row[5],
            recordedAtMilliseconds: row[6],
            actor: row[7],
            correlationID: row[8],
            causationPosition: row[9])
    }

    /// The same columns, with every payload read as `{}` (for folds that never look at payloads).
    static let columnsWithoutPayload =
        "position, stream_id, version, type, schema_version, '{}', recorded_at, actor, correlation_id, causation_position"

    /// Events with `after < position <= upTo`, in log order.
    static func fetch(
        _ db: Database, after: Int64, upTo: Int64, limit: Int? = nil, payloads: Bool = true
    ) throws -> [RecordedEvent] {
        let sql = "SELECT \(payloads ? columns : columnsWithoutPayload) FROM \(ArchiveAttachments.segmentPlaceholder) WHERE position > ? AND position <= ? ORDER BY position"
        var events: [RecordedEvent] = []
        try ArchiveAttachments.fetch(db, sql: sql, arguments: [after, upTo], descending: false, limit: limit) { events.append(decode($0)) }
        return events
    }

    /// The event at `position`, which a row of `table` refers to (an error naming both when the
    /// log has no such event).
    static func event(at position: Int64, in db: Database, table: String) throws -> RecordedEvent {
        guard let event = try fetch(db, after: position - 1, upTo: position).first else {
            throw StoreError.unreadableRow(table: table, reason: "it refers to the event at position \(position), which the log does not hold")
        }
        return event
    }

    static func lastPosition(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT MAX(position) FROM events") ?? 0
    }
}
