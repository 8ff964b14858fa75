import Foundation

/// A release as the engine tracks it: enough to apply it again (the document) and to time it.
public struct ReleaseRef: Codable, Sendable, Hashable {
    public var version: String
    public var digest: String
    public var document: String
    public var progressDeadlineSeconds: Int
    public var autoRollback: Bool

    public init(version: String, digest: String, document: String, progressDeadlineSeconds: Int = 600, autoRollback: Bool = true) {
        self.version = version
        self.digest = digest
        self.document = document
        self.progressDeadlineSeconds = progressDeadlineSeconds
        self.autoRollback = autoRollback
    }

    /// Reads the deadline and the rollback switch from the compiled document.
    init(version: String, digest: String, document: String) {
        struct Fields: Decodable { var progressDeadlineSeconds: Int?; var autoRollback: Bool? }
        let fields = try? JSONDecoder().decode(Fields.self, from: Data(document.utf8))
        self.init(
            version: version, digest: digest, document: document,
            progressDeadlineSeconds: fields?.progressDeadlineSeconds ?? 600, autoRollback: fields?.autoRollback ?? true)
    }
}

/// Everything the engine knows about one service instance, folded from the log.
public struct InstanceRecord: Codable, Sendable, Hashable {
    public struct Request: Codable, Sendable, Hashable {
        public var requestID: String
        public var release: ReleaseRef
        public var rollback: Bool
        public var atMilliseconds: Int64
        /// The worker that asked for it (the event's actor).
        public var requestedBy: String?
        /// nil while the apply runs; then whether it succeeded, when, and the error.
        public var result: Result?
        /// Set when a worker started while this apply had no result: its worker stopped. The time
        /// of that start; cleared when a decision re-issues the request.
        public var orphanedAtMilliseconds: Int64?

        public struct Result: Codable, Sendable, Hashable {
            public var succeeded: Bool
            public var atMilliseconds: Int64
            public var error: String?
        }
    }

    public struct Seen: Codable, Sendable, Hashable {
        public var healthy: Bool
        public var versions: [String]
        public var drifted: Bool
        public var ready: Int
        public var desired: Int
        /// The first unhealthy object's message, for reasons.
        public var problem: String?
        /// When this observation was first recorded, and last confirmed.
        public var sinceMilliseconds: Int64
        public var atMilliseconds: Int64
    }

    public struct Converged: Codable, Sendable, Hashable {
        public var release: ReleaseRef
        public var atMilliseconds: Int64
    }

    public var instance: ServiceInstanceID
    public var desired: ReleaseRef?
    public var desiredAtMilliseconds: Int64 = 0
    /// The last apply requested.
    public var request: Request?
    public var seen: Seen?
    /// The release the instance last converged on (its watch runs from `atMilliseconds`).
    public var converged: Converged?
    /// The last release that passed its watch here: what a rollback goes back to.
    public var lastGood: ReleaseRef?
    public var status: InstanceStatus = .idle
    public var reason = "no release yet"
    public var statusSinceMilliseconds: Int64 = 0
    public var wakeAtMilliseconds: Int64?
    /// Approvers by version, sorted.
    public var approvals: [String: [String]] = [:]
    /// Rejections by version: who rejected it.
    public var rejections: [String: String] = [:]
    /// Someone asked for a rollback that no decision has carried out yet.
    public var rollbackRequestedBy: String?

    public init(instance: ServiceInstanceID) {
        self.instance = instance
    }
}

/// A firing alert.
public struct FiringAlert: Codable, Sendable, Hashable {
    public var name: String
    public var labels: [String: String]
    public var sinceMilliseconds: Int64

    /// `name{k="v",…}`, for people.
    public var rendering: String { AlertFired.rendering(name: name, labels: labels) }
}

/// The engine's whole view of the world, folded from the log: a pure, deterministic fold (no
/// clock: times are the events' recorded times), the same in the worker and in replay.
public struct EngineState: Sendable, Hashable {
    public var position: Int64 = 0
    public var policies: [String: ApplicationPolicy] = [:]
    public var instances: [ServiceInstanceID: InstanceRecord] = [:]
    /// By `AlertFired.key` (canonical JSON of name and labels: unambiguous).
    public var alerts: [String: FiringAlert] = [:]
    /// Paused scopes (`app`, `app/service`, `app/service@channel`) and why.
    public var pauses: [String: String] = [:]
    /// Bad versions by service (`app/service`).
    public var badReleases: [String: [String: String]] = [:]
    /// Instances whose status counts against `maxConverging`, by application (kept as statuses
    /// change, so that a view does not scan every instance).
    public var convergingByApplication: [String: Set<ServiceInstanceID>] = [:]

    public init() {}

    /// The event types the fold reads (so readers can ask the store for just these).
    public static let eventTypes: [String] = [
        PolicyCompiled.eventType, DesiredStateCompiled.eventType, ApplyRequested.eventType,
        ApplyFinished.succeededType, ApplyFinished.failedType, StateFetched.eventType, StateUnchanged.eventType,
        DecisionMade.eventType, ApprovalGranted.eventType, ApprovalRejected.eventType, AlertFired.eventType,
        AlertResolved.eventType, Paused.eventType, Resumed.eventType, ReleaseMarkedBad.eventType,
        RollbackRequested.eventType, WorkerStarted.eventType, LeaseAcquired.eventType, ReleaseRequested.eventType,
        InstanceRemoved.eventType,
    ]

    public mutating func evolve(_ event: RecordedEvent) {
        position = max(position, event.position)
        let at = event.recordedAtMilliseconds
        switch event.type {
        case PolicyCompiled.eventType:
            guard let compiled = try? event.decode(PolicyCompiled.self) else { return }
            policies[compiled.policy.application] = compiled.policy
        case DesiredStateCompiled.eventType:
            guard let compiled = try? event.decode(DesiredStateCompiled.self), let id = ServiceInstanceID(compiled.instance) else { return }
            update(id) {
                $0.desired = ReleaseRef(version: compiled.version, digest: compiled.digest, document: compiled.document)
                $0.desiredAtMilliseconds = at
            }
        case ApplyRequested.eventType:
            guard let requested = try? event.decode(ApplyRequested.self) else { return }
            update(requested.instance) {
                $0.request = InstanceRecord.Request(
                    requestID: requested.requestID,
                    release: ReleaseRef(version: requested.version, digest: requested.digest, document: requested.document),
                    rollback: requested.rollback, atMilliseconds: at, requestedBy: event.actor)
                if requested.rollback { $0.rollbackRequestedBy = nil }
            }
        case ApplyFinished.succeededType, ApplyFinished.failedType:
            guard let finished = try? event.decodePayload(as: ApplyFinished.self) else { return }
            update(finished.instance) {
                guard $0.request?.requestID == finished.idempotencyKey else { return }
                $0.request?.result = .init(
                    succeeded: event.type == ApplyFinished.succeededType, atMilliseconds: at, error: finished.result.error)
            }
        case StateFetched.eventType:
            guard let fetched = try? event.decode(StateFetched.self) else { return }
            let observation = fetched.observation
            update(fetched.instance) {
                $0.seen = InstanceRecord.Seen(
                    healthy: observation.isHealthy, versions: observation.versions,
                    drifted: observation.objects.contains { $0.drifted },
                    ready: observation.objects.reduce(0) { $0 + $1.readyReplicas },
                    desired: observation.objects.reduce(0) { $0 + $1.desiredReplicas },
                    problem: observation.objects.first { $0.health != .healthy }.map { "\($0.name): \($0.message ?? $0.health.rawValue)" },
                    sinceMilliseconds: at, atMilliseconds: at)
            }
        case StateUnchanged.eventType:
            guard let unchanged = try? event.decode(StateUnchanged.self) else { return }
            update(unchanged.instance) { $0.seen?.atMilliseconds = at }
        case DecisionMade.eventType:
            guard let made = try? event.decode(DecisionMade.self) else { return }
            if made.decision.status.isConverging {
                convergingByApplication[made.instance.application, default: []].insert(made.instance)
            } else {
                convergingByApplication[made.instance.application]?.remove(made.instance)
            }
            update(made.instance) { record in
                let decision = made.decision
                if record.status != decision.status { record.statusSinceMilliseconds = made.nowMilliseconds }
                record.status = decision.status
                record.reason = decision.reason
                record.wakeAtMilliseconds = decision.wakeAtMilliseconds
                // `decide` answers a rollback request whenever no apply runs: it is handled now.
                if record.request?.result != nil || record.request == nil { record.rollbackRequestedBy = nil }
                for action in decision.actions {
                    switch action {
                    case .reissue(let requestID):
                        if record.request?.requestID == requestID { record.request?.orphanedAtMilliseconds = nil }
                    case .markConverged(_, let digest):
                        if let release = [record.request?.release, record.desired, record.lastGood].compactMap({ $0 }).first(where: { $0.digest == digest }) {
                            record.converged = .init(release: release, atMilliseconds: made.nowMilliseconds)
                        }
                    case .markGood(_, let digest):
                        if let release = record.converged?.release, release.digest == digest { record.lastGood = release }
                    case .apply, .markBad, .abandon:
                        break
                    }
                }
            }
        case ApprovalGranted.eventType:
            guard let granted = try? event.decode(ApprovalGranted.self) else { return }
            let approver = event.actor ?? "unknown"
            update(granted.instance) {
                var approvers = Set($0.approvals[granted.version] ?? [])
                approvers.insert(approver)
                $0.approvals[granted.version] = approvers.sorted()
            }
        case ApprovalRejected.eventType:
            guard let rejected = try? event.decode(ApprovalRejected.self) else { return }
            update(rejected.instance) { $0.rejections[rejected.version] = event.actor ?? "unknown" }
        case AlertFired.eventType:
            guard let fired = try? event.decode(AlertFired.self) else { return }
            if alerts[fired.key] == nil { alerts[fired.key] = FiringAlert(name: fired.name, labels: fired.labels, sinceMilliseconds: at) }
        case AlertResolved.eventType:
            guard let resolved = try? event.decode(AlertResolved.self) else { return }
            alerts[resolved.key] = nil
        case Paused.eventType:
            guard let paused = try? event.decode(Paused.self) else { return }
            pauses[paused.scope] = paused.reason ?? "paused by \(event.actor ?? "someone")"
        case Resumed.eventType:
            guard let resumed = try? event.decode(Resumed.self) else { return }
            pauses[resumed.scope] = nil
        case ReleaseMarkedBad.eventType:
            guard let bad = try? event.decode(ReleaseMarkedBad.self) else { return }
            badReleases[bad.service, default: [:]][bad.version] = bad.reason
        case WorkerStarted.eventType:
            // The worker's own unfinished applies from before its restart.
            guard let started = try? event.decode(WorkerStarted.self) else { return }
            for id in instances.keys where instances[id]?.request?.result == nil
                && instances[id]?.request?.requestedBy == started.worker && instances[id]?.request != nil
            {
                instances[id]?.request?.orphanedAtMilliseconds = at
            }
        case LeaseAcquired.eventType:
            // Another worker's unfinished apply on an instance whose lease changed hands.
            guard let acquired = try? event.decode(LeaseAcquired.self) else { return }
            update(acquired.instance) {
                if let request = $0.request, request.result == nil, request.requestedBy != acquired.worker {
                    $0.request?.orphanedAtMilliseconds = at
                }
            }
        case ReleaseRequested.eventType:
            // Releasing a version again is how someone asks to retry a release marked bad.
            guard let requested = try? event.decode(ReleaseRequested.self) else { return }
            let service = "\(requested.application)/\(requested.service)"
            guard badReleases[service]?[requested.version] != nil else { return }
            badReleases[service]?[requested.version] = nil
            for id in instances.keys where id.application == requested.application && id.service == requested.service {
                if let request = instances[id]?.request, !request.rollback, request.release.version == requested.version,
                    request.result?.succeeded == false
                {
                    instances[id]?.request = nil
                }
            }
        case RollbackRequested.eventType:
            guard let requested = try? event.decode(RollbackRequested.self) else { return }
            update(requested.instance) { $0.rollbackRequestedBy = event.actor ?? "someone" }
        case InstanceRemoved.eventType:
            // No desired release any more; the time it went stays, which is how `decide` tells
            // "removed from config" from "no release yet".
            guard let removed = try? event.decode(InstanceRemoved.self), let id = ServiceInstanceID(removed.instance) else { return }
            update(id) {
                $0.desired = nil
                $0.desiredAtMilliseconds = at
            }
        default:
            break
        }
    }

    private mutating func update(_ instance: ServiceInstanceID, _ change: (inout InstanceRecord) -> Void) {
        var record = instances[instance] ?? InstanceRecord(instance: instance)
        change(&record)
        instances[instance] = record
    }

    /// The view `decide` needs for one instance, or nil when its application has no policy.
    public func view(of instance: ServiceInstanceID) -> InstanceView? {
        guard let record = instances[instance], let policy = policies[instance.application],
            let channel = policy.channel(instance.channel)
        else { return nil }
        let service = "\(instance.application)/\(instance.service)"
        let upstream = channel.after.map { name in
            InstanceView.Upstream(
                channel: name,
                converged: instances[ServiceInstanceID(application: instance.application, service: instance.service, channel: name)]?.converged)
        }
        let scopes = [instance.application, service, instance.description]
        let pause = scopes.compactMap { scope in pauses[scope].map { (scope, $0) } }.first
        // In the order of their renderings (the order decisions have always listed them in).
        let gating = alerts.sorted { ($0.value.rendering, $0.key) < ($1.value.rendering, $1.key) }.map(\.value).filter { alert in
            channel.alertGates.contains { gate in gate.allSatisfy { alert.labels[$0.key] == $0.value } }
        }
        let converging = (convergingByApplication[instance.application] ?? []).subtracting([instance])
        return InstanceView(
            record: record, policy: channel, applicationMaxConverging: policy.maxConverging, upstream: upstream,
            pausedBy: pause.map { "\($0.0): \($0.1)" }, gatingAlerts: gating,
            convergingInApplication: converging.count,
            convergingInChannel: converging.filter { $0.channel == instance.channel }.count,
            badVersions: badReleases[service] ?? [:])
    }
}

/// One instance's record and the facts around it that its rules read.
public struct InstanceView: Sendable, Hashable {
    public struct Upstream: Sendable, Hashable {
        public var channel: String
        public var converged: InstanceRecord.Converged?
    }

    public var record: InstanceRecord
    public var policy: ChannelPolicy
    public var applicationMaxConverging: Int?
    public var upstream: [Upstream]
    /// `scope: reason` of the pause that holds this instance, if any.
    public var pausedBy: String?
    /// Firing alerts that match one of the channel's gates.
    public var gatingAlerts: [FiringAlert]
    public var convergingInApplication: Int
    public var convergingInChannel: Int
    /// Bad versions of the service, with why.
    public var badVersions: [String: String]

    public init(
        record: InstanceRecord, policy: ChannelPolicy, applicationMaxConverging: Int? = nil, upstream: [Upstream] = [],
        pausedBy: String? = nil, gatingAlerts: [FiringAlert] = [], convergingInApplication: Int = 0,
        convergingInChannel: Int = 0, badVersions: [String: String] = [:]
    ) {
        self.record = record
        self.policy = policy
        self.applicationMaxConverging = applicationMaxConverging
        self.upstream = upstream
        self.pausedBy = pausedBy
        self.gatingAlerts = gatingAlerts
        self.convergingInApplication = convergingInApplication
        self.convergingInChannel = convergingInChannel
        self.badVersions = badVersions
    }
}
