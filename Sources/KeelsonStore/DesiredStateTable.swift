import Foundation
import GRDB
import KeelsonCore

extension KeyedProjectionTable where P == DesiredStateProjection {
    /// The desired-state projection, kept in `desired_state` (see migrations/0003_desired_state.sql).
    public static let desiredState = KeyedProjectionTable(
        DesiredStateProjection(),
        tables: ProjectionTables(rows: "desired_state", snapshots: "desired_state_snapshots"),
        mapping: RowMapping(
            columns: [
                "instance", "digest", "document", "version", "parameters", "position", "config_digest", "recorded_at",
            ],
            encodeKey: { $0.databaseValue },
            encode: { row in
                [
                    row.instance.databaseValue, row.digest.databaseValue, row.document.databaseValue,
                    row.version.databaseValue, row.parameters.databaseValue, row.position.databaseValue,
                    row.configDigest.databaseValue, row.recordedAtMilliseconds.databaseValue,
                ]
            },
            decode: { row in
                let instance: String = row[0]
                return (
                    instance,
                    DesiredStateRow(
                        instance: instance, digest: row[1], document: row[2], version: row[3], parameters: row[4],
                        position: row[5], configDigest: row[6], recordedAtMilliseconds: row[7])
                )
            }))
}

extension EventStore {
    /// Every instance's current desired state, optionally only instances whose id starts with `prefix` (e.g. `shop/web@`).
    public func desiredStates(prefix: String = "") async throws -> [DesiredStateRow] {
        try await rows(of: DesiredStateProjection.self, keyPrefix: prefix)
    }

    /// The desired states of the instances whose id starts with any of `prefixes`, in one read.
    public func desiredStates(prefixes: [String]) async throws -> [DesiredStateRow] {
        try await rows(of: DesiredStateProjection.self, keyPrefixes: prefixes)
    }
}
