import Foundation
import GRDB
import KeelsonCore

/// One stored engine snapshot, as `keelson db check` lists it.
public struct EngineSnapshotInfo: Sendable, Hashable {
    public var position: Int64
    public var foldVersion: Int
    public var bytes: Int
}

extension EventStore {
    /// Stores `snapshot` (see migrations/0010_engine_snapshots.sql) and keeps only the latest
    /// `keep` snapshots.
    public func writeEngineSnapshot(_ snapshot: EngineSnapshot, keep: Int = 2, nowMilliseconds: Int64) async throws {
        let text = String(decoding: try snapshot.encoded(), as: UTF8.self)
        try await pool.write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO engine_snapshots (position, fold_version, state, written_at) VALUES (?, ?, ?, ?)",
                arguments: [snapshot.position, snapshot.foldVersion, text, nowMilliseconds])
            try db.execute(
                sql: "DELETE FROM engine_snapshots WHERE position NOT IN (SELECT position FROM engine_snapshots ORDER BY position DESC LIMIT ?)",
                arguments: [max(1, keep)])
        }
    }

    /// The latest snapshot of today's fold (`EngineSnapshot.foldVersion`) at or before `position`
    /// (nil: any), or nil when there is none. One that does not read is an error.
    public func latestEngineSnapshot(upTo position: Int64? = nil) async throws -> EngineSnapshot? {
        let found: (position: Int64, text: String)? = try await pool.read { db in
            try Row.fetchOne(
                db, sql: "SELECT position, state FROM engine_snapshots WHERE fold_version = ? AND position <= ? ORDER BY position DESC LIMIT 1",
                arguments: [EngineSnapshot.foldVersion, position ?? .max]
            ).map { ($0["position"], $0["state"]) }
        }
        guard let found else { return nil }
        do {
            return try await EngineSnapshot.decoded(Data(found.text.utf8))
        } catch {
            throw StoreError.corrupt(path: path, details: "the engine snapshot at position \(found.position) cannot be read: \(error)")
        }
    }

    /// Every stored snapshot, oldest first.
    public func engineSnapshots() async throws -> [EngineSnapshotInfo] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT position, fold_version, length(state) AS bytes FROM engine_snapshots ORDER BY position").map {
                EngineSnapshotInfo(position: $0["position"], foldVersion: $0["fold_version"], bytes: $0["bytes"])
            }
        }
    }

    /// The snapshot stored at `position`, whatever its fold version (nil: none there).
    public func engineSnapshot(at position: Int64) async throws -> EngineSnapshot? {
        let text = try await pool.read { db in
            try String.fetchOne(db, sql: "SELECT state FROM engine_snapshots WHERE position = ?", arguments: [position])
        }
        guard let text else { return nil }
        return try await EngineSnapshot.decoded(Data(text.utf8))
    }
}

extension EventStore {
    /// Deletes every engine snapshot (workers fold the log from its start, and store new ones).
    @discardableResult
    public func deleteEngineSnapshots() async throws -> Int {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM engine_snapshots")
            return db.changesCount
        }
    }
}
