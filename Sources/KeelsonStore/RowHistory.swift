import GRDB
import KeelsonCore

/// How a keyed projection keeps its past: an append-only history of its rows beside the live
/// table, so that a point-in-time read is an indexed lookup, and storage grows with what changes,
/// not with the number of rows times the length of the log.
///
/// A *version* is a row as it became valid at a position (`valid_from`); a *tombstone* version
/// (`removed` = 1) says the row went. The history table is `<rows>_history`, keyed by
/// `(key, valid_from)`.
public struct RowHistory<Value: Sendable>: Sendable {
    public enum Granularity: Sendable, Hashable {
        /// Every change of what a version keeps appends a version at the position of the event
        /// that made it: a read at any position is exact and needs no fold.
        case everyChange
        /// For rows that change with nearly every event (the stream catalogue): at positions that
        /// are multiples of `checkpointEvery`, once there have been at least `eventsPerVersion`
        /// events for each row changed since the previous checkpoint (those whose `lastChange`
        /// column is past it), those rows append a version and the position is kept in
        /// `<rows>_checkpoints`. So the history costs at most one row per `eventsPerVersion`
        /// events, and a read, which folds forward from the checkpoint at or before it, folds at
        /// most `checkpointEvery` + `eventsPerVersion` × (rows changed) events. Rows of such a
        /// projection are never removed.
        case checkpoints(lastChange: String, eventsPerVersion: Int)
    }

    public var granularity: Granularity
    /// The columns a version keeps, after the key. By default the row's own; a projection may
    /// keep less when the rest is in the log (a large document is read back from the event that
    /// holds it) or moves with every event without saying anything new (when a row was last seen).
    public var columns: [String]
    /// A version of `value`: the values of `columns`. Versions are compared as these values:
    /// a change in anything else appends no version.
    public var encode: @Sendable (Value) -> [DatabaseValue]
    /// The row a stored version stands for (`row` holds the key, then `columns`); may read the log.
    public var decode: @Sendable (GRDB.Row, Database) throws -> Value

    public init(
        granularity: Granularity = .everyChange, columns: [String],
        encode: @escaping @Sendable (Value) -> [DatabaseValue],
        decode: @escaping @Sendable (GRDB.Row, Database) throws -> Value
    ) {
        self.granularity = granularity
        self.columns = columns
        self.encode = encode
        self.decode = decode
    }
}

extension RowHistory {
    /// A history that keeps whole rows, as the live table stores them.
    public static func wholeRows<Key>(_ mapping: RowMapping<Key, Value>, granularity: Granularity = .everyChange) -> RowHistory {
        RowHistory(
            granularity: granularity, columns: Array(mapping.columns.dropFirst()),
            encode: { Array(mapping.encode($0).dropFirst()) },
            decode: { row, _ in try mapping.decode(row).1 })
    }
}
