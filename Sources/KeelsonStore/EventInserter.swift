import GRDB
import GRDBSQLite
import KeelsonCore

/// Inserts one event row by binding values straight onto GRDB's prepared statement.
///
/// This is the hottest path of the store: building a `StatementArguments` array of existentials
/// per event cost about 7% of a batched append (measured with perf, see docs/benchmarks.md). The
/// statement is GRDB's cached statement for `EventRows.insertSQL`, used only here; it is always
/// reset after its step, so GRDB finds it as it left it.
struct EventInserter {
    private let statement: OpaquePointer
    private let connection: OpaquePointer

    /// SQLite copies TRANSIENT values, so Swift strings need not outlive the call.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    init(_ db: Database) throws {
        statement = try db.cachedStatement(sql: EventRows.insertSQL).sqliteStatement
        connection = db.sqliteConnection!
    }

    /// Inserts the event and returns its position. A failing constraint (an invalid JSON payload)
    /// comes back as `.constraint(message)`.
    func insert(
        stream: String, version: Int64, event: NewEvent, recordedAt: Int64
    ) throws(InsertError) -> Int64 {
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        bind(stream, at: 1)
        sqlite3_bind_int64(statement, 2, version)
        bind(event.type, at: 3)
        sqlite3_bind_int64(statement, 4, Int64(event.schemaVersion))
        bind(event.payload, at: 5)
        sqlite3_bind_int64(statement, 6, recordedAt)
        bind(event.actor, at: 7)
        bind(event.correlationID, at: 8)
        if let causation = event.causationPosition {
            sqlite3_bind_int64(statement, 9, causation)
        } else {
            sqlite3_bind_null(statement, 9)
        }
        let code = sqlite3_step(statement)
        guard code == SQLITE_DONE else {
            let message = String(cString: sqlite3_errmsg(connection))
            if code & 0xFF == SQLITE_CONSTRAINT { throw .constraint(message) }
            throw .database(DatabaseError(resultCode: ResultCode(rawValue: code), message: message))
        }
        return sqlite3_last_insert_rowid(connection)
    }

    private func bind(_ text: String?, at index: Int32) {
        guard var text else {
            sqlite3_bind_null(statement, index)
            return
        }
        text.withUTF8 { bytes in
            _ = sqlite3_bind_text(statement, index, bytes.baseAddress, Int32(bytes.count), Self.transient)
        }
    }

    enum InsertError: Error {
        case constraint(String)
        case database(DatabaseError)
    }
}
