import Foundation
import GRDB
import KeelsonCore

extension KeyedProjectionTable where P == CurrentStateProjection {
    /// The current-state projection, kept in `current_state` (see migrations/0004_current_state.sql).
    public static let currentState = KeyedProjectionTable(
        CurrentStateProjection(),
        rows: "current_state",
        mapping: RowMapping(
            columns: [
                "instance", "runtime", "observation", "digest", "healthy", "fetched_position", "last_seen_position",
                "last_seen_at",
            ],
            encodeKey: { $0.databaseValue },
            decodeKey: textKey,
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
            }),
        // A version is written when the observation changes, not when an unchanged fetch moves
        // `last_seen_*`: a version reads as of the StateFetched that recorded it (which holds the
        // observation, so the version does not).
        history: RowHistory(
            columns: ["runtime", "digest", "healthy", "fetched_position"],
            encode: { row in
                [row.runtime.databaseValue, row.digest.databaseValue, row.healthy.databaseValue, row.fetchedPosition.databaseValue]
            },
            decode: { row, db in
                let position: Int64 = row[4]
                let event = try EventRows.event(at: position, in: db, table: "current_state_history")
                let fetched = try event.decode(StateFetched.self)
                return CurrentStateRow(
                    instance: row[0], runtime: row[1], observation: try CanonicalJSON.string(fetched.observation),
                    digest: row[2], healthy: row[3], fetchedPosition: position, lastSeenPosition: position,
                    lastSeenAtMilliseconds: event.recordedAtMilliseconds)
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
