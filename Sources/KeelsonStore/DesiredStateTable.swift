import Foundation
import GRDB
import KeelsonCore

extension KeyedProjectionTable where P == DesiredStateProjection {
    /// The desired-state projection, kept in `desired_state` (see migrations/0003_desired_state.sql).
    public static let desiredState = KeyedProjectionTable(
        DesiredStateProjection(),
        rows: "desired_state",
        mapping: RowMapping(
            columns: [
                "instance", "digest", "document", "version", "parameters", "position", "config_digest", "recorded_at",
            ],
            encodeKey: { $0.databaseValue },
            decodeKey: textKey,
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
            }),
        // A version keeps no document: it is in the log, in the DesiredStateCompiled at `position`.
        history: RowHistory(
            columns: ["digest", "version", "parameters", "position", "config_digest", "recorded_at"],
            encode: { row in
                [
                    row.digest.databaseValue, row.version.databaseValue, row.parameters.databaseValue,
                    row.position.databaseValue, row.configDigest.databaseValue, row.recordedAtMilliseconds.databaseValue,
                ]
            },
            decode: { row, db in
                let position: Int64 = row[4]
                let compiled = try EventRows.event(at: position, in: db, table: "desired_state_history").decode(DesiredStateCompiled.self)
                return DesiredStateRow(
                    instance: row[0], digest: row[1], document: compiled.document, version: row[2], parameters: row[3],
                    position: position, configDigest: row[5], recordedAtMilliseconds: row[6])
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
