import GRDB
import KeelsonCore

/// One way in which a live projection table differs from a fresh rebuild.
public struct ProjectionDifference: Sendable, Hashable, Codable, CustomStringConvertible {
    public var projection: String
    public var table: String
    /// The row's key, e.g. `stream_id=app:shop`.
    public var key: String
    /// The live row, or `nil` when the live table lacks it.
    public var live: String?
    /// The rebuilt row, or `nil` when a rebuild would not have it.
    public var rebuilt: String?

    public var description: String {
        "\(table) [\(key)]: live \(live ?? "(missing)") ≠ rebuilt \(rebuilt ?? "(missing)")"
    }
}

/// The outcome of ``EventStore/verifyProjections(maxDifferencesPerTable:)``.
public struct VerifyReport: Sendable, Codable {
    public var lastPosition: Int64
    /// Each projection's checkpoint, by name.
    public var checkpoints: [String: Int64]
    public var differences: [ProjectionDifference]
    /// Differences found beyond the ones listed.
    public var omittedDifferences: Int

    public var isClean: Bool { differences.isEmpty && checkpoints.values.allSatisfy { $0 == lastPosition } }
}

extension EventStore {
    /// Rebuilds every projection from position 0 into scratch tables and compares them with the
    /// live tables row by row (rows, their history and its checkpoints). Runs on its own connection inside one read
    /// transaction: it sees one consistent state of the log and does not block appends.
    public func verifyProjections(maxDifferencesPerTable: Int = 20) async throws -> VerifyReport {
        // Opened as the store was (read-only, or immutable on a read-only mount): the scratch
        // tables are TEMP tables, which a read-only connection may write.
        var sqlite = Configuration()
        sqlite.readonly = connection.readonly
        sqlite.busyMode = .timeout(10)
        sqlite.prepareDatabase { try ArchiveAttachments.prepare($0) }
        let queue = try DatabaseQueue(path: connection.path, configuration: sqlite)
        defer { try? queue.close() }
        let projections = projections
        let checkpointEvery = configuration.checkpointEvery
        // A deferred transaction that only writes TEMP tables never takes the main database's write
        // lock; it is rolled back at the end, so the scratch tables vanish with it.
        return try await queue.writeWithoutTransaction { db in
            var result: VerifyReport?
            try db.inTransaction(.deferred) {
                result = try Self.verify(projections, checkpointEvery: checkpointEvery, maxDifferencesPerTable: maxDifferencesPerTable, in: db)
                return .rollback
            }
            return result!
        }
    }

    private static func verify(
        _ projections: [any StoredProjection], checkpointEvery: Int64, maxDifferencesPerTable: Int, in db: Database
    ) throws -> VerifyReport {
            let last = try EventRows.lastPosition(db)
            var report = VerifyReport(lastPosition: last, checkpoints: [:], differences: [], omittedDifferences: 0)
            for projection in projections {
                for (live, scratch) in zip(projection.tables.all, projection.tables.prefixed("scratch_").all) {
                    try Self.createScratchTable(copying: live, as: scratch, in: db)
                }
            }
            // One pass over the log rebuilds every projection into its scratch tables.
            try Self.refold(projections.map { ($0, $0.tables.prefixed("scratch_")) }, from: 0, to: last, in: db, checkpointEvery: checkpointEvery)
            for projection in projections {
                report.checkpoints[projection.name] = try ProjectionCheckpoints.position(of: projection.name, in: db)
                for (live, rebuilt) in zip(projection.tables.all, projection.tables.prefixed("scratch_").all) {
                    let (found, omitted) = try Self.compare(
                        live: live, rebuilt: rebuilt, keyColumns: projection.keyColumns(of: live), projection: projection.name, in: db,
                        limit: maxDifferencesPerTable)
                    report.differences += found
                    report.omittedDifferences += omitted
                }
            }
            return report
    }

    /// A TEMP copy of a live table's definition (the migrations stay the only schema source).
    private static func createScratchTable(copying table: String, as scratch: String, in db: Database) throws {
        guard let sql = try String.fetchOne(
            db, sql: "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", arguments: [table]),
            let nameRange = sql.range(of: table)
        else { throw StoreError.unknownProjection(table) }
        let body = sql[nameRange.upperBound...]
        try db.execute(sql: "DROP TABLE IF EXISTS temp.\(scratch)")
        try db.execute(sql: "CREATE TEMP TABLE \(scratch)\(body)")
    }

    private static func compare(
        live: String, rebuilt: String, keyColumns: [String], projection: String, in db: Database, limit: Int
    ) throws -> ([ProjectionDifference], omitted: Int) {
        let order = keyColumns.joined(separator: ", ")
        let liveOnly = try Row.fetchAll(
            db, sql: "SELECT * FROM main.\(live) EXCEPT SELECT * FROM temp.\(rebuilt) ORDER BY \(order)")
        let rebuiltOnly = try Row.fetchAll(
            db, sql: "SELECT * FROM temp.\(rebuilt) EXCEPT SELECT * FROM main.\(live) ORDER BY \(order)")
        func key(_ row: Row) -> String {
            keyColumns.map { "\($0)=\(render(row[$0] as DatabaseValue))" }.joined(separator: ", ")
        }
        var byKey: [String: (live: Row?, rebuilt: Row?)] = [:]
        for row in liveOnly { byKey[key(row), default: (nil, nil)].live = row }
        for row in rebuiltOnly { byKey[key(row), default: (nil, nil)].rebuilt = row }
        let keys = byKey.keys.sorted()
        let differences = keys.prefix(limit).map { key in
            let rows = byKey[key]!
            // When both rows exist, show only the columns that differ.
            var columns: [String] = Array((rows.live ?? rows.rebuilt!).columnNames)
            if let liveRow = rows.live, let rebuiltRow = rows.rebuilt {
                columns = columns.filter { (liveRow[$0] as DatabaseValue) != (rebuiltRow[$0] as DatabaseValue) }
            }
            return ProjectionDifference(
                projection: projection, table: live, key: key,
                live: rows.live.map { renderRow($0, columns: columns) },
                rebuilt: rows.rebuilt.map { renderRow($0, columns: columns) })
        }
        return (differences, max(0, keys.count - limit))
    }

    private static func renderRow(_ row: Row, columns: [String]) -> String {
        "{" + columns.map { "\($0)=\(render(row[$0] as DatabaseValue))" }.joined(separator: ", ") + "}"
    }

    private static func render(_ value: DatabaseValue) -> String {
        switch value.storage {
        case .null: "NULL"
        case .int64(let int): String(int)
        case .double(let double): String(double)
        case .string(let string): string
        case .blob(let data): "<\(data.count) bytes>"
        }
    }
}
