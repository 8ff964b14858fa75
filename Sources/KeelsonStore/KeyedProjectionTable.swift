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

    public init(_ projection: P, tables: ProjectionTables, mapping: RowMapping<P.Key, P.Row>) {
        self.projection = projection
        self.tables = tables
        self.mapping = mapping
    }

    public var name: String { P.name }
    public var keyColumns: [String] { [mapping.columns[0]] }
    private var columnList: String { mapping.columns.joined(separator: ", ") }

    public func fold(
        _ events: [RecordedEvent], in db: Database, into tables: ProjectionTables, snapshotEvery: Int64
    ) throws {
        try Self.segments(events, snapshotEvery: snapshotEvery) { segment, snapshotAt in
            try foldSegment(segment, in: db, table: tables.rows)
            if let snapshotAt {
                try db.execute(
                    sql: "INSERT INTO \(tables.snapshots) (snapshot_position, \(columnList)) SELECT ?, \(columnList) FROM \(tables.rows)",
                    arguments: [snapshotAt])
            }
        }
    }

    private func foldSegment(_ events: ArraySlice<RecordedEvent>, in db: Database, table: String) throws {
        var touched = Set<P.Key>()
        for event in events { touched.formUnion(projection.keys(of: event)) }
        let keys = touched.sorted()
        let before = try load(keys, in: db, table: table)
        var after = before
        projection.fold(events, into: &after)

        let upsert = try db.cachedStatement(
            sql: "INSERT OR REPLACE INTO \(table) (\(columnList)) VALUES (\(databaseQuestionMarks(count: mapping.columns.count)))")
        for key in keys where after[key] != before[key] {
            if let row = after[key] {
                try upsert.execute(arguments: StatementArguments(mapping.encode(row)))
            } else {
                try db.cachedStatement(sql: "DELETE FROM \(table) WHERE \(mapping.columns[0]) = ?")
                    .execute(arguments: [mapping.encodeKey(key)])
            }
        }
    }

    /// The current rows for `keys`.
    func load(_ keys: [P.Key], in db: Database, table: String) throws -> [P.Key: P.Row] {
        var rows: [P.Key: P.Row] = [:]
        rows.reserveCapacity(keys.count)
        if keys.count == 1 {
            let statement = try db.cachedStatement(
                sql: "SELECT \(columnList) FROM \(table) WHERE \(mapping.columns[0]) = ?")
            if let row = try Row.fetchOne(statement, arguments: [mapping.encodeKey(keys[0])]) {
                let (key, value) = try mapping.decode(row)
                rows[key] = value
            }
            return rows
        }
        for chunkStart in stride(from: 0, to: keys.count, by: 500) {
            let chunk = keys[chunkStart..<min(chunkStart + 500, keys.count)]
            let cursor = try Row.fetchCursor(
                db,
                sql: "SELECT \(columnList) FROM \(table) WHERE \(mapping.columns[0]) IN (\(databaseQuestionMarks(count: chunk.count)))",
                arguments: StatementArguments(chunk.map(mapping.encodeKey)))
            while let row = try cursor.next() {
                let (key, value) = try mapping.decode(row)
                rows[key] = value
            }
        }
        return rows
    }

    /// All rows, in key order.
    public func rows(in db: Database) throws -> [P.Row] {
        try Row.fetchAll(db, sql: "SELECT \(columnList) FROM \(tables.rows) ORDER BY \(mapping.columns[0])")
            .map { try mapping.decode($0).1 }
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
        projection.fold(try EventRows.fetch(db, after: snapshot, upTo: position), into: &state)
        return state.keys.sorted().map { state[$0]! }
    }
}
