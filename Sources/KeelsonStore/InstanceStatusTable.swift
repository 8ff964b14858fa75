import Foundation
import GRDB
import KeelsonCore

extension KeyedProjectionTable where P == InstanceStatusProjection {
    /// The instance-status projection, kept in `instance_status` (see migrations/0006_instance_status.sql and 0009_structured_reasons.sql).
    public static let instanceStatus = KeyedProjectionTable(
        InstanceStatusProjection(),
        rows: "instance_status",
        mapping: RowMapping(
            columns: [
                "instance", "desired_version", "target_version", "target_is_rollback", "current_versions", "status",
                "decision_version", "waiting_for", "reason", "since", "decision_position", "last_good_version", "why", "decided_at",
            ],
            encodeKey: { $0.databaseValue },
            decodeKey: textKey,
            encode: { row in
                [
                    row.instance.databaseValue, row.desiredVersion.databaseValue, row.targetVersion.databaseValue,
                    row.targetIsRollback.databaseValue, row.currentVersions.databaseValue, row.status.databaseValue,
                    row.decisionVersion.databaseValue, row.waitingFor.databaseValue, row.reason.databaseValue, row.sinceMilliseconds.databaseValue,
                    row.decisionPosition.databaseValue, row.lastGoodVersion.databaseValue,
                    (row.why.flatMap { try? CanonicalJSON.string($0) }).databaseValue, row.decidedAtMilliseconds.databaseValue,
                ]
            },
            decode: { row in
                let instance: String = row[0]
                var status = InstanceStatusRow(instance: instance)
                status.desiredVersion = row[1]
                status.targetVersion = row[2]
                status.targetIsRollback = row[3]
                status.currentVersions = row[4]
                status.status = row[5]
                status.decisionVersion = row[6]
                status.waitingFor = row[7]
                status.reason = row[8]
                status.sinceMilliseconds = row[9]
                status.decisionPosition = row[10]
                status.lastGoodVersion = row[11]
                let why: String? = row[12]
                status.why = why.flatMap { try? PayloadDecoder().decode(Reason.self, from: $0) }
                status.decidedAtMilliseconds = row[13]
                return (instance, status)
            }))
}

extension EventStore {
    /// Every instance's status, optionally only instances whose id starts with `prefix` (`shop/`, `shop/web@`).
    public func instanceStatuses(prefix: String = "") async throws -> [InstanceStatusRow] {
        try await rows(of: InstanceStatusProjection.self, keyPrefix: prefix)
    }

    /// Every instance's status as it stood just after the event at `position` (each row's
    /// latest version then, from the projection's history), optionally only instances whose id
    /// starts with `prefix`.
    public func instanceStatuses(prefix: String = "", atPosition position: Int64) async throws -> [InstanceStatusRow] {
        try await rows(of: InstanceStatusProjection.self, keyPrefix: prefix, atPosition: position)
    }
}
