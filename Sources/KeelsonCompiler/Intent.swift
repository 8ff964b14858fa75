/// The intent model: what the config files declare, after parsing and validation.
/// Field names are documented in docs/config.md.
public struct Intent: Sendable, Hashable {
    public var runtimes: [RuntimeIntent] = []
    public var applications: [ApplicationIntent] = []
    public var services: [ServiceIntent] = []

    public init() {}
}

/// Where service instances run.
public struct RuntimeIntent: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        case local, custom, kubernetes, ecs, simulated
    }

    public var name: String
    public var type: Kind
    /// Labels channels select on: region, machine type, …
    public var labels: [String: String]
    /// Type-specific settings, kept as strings until the runtime issues give them a schema.
    public var settings: [String: String]
}

/// A group of services released together under the same rules.
public struct ApplicationIntent: Sendable, Hashable {
    public var name: String
    /// Release channels in declaration order, with selector groups expanded (one per runtime).
    public var channels: [ReleaseChannelIntent]
    /// At most this many instances of the application converging at once (nil: no limit).
    public var maxConverging: Int?
}

/// A stage of an application: its runtime and the rules that gate promotion into it.
public struct ReleaseChannelIntent: Sendable, Hashable {
    public var name: String
    public var runtime: String
    /// Channels that must be stable on the same release before this one starts.
    public var after: [String]
    public var constants: [String: String]
    public var env: [String: String]
    public var rules: Rules
}

/// The rules that gate a release channel.
public struct Rules: Sendable, Hashable {
    /// How long upstream channels must have been converged on the release, in seconds.
    public var soakSeconds: Int = 0
    /// How many distinct approvals the release needs here (0: none).
    public var approvals: Int = 0
    /// When changes may start; empty means any time.
    public var windows: [TimeWindow] = []
    /// When no change may start.
    public var freezes: [FreezeWindow] = []
    /// A firing alert matching any gate holds promotion (and, during the watch, rolls back).
    public var alertGates: [[String: String]] = []
    /// At most this many instances converging at once in this channel (nil: no limit).
    public var maxConverging: Int?
    /// After converging, how long health loss or a gating alert still rolls a release back, in seconds.
    public var watchSeconds: Int = 300

    public init() {}
}

/// Recurring allowed hours: days of the week and a local time range in an IANA time zone.
public struct TimeWindow: Sendable, Hashable {
    /// Days of the week, `mon` … `sun`, in week order.
    public var days: [String]
    /// Minutes after local midnight: start inclusive, end exclusive.
    public var startMinute: Int
    public var endMinute: Int
    public var timeZone: String
}

/// A one-off period in which no change may start.
public struct FreezeWindow: Sendable, Hashable {
    /// Seconds since 1970-01-01T00:00:00Z.
    public var from: Int64
    public var until: Int64
    public var reason: String?
}
