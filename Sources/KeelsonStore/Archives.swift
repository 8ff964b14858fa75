import Crypto
import Foundation
import GRDB
import KeelsonCore

/// One archive file: closed history moved out of the live file, still part of the log.
public struct ArchiveRecord: Sendable, Hashable, Codable {
    public var firstPosition: Int64
    public var lastPosition: Int64
    public var events: Int64
    public var path: String
    /// SHA-256 of `previousDigest` and of the archive's events, in order: the chain.
    public var digest: String
    public var previousDigest: String
    public var archivedAtMilliseconds: Int64
}

/// What `db check` found wrong with one archive.
public struct ArchiveProblem: Sendable, Hashable, Codable, CustomStringConvertible {
    public var path: String
    public var problem: String
    public var description: String { "\(path): \(problem)" }
}

/// How the store reads through archives: every connection attaches each registered archive
/// (read-only, as `archive_<first position>`) and reads the whole log through the TEMP view
/// `log` — the archives' events (payloads inflated by `keelson_inflate`) then the live `events`
/// table. Appends write the live table only; the latest event is never archived, so positions
/// keep counting from it.
enum ArchiveAttachments {
    /// At most this many archives (SQLite attaches at most 10 databases to a connection).
    static let maximum = 10

    static let inflate = DatabaseFunction("keelson_inflate", argumentCount: 1, pure: true) { values in
        guard let data = Data.fromDatabaseValue(values[0]) else { return nil }
        return try PayloadCompression.inflate(data)
    }

    static let columns = "position, stream_id, version, type, schema_version, payload, recorded_at, actor, correlation_id, causation_position"

    /// Registers `keelson_inflate`, attaches the registered archives not yet attached, detaches
    /// those no longer registered, and (re)creates the view `log`. Outside any transaction (SQLite
    /// attaches only there); before the migrations have made `events`, it does nothing but the
    /// function.
    static func prepare(_ db: Database) throws {
        db.add(function: inflate)
        guard try db.tableExists("events", in: "main") else { return }
        let archives = try db.tableExists("archives", in: "main") ? try registered(db) : []
        let attached = Set(try Row.fetchAll(db, sql: "PRAGMA database_list").map { $0["name"] as String })
        var arms: [String] = []
        for archive in archives {
            let schema = schemaName(archive)
            if !attached.contains(schema) {
                guard FileManager.default.fileExists(atPath: archive.path) else {
                    throw StoreError.archiveMissing(path: archive.path, first: archive.firstPosition, last: archive.lastPosition)
                }
                try db.execute(sql: "ATTACH DATABASE ? AS \(schema)", arguments: [archive.path])
            }
            arms.append("""
                SELECT position, stream_id, version, type, schema_version, keelson_inflate(payload) AS payload, \
                recorded_at, actor, correlation_id, causation_position FROM \(schema).events
                """)
        }
        for name in attached where name.hasPrefix("archive_") && !archives.contains(where: { schemaName($0) == name }) {
            try db.execute(sql: "DETACH DATABASE \(name)")
        }
        arms.append("SELECT \(columns) FROM main.events")
        try db.execute(sql: "DROP VIEW IF EXISTS temp.log")
        try db.execute(sql: "CREATE TEMP VIEW log AS " + arms.joined(separator: " UNION ALL "))
    }

    static func schemaName(_ archive: ArchiveRecord) -> String { "archive_\(archive.firstPosition)" }

    /// The events of an attached archive as the log holds them (payloads inflated), as a table
    /// expression.
    static func inflated(_ schema: String) -> String {
        """
        (SELECT position, stream_id, version, type, schema_version, keelson_inflate(payload) AS payload, \
        recorded_at, actor, correlation_id, causation_position FROM \(schema).events)
        """
    }

    /// The registered archives, oldest first.
    static func registered(_ db: Database) throws -> [ArchiveRecord] {
        try Row.fetchAll(db, sql: """
            SELECT first_position, last_position, events, path, digest, previous_digest, archived_at
            FROM main.archives ORDER BY first_position
            """).map {
            ArchiveRecord(
                firstPosition: $0[0], lastPosition: $0[1], events: $0[2], path: $0[3], digest: $0[4],
                previousDigest: $0[5], archivedAtMilliseconds: $0[6])
        }
    }

    /// The schemas holding events, newest first: the live file, then the archives.
    static func segments(_ db: Database) throws -> [String] {
        ["main"] + (try db.tableExists("archives", in: "main") ? try registered(db).reversed().map(schemaName) : [])
    }

    /// The log's segments as table expressions with the live table's columns (an archive's
    /// payloads inflated), oldest first. A query with `ORDER BY position LIMIT n` runs on each in
    /// turn: through the view `log`, SQLite would gather and sort every match of every segment
    /// before taking the first n.
    static func segmentTables(_ db: Database) throws -> [String] {
        guard try db.tableExists("archives", in: "main") else { return ["main.events"] }
        return try registered(db).map { inflated(schemaName($0)) } + ["main.events"]
    }

    /// Rows of `sql` (which reads `FROM \(segmentPlaceholder)`, ordered by position, ascending or
    /// not) over the segments in that order, until `limit` rows are found.
    static func fetch(
        _ db: Database, sql: String, arguments: StatementArguments, descending: Bool, limit: Int?, cached: Bool = true,
        _ row: (Row) throws -> Void
    ) throws {
        var remaining = limit.map { max(0, $0) }
        let segments = try segmentTables(db)
        for table in descending ? segments.reversed() : segments {
            if remaining == 0 { return }
            var text = sql.replacingOccurrences(of: segmentPlaceholder, with: table)
            if let remaining { text += " LIMIT \(remaining)" }
            // Prepared once per connection when the caller's shapes are few (not for SQL that
            // varies with what a client asks, which a cache would keep every variant of).
            let statement = cached ? try db.cachedStatement(sql: text) : try db.makeStatement(sql: text)
            let cursor = try Row.fetchCursor(statement, arguments: arguments)
            while let next = try cursor.next() {
                try row(next)
                if let count = remaining { remaining = count - 1 }
            }
        }
    }

    static let segmentPlaceholder = "{segment}"

    /// The chained digest of the events at `first`–`last` in `table` (`schema.events`, or the
    /// view `log`), after `previous`. Payloads are hashed as the JSON text the log holds.
    static func digest(previous: String, table: String, first: Int64, last: Int64, in db: Database) throws -> (digest: String, events: Int64) {
        var hasher = SHA256()
        hasher.update(data: Data(previous.utf8))
        var count: Int64 = 0
        let cursor = try Row.fetchCursor(
            db, sql: "SELECT \(columns) FROM \(table) WHERE position >= ? AND position <= ? ORDER BY position",
            arguments: [first, last])
        while let row = try cursor.next() {
            let event = EventRows.decode(row)
            let payload = Data(event.payload.utf8)
            let fields: [String] = [
                String(event.position), event.streamID.rawValue, String(event.version), event.type,
                String(event.schemaVersion), String(event.recordedAtMilliseconds), event.actor ?? "\u{1}",
                event.correlationID ?? "\u{1}", event.causationPosition.map(String.init) ?? "\u{1}", String(payload.count),
            ]
            hasher.update(data: Data((fields.joined(separator: "\u{0}") + "\u{0}").utf8))
            hasher.update(data: payload)
            count += 1
        }
        return ("sha256:" + hasher.finalize().map { String(format: "%02x", $0) }.joined(), count)
    }
}

extension EventStore {
    /// The archives this log continues from, oldest first.
    public func archives() async throws -> [ArchiveRecord] {
        try await pool.read { db in
            try db.tableExists("archives", in: "main") ? try ArchiveAttachments.registered(db) : []
        }
    }

    /// Moves the events up to `position` (never the latest event) that are not archived yet into
    /// a new archive file at `path`: a read-only SQLite file with the same rows, payloads
    /// deflated, chained by digest to the archive before. The file is written and closed first;
    /// then one transaction registers it, deletes those events from the live file and records
    /// `HistoryArchived`. Reads go through it from then on.
    ///
    /// Refused while a worker holds a lease (a worker running against the file, unless `force`):
    /// processes that opened the file before do not see the archive until they open it again.
    @discardableResult
    public func archive(upTo position: Int64, to path: String, actor: String?, force: Bool = false) async throws -> ArchiveRecord {
        if isReadOnly { throw StoreError.readOnly(path: self.path, reason: "it was opened read-only") }
        let target = URL(fileURLWithPath: path).standardizedFileURL.path
        guard !FileManager.default.fileExists(atPath: target) else {
            throw StoreError.archive("\(target) already exists: an archive is always a new file")
        }
        let now = configuration.clock().millisecondsSince1970
        let (archives, last, leases) = try await pool.read { db in
            (try ArchiveAttachments.registered(db), try EventRows.lastPosition(db),
             try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM leases WHERE expires_at > ?", arguments: [now]) ?? 0)
        }
        if leases > 0 && !force {
            throw StoreError.archive("\(leases) lease(s) are held: stop the workers and servers using this file first (or force it)")
        }
        guard archives.count < ArchiveAttachments.maximum else {
            throw StoreError.archive("the log already has \(archives.count) archives, the most it reads through; restore the latest and archive again to merge")
        }
        let first = (archives.last?.lastPosition ?? 0) + 1
        let upTo = min(position, last - 1)
        guard upTo >= first else {
            throw StoreError.archive(first > last - 1
                ? "nothing to archive: everything before the latest event is archived already"
                : "nothing to archive at or before position \(position): the live file starts at \(first)")
        }
        let previous = archives.last?.digest ?? ""
        let written = try await writeArchive(to: target, first: first, last: upTo, previous: previous, now: now)

        do {
            let (projections, configuration) = (projections, configuration)
            let schema = "archive_\(first)"
            try await pool.writeWithoutTransaction { db in
                try db.execute(sql: "ATTACH DATABASE ? AS \(schema)", arguments: [target])
            }
            let recorded = try await pool.write { db -> RecordedEvent in
                guard try ArchiveAttachments.registered(db).last?.lastPosition ?? 0 == first - 1 else {
                    throw StoreError.archive("another archive was made meanwhile; nothing was changed")
                }
                // The file holds exactly the live rows it was written from.
                let check = try ArchiveAttachments.digest(previous: previous, table: ArchiveAttachments.inflated(schema), first: first, last: upTo, in: db)
                let live = try ArchiveAttachments.digest(previous: previous, table: "main.events", first: first, last: upTo, in: db)
                guard check == live, check.digest == written.digest else {
                    throw StoreError.archive("the archive written does not read back as the live events; nothing was changed")
                }
                try db.execute(sql: """
                    INSERT INTO archives (first_position, last_position, events, path, digest, previous_digest, archived_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [first, upTo, written.events, target, written.digest, previous, now])
                try Self.deleteArchived(first: first, last: upTo, in: db)
                let event = try NewEvent(HistoryArchived(file: target, firstPosition: first, lastPosition: upTo, events: written.events, digest: written.digest), actor: actor)
                return try Self.record(event, to: historyStream, at: now, in: db, projections: projections, configuration: configuration)
            }
            notifier.publish([recorded])
        } catch {
            _ = try? await pool.writeWithoutTransaction { try ArchiveAttachments.prepare($0) }
            try? FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: target)
            try? FileManager.default.removeItem(atPath: target)
            throw error
        }
        try await reattach()
        return ArchiveRecord(
            firstPosition: first, lastPosition: upTo, events: written.events, path: target, digest: written.digest,
            previousDigest: previous, archivedAtMilliseconds: now)
    }

    /// Brings the latest archive (the one at `path`) back into the live file, after checking that
    /// its events still hash to the digest recorded for it, and records `HistoryRestored`. The
    /// archive file stays where it is.
    @discardableResult
    public func restore(from path: String, actor: String?) async throws -> ArchiveRecord {
        if isReadOnly { throw StoreError.readOnly(path: self.path, reason: "it was opened read-only") }
        let target = URL(fileURLWithPath: path).standardizedFileURL.path
        let archives = try await self.archives()
        guard let archive = archives.first(where: { $0.path == target }) else {
            throw StoreError.archive("\(target) is not one of this log's archives"
                + (archives.isEmpty ? " (it has none)" : " (\(archives.map(\.path).joined(separator: ", ")))"))
        }
        guard archive == archives.last else {
            throw StoreError.archive("restore the latest archive first: \(archives.last!.path)")
        }
        let now = configuration.clock().millisecondsSince1970
        let (projections, configuration) = (projections, configuration)
        let schema = ArchiveAttachments.schemaName(archive)
        let recorded = try await pool.write { db -> RecordedEvent in
            let found = try ArchiveAttachments.digest(
                previous: archive.previousDigest, table: ArchiveAttachments.inflated(schema), first: archive.firstPosition, last: archive.lastPosition, in: db)
            guard found.digest == archive.digest, found.events == archive.events else {
                throw StoreError.archive("\(target) does not hold what was archived (its events hash to \(found.digest), \(found.events) events; the log recorded \(archive.digest), \(archive.events)); nothing was restored")
            }
            try db.execute(sql: """
                INSERT INTO main.events (\(ArchiveAttachments.columns))
                SELECT position, stream_id, version, type, schema_version, keelson_inflate(payload), recorded_at, actor, correlation_id, causation_position
                FROM \(schema).events ORDER BY position
                """)
            try db.execute(sql: "DELETE FROM archives WHERE first_position = ?", arguments: [archive.firstPosition])
            let event = try NewEvent(HistoryRestored(
                file: target, firstPosition: archive.firstPosition, lastPosition: archive.lastPosition, events: archive.events,
                digest: archive.digest), actor: actor)
            return try Self.record(event, to: historyStream, at: now, in: db, projections: projections, configuration: configuration)
        }
        notifier.publish([recorded])
        try await reattach()
        return archive
    }

    /// Each archive checked against its record and the chain: the file is there, its
    /// `archive_info` agrees, its events hash to the recorded digest, the digests chain, and the
    /// positions run on without a gap into the live file.
    public func archiveProblems() async throws -> [ArchiveProblem] {
        try await pool.read { db in
            guard try db.tableExists("archives", in: "main") else { return [] }
            var problems: [ArchiveProblem] = []
            var previous = ""
            var next: Int64 = 1
            for archive in try ArchiveAttachments.registered(db) {
                func problem(_ text: String) { problems.append(ArchiveProblem(path: archive.path, problem: text)) }
                if archive.previousDigest != previous { problem("its chain is broken: it follows \(archive.previousDigest.isEmpty ? "nothing" : archive.previousDigest), the archive before is \(previous.isEmpty ? "none" : previous)") }
                if archive.firstPosition != next { problem("it starts at position \(archive.firstPosition), the log needs \(next)") }
                let schema = ArchiveAttachments.schemaName(archive)
                if let info = try Row.fetchOne(db, sql: "SELECT first_position, last_position, events, digest FROM \(schema).archive_info") {
                    if (info[0] as Int64, info[1] as Int64, info[2] as Int64, info[3] as String)
                        != (archive.firstPosition, archive.lastPosition, archive.events, archive.digest) {
                        problem("its archive_info (positions \(info[0] as Int64)–\(info[1] as Int64), \(info[3] as String)) is not what the log recorded")
                    }
                } else {
                    problem("it has no archive_info")
                }
                let found = try ArchiveAttachments.digest(
                    previous: archive.previousDigest, table: ArchiveAttachments.inflated(schema), first: archive.firstPosition, last: archive.lastPosition, in: db)
                if found.digest != archive.digest || found.events != archive.events {
                    problem("its events hash to \(found.digest) (\(found.events) events); the log recorded \(archive.digest) (\(archive.events))")
                }
                previous = archive.digest
                next = archive.lastPosition + 1
            }
            if next > 1, let live = try Int64.fetchOne(db, sql: "SELECT MIN(position) FROM main.events"), live != next {
                problems.append(ArchiveProblem(path: "(live file)", problem: "its first event is at position \(live), the last archive ends at \(next - 1)"))
            }
            return problems
        }
    }

    // MARK: Internals

    /// Writes the events `first`–`last` of the live file into a new archive file at `path`.
    private func writeArchive(to path: String, first: Int64, last: Int64, previous: String, now: Int64) async throws -> (digest: String, events: Int64) {
        try Self.createEmptyFile(path, exclusive: true)
        var sqlite = Configuration()
        sqlite.busyMode = .timeout(10)
        let archive = try DatabaseQueue(path: path, configuration: sqlite)
        let source = pool
        do {
            try await archive.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA journal_mode = DELETE")
                try db.execute(sql: """
                    CREATE TABLE events (
                        position       INTEGER PRIMARY KEY,
                        stream_id      TEXT    NOT NULL,
                        version        INTEGER NOT NULL,
                        type           TEXT    NOT NULL,
                        schema_version INTEGER NOT NULL,
                        payload        BLOB    NOT NULL,     -- \(PayloadCompression.name): see archive_info
                        recorded_at    INTEGER NOT NULL,
                        actor          TEXT,
                        correlation_id TEXT,
                        causation_position INTEGER
                    );
                    CREATE TABLE archive_info (
                        first_position  INTEGER NOT NULL,
                        last_position   INTEGER NOT NULL,
                        events          INTEGER NOT NULL,
                        digest          TEXT    NOT NULL,
                        previous_digest TEXT    NOT NULL,
                        compression     TEXT    NOT NULL,
                        archived_at     INTEGER NOT NULL,
                        keelson_version TEXT    NOT NULL
                    );
                    """)
            }
            var cursor = first - 1
            while cursor < last {
                let (from, upTo) = (cursor, min(cursor + 10_000, last))
                let rows = try await source.read { db in
                    try Row.fetchAll(db, sql: "SELECT \(ArchiveAttachments.columns) FROM main.events WHERE position > ? AND position <= ? ORDER BY position", arguments: [from, upTo])
                        .map(EventRows.decode)
                }
                guard rows.count == Int(upTo - cursor) else {
                    throw StoreError.archive("the live file lacks events between positions \(cursor + 1) and \(upTo); nothing was archived")
                }
                try await archive.write { db in
                    let insert = try db.makeStatement(sql: "INSERT INTO events (\(ArchiveAttachments.columns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
                    for event in rows {
                        try insert.execute(arguments: [
                            event.position, event.streamID.rawValue, event.version, event.type, event.schemaVersion,
                            try PayloadCompression.deflate(event.payload), event.recordedAtMilliseconds, event.actor,
                            event.correlationID, event.causationPosition,
                        ])
                    }
                }
                cursor = upTo
            }
            let result = try await archive.write { db -> (digest: String, events: Int64) in
                db.add(function: ArchiveAttachments.inflate)
                try db.execute(sql: """
                    CREATE UNIQUE INDEX events_stream_version ON events (stream_id, version);
                    CREATE INDEX events_type_position ON events (type, position);
                    CREATE INDEX events_recorded_at ON events (recorded_at);
                    CREATE TEMP VIEW plain AS SELECT position, stream_id, version, type, schema_version,
                        keelson_inflate(payload) AS payload, recorded_at, actor, correlation_id, causation_position FROM events;
                    """)
                let found = try ArchiveAttachments.digest(previous: previous, table: "plain", first: first, last: last, in: db)
                try db.execute(
                    sql: "INSERT INTO archive_info VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    arguments: [first, last, found.events, found.digest, previous, PayloadCompression.name, now, KeelsonVersion.current])
                return found
            }
            try archive.close()
            // Read-only from now on: SQLite opens it read-only, and nobody writes it by mistake.
            try FileManager.default.setAttributes([.posixPermissions: 0o400], ofItemAtPath: path)
            return result
        } catch {
            try? archive.close()
            try? FileManager.default.removeItem(atPath: path)
            throw error
        }
    }

    /// Deletes the archived events from the live file: the one sanctioned exception to the
    /// append-only trigger, dropped and made again inside the same transaction.
    private static func deleteArchived(first: Int64, last: Int64, in db: Database) throws {
        guard let trigger = try String.fetchOne(
            db, sql: "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'events_refuse_delete'")
        else { throw StoreError.archive("the live file has no append-only trigger; it is not a Keelson log") }
        try db.execute(sql: "DROP TRIGGER events_refuse_delete")
        try db.execute(sql: "DELETE FROM main.events WHERE position >= ? AND position <= ?", arguments: [first, last])
        try db.execute(sql: trigger)
    }

    /// Appends one event in the transaction of `db`, folding it into every projection.
    static func record(
        _ event: NewEvent, to stream: StreamID, at now: Int64, in db: Database, projections: [any StoredProjection],
        configuration: StoreConfiguration
    ) throws -> RecordedEvent {
        let version = try currentVersion(of: stream, in: db) + 1
        let position: Int64
        do {
            position = try EventInserter(db).insert(stream: stream.rawValue, version: version, event: event, recordedAt: now)
        } catch let error as DirectStatement.StepError {
            switch error {
            case .constraint(let message): throw StoreError.invalidEvent(stream: stream, index: 0, reason: message)
            case .database(let error): throw error
            }
        }
        let recorded = RecordedEvent(event, position: position, streamID: stream, version: version, recordedAtMilliseconds: now)
        for projection in projections {
            try projection.fold([recorded], in: db, into: projection.tables, checkpointEvery: configuration.checkpointEvery)
            try ProjectionCheckpoints.set(projection.name, to: position, in: db)
        }
        return recorded
    }

    /// A stream's current version, archived events included: the stream catalogue's (kept in the
    /// live file, in the transaction of every append), or the live events' when they are ahead
    /// of it (earlier in the same transaction).
    static func currentVersion(of stream: StreamID, in db: Database) throws -> Int64 {
        try Int64.fetchOne(
            db.cachedStatement(sql: Self.currentVersionSQL), arguments: [stream.rawValue]) ?? 0
    }

    static let currentVersionSQL = """
        SELECT MAX(v) FROM (SELECT version AS v FROM stream_catalogue WHERE stream_id = ?1
        UNION ALL SELECT MAX(version) FROM main.events WHERE stream_id = ?1)
        """

    /// Refreshes every connection's view of the archives after one was made or restored.
    private func reattach() async throws {
        try await pool.writeWithoutTransaction { try ArchiveAttachments.prepare($0) }
        pool.invalidateReadOnlyConnections()
    }
}
