/// The name of an event stream, e.g. `app:shop`, `service:shop/web`, `instance:shop/web@prod`.
public struct StreamID: RawRepresentable, Hashable, Comparable, Codable, Sendable, CustomStringConvertible,
    ExpressibleByStringLiteral
{
    public let rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }

    public var description: String { rawValue }

    public static func < (lhs: StreamID, rhs: StreamID) -> Bool { lhs.rawValue < rhs.rawValue }

    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// Keelson's streams, by what they are about: made and read here, never by string prefixes
/// spelled out elsewhere.
extension StreamID {
    /// What a stream is about.
    public enum Kind: Sendable, Hashable {
        /// `instance:APP/SERVICE@CHANNEL`: its desired states, applies, fetches, decisions, approvals.
        case instance(ServiceInstanceID)
        /// `service:APP/SERVICE`: its releases, and the versions marked bad.
        case service(application: String, service: String)
        /// `app:APP`: its release policy.
        case application(String)
        /// `worker:NAME`: a worker's starts.
        case worker(String)
        /// `config`, `alerts`, `pauses`, and any other stream.
        case other(String)
    }

    public static func instance(_ id: ServiceInstanceID) -> StreamID { StreamID("instance:\(id)") }
    public static func service(_ application: String, _ service: String) -> StreamID { StreamID("service:\(application)/\(service)") }
    public static func application(_ name: String) -> StreamID { StreamID("app:\(name)") }
    public static func worker(_ name: String) -> StreamID { StreamID("worker:\(name)") }
    public static let config: StreamID = "config"
    public static let alerts: StreamID = "alerts"
    public static let pauses: StreamID = "pauses"

    /// What the stream is about (`.other` for a name that is not one of Keelson's shapes).
    public var kind: Kind {
        let raw = rawValue
        if raw.hasPrefix("instance:") {
            if let id = ServiceInstanceID(String(raw.dropFirst(9))) { return .instance(id) }
        } else if raw.hasPrefix("service:") {
            let names = raw.dropFirst(8).split(separator: "/", omittingEmptySubsequences: false)
            if names.count == 2, !names[0].isEmpty, !names[1].isEmpty { return .service(application: String(names[0]), service: String(names[1])) }
        } else if raw.hasPrefix("app:"), raw.count > 4 {
            return .application(String(raw.dropFirst(4)))
        } else if raw.hasPrefix("worker:"), raw.count > 7 {
            return .worker(String(raw.dropFirst(7)))
        }
        return .other(raw)
    }
}
