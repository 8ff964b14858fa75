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
    /// True when the store was opened read-only (``StoreConfiguration/readOnly``): appends and
    /// rebuilds throw ``StoreError/readOnly(path:reason:)``.
    public var isReadOnly: Bool { configuration.readOnly }
    /// Things about the file its user should know (other users can read it, say), in words.
    public let openWarnings: [String]
    let pool: DatabasePool
    let notifier: CommitNotifier
    private let committer: GroupCommitter<[StreamAppend], [AppendResult]>?
    /// How SQLite was asked to open the file (a path, or a `file:` URI for an immutable open), so
    /// that another connection (the verifier's) opens it the same way.
    let connection: ConnectionSpec

    struct ConnectionSpec: Sendable {
        var path: String
        var readonly: Bool
    }

    /// The projections a store keeps unless told otherwise.
    public static let defaultProjections: [any StoredProjection] = [
        KeyedProjectionTable.streamCatalogue, KeyedProjectionTable.desiredState, KeyedProjectionTable.currentState,
        KeyedProjectionTable.instanceStatus, TimelineTable.timeline,
    ]

    /// Opens (or creates) the database at `path`: checks it is an intact SQLite file, applies the
    /// migrations it lacks, refuses one written by a newer schema, and brings every projection up
    /// to the end of the log.
    ///
    /// Only a regular file is opened (a FIFO, a device or a socket would block or mislead). A new
    /// database is created mode 0600 (its `-wal` and `-shm` then are too: SQLite gives them the
    /// database's mode), in a folder created mode 0700. Read-only (``StoreConfiguration/readOnly``),
    /// nothing is created or written, and a database in a folder that cannot be written is still
    /// read — see ``openReadOnly(_:path:)``.
    public init(
        path: String, configuration: StoreConfiguration = StoreConfiguration(),
        projections: [any StoredProjection] = EventStore.defaultProjections
    ) throws {
        self.path = path
        self.configuration = configuration
        self.projections = projections
        let opened = try Self.openPool(path: path, configuration: configuration)
        pool = opened.pool
        connection = opened.connection
        openWarnings = opened.warnings
        let lastPosition = try pool.read(EventRows.lastPosition)
        notifier = CommitNotifier(lastPosition: lastPosition)
        if configuration.groupCommit && !configuration.readOnly {
            let commit: GroupCommitter<[StreamAppend], [AppendResult]>.Commit = { [pool, projections, configuration, notifier] batch in
                Self.commit(batch, pool: pool, projections: projections, configuration: configuration, notifier: notifier)
            }
            committer = GroupCommitter(
                label: "keelson.commit", maxWeightPerCommit: configuration.maxEventsPerCommit, commit: commit)
        } else {
            committer = nil
        }
        if !configuration.readOnly { try catchUpProjections() }
    }

    deinit {
        committer?.stop()
    }

    // MARK: Opening

    private static let sqliteHeader = Array("SQLite format 3\u{0}".utf8)

    /// The mode of files Keelson creates: the database holds config texts, readable by its owner only.
    public static let fileMode: mode_t = 0o600
    /// The mode of folders Keelson creates for a database.
    public static let folderMode: Int = 0o700

    private static func openPool(
        path: String, configuration: StoreConfiguration
    ) throws -> (pool: DatabasePool, connection: ConnectionSpec, warnings: [String]) {
        guard !path.isEmpty else { throw StoreError.cannotOpen(path: path, reason: "the path is empty") }
        try checkFileKinds(path)
        var warnings: [String] = []
        let fileManager = FileManager.default
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        if fileManager.fileExists(atPath: path) {
            // A non-empty file that does not start with SQLite's header is someone else's file.
            if let handle = FileHandle(forReadingAtPath: path) {
                let header = try handle.read(upToCount: 16) ?? Data()
                try? handle.close()
                if !header.isEmpty && Array(header) != sqliteHeader { throw StoreError.notADatabase(path: path) }
            }
            var info = stat()
            if stat(path, &info) == 0, info.st_mode & 0o007 != 0 {
                warnings.append(
                    "\(path) can be read by other users (mode \(String(info.st_mode & 0o777, radix: 8))) and holds config texts: "
                        + "`chmod 600 \(path)` (new databases are created 0600)")
            }
            if !configuration.readOnly {
                if access(path, W_OK) != 0 {
                    throw StoreError.readOnly(path: path, reason: "the file is not writable (\(String(cString: strerror(errno))))")
                }
                if access(folder, W_OK) != 0 {
                    throw StoreError.readOnly(
                        path: path, reason: "its folder \(folder) is not writable (\(String(cString: strerror(errno)))), and SQLite keeps its -wal and -shm files there")
                }
            }
        } else {
            if configuration.readOnly {
                throw StoreError.cannotOpen(path: path, reason: "there is no database there (a read-only open creates nothing)")
            }
            try createEmptyFile(path, exclusive: false)
        }

        var config = Configuration()
        config.busyMode = .timeout(10)
        config.label = "keelson"
        // Every connection reads the whole log, archives included, through the view `log`.
        config.prepareDatabase { try ArchiveAttachments.prepare($0) }
        if configuration.readOnly {
            let (pool, spec) = try openReadOnly(config, path: path)
            try checkReadOnlySchema(pool, path: path, checkIntegrity: configuration.checkIntegrityOnOpen)
            return (pool, spec, warnings)
        }
        do {
            let pool = try DatabasePool(path: path, configuration: config)
            try pool.writeWithoutTransaction { db in
                // DatabasePool sets synchronous=NORMAL while opening; set the chosen mode after it.
                try db.execute(sql: "PRAGMA synchronous = \(configuration.durability.rawValue)")
                if configuration.checkIntegrityOnOpen { try quickCheck(db, path: path) }
            }
            try migrate(pool, path: path)
            // Connections opened before the migrations made the tables the view reads: the writer
            // prepares again, readers are opened afresh.
            try pool.writeWithoutTransaction { try ArchiveAttachments.prepare($0) }
            pool.invalidateReadOnlyConnections()
            return (pool, ConnectionSpec(path: path, readonly: false), warnings)
        } catch let error as DatabaseError {
            throw mapOpenError(error, path: path)
        }
    }

    /// Refuses anything that is not a regular file (following symbolic links): opening a FIFO
    /// blocks until someone writes to it, a device or a socket is not a database. The `-wal` and
    /// `-shm` files SQLite opens beside it are checked too.
    static func checkFileKinds(_ path: String) throws {
        for (file, what) in [(path, "it"), (path + "-wal", "its -wal file"), (path + "-shm", "its -shm file")] {
            var info = stat()
            guard stat(file, &info) == 0 else { continue }
            let kind = info.st_mode & S_IFMT
            if kind == S_IFREG { continue }
            let name = switch kind {
            case S_IFDIR: "a directory"
            case S_IFIFO: "a FIFO (named pipe)"
            case S_IFSOCK: "a socket"
            case S_IFCHR, S_IFBLK: "a device"
            default: "not a regular file"
            }
            // (A directory needs no explanation; the others do.)
            throw StoreError.cannotOpen(path: path, reason: "\(what) is \(name)" + (kind == S_IFDIR ? "" : "; a Keelson database is a regular file"))
        }
    }

    /// Creates the folder (0700, with its parents) and an empty database file (0600) before SQLite
    /// opens it, so that neither the file nor its `-wal`/`-shm` is ever readable by others.
    static func createEmptyFile(_ path: String, exclusive: Bool) throws {
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        do {
            try FileManager.default.createDirectory(
                atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: folderMode])
        } catch {
            throw StoreError.cannotOpen(path: path, reason: "cannot create its folder (\(error.localizedDescription))")
        }
        let descriptor = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, fileMode)
        if descriptor >= 0 {
            _ = closeDescriptor(descriptor)
        } else if exclusive || errno != EEXIST {  // another process created the database first: fine
            throw StoreError.cannotOpen(path: path, reason: "cannot create the file (\(String(cString: strerror(errno))))")
        }
    }

    private static func quickCheck(_ db: Database, path: String) throws {
        let problems = try String.fetchAll(db, sql: "PRAGMA quick_check").filter { $0 != "ok" }
        if !problems.isEmpty {
            throw StoreError.corrupt(path: path, details: problems.prefix(5).joined(separator: "; "))
        }
    }

    /// Opens the file without writing anything. SQLite reads a WAL-mode database read-only when
    /// it can use (or create) the `-shm` file beside it; on a read-only mount without one, the
    /// file alone is read as immutable — but only when there is no `-wal` with commits in it,
    /// since an immutable open would not see them.
    private static func openReadOnly(_ base: Configuration, path: String) throws -> (DatabasePool, ConnectionSpec) {
        var config = base
        config.readonly = true
        do {
            let pool = try DatabasePool(path: path, configuration: config)
            _ = try pool.read(EventRows.lastPosition)
            return (pool, ConnectionSpec(path: path, readonly: true))
        } catch let error as DatabaseError where [.SQLITE_CANTOPEN, .SQLITE_READONLY].contains(error.resultCode) {
            var info = stat()
            if stat(path + "-wal", &info) == 0, info.st_size > 0 {
                throw StoreError.cannotOpen(
                    path: path,
                    reason: "it cannot be read here without writing: its folder is read-only and \(path)-wal holds commits that are not "
                        + "in the file yet (\(info.st_size) bytes). Copy both files to a writable folder, or make the copy with "
                        + "`keelson db backup`")
            }
            let uri = immutableURI(path)
            do {
                let pool = try DatabasePool(path: uri, configuration: config)
                _ = try pool.read(EventRows.lastPosition)
                return (pool, ConnectionSpec(path: uri, readonly: true))
            } catch let error as DatabaseError {
                throw mapOpenError(error, path: path)
            }
        } catch let error as DatabaseError {
            throw mapOpenError(error, path: path)
        }
    }

    /// `file:` URI of `path` with `immutable=1` (Debian's SQLite understands URIs everywhere).
    static func immutableURI(_ path: String) -> String {
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "?#%")
        return "file:" + (absolute.addingPercentEncoding(withAllowedCharacters: allowed) ?? absolute) + "?immutable=1"
    }

    /// Read-only, migrations cannot be applied: the file must already have this binary's schema.
    private static func checkReadOnlySchema(_ pool: DatabasePool, path: String, checkIntegrity: Bool) throws {
        do {
            let migrator = makeMigrator()
            let applied = try pool.read { try migrator.appliedIdentifiers($0) }
            let unknown = applied.subtracting(migrator.migrations).sorted()
            if !unknown.isEmpty { throw StoreError.schemaTooNew(path: path, unknownMigrations: unknown) }
            let missing = migrator.migrations.filter { !applied.contains($0) }
            if !missing.isEmpty {
                throw StoreError.readOnly(
                    path: path,
                    reason: applied.isEmpty
                        ? "it holds no Keelson schema yet, and a read-only open cannot create one"
                        : "it was written by an older Keelson and needs schema migrations (\(missing.joined(separator: ", "))), which a read-only open cannot apply; open it once with a command that writes")
            }
            if checkIntegrity { try pool.read { try quickCheck($0, path: path) } }
        } catch let error as DatabaseError {
            throw mapOpenError(error, path: path)
        }
    }

    static func mapOpenError(_ error: DatabaseError, path: String) -> StoreError {
        switch error.resultCode {
        case .SQLITE_NOTADB: .notADatabase(path: path)
        case .SQLITE_CORRUPT: .corrupt(path: path, details: error.message ?? "database disk image is malformed")
        case .SQLITE_READONLY: .readOnly(path: path, reason: error.message ?? "attempt to write a readonly database")
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
                    if last - checkpoint >= 100_000 {
                        configuration.progress?("folding \(last - checkpoint) events into the \(projection.name) projection (once, after an upgrade)…")
                    }
                    try Self.refold(projection, from: checkpoint, to: last, in: db, into: projection.tables,
                                    checkpointEvery: configuration.checkpointEvery)
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
        if isReadOnly { throw StoreError.readOnly(path: path, reason: "it was opened read-only") }
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
            let (results, written) = try pool.write { db in
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
                guard let last = written.last?.position else { return (results, written) }
                // Each payload decoded once, however many projections (and, from memory, readers
                // in this process) read it.
                let shared = written.map { $0.cachingDecodes() }
                for projection in projections {
                    try projection.fold(shared, in: db, into: projection.tables, checkpointEvery: configuration.checkpointEvery)
                    try ProjectionCheckpoints.set(projection.name, to: last, in: db)
                }
                return (results, shared)
            }
            notifier.publish(written)
            return results
        } catch {
            return Array(repeating: .failure(error), count: batch.count)
        }
    }

    private static func insert(
        _ request: [StreamAppend], at now: Int64, in db: Database, collecting written: inout [RecordedEvent]
    ) throws -> [AppendResult] {
        let inserter = try EventInserter(db)
        // Archived events included (the stream catalogue knows them), and this transaction's own.
        let currentVersion = try db.cachedStatement(sql: currentVersionSQL)
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
                // A typed event brings its payload value: projections need not decode it.
                written.append(RecordedEvent(event, position: position, streamID: append.stream, version: version, recordedAtMilliseconds: now))
            }
            results.append(AppendResult(
                stream: append.stream, positions: first...(first + Int64(append.events.count) - 1), newVersion: version,
                recordedAtMilliseconds: now))
        }
        return results
    }

    // MARK: Reading

    /// The position of the last event in the log (0 when empty).
    public func lastPosition() async throws -> Int64 {
        try await pool.read(EventRows.lastPosition)
    }

    /// Events matching `filter`, in log order. Those this process committed last come from
    /// memory, typed payloads included (see ``RecentEvents``); the rest from the file.
    public func events(_ filter: EventFilter) async throws -> [RecordedEvent] {
        guard let (recent, through) = notifier.recent.read(filter) else {
            return try await pool.read { try filter.fetch($0) }
        }
        let limit = filter.limit.map { max(0, $0) } ?? .max
        if recent.count >= limit || through >= (filter.upToPosition ?? .max) { return recent }
        var rest = filter
        rest.afterPosition = through
        rest.limit = filter.limit.map { _ in limit - recent.count }
        return recent + (try await pool.read { [rest] in try rest.fetch($0) })
    }

    /// The events of one stream, from a version on.
    public func stream(_ stream: StreamID, fromVersion: Int64 = 1) async throws -> [RecordedEvent] {
        try await events(EventFilter(stream: stream, fromVersion: fromVersion))
    }

    /// The current version of a stream (0 when it does not exist).
    public func version(of stream: StreamID) async throws -> Int64 {
        try await pool.read {
            try Self.currentVersion(of: stream, in: $0)
        }
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
            // The newest segment with an event by then answers (each one's recorded_at index).
            for schema in try ArchiveAttachments.segments($0) {
                if let position = try Int64.fetchOne(
                    $0, sql: "SELECT MAX(position) FROM \(schema).events WHERE recorded_at <= ?", arguments: [date.millisecondsSince1970]) {
                    return position
                }
            }
            return 0
        }
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

    /// The rows of a keyed projection whose key starts with any of `prefixes`, in one read.
    public func rows<P: KeyedProjection>(of type: P.Type, keyPrefixes prefixes: [String]) async throws -> [P.Row]
    where P.Key == String {
        let table = try table(type)
        return try await pool.read { db in try prefixes.flatMap { try table.rows(keyPrefix: $0, in: db) } }
    }

    /// The rows of a keyed projection for `keys` (those that exist), by key: one read.
    public func rows<P: KeyedProjection>(of type: P.Type, keys: [P.Key]) async throws -> [P.Key: P.Row] {
        let table = try table(type)
        return try await pool.read { try table.rows(keys: keys, in: $0) }
    }

    /// A keyed projection's rows as they stood just after the event at `position`, in key order.
    public func rows<P: KeyedProjection>(of type: P.Type, atPosition position: Int64) async throws -> [P.Row] {
        let table = try table(type)
        return try await pool.read { try table.rows(atPosition: position, in: $0) }
    }

    /// The rows of a keyed projection whose key starts with `prefix`, as they stood just after the
    /// event at `position`, in key order.
    public func rows<P: KeyedProjection>(of type: P.Type, keyPrefix prefix: String, atPosition position: Int64) async throws -> [P.Row]
    where P.Key == String {
        let table = try table(type)
        return try await pool.read { try table.rows(keyPrefix: prefix, atPosition: position, in: $0) }
    }

    /// The row of `key` in a keyed projection as it stood just after the event at `position`
    /// (`nil`: there was none then): one seek in its history.
    public func row<P: KeyedProjection>(of type: P.Type, key: P.Key, atPosition position: Int64) async throws -> P.Row? {
        let table = try table(type)
        return try await pool.read { try table.row(key, atPosition: position, in: $0) }
    }

    /// When the event at `position` was recorded (nil when there is none).
    public func recordedAt(position: Int64) async throws -> Date? {
        try await pool.read {
            try Int64.fetchOne($0, sql: "SELECT recorded_at FROM log WHERE position = ?", arguments: [position])
        }.map { Date(timeIntervalSince1970: Double($0) / 1000) }
    }

    /// Every stream's summary, in stream order.
    public func streamCatalogue() async throws -> [StreamSummary] {
        try await rows(of: StreamCatalogue.self)
    }

    /// The stream catalogue as it stood just after the event at `position`.
    public func streamCatalogue(atPosition position: Int64) async throws -> [StreamSummary] {
        try await rows(of: StreamCatalogue.self, atPosition: position)
    }

    // MARK: Projections

    /// Empties every projection (or the named ones) and folds the whole log again.
    /// Returns the number of events folded.
    @discardableResult
    public func rebuildProjections(named names: [String]? = nil) async throws -> Int64 {
        if isReadOnly { throw StoreError.readOnly(path: path, reason: "it was opened read-only") }
        let selected = try select(names)
        let checkpointEvery = configuration.checkpointEvery
        return try await pool.write { db in
            let last = try EventRows.lastPosition(db)
            for projection in selected { try projection.clear(in: db, tables: projection.tables) }
            // One pass over the log for all of them: each chunk is read once.
            try Self.refold(selected.map { ($0, $0.tables) }, from: 0, to: last, in: db, checkpointEvery: checkpointEvery)
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
        checkpointEvery: Int64, chunk: Int64 = 10_000
    ) throws {
        let payloads = targets.contains { $0.projection.readsPayload }
        var cursor = from
        while cursor < to {
            let upTo = min(cursor + chunk, to)
            var events = try EventRows.fetch(db, after: cursor, upTo: upTo, payloads: payloads)
            if targets.count > 1 { events = events.map { $0.cachingDecodes() } }
            if !events.isEmpty {
                for target in targets {
                    try target.projection.fold(events, in: db, into: target.tables, checkpointEvery: checkpointEvery)
                }
            }
            cursor = upTo
        }
    }

    /// Folds the events in `(from, to]` into `tables`, a chunk at a time so memory stays flat.
    static func refold(
        _ projection: any StoredProjection, from: Int64, to: Int64, in db: Database, into tables: ProjectionTables,
        checkpointEvery: Int64, chunk: Int64 = 10_000
    ) throws {
        var cursor = from
        while cursor < to {
            let upTo = min(cursor + chunk, to)
            let events = try EventRows.fetch(db, after: cursor, upTo: upTo, payloads: projection.readsPayload)
            if !events.isEmpty {
                try projection.fold(events, in: db, into: tables, checkpointEvery: checkpointEvery)
            }
            cursor = upTo
        }
    }

    /// Checkpoints the write-ahead log into the database file and closes every connection.
    /// Further use of the store throws.
    public func close() throws {
        // Moves the WAL into the file, when nobody else has the database open: with another
        // process reading or writing it (a second server, a worker), SQLite answers "database is
        // locked", and the WAL simply stays for the last one out. Nothing is lost either way.
        if !isReadOnly { _ = try? pool.writeWithoutTransaction { try $0.checkpoint(.truncate) } }
        try pool.close()
    }

    // MARK: Checks

    /// SQLite's full `PRAGMA integrity_check`: an empty list means the file is sound.
    public func integrityProblems() async throws -> [String] {
        try await pool.read { try String.fetchAll($0, sql: "PRAGMA integrity_check").filter { $0 != "ok" } }
    }
}

#if canImport(Darwin)
private let closeDescriptor = Darwin.close
#else
private let closeDescriptor = Glibc.close
#endif

extension EventStore {
    /// The version of the SQLite library this binary uses.
    public static var sqliteVersion: String {
        String(cString: sqlite3_libversion())
    }
}
