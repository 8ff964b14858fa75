import Foundation
import GRDB
import KeelsonCore

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

public enum TokenStoreError: Error, CustomStringConvertible, Sendable, Equatable {
    case nameTaken(String)
    case unknown(String)
    case lastAdmin(String)

    public var description: String {
        switch self {
        case .nameTaken(let name): "a token named '\(name)' already exists (names are never reused; pick another)"
        case .unknown(let name): "no active token named '\(name)' (`keelson token list` shows them)"
        case .lastAdmin(let name):
            "'\(name)' is the last active admin token; revoking it would lock everyone out of tokens and config. "
                + "Create another admin token first (`keelson token create --role admin --name NAME`)."
        }
    }
}

/// The stream that records token changes (``TokenCreated``, ``TokenRevoked``).
public let tokensStream: StreamID = "tokens"

extension EventStore {
    /// Stores a new token's hash under `name` and appends ``TokenCreated`` (by `createdBy`), in one
    /// transaction. Fails when the name was ever used. Returns the event's position.
    @discardableResult
    public func insertToken(
        name: String, role: String, hash: String, hint: String, createdBy: String, nowMilliseconds: Int64
    ) async throws -> Int64 {
        try await commitTokenChange(NewEvent(TokenCreated(name: name, role: role), actor: createdBy)) { db in
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

    /// Revokes the active token `name` (it stops working at once) and appends ``TokenRevoked`` (by
    /// `actor`), in one transaction. Refuses to revoke the last active admin token. Returns the
    /// event's position.
    @discardableResult
    public func revokeToken(name: String, actor: String, nowMilliseconds: Int64) async throws -> Int64 {
        let role = try await pool.read { db in
            try String.fetchOne(db, sql: "SELECT role FROM tokens WHERE name = ? AND revoked_at IS NULL", arguments: [name])
        }
        guard let role else { throw TokenStoreError.unknown(name) }
        return try await commitTokenChange(NewEvent(TokenRevoked(name: name, role: role), actor: actor)) { db in
            // Checked again inside the transaction: two revokes at once cannot both pass.
            guard try String.fetchOne(db, sql: "SELECT role FROM tokens WHERE name = ? AND revoked_at IS NULL", arguments: [name]) == role else {
                throw TokenStoreError.unknown(name)
            }
            if role == "admin" {
                let admins = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM tokens WHERE role = 'admin' AND revoked_at IS NULL") ?? 0
                if admins <= 1 { throw TokenStoreError.lastAdmin(name) }
            }
            try db.execute(sql: "UPDATE tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL", arguments: [nowMilliseconds, name])
        }
    }

    /// Applies `change` to the tokens table and appends `event` to the `tokens` stream in one
    /// write transaction, folding the event into every projection as any append does — so the
    /// table and the audit trail never disagree, whatever fails or crashes. (Token changes are
    /// rare; they take the writer directly rather than the group committer, whose writes they
    /// serialize with.)
    private func commitTokenChange(_ event: NewEvent, _ change: @escaping @Sendable (Database) throws -> Void) async throws -> Int64 {
        let (projections, configuration) = (projections, configuration)
        let recorded = try await pool.write { db -> RecordedEvent in
            try change(db)
            return try Self.record(
                event, to: tokensStream, at: configuration.clock().millisecondsSince1970, in: db, projections: projections,
                configuration: configuration)
        }
        notifier.publish([recorded])
        return recorded.position
    }
}
