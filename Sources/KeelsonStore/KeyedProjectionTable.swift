import GRDB
import KeelsonCore

/// How a ``KeyedProjection``'s rows map to table columns. The key is the first column.
public struct RowMapping<Key: Sendable, Value: Sendable>: Sendable {
    public var columns: [String]
    public var encodeKey: @Sendable (Key) -> DatabaseValue
    public var encode: @Sendable (Value) -> [DatabaseValue]
    public var decode: @Sendable (Row) throws -> (Key, Value)

    public init(
        columns: [String],
        encodeKey: @escaping @Sendable (Key) -> DatabaseValue,
        encode: @escaping @Sendable (Value) -> [DatabaseValue],
        decode: @escaping @Sendable (Row) throws -> (Key, Value)
    ) {
        self.columns = columns
        self.encodeKey = encodeKey
        self.encode = encode
        self.decode = decode
    }
}

/// Stores a pure ``KeyedProjection`` in a table: each fold loads only the rows its events touch,
/// evolves them with the projection's own `evolve`, and writes back the rows that changed.
public struct KeyedProjectionTable<P: KeyedProjection>: StoredProjection {
    public let projection: P
    public let tables: ProjectionTables
    public let mapping: RowMapping<P.Key, P.Row>

    /// The statements for the live tables, built once (appends fold on every commit).
    private let liveSQL: SQL

    public init(_ projection: P, tables: ProjectionTables, mapping: RowMapping<P.Key, P.Row>) {
        self.projection = projection
        self.tables = tables
        self.mapping = mapping
        liveSQL = SQL(tables: tables, columns: mapping.columns)
    }

    /// The statements a fold runs against one pair of tables.
    struct SQL: Sendable {
        var upsert, delete, selectOne, selectMany, selectChunk, snapshot: String

        init(tables: ProjectionTables, columns: [String]) {
            let list = columns.joined(separator: ", ")
            let key = columns[0]
            upsert = "INSERT OR REPLACE INTO \(tables.rows) (\(list)) VALUES (\(databaseQuestionMarks(count: columns.count)))"
            delete = "DELETE FROM \(tables.rows) WHERE \(key) = ?"
            selectOne = "SELECT \(list) FROM \(tables.rows) WHERE \(key) = ?"
            selectMany = "SELECT \(list) FROM \(tables.rows) WHERE \(key) IN "
            selectChunk = selectMany + "(\(databaseQuestionMarks(count: KeyedProjectionTable.loadChunk)))"
            snapshot = "INSERT INTO \(tables.snapshots) (snapshot_position, \(list)) SELECT ?, \(list) FROM \(tables.rows)"
        }
    }

    public var name: String { P.name }
    public var keyColumns: [String] { [mapping.columns[0]] }
    public var readsPayload: Bool { projection.readsPayload }
    private var columnList: String { mapping.columns.joined(separator: ", ") }

    public func fold(
        _ events: [RecordedEvent], in db: Database, into tables: ProjectionTables, snapshotEvery: Int64
    ) throws {
        let sql = tables == self.tables ? liveSQL : SQL(tables: tables, columns: mapping.columns)
        try Self.segments(events, snapshotEvery: snapshotEvery) { segment, snapshotAt in
            try foldSegment(segment, in: db, sql: sql)
            if let snapshotAt {
                try db.cachedStatement(sql: sql.snapshot).execute(arguments: [snapshotAt])
            }
        }
    }

    private func foldSegment(_ events: ArraySlice<RecordedEvent>, in db: Database, sql: SQL) throws {
        // The touched keys in the order the events first touch them (log order: deterministic,
        // and cheaper than sorting thousands of text keys).
        var touched = Set<P.Key>()
        var keys: [P.Key] = []
        var previous: [P.Key] = []
        for event in events {
            let eventKeys = projection.keys(of: event)
            if eventKeys != previous {
                for key in eventKeys where touched.insert(key).inserted { keys.append(key) }
            }
            previous = eventKeys
        }
        let before = try load(keys, in: db, sql: sql)
        var after = before
        projection.fold(events, into: &after)

        let upsert = try DirectStatement(db, sql: sql.upsert)
        for key in keys where after[key] != before[key] {
            if let row = after[key] {
                try upsert.write(mapping.encode(row))
            } else {
                try DirectStatement(db, sql: sql.delete).write([mapping.encodeKey(key)])
            }
        }
    }

    /// How many keys one read of current rows asks for.
    static var loadChunk: Int { 500 }

    /// The current rows for `keys`.
    private func load(_ keys: [P.Key], in db: Database, sql: SQL) throws -> [P.Key: P.Row] {
        var rows: [P.Key: P.Row] = [:]
        rows.reserveCapacity(keys.count)
        if keys.count == 1 {
            let statement = try db.cachedStatement(sql: sql.selectOne)
            if let row = try Row.fetchOne(statement, arguments: [mapping.encodeKey(keys[0])]) {
                let (key, value) = try mapping.decode(row)
                rows[key] = value
            }
            return rows
        }
        for chunkStart in stride(from: 0, to: keys.count, by: Self.loadChunk) {
            let chunk = keys[chunkStart..<min(chunkStart + Self.loadChunk, keys.count)]
            // A whole chunk's statement is prepared once per connection; a last, shorter one each time.
            let statement = chunk.count == Self.loadChunk
                ? try db.cachedStatement(sql: sql.selectChunk)
                : try db.makeStatement(sql: sql.selectMany + "(\(databaseQuestionMarks(count: chunk.count)))")
            let cursor = try Row.fetchCursor(statement, arguments: StatementArguments(databaseValues: chunk.map(mapping.encodeKey)))
            while let row = try cursor.next() {
                let (key, value) = try mapping.decode(row)
                rows[key] = value
            }
        }
        return rows
    }

    /// The rows of `keys` that exist, by key.
    public func rows(keys: [P.Key], in db: Database) throws -> [P.Key: P.Row] {
        try load(keys, in: db, sql: liveSQL)
    }

    /// All rows, in key order.
    public func rows(in db: Database) throws -> [P.Row] {
        try Row.fetchAll(db, sql: "SELECT \(columnList) FROM \(tables.rows) ORDER BY \(mapping.columns[0])")
            .map { try mapping.decode($0).1 }
    }

    /// The rows whose text key starts with `prefix`, in key order — a range over the primary key,
    /// not a scan (U+10FFFF sorts after every other character in SQLite's binary collation).
    public func rows(keyPrefix prefix: String, in db: Database) throws -> [P.Row] where P.Key == String {
        let key = mapping.columns[0]
        return try Row.fetchAll(
            db, sql: "SELECT \(columnList) FROM \(tables.rows) WHERE \(key) >= ? AND \(key) < ? ORDER BY \(key)",
            arguments: [prefix, prefix + "\u{10FFFF}"]
        ).map { try mapping.decode($0).1 }
    }

    /// The rows as they stood just after the event at `position`: the nearest snapshot at or
    /// before it, folded forward. Costs at most `snapshotEvery` events, however long the log.
    public func rows(atPosition position: Int64, in db: Database) throws -> [P.Row] {
        let snapshot = try Int64.fetchOne(
            db, sql: "SELECT MAX(snapshot_position) FROM \(tables.snapshots) WHERE snapshot_position <= ?",
            arguments: [position]) ?? 0
        var state: [P.Key: P.Row] = [:]
        if snapshot > 0 {
            let cursor = try Row.fetchCursor(
                db, sql: "SELECT \(columnList) FROM \(tables.snapshots) WHERE snapshot_position = ?",
                arguments: [snapshot])
            while let row = try cursor.next() {
                let (key, value) = try mapping.decode(row)
                state[key] = value
            }
        }
        projection.fold(
            try EventRows.fetch(db, after: snapshot, upTo: position, payloads: projection.readsPayload), into: &state)
        return state.keys.sorted().map { state[$0]! }
    }
}

extension StatementArguments {
    /// Arguments from database values, as they are. (Boxing each into an optional existential
    /// first, through a lazy map, cost a generic metadata lookup per call in a projection's loop
    /// over thousands of rows.)
    init(databaseValues values: [DatabaseValue]) {
        self.init(values)
    }
}
