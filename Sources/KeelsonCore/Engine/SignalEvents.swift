/// Signals from people and monitoring that rules read. The actor is in the event's envelope.

/// Someone approved a release for one instance (stream `instance:<id>`).
public struct ApprovalGranted: EventPayload, Hashable {
    public static let eventType = "ApprovalGranted"
    public var instance: ServiceInstanceID
    public var version: String
    public var comment: String?

    public init(instance: ServiceInstanceID, version: String, comment: String? = nil) {
        self.instance = instance
        self.version = version
        self.comment = comment
    }
}

/// Someone rejected a release for one instance: it will not go there (stream `instance:<id>`).
public struct ApprovalRejected: EventPayload, Hashable {
    public static let eventType = "ApprovalRejected"
    public var instance: ServiceInstanceID
    public var version: String
    public var reason: String?

    public init(instance: ServiceInstanceID, version: String, reason: String? = nil) {
        self.instance = instance
        self.version = version
        self.reason = reason
    }
}

/// An alert started firing (stream `alerts`). Identified by its name and labels.
public struct AlertFired: EventPayload, Hashable {
    public static let eventType = "AlertFired"
    public var name: String
    public var labels: [String: String]
    /// When Alertmanager says the alert started (RFC 3339), and its fingerprint: a repeated
    /// notification of the same firing carries the same `startsAt`, and appends nothing.
    public var startsAt: String?
    public var fingerprint: String?

    public init(name: String, labels: [String: String], startsAt: String? = nil, fingerprint: String? = nil) {
        self.name = name
        self.labels = labels
        self.startsAt = startsAt
        self.fingerprint = fingerprint
    }

    /// The alert's identity (see ``key(name:labels:)``).
    public var key: String { AlertFired.key(name: name, labels: labels) }

    /// The alert's identity: canonical JSON of its name and sorted labels. Unambiguous whatever
    /// the labels hold (a value with `"` or `,` cannot pass for other labels), so resolving one
    /// alert never clears another.
    public static func key(name: String, labels: [String: String]) -> String {
        struct Identity: Encodable {
            var name: String
            var labels: [String: String]
        }
        // Encoding strings and a dictionary of strings cannot fail.
        return (try? CanonicalJSON.string(Identity(name: name, labels: labels))) ?? name
    }

    /// `name{k="v",…}` with labels sorted and names and values escaped (`\"`, `\\`, `\n`), for
    /// people: messages and decision reasons. Not an identity — see ``key(name:labels:)``.
    public static func rendering(name: String, labels: [String: String]) -> String {
        func escaped(_ text: String) -> String { BoundedInput.printable(text, limit: 1024) }
        return escaped(name) + "{" + labels.keys.sorted().map { "\(escaped($0))=\"\(escaped(labels[$0]!))\"" }.joined(separator: ",") + "}"
    }
}

/// An alert stopped firing (stream `alerts`).
public struct AlertResolved: EventPayload, Hashable {
    public static let eventType = "AlertResolved"
    public var name: String
    public var labels: [String: String]

    public init(name: String, labels: [String: String]) {
        self.name = name
        self.labels = labels
    }

    /// The identity of the alert this resolves.
    public var key: String { AlertFired.key(name: name, labels: labels) }
}

/// Promotion paused for a scope: `app`, `app/service` or `app/service@channel` (stream `pauses`).
public struct Paused: EventPayload, Hashable {
    public static let eventType = "Paused"
    public var scope: String
    public var reason: String?

    public init(scope: String, reason: String? = nil) {
        self.scope = scope
        self.reason = reason
    }
}

/// Promotion resumed for a scope (stream `pauses`).
public struct Resumed: EventPayload, Hashable {
    public static let eventType = "Resumed"
    public var scope: String

    public init(scope: String) {
        self.scope = scope
    }
}

/// A release of a service is bad: it is not tried again anywhere until a newer release (stream
/// `service:<app>/<service>`).
public struct ReleaseMarkedBad: EventPayload, Hashable {
    public static let eventType = "ReleaseMarkedBad"
    public var service: String
    public var version: String
    public var reason: String

    public init(service: String, version: String, reason: String) {
        self.service = service
        self.version = version
        self.reason = reason
    }
}

/// Someone asked to roll an instance back to its last good release (stream `instance:<id>`).
public struct RollbackRequested: EventPayload, Hashable {
    public static let eventType = "RollbackRequested"
    public var instance: ServiceInstanceID
    public var reason: String?

    public init(instance: ServiceInstanceID, reason: String? = nil) {
        self.instance = instance
        self.reason = reason
    }
}
