import GRDB
import KeelsonCore

/// The tables one projection writes: its rows, the history of those rows, and the positions of
/// the checkpoints that history is kept at (see ``RowHistory``).
public struct ProjectionTables: Sendable, Hashable {
    public var rows: String
    public var history: String?
    public var checkpoints: String?

    public init(rows: String, history: String? = nil, checkpoints: String? = nil) {
        self.rows = rows
        self.history = history
        self.checkpoints = checkpoints
    }

    /// Every table, rows first.
    public var all: [String] { [rows] + [history, checkpoints].compactMap { $0 } }

    /// The same tables under a prefix, for scratch copies.
    func prefixed(_ prefix: String) -> ProjectionTables {
        ProjectionTables(rows: prefix + rows, history: history.map { prefix + $0 }, checkpoints: checkpoints.map { prefix + $0 })
    }
}

/// A projection the store keeps up to date: it owns its tables (created by a migration) and
/// folds each append inside the append's transaction.
public protocol StoredProjection: Sendable {
    var name: String { get }
    var tables: ProjectionTables { get }
    /// The key columns of each table, by table name (a history adds `valid_from`, checkpoints are
    /// keyed by `position`).
    var keyColumns: [String] { get }
    /// Whether folds need event payloads (see ``KeyedProjection/readsPayload``).
    var readsPayload: Bool { get }

    /// Folds `events` (consecutive, in log order) into `tables`; a history kept at checkpoints
    /// takes one after every event whose position is a multiple of `checkpointEvery`.
    func fold(_ events: [RecordedEvent], in db: Database, into tables: ProjectionTables, checkpointEvery: Int64) throws
}

extension StoredProjection {
    /// Empties the projection's tables.
    func clear(in db: Database, tables: ProjectionTables) throws {
        for table in tables.all { try db.execute(sql: "DELETE FROM \(table)") }
    }

    /// The key columns of `table`, one of ``tables``.
    func keyColumns(of table: String) -> [String] {
        if table == tables.history { return keyColumns + ["valid_from"] }
        if table == tables.checkpoints { return ["position"] }
        return keyColumns
    }

    /// Calls `body` for each run of events that ends at a checkpoint position (or at the end),
    /// telling it whether to take a checkpoint afterwards.
    static func segments(
        _ events: [RecordedEvent], checkpointEvery: Int64,
        _ body: (ArraySlice<RecordedEvent>, _ checkpointAt: Int64?) throws -> Void
    ) rethrows {
        var start = events.startIndex
        while start < events.endIndex {
            var end = start
            while end < events.endIndex - 1 && events[end].position % checkpointEvery != 0 { end += 1 }
            let last = events[end].position
            try body(events[start...end], last % checkpointEvery == 0 ? last : nil)
            start = end + 1
        }
    }
}

/// Checkpoints: the last position each projection has folded.
enum ProjectionCheckpoints {
    static func position(of projection: String, in db: Database) throws -> Int64 {
        try Int64.fetchOne(
            db, sql: "SELECT position FROM projection_checkpoints WHERE projection = ?", arguments: [projection]) ?? 0
    }

    static func set(_ projection: String, to position: Int64, in db: Database) throws {
        try db.cachedStatement(sql: "INSERT OR REPLACE INTO projection_checkpoints (projection, position) VALUES (?, ?)")
            .execute(arguments: [projection, position])
    }
}
