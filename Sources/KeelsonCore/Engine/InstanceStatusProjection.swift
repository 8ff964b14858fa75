/// One service instance as `keelson status` shows it: desired, target and current release, the
/// last decision's status and reason, since when.
public struct InstanceStatusRow: Sendable, Hashable, Codable {
    public var instance: String
    public var desiredVersion: String?
    /// The release last requested (applied, or being applied).
    public var targetVersion: String?
    public var targetIsRollback: Bool
    /// Versions the last fetch saw, comma-separated, sorted.
    public var currentVersions: String
    public var status: String
    /// The release the last decision is about.
    public var decisionVersion: String?
    public var waitingFor: String?
    /// The reason in words, as of the decision (`decidedAtMilliseconds`).
    public var reason: String
    /// The reason as a value when its words change with time (a countdown: `Reason.changesWithTime`),
    /// to say it again as of a later moment; nil otherwise (and for reasons that are only words).
    public var why: Reason?
    /// The `now` of the decision `why` belongs to; 0 without `why`.
    public var decidedAtMilliseconds: Int64 = 0
    /// When the status last changed (the deciding `now`), ms since 1970; 0 before any decision.
    public var sinceMilliseconds: Int64
    /// The position of the last `DecisionMade`.
    public var decisionPosition: Int64
    public var lastGoodVersion: String?

    public init(instance: String) {
        self.instance = instance
        self.targetIsRollback = false
        self.currentVersions = ""
        self.status = InstanceStatus.idle.rawValue
        self.reason = "no release yet"
        self.sinceMilliseconds = 0
        self.decisionPosition = 0
    }
}

/// Per service instance: its status as the engine last decided it, with the releases around it.
/// A table, so that status reads cost the same whatever the length of the log.
public struct InstanceStatusProjection: KeyedProjection {
    public static let name = "instance_status"

    public init() {}

    /// The status of an instance removed from the config (`InstanceRemoved`).
    public static let removed = "removed"

    static let types: Set<String> = [
        DesiredStateCompiled.eventType, ApplyRequested.eventType, StateFetched.eventType, DecisionMade.eventType,
        InstanceRemoved.eventType,
        DecisionFailed.eventType,
    ]

    public func keys(of event: RecordedEvent) -> [String] {
        guard Self.types.contains(event.type), event.streamID.rawValue.hasPrefix("instance:") else { return [] }
        return [String(event.streamID.rawValue.dropFirst("instance:".count))]
    }

    public func evolve(_ row: inout InstanceStatusRow?, key: String, event: RecordedEvent) {
        var status = row ?? InstanceStatusRow(instance: key)
        switch event.type {
        case DesiredStateCompiled.eventType:
            guard let compiled = try? event.decode(DesiredStateCompiled.self) else { return }
            status.desiredVersion = compiled.version
        case ApplyRequested.eventType:
            guard let requested = try? event.decode(ApplyRequested.self) else { return }
            status.targetVersion = requested.version
            status.targetIsRollback = requested.rollback
        case StateFetched.eventType:
            guard let fetched = try? event.decode(StateFetched.self) else { return }
            status.currentVersions = fetched.observation.versions.joined(separator: ",")
        case InstanceRemoved.eventType:
            guard let removed = try? event.decode(InstanceRemoved.self) else { return }
            status.desiredVersion = nil
            status.status = Self.removed
            status.waitingFor = nil
            (status.why, status.decidedAtMilliseconds) = (nil, 0)
            status.reason = "removed from config \(removed.configDigest.prefix(19))… (it ran \(removed.version))"
            status.sinceMilliseconds = event.recordedAtMilliseconds
        case DecisionMade.eventType:
            guard let made = try? event.decode(DecisionMade.self) else { return }
            // An idle decision about a removed instance keeps saying "removed".
            if status.status == Self.removed, status.desiredVersion == nil, made.decision.status == .idle {
                status.decisionPosition = event.position
                break
            }
            if status.status != made.decision.status.rawValue || status.sinceMilliseconds == 0 {
                status.sinceMilliseconds = made.nowMilliseconds
            }
            status.status = made.decision.status.rawValue
            status.decisionVersion = made.decision.version
            status.waitingFor = made.decision.waitingFor?.rawValue
            // A reason whose words change with time is kept as a value too, to be said again as
            // of a read; the others are their words.
            status.reason = made.decision.reason.words(at: made.nowMilliseconds)
            if made.decision.reason.changesWithTime {
                (status.why, status.decidedAtMilliseconds) = (made.decision.reason, made.nowMilliseconds)
            } else {
                (status.why, status.decidedAtMilliseconds) = (nil, 0)
            }
            status.decisionPosition = event.position
            for case .markGood(let version, _) in made.decision.actions { status.lastGoodVersion = version }
        case DecisionFailed.eventType:
            // The worker could not decide: failed, with why (the decision position stays the last
            // `DecisionMade`'s, which explain and replay read).
            guard let failed = try? event.decode(DecisionFailed.self) else { return }
            if status.status != InstanceStatus.failed.rawValue || status.sinceMilliseconds == 0 {
                status.sinceMilliseconds = failed.nowMilliseconds
            }
            status.status = InstanceStatus.failed.rawValue
            status.waitingFor = nil
            status.reason = failed.reason
            (status.why, status.decidedAtMilliseconds) = (nil, 0)
        default:
            return
        }
        row = status
    }
}
