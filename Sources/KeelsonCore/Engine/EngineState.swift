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
        let fields = try? PayloadDecoder().decode(Fields.self, from: document)
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
        /// The worker that runs it: the one that asked for it, then the one that last re-issued it
        /// (nil in logs written before it was recorded: `requestedBy` then).
        public var executor: String?
        /// When it was last issued, requested or re-issued: its progress deadline counts from then
        /// (nil: `atMilliseconds`).
        public var issuedAtMilliseconds: Int64?
        /// How many applies of this release in a row it is, before the instance converged on it
        /// (nil: the first). A runtime that lost a release before it converged gets it once more;
        /// a good release whose apply keeps failing is retried ever more slowly.
        public var attempt: Int?
        /// Set when, after its result, the worker that ran it started again or the instance's
        /// lease changed hands: what a runtime kept in that worker's memory may be gone, so that
        /// nothing running then says nothing about the release (nil: neither happened).
        public var runnerChanged: Bool?

        /// The worker that runs it.
        public var runBy: String? { executor ?? requestedBy }
        /// When it was last issued.
        public var issuedAt: Int64 { issuedAtMilliseconds ?? atMilliseconds }

        public struct Result: Codable, Sendable, Hashable {
            public var succeeded: Bool
            public var atMilliseconds: Int64
            public var error: String?
            /// The position of the event that recorded it (nil in records folded before it was kept).
            public var position: Int64?
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
        /// The position of the fetch that last recorded or confirmed it (nil in records folded
        /// before it was kept).
        public var position: Int64?

        /// Whether it was fetched after `result` was recorded: by log position, which orders two
        /// events recorded within the same millisecond (by time when either position is unknown).
        public func isAfter(_ result: Request.Result) -> Bool {
            if let position, let resultPosition = result.position { return position > resultPosition }
            return atMilliseconds >= result.atMilliseconds
        }
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
    /// The precondition the last decision waits for.
    public var waitingFor: Precondition?
    /// Why, as the last decision put it (at `decidedAtMilliseconds`).
    public var reason: Reason = .noRelease
    /// The `now` of the last decision (0 before any).
    public var decidedAtMilliseconds: Int64 = 0
    /// The reason in words, as of the last decision.
    public var words: String { reason.words(at: decidedAtMilliseconds) }
    public var statusSinceMilliseconds: Int64 = 0
    public var wakeAtMilliseconds: Int64?
    /// Approvers by version, sorted.
    public var approvals: [String: [String]] = [:]
    /// Rejections by version: who rejected it.
    public var rejections: [String: String] = [:]
    /// Someone asked for a rollback that no decision has carried out yet.
    public var rollbackRequestedBy: String?
    /// Dropped from config (`InstanceRemoved`), and what it ran not yet stopped
    /// (`InstanceRemovalFinished`): the desired release it had (nil: none).
    public var removal: Removal?

    public struct Removal: Codable, Sendable, Hashable {
        public var last: ReleaseRef?
    }

    /// The worker that last took the instance's lease, as the log knows it (`LeaseAcquired`).
    public var leaseHolder: String?

    public init(instance: ServiceInstanceID) {
        self.instance = instance
    }

    /// Converged on a release that has not passed its watch yet (a rollback is not watched).
    public var isWatching: Bool {
        guard status == .converged, let converged, request?.rollback != true else { return false }
        return lastGood?.digest != converged.release.digest
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
    /// The same, by `application@channel`.
    public var convergingByChannel: [String: Set<ServiceInstanceID>] = [:]
    /// Events the fold could not read, by the stream they were on and their kind, with why. A view
    /// they concern (its instance's, application's or service's stream, or a stream of signals
    /// such as alerts and pauses, which concern every instance) holds them, and `decide` refuses
    /// to decide over it. A later event of the same kind on that stream that reads well clears one;
    /// a new desired state clears an instance's.
    public var unreadable: [String: [String: String]] = [:]

    public init() {}

    /// The event types the fold reads (so readers can ask the store for just these), sorted.
    public static let eventTypes: [String] = EngineEvent.decoders.keys.sorted()

    /// Folds one event: decoded once into an `EngineEvent` (an event the engine does not read
    /// changes only `position`). One whose payload does not decode is noted in `unreadable` (never
    /// skipped silently); one that does clears the note of its kind on its stream.
    public mutating func evolve(_ event: RecordedEvent) {
        evolve(event, EngineEvent.decode(event))
    }

    /// Folds `event`, whose payload the caller decoded already (`EngineEvent.decode(event)`).
    public mutating func evolve(_ event: RecordedEvent, _ decoded: Result<EngineEvent, any Error>?) {
        position = max(position, event.position)
        switch decoded {
        case nil:
            return
        case .failure(let error)?:
            unreadable(event, Self.describe(error))
        case .success(let typed)?:
            let stream = event.streamID.rawValue
            if unreadable[stream]?.removeValue(forKey: Self.kind(of: event.type)) != nil, unreadable[stream]?.isEmpty == true {
                unreadable[stream] = nil
            }
            evolve(typed, event)
        }
    }

    private mutating func evolve(_ typed: EngineEvent, _ event: RecordedEvent) {
        let at = event.recordedAtMilliseconds
        switch typed {
        case .policyCompiled(let compiled):
            policies[compiled.policy.application] = compiled.policy
        case .desiredStateCompiled(let compiled):
            guard let id = ServiceInstanceID(compiled.instance) else {
                return unreadable(event, "its instance '\(compiled.instance)' is not APPLICATION/SERVICE@CHANNEL")
            }
            // A new desired state is a fresh start for the instance: what could not be read before
            // is behind it.
            unreadable[event.streamID.rawValue] = nil
            update(id) {
                $0.desired = ReleaseRef(version: compiled.version, digest: compiled.digest, document: compiled.document)
                $0.desiredAtMilliseconds = at
                $0.removal = nil
            }
        case .applyRequested(let requested):
            update(requested.instance) {
                let previous = $0.request
                // The release the instance already knows (its desired state, most often) is shared,
                // not read from the event again: one copy of the document, no second decode.
                let known = [$0.desired, previous?.release, $0.lastGood].lazy.compactMap { $0 }.first {
                    $0.digest == requested.digest && $0.version == requested.version && $0.document == requested.document
                }
                $0.request = InstanceRecord.Request(
                    requestID: requested.requestID,
                    release: known ?? ReleaseRef(version: requested.version, digest: requested.digest, document: requested.document),
                    rollback: requested.rollback, atMilliseconds: at, requestedBy: event.actor)
                $0.request?.executor = event.actor
                // The same release again, after an apply of it that finished (succeeded or failed)
                // and before the instance converged on it: a further attempt.
                if let previous, previous.release.digest == requested.digest, previous.rollback == requested.rollback,
                    let result = previous.result,
                    !($0.converged.map { $0.release.digest == requested.digest && $0.atMilliseconds >= result.atMilliseconds } ?? false)
                {
                    $0.request?.attempt = min(previous.attempt ?? 1, 1_000_000) + 1
                }
                if requested.rollback { $0.rollbackRequestedBy = nil }
            }
        case .applyFinished(let finished, let succeeded):
            update(finished.instance) {
                // One result per request: the first (a run that outlived its worker's abandoning of
                // it reports too late to count).
                guard $0.request?.requestID == finished.idempotencyKey, $0.request?.result == nil else { return }
                $0.request?.result = .init(
                    succeeded: succeeded, atMilliseconds: at, error: finished.result.error,
                    position: event.position)
            }
        case .stateFetched(let fetched):
            let observation = fetched.observation
            update(fetched.instance) {
                $0.seen = InstanceRecord.Seen(
                    healthy: observation.isHealthy, versions: observation.versions,
                    drifted: observation.objects.contains { $0.drifted },
                    ready: observation.objects.reduce(0) { $0 + $1.readyReplicas },
                    desired: observation.objects.reduce(0) { $0 + $1.desiredReplicas },
                    problem: observation.objects.first { $0.health != .healthy }.map { "\($0.name): \($0.message ?? $0.health.rawValue)" },
                    sinceMilliseconds: at, atMilliseconds: at, position: event.position)
            }
        case .stateUnchanged(let unchanged):
            update(unchanged.instance) {
                guard let last = unchanged.lastMilliseconds else {
                    $0.seen?.atMilliseconds = at
                    $0.seen?.position = event.position
                    return
                }
                // A run written after its last fetch: that fetch confirms the observation at its
                // time (never later than the run was recorded), but its place in the log is
                // unknown (events of others may stand between them), so it does not count as a
                // fetch after anything recorded before the run.
                if let seen = $0.seen { $0.seen?.atMilliseconds = max(seen.atMilliseconds, min(last, at)) }
            }
        case .decisionMade(let made):
            setConverging(made.instance, made.decision.status.isConverging)
            update(made.instance) { record in
                let decision = made.decision
                if record.status != decision.status { record.statusSinceMilliseconds = made.nowMilliseconds }
                record.status = decision.status
                record.waitingFor = decision.waitingFor
                record.reason = decision.reason
                record.decidedAtMilliseconds = made.nowMilliseconds
                record.wakeAtMilliseconds = decision.wakeAtMilliseconds
                // `decide` answers a rollback request whenever no apply runs: it is handled now.
                if record.request?.result != nil || record.request == nil { record.rollbackRequestedBy = nil }
                for action in decision.actions {
                    switch action {
                    case .reissue(let requestID):
                        // Its runner now is the worker that re-issued it, and its deadline counts
                        // from now: a restart of that worker is what orphans it next.
                        if record.request?.requestID == requestID {
                            record.request?.orphanedAtMilliseconds = nil
                            record.request?.executor = event.actor
                            record.request?.issuedAtMilliseconds = made.nowMilliseconds
                        }
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
        case .approvalGranted(let granted):
            let approver = event.actor ?? "unknown"
            update(granted.instance) {
                var approvers = Set($0.approvals[granted.version] ?? [])
                approvers.insert(approver)
                $0.approvals[granted.version] = approvers.sorted()
            }
        case .approvalRejected(let rejected):
            update(rejected.instance) { $0.rejections[rejected.version] = event.actor ?? "unknown" }
        case .alertFired(let fired):
            if alerts[fired.key] == nil { alerts[fired.key] = FiringAlert(name: fired.name, labels: fired.labels, sinceMilliseconds: at) }
        case .alertResolved(let resolved):
            alerts[resolved.key] = nil
        case .paused(let paused):
            pauses[paused.scope] = paused.reason ?? "paused by \(event.actor ?? "someone")"
        case .resumed(let resumed):
            pauses[resumed.scope] = nil
        case .releaseMarkedBad(let bad):
            badReleases[bad.service, default: [:]][bad.version] = bad.reason
        case .workerStarted(let started):
            // Unfinished applies from before the worker's restart: those it ran, whoever asked for
            // them, and those on instances whose lease it holds, whoever ran them.
            for id in instances.keys {
                guard let request = instances[id]?.request,
                    request.runBy == started.worker || instances[id]?.leaseHolder == started.worker
                else { continue }
                if request.result == nil {
                    instances[id]?.request?.orphanedAtMilliseconds = at
                } else if request.runBy == started.worker {
                    instances[id]?.request?.runnerChanged = true
                }
            }
        case .leaseAcquired(let acquired):
            // Another worker's unfinished apply on an instance whose lease changed hands.
            update(acquired.instance) {
                $0.leaseHolder = acquired.worker
                if let request = $0.request, request.runBy != acquired.worker {
                    if request.result == nil {
                        $0.request?.orphanedAtMilliseconds = at
                    } else {
                        $0.request?.runnerChanged = true
                    }
                }
            }
        case .releaseRequested(let requested):
            // Releasing a version again is how someone asks to retry a release marked bad.
            let service = "\(requested.application)/\(requested.service)"
            guard badReleases[service]?[requested.version] != nil else { return }
            badReleases[service]?[requested.version] = nil
            // Wherever it failed — its apply, its health before converging, or its health during
            // the watch — its finished request is forgotten, so that it is applied again.
            for id in instances.keys where id.application == requested.application && id.service == requested.service {
                guard let record = instances[id], let request = record.request, !request.rollback,
                    request.release.version == requested.version, let result = request.result
                else { continue }
                let convergedSince = record.converged.map {
                    $0.release.digest == request.release.digest && $0.atMilliseconds >= result.atMilliseconds
                } ?? false
                if !result.succeeded || !convergedSince || record.status == .failed {
                    instances[id]?.request = nil
                }
            }
        case .rollbackRequested(let requested):
            update(requested.instance) { $0.rollbackRequestedBy = event.actor ?? "someone" }
        case .instanceRemoved(let removed):
            // No desired release any more; the time it went stays, which is how `decide` tells
            // "removed from config" from "no release yet".
            guard let id = ServiceInstanceID(removed.instance) else { return }
            update(id) {
                $0.removal = .init(last: $0.desired)
                $0.desired = nil
                $0.desiredAtMilliseconds = at
            }
        case .instanceRemovalFinished(let finished):
            update(finished.instance) { $0.removal = nil }
        case .decisionFailed(let failed):
            setConverging(failed.instance, false)
            update(failed.instance) { record in
                if record.status != .failed { record.statusSinceMilliseconds = failed.nowMilliseconds }
                record.status = .failed
                record.waitingFor = nil
                record.reason = .words(failed.reason)
                record.decidedAtMilliseconds = failed.nowMilliseconds
                record.wakeAtMilliseconds = nil
            }
        }
    }

    private mutating func unreadable(_ event: RecordedEvent, _ why: String) {
        unreadable[event.streamID.rawValue, default: [:]][Self.kind(of: event.type)] =
            "event \(event.position) (\(event.type) on \(event.streamID.rawValue)) cannot be read: \(why)"
    }

    /// Events that stand for one another: a later one of the kind replaces what an unreadable one said.
    static func kind(of type: String) -> String {
        switch type {
        case ApplyRequested.eventType, ApplyFinished.succeededType, ApplyFinished.failedType: "apply"
        case StateFetched.eventType, StateUnchanged.eventType: "fetch"
        case AlertFired.eventType, AlertResolved.eventType: "alert"
        case Paused.eventType, Resumed.eventType: "pause"
        case ApprovalGranted.eventType, ApprovalRejected.eventType: "approval"
        default: type
        }
    }

    /// A decoding error in a sentence (Foundation's own descriptions carry the whole coding path).
    static func describe(_ error: any Error) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            return "field '\(path(context.codingPath + [key]))' is missing"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "field '\(path(context.codingPath))' has the wrong type"
        case DecodingError.dataCorrupted(let context):
            return context.codingPath.isEmpty ? "the payload is not valid JSON" : "field '\(path(context.codingPath))' holds a value that is not allowed"
        default:
            return "\(error)"
        }
    }

    /// What could not be read of the events that concern `instance`: its own stream's, its
    /// application's and its service's, and every signal stream's (sorted). A worker's own stream
    /// concerns no instance by itself (an unfinished apply it misses is caught by its deadline).
    public func unreadable(concerning instance: ServiceInstanceID) -> [String] {
        let own = ["instance:\(instance)", "app:\(instance.application)", "service:\(instance.application)/\(instance.service)"]
        return unreadable.keys.sorted().filter { stream in
            own.contains(stream) || !["instance:", "app:", "service:", "worker:"].contains { stream.hasPrefix($0) }
        }.flatMap { stream in unreadable[stream]!.keys.sorted().map { unreadable[stream]![$0]! } }
    }

    private mutating func setConverging(_ instance: ServiceInstanceID, _ converging: Bool) {
        let channel = "\(instance.application)@\(instance.channel)"
        if converging {
            convergingByApplication[instance.application, default: []].insert(instance)
            convergingByChannel[channel, default: []].insert(instance)
        } else {
            convergingByApplication[instance.application]?.remove(instance)
            convergingByChannel[channel]?.remove(instance)
        }
    }

    /// Whether `instance` counts against its application's `maxConverging`.
    public func isConverging(_ instance: ServiceInstanceID) -> Bool {
        convergingByApplication[instance.application]?.contains(instance) ?? false
    }

    private mutating func update(_ instance: ServiceInstanceID, _ change: (inout InstanceRecord) -> Void) {
        // In place: a copy of the record out and back would retain and release each of its fields.
        change(&instances[instance, default: InstanceRecord(instance: instance)])
    }

    /// The view `decide` needs for one instance, or nil when its application has no policy.
    public func view(of instance: ServiceInstanceID) -> InstanceView? {
        guard let record = instances[instance], let policy = policies[instance.application],
            let channel = policy.channel(instance.channel)
        else { return nil }
        let upstream = channel.after.map { name in
            InstanceView.Upstream(
                channel: name,
                converged: instances[ServiceInstanceID(application: instance.application, service: instance.service, channel: name)]?.converged)
        }
        // (Each of these is asked only when there is something to find: a view is built for every
        // decision, and most fleets have no pause, alert or bad release most of the time.)
        let service = pauses.isEmpty && badReleases.isEmpty ? "" : "\(instance.application)/\(instance.service)"
        let pause = pauses.isEmpty ? nil : [instance.application, service, instance.description].lazy.compactMap { scope in pauses[scope].map { (scope, $0) } }.first
        // In the order of their renderings (the order decisions have always listed them in).
        let gating = alerts.isEmpty || channel.alertGates.isEmpty ? [] : alerts.sorted { ($0.value.rendering, $0.key) < ($1.value.rendering, $1.key) }.map(\.value).filter { alert in
            channel.alertGates.contains { gate in gate.allSatisfy { alert.labels[$0.key] == $0.value } }
        }
        // Counted without the instance itself.
        let own = isConverging(instance) ? 1 : 0
        let inApplication = (convergingByApplication[instance.application]?.count ?? 0) - own
        let inChannel = (convergingByChannel["\(instance.application)@\(instance.channel)"]?.count ?? 0) - own
        return InstanceView(
            record: record, policy: channel, applicationMaxConverging: policy.maxConverging, upstream: upstream,
            pausedBy: pause.map { "\($0.0): \($0.1)" }, gatingAlerts: gating,
            convergingInApplication: inApplication, convergingInChannel: inChannel,
            badVersions: badReleases.isEmpty ? [:] : badReleases[service] ?? [:], unreadable: unreadable.isEmpty ? [] : unreadable(concerning: instance))
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
    /// Events this view would have been built from that could not be read (see
    /// `EngineState.unreadable`): `decide` does not decide over an incomplete view.
    public var unreadable: [String]

    public init(
        record: InstanceRecord, policy: ChannelPolicy, applicationMaxConverging: Int? = nil, upstream: [Upstream] = [],
        pausedBy: String? = nil, gatingAlerts: [FiringAlert] = [], convergingInApplication: Int = 0,
        convergingInChannel: Int = 0, badVersions: [String: String] = [:], unreadable: [String] = []
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
        self.unreadable = unreadable
    }
}
