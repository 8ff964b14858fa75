import KeelsonCore

/// What can go wrong in the event store, phrased for the person who has to act on it.
public enum StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file exists but is not an SQLite database.
    case notADatabase(path: String)
    /// The file is an SQLite database but fails its integrity check.
    case corrupt(path: String, details: String)
    /// The database was written by a newer Keelson whose migrations this binary does not know.
    case schemaTooNew(path: String, unknownMigrations: [String])
    /// The database could not be opened or created.
    case cannotOpen(path: String, reason: String)
    /// Something was to be written to a database that cannot be written (opened read-only, or
    /// its file or folder is not writable).
    case readOnly(path: String, reason: String)
    /// An append expected another stream version than the one found.
    case versionConflict(stream: StreamID, expected: ExpectedVersion, actual: Int64)
    /// An event in an append is malformed; nothing of that append was written.
    case invalidEvent(stream: StreamID, index: Int, reason: String)
    /// An append named no events.
    case emptyAppend
    /// A projection name that the store does not know.
    case unknownProjection(String)
    /// An archive could not be made, restored or read.
    case archive(String)
    /// The log continues in an archive file that is not where it was archived to.
    case archiveMissing(path: String, first: Int64, last: Int64)
    /// A stored row of a projection that does not read back (its table, and what is wrong).
    case unreadableRow(table: String, reason: String)

    public var description: String {
        switch self {
        case .notADatabase(let path):
            "\(path) is not a Keelson database (not an SQLite file)"
        case .corrupt(let path, let details):
            "\(path) is corrupt: \(details)"
        case .schemaTooNew(let path, let unknown):
            "\(path) was written by a newer Keelson (unknown schema migrations: \(unknown.joined(separator: ", "))); "
                + "upgrade keelson to open it"
        case .cannotOpen(let path, let reason):
            "cannot open \(path): \(reason)"
        case .readOnly(let path, let reason):
            "\(path) cannot be written: \(reason). Commands that record events need to write the file and its folder; "
                + "commands that only read open it read-only (--read-only)"
        case .versionConflict(let stream, let expected, let actual):
            "version conflict on stream \(stream): expected \(expected), found "
                + (actual == 0 ? "no stream" : "version \(actual)")
        case .invalidEvent(let stream, let index, let reason):
            "event #\(index + 1) for stream \(stream) is invalid: \(reason); nothing was appended"
        case .emptyAppend:
            "nothing to append: an append needs at least one event"
        case .unknownProjection(let name):
            "unknown projection '\(name)'"
        case .archive(let reason):
            "archive: \(reason)"
        case .archiveMissing(let path, let first, let last):
            "the log's events at positions \(first)–\(last) are archived in \(path), which is missing: put the archive file back there "
                + "(`keelson db check` verifies it)"
        case .unreadableRow(let table, let reason):
            "a row of \(table) does not read back: \(reason); `keelson db check` tells more, `keelson db rebuild` repairs projections"
        }
    }
}
