import Foundation
import GRDB

/// What ``EventStore/backup(to:)`` made.
public struct BackupReport: Sendable, Codable {
    public var source: String
    public var destination: String
    /// The last log position the copy holds.
    public var lastPosition: Int64
    public var bytes: Int64
}

extension EventStore {
    /// Copies the database into a new file at `destination` through SQLite's online backup API:
    /// one read transaction, so the copy is the log as it stood at one instant, consistent even
    /// while a server appends (appends are not blocked). The copy is a single file (no `-wal`),
    /// created mode 0600, and is checked (`quick_check`) before this returns. Refuses a
    /// destination that exists; a failed copy is removed.
    public func backup(to destination: String) async throws -> BackupReport {
        guard !destination.isEmpty else { throw StoreError.cannotOpen(path: destination, reason: "the path is empty") }
        for file in [destination, destination + "-wal", destination + "-shm"] {
            var info = stat()
            if lstat(file, &info) == 0 {
                throw StoreError.cannotOpen(path: destination, reason: "\(file) already exists; a backup is written to a new file")
            }
        }
        let source = path
        let pool = pool
        return try await Task.detached {
            do {
                try Self.createEmptyFile(destination, exclusive: true)
                var configuration = Configuration()
                configuration.label = "keelson.backup"
                let copy = try DatabaseQueue(path: destination, configuration: configuration)
                try pool.backup(to: copy)
                // One file: fold the copy's own write-ahead log into it, then close it.
                let last = try copy.writeWithoutTransaction { db -> Int64 in
                    try db.execute(sql: "PRAGMA journal_mode = DELETE")
                    let problems = try String.fetchAll(db, sql: "PRAGMA quick_check").filter { $0 != "ok" }
                    if !problems.isEmpty {
                        throw StoreError.corrupt(path: destination, details: problems.prefix(5).joined(separator: "; "))
                    }
                    return try EventRows.lastPosition(db)
                }
                try copy.close()
                var info = stat()
                let bytes = stat(destination, &info) == 0 ? Int64(info.st_size) : 0
                return BackupReport(source: source, destination: destination, lastPosition: last, bytes: bytes)
            } catch {
                for file in [destination, destination + "-wal", destination + "-shm", destination + "-journal"] {
                    try? FileManager.default.removeItem(atPath: file)
                }
                if let error = error as? DatabaseError { throw Self.mapOpenError(error, path: destination) }
                throw error
            }
        }.value
    }
}
