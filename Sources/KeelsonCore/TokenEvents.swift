/// API tokens in the audit trail (stream `tokens`). The tokens themselves — their hashes — live in
/// the `tokens` table, never in an event: these record only who made or revoked which token, with
/// which role. The actor is in the event's envelope.

/// An API token was created.
public struct TokenCreated: EventPayload, Hashable {
    public static let eventType = "TokenCreated"
    public var name: String
    public var role: String

    public init(name: String, role: String) {
        self.name = name
        self.role = role
    }
}

/// An API token was revoked: it stopped working at once.
public struct TokenRevoked: EventPayload, Hashable {
    public static let eventType = "TokenRevoked"
    public var name: String
    public var role: String

    public init(name: String, role: String) {
        self.name = name
        self.role = role
    }
}
