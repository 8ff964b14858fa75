import Foundation

/// One line of a deploy timeline: what happened, to what, which release, why, who — with its time
/// and position. Pure: made from one event alone, so the timeline rebuilds identically.
public struct TimelineEntry: Sendable, Hashable, Codable {
    /// What kind of thing happened (for `--kind` filters).
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        case config, release, desired, decision, apply, fetch, approval, rollback, bad, pause, alert, lease
    }

    public var position: Int64
    public var atMilliseconds: Int64
    /// nil for events about no application (alerts).
    public var application: String?
    /// nil for events about a whole application (config, pauses of an application).
    public var service: String?
    /// nil for events about a whole service (a release, a release marked bad).
    public var channel: String?
    public var kind: Kind
    public var version: String?
    public var actor: String?
    /// The human-readable line.
    public var line: String

    public init(
        position: Int64, atMilliseconds: Int64, application: String?, service: String?, channel: String?, kind: Kind,
        version: String?, actor: String?, line: String
    ) {
        self.position = position
        self.atMilliseconds = atMilliseconds
        self.application = application
        self.service = service
        self.channel = channel
        self.kind = kind
        self.version = version
        self.actor = actor
        self.line = line
    }

    /// The entry an event makes, or nil for events that are not part of a deploy's story
    /// (unchanged fetches, apply requests — their decision says it —, worker starts).
    public static func of(_ event: RecordedEvent) -> TimelineEntry? {
        let who = event.actor
        func entry(_ instance: ServiceInstanceID, _ kind: Kind, _ version: String?, _ line: String) -> TimelineEntry {
            TimelineEntry(
                position: event.position, atMilliseconds: event.recordedAtMilliseconds, application: instance.application,
                service: instance.service, channel: instance.channel, kind: kind, version: version, actor: who, line: line)
        }
        func service(_ name: String, _ kind: Kind, _ version: String?, _ line: String) -> TimelineEntry {
            let parts = name.split(separator: "/", maxSplits: 1).map(String.init)
            return TimelineEntry(
                position: event.position, atMilliseconds: event.recordedAtMilliseconds, application: parts.first,
                service: parts.count > 1 ? parts[1] : nil, channel: nil, kind: kind, version: version, actor: who, line: line)
        }
        switch event.type {
        case ReleaseRequested.eventType:
            guard let release = try? event.decode(ReleaseRequested.self) else { return nil }
            return service("\(release.application)/\(release.service)", .release, release.version,
                           "\(who ?? "someone") released \(release.application)/\(release.service) \(release.version)")
        case PolicyCompiled.eventType:
            guard let compiled = try? event.decode(PolicyCompiled.self) else { return nil }
            return TimelineEntry(
                position: event.position, atMilliseconds: event.recordedAtMilliseconds, application: compiled.policy.application,
                service: nil, channel: nil, kind: .config, version: nil, actor: who,
                line: "release policy of \(compiled.policy.application): \(compiled.policy.channels.map(\.name).joined(separator: " → "))")
        case DesiredStateCompiled.eventType:
            guard let compiled = try? event.decode(DesiredStateCompiled.self), let id = ServiceInstanceID(compiled.instance) else { return nil }
            return entry(id, .desired, compiled.version, "desired state is now \(compiled.version) (\(compiled.digest.prefix(19))…)")
        case InstanceRemoved.eventType:
            guard let removed = try? event.decode(InstanceRemoved.self), let id = ServiceInstanceID(removed.instance) else { return nil }
            return entry(id, .desired, removed.version, "removed from config (config \(removed.configDigest.prefix(19))…); it had \(removed.version)")
        case DecisionMade.eventType:
            guard let made = try? event.decode(DecisionMade.self) else { return nil }
            return entry(made.instance, .decision, made.decision.version, "\(made.decision.status.rawValue): \(made.decision.reason.words(at: made.nowMilliseconds))")
        case ApplyFinished.succeededType, ApplyFinished.failedType:
            guard let finished = try? event.decodePayload(as: ApplyFinished.self) else { return nil }
            let result = finished.result
            return entry(
                finished.instance, .apply, nil,
                result.succeeded
                    ? "apply on \(finished.runtime) succeeded in "
                        + (result.durationMilliseconds < 1000 ? "\(result.durationMilliseconds)ms" : Text.duration(result.durationMilliseconds))
                    : "apply on \(finished.runtime) failed: \(result.error ?? "no error given")")
        case StateFetched.eventType:
            guard let fetched = try? event.decode(StateFetched.self) else { return nil }
            let observation = fetched.observation
            let ready = observation.objects.reduce(0) { $0 + $1.readyReplicas }
            let desired = observation.objects.reduce(0) { $0 + $1.desiredReplicas }
            let line = observation.objects.isEmpty ? "observed: nothing running"
                : "observed: \(observation.versions.joined(separator: ", ")) \(ready)/\(desired) ready"
                    + (observation.isHealthy ? ", healthy" : "") + (observation.objects.contains { $0.drifted } ? ", drifted" : "")
            return entry(fetched.instance, .fetch, observation.versions.count == 1 ? observation.versions[0] : nil, line)
        case FetchFailed.eventType:
            guard let failed = try? event.decode(FetchFailed.self) else { return nil }
            return entry(failed.instance, .fetch, nil, "fetch failed: \(failed.error)")
        case ApprovalGranted.eventType:
            guard let granted = try? event.decode(ApprovalGranted.self) else { return nil }
            return entry(granted.instance, .approval, granted.version,
                         "\(who ?? "someone") approved \(granted.version)" + (granted.comment.map { ": \($0)" } ?? ""))
        case ApprovalRejected.eventType:
            guard let rejected = try? event.decode(ApprovalRejected.self) else { return nil }
            return entry(rejected.instance, .approval, rejected.version,
                         "\(who ?? "someone") rejected \(rejected.version)" + (rejected.reason.map { ": \($0)" } ?? ""))
        case RollbackRequested.eventType:
            guard let requested = try? event.decode(RollbackRequested.self) else { return nil }
            return entry(requested.instance, .rollback, nil,
                         "\(who ?? "someone") asked for a rollback" + (requested.reason.map { ": \($0)" } ?? ""))
        case ReleaseMarkedBad.eventType:
            guard let bad = try? event.decode(ReleaseMarkedBad.self) else { return nil }
            return service(bad.service, .bad, bad.version, "\(bad.version) marked bad: \(bad.reason)")
        case Paused.eventType, Resumed.eventType:
            let (scope, line): (String, String)
            if let paused = try? event.decode(Paused.self), event.type == Paused.eventType {
                (scope, line) = (paused.scope, "\(who ?? "someone") paused \(paused.scope)" + (paused.reason.map { ": \($0)" } ?? ""))
            } else if let resumed = try? event.decode(Resumed.self) {
                (scope, line) = (resumed.scope, "\(who ?? "someone") resumed \(resumed.scope)")
            } else {
                return nil
            }
            if let id = ServiceInstanceID(scope) { return entry(id, .pause, nil, line) }
            return service(scope, .pause, nil, line)
        case AlertFired.eventType:
            guard let fired = try? event.decode(AlertFired.self) else { return nil }
            return TimelineEntry(
                position: event.position, atMilliseconds: event.recordedAtMilliseconds, application: nil, service: nil,
                channel: nil, kind: .alert, version: nil, actor: who, line: "alert firing: \(AlertFired.rendering(name: fired.name, labels: fired.labels))")
        case AlertResolved.eventType:
            guard let resolved = try? event.decode(AlertResolved.self) else { return nil }
            return TimelineEntry(
                position: event.position, atMilliseconds: event.recordedAtMilliseconds, application: nil, service: nil,
                channel: nil, kind: .alert, version: nil, actor: who,
                line: "alert resolved: \(AlertFired.rendering(name: resolved.name, labels: resolved.labels))")
        case LeaseAcquired.eventType:
            guard let acquired = try? event.decode(LeaseAcquired.self) else { return nil }
            return entry(acquired.instance, .lease, nil,
                         "\(acquired.worker) took the instance over" + (acquired.previousOwner.map { " from \($0)" } ?? ""))
        default:
            return nil
        }
    }
}

/// What part of the timeline to read.
public struct TimelineQuery: Sendable, Hashable {
    public var application: String?
    public var service: String?
    public var channel: String?
    public var kinds: [TimelineEntry.Kind] = []
    public var since: Date?
    public var until: Date?
    /// Entries before this position (the cursor of the previous page).
    public var before: Int64?
    public var limit = 100

    public init(application: String? = nil, service: String? = nil, channel: String? = nil) {
        self.application = application
        self.service = service
        self.channel = channel
    }
}
