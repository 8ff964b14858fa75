import Foundation
import GRDB
import KeelsonCore

extension KeyedProjectionTable where P == CurrentStateProjection {
    /// The current-state projection, kept in `current_state` (see migrations/0004_current_state.sql).
    public static let currentState = KeyedProjectionTable(
        CurrentStateProjection(),
        tables: ProjectionTables(rows: "current_state", snapshots: "current_state_snapshots"),
        mapping: RowMapping(
            columns: [
                "instance", "runtime", "observation", "digest", "healthy", "fetched_position", "last_seen_position",
                "last_seen_at",
            ],
            encodeKey: { $0.databaseValue },
            encode: { row in
                [
                    row.instance.databaseValue, row.runtime.databaseValue, row.observation.databaseValue,
                    row.digest.databaseValue, row.healthy.databaseValue, row.fetchedPosition.databaseValue,
                    row.lastSeenPosition.databaseValue, row.lastSeenAtMilliseconds.databaseValue,
                ]
            },
            decode: { row in
                let instance: String = row[0]
                return (
                    instance,
                    CurrentStateRow(
                        instance: instance, runtime: row[1], observation: row[2], digest: row[3], healthy: row[4],
                        fetchedPosition: row[5], lastSeenPosition: row[6], lastSeenAtMilliseconds: row[7])
                )
            }))
}

extension EventStore {
    /// Every instance's latest observation, optionally only instances whose id starts with `prefix` (e.g. `shop/web@`).
    public func currentStates(prefix: String = "") async throws -> [CurrentStateRow] {
        try await rows(of: CurrentStateProjection.self, keyPrefix: prefix)
    }

    /// The latest observations of `instances` (those fetched before), by instance: one read.
    public func currentStates(of instances: [ServiceInstanceID]) async throws -> [ServiceInstanceID: CurrentStateRow] {
        let rows = try await rows(of: CurrentStateProjection.self, keys: instances.map(\.description))
        return Dictionary(instances.compactMap { id in rows[id.description].map { (id, $0) } }, uniquingKeysWith: { first, _ in first })
    }
}
