import GRDB
import KeelsonCore

/// Inserts one event row by binding values straight onto GRDB's prepared statement (see
/// ``DirectStatement``): the hottest path of the store.
struct EventInserter {
    private let statement: DirectStatement

    init(_ db: Database) throws {
        statement = try DirectStatement(db, sql: EventRows.insertSQL)
    }

    /// Inserts the event and returns its position. A failing constraint (an invalid JSON payload)
    /// comes back as `.constraint(message)`.
    func insert(
        stream: String, version: Int64, event: NewEvent, recordedAt: Int64
    ) throws(DirectStatement.StepError) -> Int64 {
        try statement.execute { row in
            row.bind(stream, at: 1)
            row.bind(version, at: 2)
            row.bind(event.type, at: 3)
            row.bind(Int64(event.schemaVersion), at: 4)
            row.bind(event.payload, at: 5)
            row.bind(recordedAt, at: 6)
            row.bind(event.actor, at: 7)
            row.bind(event.correlationID, at: 8)
            row.bind(event.causationPosition, at: 9)
        }
        return statement.lastInsertedRowID
    }
}
