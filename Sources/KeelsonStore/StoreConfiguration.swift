import Foundation

/// How hard a commit tries to survive a power loss.
///
/// - `full` (default): every commit waits until the write-ahead log is on disk (`fsync`). A
///   decision or apply result the store has answered for survives a crash of the process *and* of
///   the machine. Costs one fsync per commit; group commit shares it among concurrent appenders.
/// - `normal`: commits are durable against a crash of the process, but the last commits before a
///   power loss or kernel crash may be lost (the database stays consistent). Several times faster
///   for one-event-per-transaction appends.
public enum Durability: String, Sendable, CaseIterable, Codable {
    case full = "FULL"
    case normal = "NORMAL"
}

/// Settings of an ``EventStore``.
public struct StoreConfiguration: Sendable {
    /// See ``Durability``.
    public var durability: Durability = .full
    /// A projection whose rows change with nearly every event (the stream catalogue) keeps the
    /// versions of its changed rows at checkpoints, considered every this many events (at
    /// positions that are multiples of it) and taken when the changed rows are few enough next to
    /// the events since the last one (see ``RowHistory/Granularity``). Every other projection
    /// keeps a version of each change.
    public var checkpointEvery: Int64 = 10_000
    /// Run `PRAGMA quick_check` when opening, and refuse a corrupt file.
    public var checkIntegrityOnOpen: Bool = true
    /// Open without creating or writing anything (a copy on a read-only mount, a backup, a file
    /// of another user): reads work, appends and rebuilds throw ``StoreError/readOnly(path:reason:)``,
    /// and no migration is applied (the file must have this binary's schema).
    public var readOnly: Bool = false
    /// Batch concurrent appends into shared transactions (one fsync for many appenders).
    /// Turned off only to measure what it saves.
    public var groupCommit: Bool = true
    /// Upper bound on the events one group commit writes.
    public var maxEventsPerCommit: Int = 20_000
    /// How often an idle subscription looks for events appended by *other* processes. Appends by
    /// this process wake subscriptions at once.
    public var externalAppendPollInterval: Duration = .milliseconds(500)
    /// Told what a long step of opening does, before it starts (a projection folding the whole log
    /// after an upgrade, say): the CLI prints it.
    public var progress: (@Sendable (String) -> Void)?
    /// The clock that stamps `recorded_at`. Injected so that tests control time.
    public var clock: @Sendable () -> Date = { Date() }

    public init() {}

    public init(durability: Durability) {
        self.durability = durability
    }
}
