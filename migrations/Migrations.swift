/// One numbered schema migration: its name (the file name without `.sql`) and its SQL.
public struct SchemaMigration: Sendable {
    public let name: String
    public let sql: String
}

/// The schema migrations built into this binary, in the order they are applied.
///
/// SwiftPM's `embedInCode` turns `0001_events.sql` into `PackageResources._001_events_sql`;
/// add a line here for every new file (a test checks the list against the directory).
public let schemaMigrations: [SchemaMigration] = [
    SchemaMigration(name: "0001_events", sql: String(decoding: PackageResources._001_events_sql, as: UTF8.self)),
    SchemaMigration(name: "0002_projections", sql: String(decoding: PackageResources._002_projections_sql, as: UTF8.self)),
    SchemaMigration(name: "0003_desired_state", sql: String(decoding: PackageResources._003_desired_state_sql, as: UTF8.self)),
    SchemaMigration(name: "0004_current_state", sql: String(decoding: PackageResources._004_current_state_sql, as: UTF8.self)),
    SchemaMigration(name: "0005_leases", sql: String(decoding: PackageResources._005_leases_sql, as: UTF8.self)),
    SchemaMigration(name: "0006_instance_status", sql: String(decoding: PackageResources._006_instance_status_sql, as: UTF8.self)),
    SchemaMigration(name: "0007_timeline", sql: String(decoding: PackageResources._007_timeline_sql, as: UTF8.self)),
    SchemaMigration(name: "0008_tokens", sql: String(decoding: PackageResources._008_tokens_sql, as: UTF8.self)),
    SchemaMigration(name: "0009_structured_reasons", sql: String(decoding: PackageResources._009_structured_reasons_sql, as: UTF8.self)),
    SchemaMigration(name: "0010_engine_snapshots", sql: String(decoding: PackageResources._010_engine_snapshots_sql, as: UTF8.self)),
    SchemaMigration(name: "0011_row_history", sql: String(decoding: PackageResources._011_row_history_sql, as: UTF8.self)),
    SchemaMigration(name: "0012_archives", sql: String(decoding: PackageResources._012_archives_sql, as: UTF8.self)),
]
