import Foundation
import GRDB
import KeelsonCore

/// How a ``KeyedProjection``'s rows map to table columns. The key is the first column.
public struct RowMapping<Key: Sendable, Value: Sendable>: Sendable {
    public var columns: [String]
    public var encodeKey: @Sendable (Key) -> DatabaseValue
    public var decodeKey: @Sendable (DatabaseValue) throws -> Key
    public var encode: @Sendable (Value) -> [DatabaseValue]
    public var decode: @Sendable (Row) throws -> (Key, Value)

    public init(
        columns: [String],
        encodeKey: @escaping @Sendable (Key) -> DatabaseValue,
        decodeKey: @escaping @Sendable (DatabaseValue) throws -> Key,
        encode: @escaping @Sendable (Value) -> [DatabaseValue],
        decode: @escaping @Sendable (Row) throws -> (Key, Value)
    ) {
        self.columns = columns
        self.encodeKey = encodeKey
        self.decodeKey = decodeKey
        self.encode = encode
        self.decode = decode
    }
}

/// A text key read back from its column.
func textKey(_ value: DatabaseValue) throws -> String {
    guard let text = String.fromDatabaseValue(value) else {
        throw StoreError.unreadableRow(table: "a projection", reason: "expected a text key, found \(value)")
    }
    return text
}

/// Stores a pure ``KeyedProjection`` in a table: each fold loads only the rows its events touch,
/// evolves them with the projection's own `evolve`, writes back the rows that changed, and
/// appends their versions to the projection's ``RowHistory``.
public struct KeyedProjectionTable<P: KeyedProjection>: StoredProjection {
    public let projection: P
    public let tables: ProjectionTables
    public let mapping: RowMapping<P.Key, P.Row>
    public let history: RowHistory<P.Row>

    /// The statements for the live tables, built once (appends fold on every commit).
    private let liveSQL: SQL

    public init(
        _ projection: P, rows: String, mapping: RowMapping<P.Key, P.Row>, history: RowHistory<P.Row>? = nil
    ) {
        self.projection = projection
        self.mapping = mapping
        self.history = history ?? .wholeRows(mapping)
        var tables = ProjectionTables(rows: rows, history: rows + "_history")
        if case .checkpoints = self.history.granularity { tables.checkpoints = rows + "_checkpoints" }
        self.tables = tables
        liveSQL = SQL(tables: tables, columns: mapping.columns, history: self.history)
    }

    /// The statements a fold or a read runs against one set of tables.
    struct SQL: Sendable {
        var upsert, delete, selectOne, selectMany, selectChunk: String
        var appendVersion, firstVersion, nextVersion, latestVersion: String
        var checkpointVersions, changedSince, addCheckpoint, checkpointAtOrBefore: String

        init(tables: ProjectionTables, columns: [String], history: RowHistory<P.Row>) {
            let historyTable = tables.history ?? tables.rows + "_history"
            let list = columns.joined(separator: ", ")
            let key = columns[0]
            upsert = "INSERT OR REPLACE INTO \(tables.rows) (\(list)) VALUES (\(databaseQuestionMarks(count: columns.count)))"
            delete = "DELETE FROM \(tables.rows) WHERE \(key) = ?"
            selectOne = "SELECT \(list) FROM \(tables.rows) WHERE \(key) = ?"
            selectMany = "SELECT \(list) FROM \(tables.rows) WHERE \(key) IN "
            selectChunk = selectMany + "(\(databaseQuestionMarks(count: KeyedProjectionTable.loadChunk)))"

            let versionColumns = history.columns.joined(separator: ", ")
            appendVersion = """
                INSERT INTO \(historyTable) (\(key), valid_from, removed, \(versionColumns)) \
                VALUES (\(databaseQuestionMarks(count: history.columns.count + 3)))
                """
            // One step of a skip scan: the next key of the history (last column, NULL past the end),
            // and its latest version at a position (the other columns, NULL when it has none).
            let step = { (comparison: String) in
                """
                SELECT h.\(key), \(history.columns.map { "h." + $0 }.joined(separator: ", ")), h.removed, n.k \
                FROM (SELECT MIN(\(key)) AS k FROM \(historyTable) WHERE \(key) \(comparison) ?1 AND \(key) < ?2) AS n \
                LEFT JOIN \(historyTable) AS h ON h.\(key) = n.k AND h.valid_from = \
                (SELECT MAX(valid_from) FROM \(historyTable) WHERE \(key) = n.k AND valid_from <= ?3)
                """
            }
            firstVersion = step(">=")
            nextVersion = step(">")
            latestVersion = """
                SELECT \(key), \(versionColumns), removed FROM \(historyTable) \
                WHERE \(key) = ? AND valid_from <= ? ORDER BY valid_from DESC LIMIT 1
                """
            let checkpoints = tables.checkpoints ?? "\(tables.rows)_checkpoints"
            if case .checkpoints(let lastChange, _) = history.granularity {
                checkpointVersions = """
                    INSERT INTO \(historyTable) (\(key), valid_from, removed, \(versionColumns)) \
                    SELECT \(key), ?, 0, \(versionColumns) FROM \(tables.rows) WHERE \(lastChange) > ?
                    """
                changedSince = "SELECT COUNT(*) FROM \(tables.rows) WHERE \(lastChange) > ?"
            } else {
                checkpointVersions = ""
                changedSince = ""
            }
            addCheckpoint = "INSERT INTO \(checkpoints) (position) VALUES (?)"
            checkpointAtOrBefore = "SELECT MAX(position) FROM \(checkpoints) WHERE position <= ?"
        }
    }

    public var name: String { P.name }
    private var eventsPerVersion: Int64 {
        if case .checkpoints(_, let events) = history.granularity { Int64(events) } else { 1 }
    }
    public var keyColumns: [String] { [mapping.columns[0]] }
    public var readsPayload: Bool { projection.readsPayload }
    private var columnList: String { mapping.columns.joined(separator: ", ") }

    public func fold(
        _ events: [RecordedEvent], in db: Database, into tables: ProjectionTables, checkpointEvery: Int64
    ) throws {
        let sql = tables == self.tables ? liveSQL : SQL(tables: tables, columns: mapping.columns, history: history)
        guard case .checkpoints = history.granularity else {
            return try foldSegment(events[...], in: db, sql: sql)
        }
        try Self.segments(events, checkpointEvery: checkpointEvery) { segment, checkpointAt in
            try foldSegment(segment, in: db, sql: sql)
            guard let checkpointAt else { return }
            // A checkpoint only once the rows it would version are few next to the events since
            // the last one (see ``RowHistory/Granularity/checkpoints(lastChange:eventsPerVersion:)``).
            let previous = try Int64.fetchOne(db.cachedStatement(sql: sql.checkpointAtOrBefore), arguments: [checkpointAt]) ?? 0
            let changed = try Int64.fetchOne(db.cachedStatement(sql: sql.changedSince), arguments: [previous]) ?? 0
            guard checkpointAt - previous >= changed.multipliedReportingOverflow(by: eventsPerVersion).partialValue else { return }
            try db.cachedStatement(sql: sql.checkpointVersions).execute(arguments: [checkpointAt, previous])
            try db.cachedStatement(sql: sql.addCheckpoint).execute(arguments: [checkpointAt])
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

        if history.granularity == .everyChange {
            // Event by event, so that each version is valid from the event that made it.
            let appendVersion = try DirectStatement(db, sql: sql.appendVersion)
            var versions: [P.Key: [DatabaseValue]] = [:]
            for event in events {
                let eventKeys = projection.keys(of: event)
                for key in eventKeys {
                    projection.evolve(&after[key], key: key, event: event)
                    let version = after[key].map(history.encode) ?? []
                    let last = versions[key] ?? before[key].map(history.encode) ?? []
                    guard version != last else { continue }
                    versions[key] = version
                    let values = version.isEmpty ? Array(repeating: DatabaseValue.null, count: history.columns.count) : version
                    try appendVersion.write(
                        [mapping.encodeKey(key), event.position.databaseValue, (version.isEmpty ? 1 : 0).databaseValue] + values)
                }
            }
        } else {
            projection.fold(events, into: &after)
        }

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

    // MARK: The past

    /// The rows as they stood just after the event at `position`, in key order: for each key
    /// with a history, its latest version at or before the position — two index seeks per key,
    /// whatever the length of the log (for a history kept at checkpoints, the versions at the
    /// checkpoint at or before the position, and the events since folded forward).
    public func rows(atPosition position: Int64, in db: Database) throws -> [P.Row] {
        try rows(atPosition: position, from: nil, in: db) { _ in true }
    }

    /// The rows whose text key starts with `prefix`, as they stood just after the event at
    /// `position`, in key order.
    public func rows(keyPrefix prefix: String, atPosition position: Int64, in db: Database) throws -> [P.Row]
    where P.Key == String {
        try rows(atPosition: position, from: (prefix, prefix + "\u{10FFFF}"), in: db) { $0.hasPrefix(prefix) }
    }

    /// The row of `key` as it stood just after the event at `position` (`nil`: none then).
    public func row(_ key: P.Key, atPosition position: Int64, in db: Database) throws -> P.Row? {
        let checkpoint = try self.checkpoint(atOrBefore: position, in: db)
        guard let checkpoint else {
            return try latestVersion(of: mapping.encodeKey(key), atPosition: position, in: db)?.value
        }
        var state: [P.Key: P.Row] = [:]
        state[key] = try latestVersion(of: mapping.encodeKey(key), atPosition: checkpoint, in: db)?.value
        let events = try EventRows.fetch(db, after: checkpoint, upTo: position, payloads: projection.readsPayload)
        projection.fold(events.lazy.filter { projection.keys(of: $0).contains(key) }, into: &state)
        return state[key]
    }

    private func rows(
        atPosition position: Int64, from range: (lower: String, upper: String)?, in db: Database,
        including: (P.Key) -> Bool
    ) throws -> [P.Row] {
        let checkpoint = try self.checkpoint(atOrBefore: position, in: db)
        var found: [(key: P.Key, value: P.Row)] = []
        // A skip scan over the history's keys: each step seeks the next key and its latest
        // version at the position, in one statement.
        let upper = range.map { $0.upper.databaseValue } ?? aboveEveryText
        let at = checkpoint ?? position
        let (removedColumn, keyColumn) = (history.columns.count + 1, history.columns.count + 2)
        var row = try Row.fetchOne(
            db.cachedStatement(sql: liveSQL.firstVersion),
            arguments: [range.map { $0.lower.databaseValue } ?? Int64.min.databaseValue, upper, at])
        let next = try db.cachedStatement(sql: liveSQL.nextVersion)
        while let step = row {
            let key = step[keyColumn] as DatabaseValue
            if key.isNull { break }
            if let removed = step[removedColumn] as Int64?, removed == 0 {
                found.append((try mapping.decodeKey(step[0]), try history.decode(step, db)))
            }
            row = try Row.fetchOne(next, arguments: [key, upper, at])
        }
        guard let checkpoint else { return found.map(\.value) }
        var state = Dictionary(found, uniquingKeysWith: { $1 })
        projection.fold(try EventRows.fetch(db, after: checkpoint, upTo: position, payloads: projection.readsPayload), into: &state)
        return state.keys.filter(including).sorted().map { state[$0]! }
    }

    /// The checkpoint at or before `position`, for a history kept at checkpoints (0: before the
    /// first one); `nil` for a history of every change.
    private func checkpoint(atOrBefore position: Int64, in db: Database) throws -> Int64? {
        guard case .checkpoints = history.granularity else { return nil }
        return try Int64.fetchOne(db.cachedStatement(sql: liveSQL.checkpointAtOrBefore), arguments: [position]) ?? 0
    }

    /// The latest version of `key` valid at `position`, unless it is a tombstone.
    private func latestVersion(of key: DatabaseValue, atPosition position: Int64, in db: Database) throws -> (key: P.Key, value: P.Row)? {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: liveSQL.latestVersion), arguments: [key, position]),
            row[history.columns.count + 1] as Int64 == 0
        else { return nil }
        return (try mapping.decodeKey(row[0]), try history.decode(row, db))
    }
}

/// Above every text key: SQLite sorts every blob after every text.
private let aboveEveryText = Data().databaseValue

extension StatementArguments {
    /// Arguments from database values, as they are. (Boxing each into an optional existential
    /// first, through a lazy map, cost a generic metadata lookup per call in a projection's loop
    /// over thousands of rows.)
    init(databaseValues values: [DatabaseValue]) {
        self.init(values)
    }
}
