import Foundation
import GRDB

/// What asking for a lease gave.
public enum LeaseOutcome: Sendable, Hashable {
    /// The caller held it and now holds it longer.
    case renewed
    /// The caller holds it now; `previousOwner` held it before and let it expire (nil: nobody).
    case acquired(previousOwner: String?)
    /// Someone else holds it until then.
    case heldBy(owner: String, untilMilliseconds: Int64)

    public var isHeld: Bool {
        if case .heldBy = self { return false }
        return true
    }
}

extension EventStore {
    /// Takes or renews leases on `keys` for `owner` until `expiresAt`, in one transaction: a lease
    /// is granted when nobody holds it, when `owner` does, or when its holder let it expire.
    /// Times are the caller's clock, in milliseconds since 1970.
    public func acquireLeases(
        _ keys: [String], owner: String, nowMilliseconds now: Int64, expiresAtMilliseconds expiresAt: Int64
    ) async throws -> [String: LeaseOutcome] {
        try await pool.write { db in
            var outcomes: [String: LeaseOutcome] = [:]
            // Prepared once for all the keys (thousands when a big fleet's leases are renewed).
            let select = try db.cachedStatement(sql: "SELECT owner, expires_at FROM leases WHERE key = ?")
            let update = try db.cachedStatement(
                sql: "UPDATE leases SET owner = ?, expires_at = ?, acquired_at = CASE WHEN owner = ? THEN acquired_at ELSE ? END WHERE key = ?")
            let insert = try db.cachedStatement(sql: "INSERT INTO leases (key, owner, expires_at, acquired_at) VALUES (?, ?, ?, ?)")
            for key in keys {
                if let row = try Row.fetchOne(select, arguments: [key]) {
                    let holder: String = row[0]
                    let until: Int64 = row[1]
                    if holder != owner && until > now {
                        outcomes[key] = .heldBy(owner: holder, untilMilliseconds: until)
                        continue
                    }
                    try update.execute(arguments: [owner, expiresAt, owner, now, key])
                    outcomes[key] = holder == owner ? .renewed : .acquired(previousOwner: holder)
                } else {
                    try insert.execute(arguments: [key, owner, expiresAt, now])
                    outcomes[key] = .acquired(previousOwner: nil)
                }
            }
            return outcomes
        }
    }

    /// Extends the leases of `keys` that `owner` still holds until `expiresAt` (a few statements
    /// for thousands of keys, not a read and a write each) and returns their keys: one another
    /// owner took meanwhile is not among them, and no lease but those named is touched.
    public func renewLeases(_ keys: [String], owner: String, expiresAtMilliseconds expiresAt: Int64) async throws -> Set<String> {
        try await pool.write { db in
            var renewed = Set<String>()
            for start in stride(from: 0, to: keys.count, by: 500) {
                let chunk = keys[start..<min(start + 500, keys.count)]
                let sql = "UPDATE leases SET expires_at = ? WHERE owner = ? AND key IN (\(databaseQuestionMarks(count: chunk.count))) RETURNING key"
                let arguments: [(any DatabaseValueConvertible)?] = [expiresAt, owner] + chunk.map { $0 }
                renewed.formUnion(try String.fetchAll(db.cachedStatement(sql: sql), arguments: StatementArguments(arguments)))
            }
            return renewed
        }
    }

    /// Takes or renews one lease, `key`, for `owner` until `expiresAt`, in one transaction: granted
    /// when nobody holds it or `owner` does; held by someone else, it is granted only when
    /// `mayTakeOver(holder, expired)` says so (a worker's name: its holder is known to be gone, or
    /// it let the lease expire and cannot be checked). Times are the caller's clock, in ms.
    public func claimLease(
        _ key: String, owner: String, nowMilliseconds now: Int64, expiresAtMilliseconds expiresAt: Int64,
        mayTakeOver: @escaping @Sendable (_ holder: String, _ expired: Bool) -> Bool
    ) async throws -> LeaseOutcome {
        try await pool.write { db in
            if let row = try Row.fetchOne(db, sql: "SELECT owner, expires_at FROM leases WHERE key = ?", arguments: [key]) {
                let holder: String = row["owner"]
                let until: Int64 = row["expires_at"]
                if holder != owner && !mayTakeOver(holder, until <= now) {
                    return .heldBy(owner: holder, untilMilliseconds: until)
                }
                try db.execute(
                    sql: "UPDATE leases SET owner = ?, expires_at = ?, acquired_at = CASE WHEN owner = ? THEN acquired_at ELSE ? END WHERE key = ?",
                    arguments: [owner, expiresAt, owner, now, key])
                return holder == owner ? .renewed : .acquired(previousOwner: holder)
            }
            try db.execute(
                sql: "INSERT INTO leases (key, owner, expires_at, acquired_at) VALUES (?, ?, ?, ?)", arguments: [key, owner, expiresAt, now])
            return .acquired(previousOwner: nil)
        }
    }

    /// Gives up one lease if `owner` still holds it.
    public func releaseLease(_ key: String, owner: String) async throws {
        try await pool.write { db in try db.execute(sql: "DELETE FROM leases WHERE key = ? AND owner = ?", arguments: [key, owner]) }
    }

    /// Gives up every lease `owner` holds (a worker stopping cleanly), so others need not wait.
    public func releaseLeases(owner: String) async throws {
        try await pool.write { db in try db.execute(sql: "DELETE FROM leases WHERE owner = ?", arguments: [owner]) }
    }

    /// Every lease: key, owner and expiry (for status and tests).
    public func leases() async throws -> [(key: String, owner: String, expiresAtMilliseconds: Int64)] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT key, owner, expires_at FROM leases ORDER BY key").map {
                (key: $0["key"], owner: $0["owner"], expiresAtMilliseconds: $0["expires_at"])
            }
        }
    }
}
