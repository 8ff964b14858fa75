import Foundation
import GRDB
import GRDBSQLite
import KeelsonCore
import KeelsonMigrations

/// The append-only event log in one SQLite file, with the projections folded from it.
///
/// Owns all database access (like GRDB's `AppDatabase`): appends go through group commit and fold
/// every projection inside the same transaction; reads use WAL readers and never block appends.
public final class EventStore: Sendable {
    public let path: String
    public let configuration: StoreConfiguration
    public let projections: [any StoredProjection]
    let pool: DatabasePool
    let notifier: CommitNotifier
    private let committer: GroupCommitter<[StreamAppend], [AppendResult]>?

    /// The projections a store keeps unless told otherwise.
    public static let defaultProjections: [any StoredProjection] = [
        KeyedProjectionTable.streamCatalogue, KeyedProjectionTable.desiredState, KeyedProjectionTable.currentState,
        KeyedProjectionTable.instanceStatus, TimelineTable.timeline,
    ]

    /// Opens (or creates) the database at `path`: checks it is an intact SQLite file, applies the
    /// migrations it lacks, refuses one written by a newer schema, and brings every projection up
    /// to the end of the log.
    public init(
        path: String, configuration: StoreConfiguration = StoreConfiguration(),
        projections: [any StoredProjection] = EventStore.defaultProjections
    ) throws {
        self.path = path
        self.configuration = configuration
        self.projections = projections
        pool = try Self.openPool(path: path, configuration: configuration)
        let lastPosition = try pool.read(EventRows.lastPosition)
        notifier = CommitNotifier(lastPosition: lastPosition)
        if configuration.groupCommit {
            let commit: GroupCommitter<[StreamAppend], [AppendResult]>.Commit = { [pool, projections, configuration, notifier] batch in
                Self.commit(batch, pool: pool, projections: projections, configuration: configuration, notifier: notifier)
            }
            committer = GroupCommitter(
                label: "keelson.commit", maxWeightPerCommit: configuration.maxEventsPerCommit, commit: commit)
        } else {
            committer = nil
        }
        try catchUpProjections()
    }

    deinit {
        committer?.stop()
    }

    // MARK: Opening

    private static let sqliteHeader = Array("SQLite format 3\u{0}".utf8)

    private static func openPool(path: String, configuration: StoreConfiguration) throws -> DatabasePool {
        let url = URL(fileURLWithPath: path)
        let fileManager = FileManager.default
        var isDirectory: ObjCBool = false
        if fileManager.fileExists(atPath: path, isDirectory: &isDirectory) {
            if isDirectory.boolValue { throw StoreError.cannotOpen(path: path, reason: "it is a directory") }
            // A non-empty file that does not start with SQLite's header is someone else's file.
            if let handle = FileHandle(forReadingAtPath: path) {
                let header = try handle.read(upToCount: 16) ?? Data()
                try? handle.close()
                if !header.isEmpty && Array(header) != sqliteHeader { throw StoreError.notADatabase(path: path) }
            }
        } else {
            do {
                try fileManager.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            } catch {
                throw StoreError.cannotOpen(path: path, reason: "cannot create its directory (\(error.localizedDescription))")
            }
        }

        var config = Configuration()
        config.busyMode = .timeout(10)
        config.label = "keelson"
        do {
            let pool = try DatabasePool(path: path, configuration: config)
            try pool.writeWithoutTransaction { db in
                // DatabasePool sets synchronous=NORMAL while opening; set the chosen mode after it.
                try db.execute(sql: "PRAGMA synchronous = \(configuration.durability.rawValue)")
                if configuration.checkIntegrityOnOpen {
                    let problems = try String.fetchAll(db, sql: "PRAGMA quick_check").filter { $0 != "ok" }
                    if !problems.isEmpty {
                        throw StoreError.corrupt(path: path, details: problems.prefix(5).joined(separator: "; "))
                    }
                }
            }
            try migrate(pool, path: path)
            return pool
        } catch let error as DatabaseError {
            throw mapOpenError(error, path: path)
        }
    }

    static func mapOpenError(_ error: DatabaseError, path: String) -> StoreError {
        switch error.resultCode {
        case .SQLITE_NOTADB: .notADatabase(path: path)
        case .SQLITE_CORRUPT: .corrupt(path: path, details: error.message ?? "database disk image is malformed")
        default: .cannotOpen(path: path, reason: error.message ?? "\(error.resultCode)")
        }
    }

    static func makeMigrator() -> DatabaseMigrator {
        var migrator = DatabaseMigrator()
        for migration in schemaMigrations {
            migrator.registerMigration(migration.name) { db in
                try db.execute(sql: migration.sql)
            }
        }
        return migrator
    }

    private static func migrate(_ pool: DatabasePool, path: String) throws {
        let migrator = makeMigrator()
        let applied = try pool.read { try migrator.appliedIdentifiers($0) }
        let unknown = applied.subtracting(migrator.migrations).sorted()
        if !unknown.isEmpty { throw StoreError.schemaTooNew(path: path, unknownMigrations: unknown) }
        try migrator.migrate(pool)
    }

    /// The schema migrations applied to this database, in order.
    public func appliedMigrations() throws -> [String] {
        try pool.read { try Self.makeMigrator().appliedMigrations($0) }
    }

    /// The `synchronous` pragma in force on the connection that writes.
    public func synchronousMode() throws -> Durability {
        let value = try pool.writeWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA synchronous") } ?? -1
        // SQLite reports 1 for NORMAL and 2 for FULL.
        return value == 2 ? .full : .normal
    }

    /// Folds what each projection has not yet seen (a projection added by a newer migration, say).
    private func catchUpProjections() throws {
        try pool.write { db in
            let last = try EventRows.lastPosition(db)
            for projection in projections {
                let checkpoint = try ProjectionCheckpoints.position(of: projection.name, in: db)
                if checkpoint < last {
                    try Self.refold(projection, from: checkpoint, to: last, in: db, into: projection.tables,
                                    snapshotEvery: configuration.snapshotEvery)
                    try ProjectionCheckpoints.set(projection.name, to: last, in: db)
                }
            }
        }
    }

    // MARK: Appending

    /// Appends `events` to `stream` in one transaction, if the stream is at `expectedVersion`.
    @discardableResult
    public func append(
        _ events: [NewEvent], to stream: StreamID, expecting expectedVersion: ExpectedVersion = .any
    ) async throws -> AppendResult {
        try await append([StreamAppend(stream: stream, expectedVersion: expectedVersion, events: events)])[0]
    }

    /// Appends to several streams atomically: all of them are written, or none.
    /// Returns once the events are durable (per the configured ``Durability``).
    @discardableResult
    public func append(_ appends: [StreamAppend]) async throws -> [AppendResult] {
        try Self.validate(appends)
        let weight = appends.reduce(0) { $0 + $1.events.count }
        if let committer {
            return try await committer.submit(appends, weight: weight)
        }
        // Without group commit (only to measure what it saves): one transaction per call.
        let (pool, projections, configuration, notifier) = (pool, projections, configuration, notifier)
        return try await Task.detached {
            try Self.commit([appends], pool: pool, projections: projections, configuration: configuration,
                            notifier: notifier)[0].get()
        }.value
    }

    private static func validate(_ appends: [StreamAppend]) throws {
        if appends.isEmpty || appends.contains(where: { $0.events.isEmpty }) { throw StoreError.emptyAppend }
        for append in appends {
            if append.stream.rawValue.isEmpty {
                throw StoreError.invalidEvent(stream: append.stream, index: 0, reason: "the stream id is empty")
            }
            for (index, event) in append.events.enumerated() {
                if event.type.isEmpty {
                    throw StoreError.invalidEvent(stream: append.stream, index: index, reason: "the event type is empty")
                }
                if event.schemaVersion < 1 {
                    throw StoreError.invalidEvent(
                        stream: append.stream, index: index,
                        reason: "schema version \(event.schemaVersion) is not positive")
                }
            }
        }
    }

    /// Writes a batch of requests in one transaction. Each request is atomic on its own (a
    /// savepoint when the batch holds several), then every projection folds what was written.
    /// Synchronous: it runs on the commit thread (or a detached task without group commit).
    private static func commit(
        _ batch: [[StreamAppend]], pool: DatabasePool, projections: [any StoredProjection],
        configuration: StoreConfiguration, notifier: CommitNotifier
    ) -> [Result<[AppendResult], any Error>] {
        let now = configuration.clock().millisecondsSince1970
        do {
            let (results, lastPosition) = try pool.write { db in
                var results: [Result<[AppendResult], any Error>] = []
                results.reserveCapacity(batch.count)
                var written: [RecordedEvent] = []
                for request in batch {
                    if batch.count == 1 {
                        results.append(.success(try insert(request, at: now, in: db, collecting: &written)))
                        continue
                    }
                    // Cached statements: GRDB's inSavepoint would prepare them anew each time.
                    let mark = written.count
                    try db.cachedStatement(sql: "SAVEPOINT keelson_request").execute()
                    do {
                        let appended = try insert(request, at: now, in: db, collecting: &written)
                        try db.cachedStatement(sql: "RELEASE SAVEPOINT keelson_request").execute()
                        results.append(.success(appended))
                    } catch {
                        try db.cachedStatement(sql: "ROLLBACK TO SAVEPOINT keelson_request").execute()
                        try db.cachedStatement(sql: "RELEASE SAVEPOINT keelson_request").execute()
                        written.removeSubrange(mark...)
                        results.append(.failure(error))
                    }
                }
                if let last = written.last?.position {
                    // Each payload decoded once, however many projections read it.
                    let shared = projections.count > 1 ? written.map { $0.cachingDecodes() } : written
                    for projection in projections {
                        try projection.fold(shared, in: db, into: projection.tables,
                                            snapshotEvery: configuration.snapshotEvery)
                        try ProjectionCheckpoints.set(projection.name, to: last, in: db)
                    }
                }
                return (results, written.last?.position)
            }
            if let lastPosition { notifier.publish(lastPosition) }
            return results
        } catch {
            return Array(repeating: .failure(error), count: batch.count)
        }
    }

    private static func insert(
        _ request: [StreamAppend], at now: Int64, in db: Database, collecting written: inout [RecordedEvent]
    ) throws -> [AppendResult] {
        let inserter = try EventInserter(db)
        let currentVersion = try db.cachedStatement(sql: "SELECT MAX(version) FROM events WHERE stream_id = ?")
        var results: [AppendResult] = []
        for append in request {
            let stream = append.stream.rawValue
            var version = try Int64.fetchOne(currentVersion, arguments: [stream]) ?? 0
            guard append.expectedVersion.isSatisfied(byCurrentVersion: version) else {
                throw StoreError.versionConflict(stream: append.stream, expected: append.expectedVersion, actual: version)
            }
            var first: Int64 = 0
            for (index, event) in append.events.enumerated() {
                version += 1
                let position: Int64
                do {
                    position = try inserter.insert(stream: stream, version: version, event: event, recordedAt: now)
                } catch .constraint(let message) {
                    let reason = message.contains("json_valid") ? "the payload is not valid JSON" : message
                    throw StoreError.invalidEvent(stream: append.stream, index: index, reason: reason)
                } catch .database(let error) {
                    throw error
                }
                if index == 0 { first = position }
                var recorded = RecordedEvent(
                    position: position, streamID: append.stream, version: version, type: event.type,
                    schemaVersion: event.schemaVersion, payload: event.payload, recordedAtMilliseconds: now,
                    actor: event.actor, correlationID: event.correlationID, causationPosition: event.causationPosition)
                // A typed event brings its payload value: projections need not decode it.
                recorded.decoded = event.decoded
                written.append(recorded)
            }
            results.append(AppendResult(stream: append.stream, positions: first...(first + Int64(append.events.count) - 1),
                                        newVersion: version))
        }
        return results
    }

    // MARK: Reading

    /// The position of the last event in the log (0 when empty).
    public func lastPosition() async throws -> Int64 {
        try await pool.read(EventRows.lastPosition)
    }

    /// Events matching `filter`, in log order.
    public func events(_ filter: EventFilter) async throws -> [RecordedEvent] {
        try await pool.read { try filter.fetch($0) }
    }

    /// The events of one stream, from a version on.
    public func stream(_ stream: StreamID, fromVersion: Int64 = 1) async throws -> [RecordedEvent] {
        try await events(EventFilter(stream: stream, fromVersion: fromVersion))
    }

    /// The current version of a stream (0 when it does not exist).
    public func version(of stream: StreamID) async throws -> Int64 {
        try await pool.read {
            try Int64.fetchOne($0, sql: "SELECT MAX(version) FROM events WHERE stream_id = ?", arguments: [stream.rawValue])
        } ?? 0
    }

    /// Events after `position` matching `filter`, as they are appended: wakes on every append by
    /// this process and looks for appends by other processes every `externalAppendPollInterval`.
    /// Ends when the consuming task is cancelled.
    public func follow(after position: Int64, matching filter: EventFilter = EventFilter()) -> EventSubscription {
        EventSubscription(store: self, after: position, filter: filter)
    }

    /// The position of the last event recorded at or before `date` (0 when there is none).
    public func position(atTime date: Date) async throws -> Int64 {
        try await pool.read {
            try Int64.fetchOne(
                $0, sql: "SELECT MAX(position) FROM events WHERE recorded_at <= ?", arguments: [date.millisecondsSince1970])
        } ?? 0
    }

    // MARK: Stream catalogue

    /// The store's table for a keyed projection.
    func table<P: KeyedProjection>(_ type: P.Type) throws -> KeyedProjectionTable<P> {
        guard let table = projections.lazy.compactMap({ $0 as? KeyedProjectionTable<P> }).first else {
            throw StoreError.unknownProjection(P.name)
        }
        return table
    }

    /// All rows of a keyed projection, in key order.
    public func rows<P: KeyedProjection>(of type: P.Type) async throws -> [P.Row] {
        let table = try table(type)
        return try await pool.read { try table.rows(in: $0) }
    }

    /// The rows of a keyed projection whose key starts with `prefix`, in key order.
    public func rows<P: KeyedProjection>(of type: P.Type, keyPrefix prefix: String) async throws -> [P.Row]
    where P.Key == String {
        let table = try table(type)
        return try await pool.read { try table.rows(keyPrefix: prefix, in: $0) }
    }

    /// Every stream's summary, in stream order.
    public func streamCatalogue() async throws -> [StreamSummary] {
        try await rows(of: StreamCatalogue.self)
    }

    /// The stream catalogue as it stood just after the event at `position`.
    public func streamCatalogue(atPosition position: Int64) async throws -> [StreamSummary] {
        let catalogue = try table(StreamCatalogue.self)
        return try await pool.read { try catalogue.rows(atPosition: position, in: $0) }
    }

    // MARK: Projections

    /// Empties every projection (or the named ones) and folds the whole log again.
    /// Returns the number of events folded.
    @discardableResult
    public func rebuildProjections(named names: [String]? = nil) async throws -> Int64 {
        let selected = try select(names)
        let snapshotEvery = configuration.snapshotEvery
        return try await pool.write { db in
            let last = try EventRows.lastPosition(db)
            for projection in selected { try projection.clear(in: db, tables: projection.tables) }
            // One pass over the log for all of them: each chunk is read once.
            try Self.refold(selected.map { ($0, $0.tables) }, from: 0, to: last, in: db, snapshotEvery: snapshotEvery)
            for projection in selected { try ProjectionCheckpoints.set(projection.name, to: last, in: db) }
            return last
        }
    }

    func select(_ names: [String]?) throws -> [any StoredProjection] {
        guard let names else { return projections }
        return try names.map { name in
            guard let projection = projections.first(where: { $0.name == name }) else {
                throw StoreError.unknownProjection(name)
            }
            return projection
        }
    }

    /// Folds the events in `(from, to]` into each projection's tables in one pass over the log,
    /// a chunk at a time so memory stays flat; payloads are read when any projection needs them.
    static func refold(
        _ targets: [(projection: any StoredProjection, tables: ProjectionTables)], from: Int64, to: Int64, in db: Database,
        snapshotEvery: Int64, chunk: Int64 = 10_000
    ) throws {
        let payloads = targets.contains { $0.projection.readsPayload }
        var cursor = from
        while cursor < to {
            let upTo = min(cursor + chunk, to)
            var events = try EventRows.fetch(db, after: cursor, upTo: upTo, payloads: payloads)
            if targets.count > 1 { events = events.map { $0.cachingDecodes() } }
            if !events.isEmpty {
                for target in targets {
                    try target.projection.fold(events, in: db, into: target.tables, snapshotEvery: snapshotEvery)
                }
            }
            cursor = upTo
        }
    }

    /// Folds the events in `(from, to]` into `tables`, a chunk at a time so memory stays flat.
    static func refold(
        _ projection: any StoredProjection, from: Int64, to: Int64, in db: Database, into tables: ProjectionTables,
        snapshotEvery: Int64, chunk: Int64 = 10_000
    ) throws {
        var cursor = from
        while cursor < to {
            let upTo = min(cursor + chunk, to)
            let events = try EventRows.fetch(db, after: cursor, upTo: upTo, payloads: projection.readsPayload)
            if !events.isEmpty {
                try projection.fold(events, in: db, into: tables, snapshotEvery: snapshotEvery)
            }
            cursor = upTo
        }
    }

    /// Checkpoints the write-ahead log into the database file and closes every connection.
    /// Further use of the store throws.
    public func close() throws {
        _ = try pool.writeWithoutTransaction { try $0.checkpoint(.truncate) }
        try pool.close()
    }

    // MARK: Checks

    /// SQLite's full `PRAGMA integrity_check`: an empty list means the file is sound.
    public func integrityProblems() async throws -> [String] {
        try await pool.read { try String.fetchAll($0, sql: "PRAGMA integrity_check").filter { $0 != "ok" } }
    }
}

extension EventStore {
    /// The version of the SQLite library this binary uses.
    public static var sqliteVersion: String {
        String(cString: sqlite3_libversion())
    }
}
