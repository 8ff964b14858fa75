import Foundation
import GRDBSQLite
import KeelsonCore
import KeelsonStore

/// The same rows written straight through SQLite's C API: what Keelson's appends are compared to.
///
/// It writes into a file whose schema the ``EventStore`` created (same table, indexes, triggers
/// and `CHECK (json_valid(payload))`), with the same journal mode and `synchronous` pragma, one
/// prepared INSERT bound with `sqlite3_bind_*`, and one transaction per append. Like the store, it
/// reads each stream's current version in the transaction (`SELECT MAX(version)`) and numbers
/// the new events after it; it folds no projection.
final class SQLiteBaseline {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    private var connection: OpaquePointer?
    private var begin: OpaquePointer?
    private var commit: OpaquePointer?
    private var currentVersion: OpaquePointer?
    private var insert: OpaquePointer?

    /// `SQLITE_TRANSIENT`: SQLite copies the bound text before the call returns.
    private static var transient: sqlite3_destructor_type { unsafeBitCast(-1, to: sqlite3_destructor_type.self) }

    init(path: String, durability: Durability) throws {
        // GRDB opens its connections in multi-thread mode too (SQLITE_OPEN_NOMUTEX).
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX
        try check(sqlite3_open_v2(path, &connection, flags, nil), "open \(path)")
        // The store that created the schema may still be closing its connections on another
        // thread: wait for them rather than fail (as GRDB's own busy mode would).
        sqlite3_busy_timeout(connection, 10_000)
        try execute("PRAGMA journal_mode = WAL")
        try execute("PRAGMA synchronous = \(durability.rawValue)")
        begin = try prepare("BEGIN IMMEDIATE")
        commit = try prepare("COMMIT")
        currentVersion = try prepare("SELECT MAX(version) FROM events WHERE stream_id = ?")
        insert = try prepare("""
            INSERT INTO events (stream_id, version, type, schema_version, payload, recorded_at, actor, correlation_id, causation_position)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
    }

    deinit {
        for statement in [begin, commit, currentVersion, insert] { sqlite3_finalize(statement) }
        sqlite3_close_v2(connection)
    }

    /// Appends `events` to `stream` in one transaction, after the stream's current version.
    func append(_ events: [NewEvent], to stream: StreamID) throws {
        let now = Date().millisecondsSince1970
        try step(begin, "BEGIN")
        do {
            var version = try streamVersion(stream.rawValue)
            for event in events {
                version += 1
                try bindText(stream.rawValue, at: 1)
                sqlite3_bind_int64(insert, 2, version)
                try bindText(event.type, at: 3)
                sqlite3_bind_int64(insert, 4, Int64(event.schemaVersion))
                try bindText(event.payload, at: 5)
                sqlite3_bind_int64(insert, 6, now)
                try bindText(event.actor, at: 7)
                try bindText(event.correlationID, at: 8)
                if let causation = event.causationPosition {
                    sqlite3_bind_int64(insert, 9, causation)
                } else {
                    sqlite3_bind_null(insert, 9)
                }
                try step(insert, "INSERT")
            }
            try step(commit, "COMMIT")
        } catch {
            _ = sqlite3_exec(connection, "ROLLBACK", nil, nil, nil)
            throw error
        }
    }

    private func streamVersion(_ stream: String) throws -> Int64 {
        defer { sqlite3_reset(currentVersion) }
        sqlite3_bind_text(currentVersion, 1, stream, -1, Self.transient)
        guard sqlite3_step(currentVersion) == SQLITE_ROW else { throw failure("SELECT MAX(version)") }
        return sqlite3_column_int64(currentVersion, 0)  // NULL (no stream yet) reads as 0
    }

    private func bindText(_ text: String?, at index: Int32) throws {
        let code = if let text {
            sqlite3_bind_text(insert, index, text, -1, Self.transient)
        } else {
            sqlite3_bind_null(insert, index)
        }
        try check(code, "bind parameter \(index)")
    }

    private func step(_ statement: OpaquePointer?, _ what: String) throws {
        defer { sqlite3_reset(statement) }
        guard sqlite3_step(statement) == SQLITE_DONE else { throw failure(what) }
    }

    private func prepare(_ sql: String) throws -> OpaquePointer? {
        var statement: OpaquePointer?
        try check(sqlite3_prepare_v2(connection, sql, -1, &statement, nil), "prepare \(sql)")
        return statement
    }

    private func execute(_ sql: String) throws {
        try check(sqlite3_exec(connection, sql, nil, nil, nil), sql)
    }

    private func check(_ code: Int32, _ what: @autoclosure () -> String) throws {
        if code != SQLITE_OK { throw failure(what()) }
    }

    private func failure(_ what: @autoclosure () -> String) -> Failure {
        Failure(description: "SQLite baseline: \(what()) failed: \(String(cString: sqlite3_errmsg(connection)))")
    }
}
