/// How releases of an application move through its release channels: channel order and the rules
/// that gate each, compiled from config (`keelson apply` records it as `PolicyCompiled`). Pure data,
/// so that `decide` reads rules from the log, never from config files.
public struct ApplicationPolicy: Codable, Sendable, Hashable {
    public var application: String
    /// At most this many instances of the application converging at once (nil: no limit).
    public var maxConverging: Int?
    /// In declaration order.
    public var channels: [ChannelPolicy]

    public init(application: String, maxConverging: Int?, channels: [ChannelPolicy]) {
        self.application = application
        self.maxConverging = maxConverging
        self.channels = channels
    }

    public func channel(_ name: String) -> ChannelPolicy? { channels.first { $0.name == name } }
}

public struct ChannelPolicy: Codable, Sendable, Hashable {
    public var name: String
    /// Channels that must be converged on the same release, for `soakSeconds`, before this one starts.
    public var after: [String]
    public var soakSeconds: Int
    /// Distinct approvals a release needs here (0: none).
    public var approvals: Int
    /// Allowed times; empty means any time.
    public var windows: [WindowPolicy]
    public var freezes: [FreezePolicy]
    /// A firing alert carrying all labels of one gate holds promotion and, during the watch, rolls back.
    public var alertGates: [[String: String]]
    public var maxConverging: Int?
    /// After converging, how long health loss or a gating alert still rolls the release back.
    public var watchSeconds: Int

    public init(
        name: String, after: [String] = [], soakSeconds: Int = 0, approvals: Int = 0, windows: [WindowPolicy] = [],
        freezes: [FreezePolicy] = [], alertGates: [[String: String]] = [], maxConverging: Int? = nil, watchSeconds: Int = 300
    ) {
        self.name = name
        self.after = after
        self.soakSeconds = soakSeconds
        self.approvals = approvals
        self.windows = windows
        self.freezes = freezes
        self.alertGates = alertGates
        self.maxConverging = maxConverging
        self.watchSeconds = watchSeconds
    }
}

/// Recurring allowed hours: days of the week (`mon`…`sun`) and minutes after local midnight
/// (start inclusive, end exclusive) in an IANA time zone.
public struct WindowPolicy: Codable, Sendable, Hashable {
    public var days: [String]
    public var startMinute: Int
    public var endMinute: Int
    public var timeZone: String

    public init(days: [String], startMinute: Int, endMinute: Int, timeZone: String) {
        self.days = days
        self.startMinute = startMinute
        self.endMinute = endMinute
        self.timeZone = timeZone
    }
}

/// A one-off period in which no change may start (seconds since 1970, UTC).
public struct FreezePolicy: Codable, Sendable, Hashable {
    public var from: Int64
    public var until: Int64
    public var reason: String?

    public init(from: Int64, until: Int64, reason: String? = nil) {
        self.from = from
        self.until = until
        self.reason = reason
    }
}

/// An application's policy as compiled from the applied config (stream `app:<name>`); recorded
/// when it changes.
public struct PolicyCompiled: EventPayload, Hashable {
    public static let eventType = "PolicyCompiled"
    public var policy: ApplicationPolicy
    public var configDigest: String

    public init(policy: ApplicationPolicy, configDigest: String) {
        self.policy = policy
        self.configDigest = configDigest
    }
}
