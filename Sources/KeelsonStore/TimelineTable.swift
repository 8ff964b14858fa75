import Foundation
import GRDB
import KeelsonCore

/// The deploy timeline projection: a row per `TimelineEntry` (see migrations/0007_timeline.sql).
/// Rows are only ever added, so it needs no history: the table is its own.
public struct TimelineTable: StoredProjection {
    public let name = "timeline"
    public let tables = ProjectionTables(rows: "timeline")
    public let keyColumns = ["position"]
    public let readsPayload = true

    public static let timeline = TimelineTable()

    public func fold(_ events: [RecordedEvent], in db: Database, into tables: ProjectionTables, checkpointEvery: Int64) throws {
        let insert = try DirectStatement(db, sql: """
            INSERT INTO \(tables.rows) (position, recorded_at, application, service, channel, kind, version, actor, line)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        for event in events {
            guard let entry = TimelineEntry.of(event) else { continue }
            do {
                try insert.execute { row in
                    row.bind(entry.position, at: 1)
                    row.bind(entry.atMilliseconds, at: 2)
                    row.bind(entry.application, at: 3)
                    row.bind(entry.service, at: 4)
                    row.bind(entry.channel, at: 5)
                    row.bind(entry.kind.rawValue, at: 6)
                    row.bind(entry.version, at: 7)
                    row.bind(entry.actor, at: 8)
                    row.bind(entry.line, at: 9)
                }
            } catch {
                throw error.databaseError
            }
        }
    }
}

extension EventStore {
    /// The latest entries matching `query`, newest first. For an instance, its service's entries
    /// (releases, releases marked bad) are included.
    public func timeline(_ query: TimelineQuery) async throws -> [TimelineEntry] {
        try await pool.read { db in
            var clauses: [String] = []
            var arguments: [(any DatabaseValueConvertible)?] = []
            if let application = query.application {
                clauses.append("application = ?")
                arguments.append(application)
                if let service = query.service {
                    clauses.append("service = ?")
                    arguments.append(service)
                    if let channel = query.channel {
                        clauses.append("(channel = ? OR channel IS NULL)")
                        arguments.append(channel)
                    }
                }
            }
            if !query.kinds.isEmpty {
                clauses.append("kind IN (\(databaseQuestionMarks(count: query.kinds.count)))")
                arguments += query.kinds.map(\.rawValue)
            }
            if let since = query.since {
                clauses.append("recorded_at >= ?")
                arguments.append(since.millisecondsSince1970)
            }
            if let until = query.until {
                clauses.append("recorded_at <= ?")
                arguments.append(until.millisecondsSince1970)
            }
            if let before = query.before {
                clauses.append("position < ?")
                arguments.append(before)
            }
            let filter = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
            let sql = """
                SELECT position, recorded_at, application, service, channel, kind, version, actor, line FROM timeline
                \(filter) ORDER BY position DESC LIMIT ?
                """
            arguments.append(query.limit)
            return try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments)).map { row in
                TimelineEntry(
                    position: row[0], atMilliseconds: row[1], application: row[2], service: row[3], channel: row[4],
                    kind: TimelineEntry.Kind(rawValue: row[5]) ?? .config, version: row[6], actor: row[7], line: row[8])
            }
        }
    }
}
