import GRDB
import GRDBSQLite

/// A write statement whose values are bound straight onto GRDB's prepared SQLite statement.
///
/// The store's hottest writes (an event row, a projection row, a timeline row) run once per
/// event. Building a `StatementArguments` for each cost more than SQLite's own insert: GRDB
/// turns a sequence into database values through a key path created per call, or boxes every
/// value into an existential (measured with perf on batched appends and fleet releases, see
/// docs/benchmarks.md). The statement is GRDB's cached statement for `sql`; it is always reset
/// and its bindings cleared after its step, so GRDB finds it as it left it.
struct DirectStatement {
    private let statement: OpaquePointer
    private let connection: OpaquePointer

    /// SQLite copies TRANSIENT values, so Swift strings need not outlive the call.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    init(_ db: Database, sql: String) throws {
        statement = try db.cachedStatement(sql: sql).sqliteStatement
        connection = db.sqliteConnection!
    }

    /// Binds `values` to the parameters 1, 2, … and runs the statement once.
    func execute(_ values: [DatabaseValue]) throws(StepError) {
        try execute { binder in
            for (index, value) in values.enumerated() { binder.bind(value, at: Int32(index + 1)) }
        }
    }

    /// ``execute(_:)-([DatabaseValue])``, failing with the `DatabaseError` GRDB would throw.
    func write(_ values: [DatabaseValue]) throws {
        do { try execute(values) } catch { throw error.databaseError }
    }

    /// Lets `bind` set the parameters, then runs the statement once.
    func execute(_ bind: (Binder) -> Void) throws(StepError) {
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        bind(Binder(statement: statement))
        let code = sqlite3_step(statement)
        guard code == SQLITE_DONE else {
            let message = String(cString: sqlite3_errmsg(connection))
            if code & 0xFF == SQLITE_CONSTRAINT { throw .constraint(message) }
            throw .database(DatabaseError(resultCode: ResultCode(rawValue: code), message: message))
        }
    }

    /// The rowid of the last row this connection inserted.
    var lastInsertedRowID: Int64 { sqlite3_last_insert_rowid(connection) }

    /// Sets one statement's parameters (1-based).
    struct Binder {
        fileprivate let statement: OpaquePointer

        func bind(_ text: String?, at index: Int32) {
            guard var text else {
                sqlite3_bind_null(statement, index)
                return
            }
            text.withUTF8 { bytes in
                _ = sqlite3_bind_text(statement, index, bytes.baseAddress, Int32(bytes.count), DirectStatement.transient)
            }
        }

        func bind(_ integer: Int64?, at index: Int32) {
            if let integer { sqlite3_bind_int64(statement, index, integer) } else { sqlite3_bind_null(statement, index) }
        }

        func bind(_ value: DatabaseValue, at index: Int32) {
            switch value.storage {
            case .null: sqlite3_bind_null(statement, index)
            case .int64(let integer): sqlite3_bind_int64(statement, index, integer)
            case .double(let double): sqlite3_bind_double(statement, index, double)
            case .string(let text): bind(text, at: index)
            case .blob(let data):
                data.withUnsafeBytes { bytes in
                    _ = sqlite3_bind_blob(statement, index, bytes.baseAddress, Int32(bytes.count), DirectStatement.transient)
                }
            }
        }
    }

    enum StepError: Error {
        /// A constraint failed (the message says which).
        case constraint(String)
        case database(DatabaseError)

        /// The error as GRDB would have thrown it.
        var databaseError: DatabaseError {
            switch self {
            case .constraint(let message): DatabaseError(resultCode: .SQLITE_CONSTRAINT, message: message)
            case .database(let error): error
            }
        }
    }
}
