import GRDB
import KeelsonCore

/// The tables one projection writes: its rows, and the snapshots of those rows.
public struct ProjectionTables: Sendable, Hashable {
    public var rows: String
    public var snapshots: String

    /// The same tables under a prefix, for scratch copies.
    func prefixed(_ prefix: String) -> ProjectionTables {
        ProjectionTables(rows: prefix + rows, snapshots: prefix + snapshots)
    }
}

/// A projection the store keeps up to date: it owns its tables (created by a migration), folds
/// each append inside the append's transaction, and snapshots its rows every N events.
public protocol StoredProjection: Sendable {
    var name: String { get }
    var tables: ProjectionTables { get }
    /// The key columns of the row table, in order (the snapshot table adds `snapshot_position`).
    var keyColumns: [String] { get }
    /// Whether folds need event payloads (see ``KeyedProjection/readsPayload``).
    var readsPayload: Bool { get }

    /// Folds `events` (consecutive, in log order) into `tables`, writing a snapshot after every
    /// event whose position is a multiple of `snapshotEvery`.
    func fold(_ events: [RecordedEvent], in db: Database, into tables: ProjectionTables, snapshotEvery: Int64) throws
}

extension StoredProjection {
    /// Empties the projection's tables.
    func clear(in db: Database, tables: ProjectionTables) throws {
        try db.execute(sql: "DELETE FROM \(tables.rows)")
        try db.execute(sql: "DELETE FROM \(tables.snapshots)")
    }

    /// Calls `body` for each run of events that ends at a snapshot position (or at the end),
    /// telling it whether to snapshot afterwards.
    static func segments(
        _ events: [RecordedEvent], snapshotEvery: Int64,
        _ body: (ArraySlice<RecordedEvent>, _ snapshotAt: Int64?) throws -> Void
    ) rethrows {
        var start = events.startIndex
        while start < events.endIndex {
            var end = start
            while end < events.endIndex - 1 && events[end].position % snapshotEvery != 0 { end += 1 }
            let last = events[end].position
            try body(events[start...end], last % snapshotEvery == 0 ? last : nil)
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
