import Foundation
import GRDB

/// An API token as the store keeps it: never the token itself, only its hash.
public struct TokenRecord: Sendable, Hashable, Codable {
    public var name: String
    public var role: String
    public var hint: String
    public var createdAtMilliseconds: Int64
    public var createdBy: String
    public var lastUsedAtMilliseconds: Int64?
    public var revokedAtMilliseconds: Int64?

    public var isActive: Bool { revokedAtMilliseconds == nil }

    init(row: Row) {
        name = row["name"]
        role = row["role"]
        hint = row["hint"]
        createdAtMilliseconds = row["created_at"]
        createdBy = row["created_by"]
        lastUsedAtMilliseconds = row["last_used_at"]
        revokedAtMilliseconds = row["revoked_at"]
    }
}

public enum TokenStoreError: Error, CustomStringConvertible, Sendable {
    case nameTaken(String)
    case unknown(String)

    public var description: String {
        switch self {
        case .nameTaken(let name): "a token named '\(name)' already exists (names are never reused; pick another)"
        case .unknown(let name): "no active token named '\(name)' (`keelson token list` shows them)"
        }
    }
}

extension EventStore {
    /// Stores a new token's hash under `name`. Fails when the name was ever used.
    public func insertToken(
        name: String, role: String, hash: String, hint: String, createdBy: String, nowMilliseconds: Int64
    ) async throws {
        try await pool.write { db in
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM tokens WHERE name = ?", arguments: [name]) == true {
                throw TokenStoreError.nameTaken(name)
            }
            try db.execute(
                sql: "INSERT INTO tokens (name, role, hash, hint, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [name, role, hash, hint, nowMilliseconds, createdBy])
        }
    }

    /// The active token with this hash, if any; notes when it was last used (at most once a minute,
    /// so that reads stay reads).
    public func token(hash: String, nowMilliseconds: Int64) async throws -> TokenRecord? {
        let found = try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM tokens WHERE hash = ? AND revoked_at IS NULL", arguments: [hash])
                .map(TokenRecord.init(row:))
        }
        if let found, (found.lastUsedAtMilliseconds ?? 0) < nowMilliseconds - 60_000 {
            try await pool.write { db in
                try db.execute(sql: "UPDATE tokens SET last_used_at = ? WHERE name = ?", arguments: [nowMilliseconds, found.name])
            }
        }
        return found
    }

    /// Every token, revoked ones included, by name.
    public func tokens() async throws -> [TokenRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM tokens ORDER BY name").map(TokenRecord.init(row:))
        }
    }

    /// Revokes the active token `name`; it stops working at once.
    public func revokeToken(name: String, nowMilliseconds: Int64) async throws {
        try await pool.write { db in
            try db.execute(
                sql: "UPDATE tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL", arguments: [nowMilliseconds, name])
            if db.changesCount == 0 { throw TokenStoreError.unknown(name) }
        }
    }
}
