import Crypto
import Foundation
import Synchronization
import KeelsonCompiler
import KeelsonCore
import KeelsonEngine
import KeelsonRuntimes
import KeelsonStore

/// Everything a request or a command can do, once: the server's routes call it for their
/// caller, and the CLI calls it directly when it works on a database file (`--db`). Every event
/// it appends carries the caller as its actor. Failures are `APIError`s with the HTTP status the
/// server answers with.
public struct ControlPlane: Sendable {
    public let store: EventStore
    /// The clock for token bookkeeping, `since`/`until` ages and the countdowns a status says
    /// (never used by decisions).
    public var now: @Sendable () -> Date = Date.init
    /// Where local runtimes keep their state (for runtime checks).
    public var stateRoot: String
    /// The runtimes of the worker that runs beside this control plane (`keelson serve`), by name:
    /// fetches asked for through it go through them. nil, or nil for a name: the runtime is built
    /// from the applied config.
    public var runtimeSource: (@Sendable (String) async -> (any Runtime)?)?
    /// The applied config, parsed once per change of the `config` stream (most requests check
    /// names against it).
    private let intents = IntentCache()

    public init(store: EventStore) {
        self.store = store
        self.stateRoot = RuntimeFactory.stateRoot(forDatabase: store.path)
    }

    // MARK: config and releases

    /// Compiles uploaded config files and records what changes (`keelson apply` through a server).
    public func applyConfig(_ request: ApplyConfigRequest, actor: String) async throws -> ChangeReport {
        guard !request.files.isEmpty else { throw APIError.badRequest("files: no config files in the request") }
        var byPath: [String: String] = [:]
        for file in request.files {
            guard !file.path.isEmpty else { throw APIError.badRequest("files: a file has an empty path") }
            byPath[file.path] = file.text
        }
        // The uploaded files are checked by their paths as the client gave them: the same rule
        // as on a disk (inside the config directory or an allowed one), without touching this one.
        let options = DesiredStateRecorder.ApplyOptions(
            dryRun: request.dryRun ?? false, prune: request.prune ?? false, allowFilesFrom: request.allowFilesFrom ?? [])
        return try await changeReport(source: request.source, dryRun: options.dryRun) {
            try await DesiredStateRecorder(store: store, actor: actor).apply(path: request.source, files: RecordedFiles(byPath), options: options)
        }
    }

    /// Compiles the config at `path` on this machine's disk (`keelson apply` on a database file).
    public func applyConfig(path: String, options: DesiredStateRecorder.ApplyOptions, actor: String) async throws -> ChangeReport {
        try await changeReport(source: path, dryRun: options.dryRun) {
            try await DesiredStateRecorder(store: store, actor: actor).apply(path: path, options: options)
        }
    }

    public func applyConfig(path: String, dryRun: Bool, actor: String) async throws -> ChangeReport {
        try await applyConfig(path: path, options: .init(dryRun: dryRun), actor: actor)
    }

    /// Records the releases `body` asks for in one transaction: one service, every service of an
    /// application, or a list of them. Every name is checked before anything is read or recorded.
    public func release(_ body: ReleaseBody, actor: String) async throws -> ChangeReport {
        let items: [ReleaseItem]
        switch body.items() {
        case .success(let found): items = found
        case .failure(let problem): throw APIError.badRequest(problem.message)
        }
        let listed = body.releases != nil
        for (index, item) in items.enumerated() {
            let at = listed ? "releases[\(index)]." : ""
            if let problem = Names.problem(item.application, kind: .application) { throw APIError.badRequest("\(at)application: \(problem)") }
            if let service = item.service, let problem = Names.problem(service, kind: .service) { throw APIError.badRequest("\(at)service: \(problem)") }
            if let problem = Names.versionProblem(item.version) { throw APIError.badRequest("\(at)version: \(problem)") }
        }
        guard let intent = try await appliedIntent() else { throw Self.noConfig(application: items[0].application) }
        var requests: [ReleaseRequest] = []
        for item in items {
            try Self.requireKnown(application: item.application, service: item.service, in: intent)
            let services = item.service.map { [$0] }
                ?? intent.services.filter { $0.application == item.application }.map(\.name).sorted()
            requests += services.map {
                ReleaseRequest(application: item.application, service: $0, version: item.version, parameters: item.parameters ?? [:])
            }
        }
        guard requests.count <= ReleaseBody.maxReleases else {
            throw APIError.badRequest("the request releases \(requests.count) services; at most \(ReleaseBody.maxReleases) fit in one request")
        }
        let dryRun = body.dryRun ?? false
        return try await changeReport(source: "release", dryRun: dryRun, summary: Self.summary(of: requests)) {
            do {
                return try await DesiredStateRecorder(store: store, actor: actor).release(requests, dryRun: dryRun)
            } catch DesiredStateRecorder.Failure.releasedTwice(let service) {
                throw APIError.badRequest("releases: \(BoundedInput.quoted(service)) is named twice; name each service once")
            }
        }
    }

    /// "release shop/web 1.4.2", "release 3 services of shop at 1.4.2", "release 5 services".
    static func summary(of requests: [ReleaseRequest]) -> String {
        guard let first = requests.first else { return "release nothing" }
        if requests.count == 1 { return "release \(first.application)/\(first.service) \(first.version)" }
        let applications = Set(requests.map(\.application)), versions = Set(requests.map(\.version))
        let count = "\(requests.count) services"
        switch (applications.count, versions.count) {
        case (1, 1): return "release \(count) of \(first.application) at \(first.version)"
        case (_, 1): return "release \(count) at \(first.version)"
        default: return "release \(count)"
        }
    }

    private func changeReport(
        source: String, dryRun: Bool, summary: String? = nil, _ body: () async throws -> DesiredStateRecorder.Outcome
    ) async throws -> ChangeReport {
        let outcome: DesiredStateRecorder.Outcome
        do {
            outcome = try await body()
        } catch DesiredStateRecorder.Failure.compile(let errors) {
            throw APIError.invalidConfig(errors, recorded: !dryRun)
        } catch DesiredStateRecorder.Failure.noConfig {
            throw APIError.conflict(DesiredStateRecorder.Failure.noConfig.description)
        } catch DesiredStateRecorder.Failure.wouldOrphan(let removed) {
            throw APIError.wouldOrphan(removed.map { ($0.instance, $0.version) }, source: source)
        }
        let what = summary ?? outcome.configApplied.map { "config \($0.digest.prefix(19))… (\($0.files.count) files)" } ?? "config unchanged"
        return ChangeReport(
            recorded: !dryRun, summary: what,
            policies: outcome.policies.map { "\($0.policy.application) (\($0.policy.channels.map(\.name).joined(separator: " → ")))" },
            changes: outcome.changes.map { change in
                ChangeReport.Change(
                    instance: change.instance, digest: change.digest, previousDigest: outcome.previous[change.instance]?.digest,
                    version: change.version,
                    diff: DocumentDiff.lines(from: outcome.previous[change.instance]?.document, to: change.document))
            },
            removed: outcome.removed.map(\.instance),
            // The request's own last event: the log may have grown since.
            position: outcome.position)
    }

    /// The applied config's application (and service, and channel), or a 404 naming what is unknown.
    @discardableResult
    public func requireKnown(application: String, service: String? = nil, channel: String? = nil) async throws -> Intent {
        guard let intent = try await appliedIntent() else { throw Self.noConfig(application: application) }
        try Self.requireKnown(application: application, service: service, channel: channel, in: intent)
        return intent
    }

    static func noConfig(application: String) -> APIError {
        .notFound("no config has been applied yet, so there is no application '\(application)' (`keelson apply -f PATH`)")
    }

    /// Throws a 404 naming what `intent` does not know.
    static func requireKnown(application: String, service: String? = nil, channel: String? = nil, in intent: Intent) throws {
        guard let app = intent.applications.first(where: { $0.name == application }) else {
            let known = intent.applications.map(\.name).sorted().joined(separator: ", ")
            throw APIError.notFound("unknown application '\(application)' (known: \(known.isEmpty ? "none" : known))")
        }
        if let service, !intent.services.contains(where: { $0.application == application && $0.name == service }) {
            let known = intent.services.filter { $0.application == application }.map(\.name).sorted().joined(separator: ", ")
            throw APIError.notFound("unknown service '\(application)/\(service)' (known: \(known.isEmpty ? "none" : known))")
        }
        if let channel, !app.channels.contains(where: { $0.name == channel }) {
            throw APIError.notFound(
                "unknown release channel '\(channel)' of \(application) (known: \(app.channels.map(\.name).joined(separator: ", ")))")
        }
    }

    /// The intent of the config last applied, nil before any.
    public func appliedIntent() async throws -> Intent? {
        let version = try await store.version(of: "config")
        if let cached = intents.intent(at: version) { return cached }
        guard let config = try await AppliedConfig.latest(in: store) else { return nil }
        let intent = try AppliedConfig.intent(of: config)
        intents.remember(intent, at: version)
        return intent
    }

    // MARK: reading

    /// Every instance with a release under `scope` (APP or APP/SERVICE; nil: everything) that
    /// `filter` lets through, in instance order.
    public func status(scope: String?, filter: StatusFilter = StatusFilter(), at: Date? = nil, position asked: Int64? = nil) async throws -> StatusResponse {
        let (position, past) = try await moment(at: at, position: asked)
        var prefix = ""
        if let scope {
            let parsed = try Self.scope(scope)
            guard parsed.channel == nil else { throw APIError.badRequest("status: scope is APPLICATION or APPLICATION/SERVICE, not an instance (use /instances)") }
            try await requireKnown(application: parsed.application, service: parsed.service)
            prefix = parsed.service.map { "\(parsed.application)/\($0)@" } ?? "\(parsed.application)/"
        }
        var rows = try await statuses(prefix: prefix, upTo: position, past: past).filter { row in
            row.desiredVersion != nil && (filter.statuses.isEmpty || filter.statuses.contains(row.status))
                && (filter.channel.map { row.instance.hasSuffix("@" + $0) } ?? true) && (filter.after.map { row.instance > $0 } ?? true)
        }
        var next: String?
        if let limit = filter.limit, rows.count > limit {
            rows.removeLast(rows.count - limit)
            next = rows.last?.instance
        }
        var channels: [String: [String]] = [:]
        var promotions: [String: [String: [String]]] = [:]
        for application in Set(rows.compactMap { $0.instance.split(separator: "/").first.map(String.init) }).sorted() {
            if let policy = try await AppliedConfig.policy(of: application, in: store, upTo: past ? position : nil) {
                channels[application] = policy.channels.map(\.name)
                promotions[application] = Dictionary(policy.channels.map { ($0.name, $0.after) }, uniquingKeysWith: { first, _ in first })
            }
        }
        let clock = try await clock(upTo: position, past: past)
        return StatusResponse(
            instances: rows.map { Self.entry($0, now: clock) }, position: position, channels: channels, promotions: promotions, next: next)
    }

    /// The log position a read `at` a time and/or `position` means (the earlier of the two, and
    /// never past the end), and whether it lies in the past.
    func moment(at: Date?, position: Int64?) async throws -> (position: Int64, past: Bool) {
        let last = try await store.lastPosition()
        var upTo = min(position ?? last, last)
        if let at { upTo = min(upTo, try await store.position(atTime: at)) }
        return (upTo, upTo < last)
    }

    /// The status rows under `prefix` now, or as they stood at a moment in the past.
    private func statuses(prefix: String, upTo position: Int64, past: Bool) async throws -> [InstanceStatusRow] {
        past ? try await store.instanceStatuses(prefix: prefix, atPosition: position) : try await store.instanceStatuses(prefix: prefix)
    }

    /// The time reasons are said at: now, or in the past the time of that moment (a soak's
    /// countdown as it stood then).
    private func clock(upTo position: Int64, past: Bool) async throws -> Int64 {
        past ? try await store.recordedAt(position: position)?.millisecondsSince1970 ?? 0 : now().millisecondsSince1970
    }

    /// A status row as the API shows it: a structured reason is said as of `now` (a wait's
    /// countdown is current, not the one of the decision).
    static func entry(_ row: InstanceStatusRow, now: Int64) -> InstanceStatusEntry {
        InstanceStatusEntry(
            instance: row.instance, channel: String(row.instance.split(separator: "@").last ?? ""),
            desired: row.desiredVersion, target: row.targetVersion, targetIsRollback: row.targetIsRollback,
            current: row.currentVersions.isEmpty ? [] : row.currentVersions.split(separator: ",").map(String.init),
            status: row.status, waitingFor: row.waitingFor,
            reason: row.why.map { $0.words(at: max(now, row.decidedAtMilliseconds)) } ?? row.reason,
            since: row.sinceMilliseconds > 0 ? Text.time(row.sinceMilliseconds) : nil, lastGood: row.lastGoodVersion,
            decisionVersion: row.decisionVersion, decisionPosition: row.decisionPosition)
    }

    /// One instance: its status and the explanation of its last decision (at a time or position).
    public func instance(_ id: ServiceInstanceID, at: Date? = nil, position: Int64? = nil) async throws -> InstanceDetail {
        try await requireKnown(application: id.application, service: id.service, channel: id.channel)
        // Its status as of the moment asked for (now, when none), said as of that moment.
        let (upTo, past) = try await moment(at: at, position: position)
        let row = try await statuses(prefix: id.description, upTo: upTo, past: past).first { $0.instance == id.description }
        let explanation: Explanation?
        do {
            explanation = try await explain(id, at: at, position: position)
        } catch let error as APIError where error.status == 404 {
            explanation = nil
        }
        let clock = try await clock(upTo: upTo, past: past)
        return InstanceDetail(status: row.map { Self.entry($0, now: clock) }, explanation: explanation)
    }

    /// Why an instance is where it is: the last decision up to `at`/`position`, its view, and the
    /// instance's events since the decision before.
    public func explain(_ id: ServiceInstanceID, at: Date? = nil, position: Int64? = nil) async throws -> Explanation {
        try await requireKnown(application: id.application, service: id.service, channel: id.channel)
        var limit = position
        if let at {
            let before = try await store.events(EventFilter(until: at, limit: 1, latest: true)).first?.position ?? 0
            limit = min(limit ?? before, before)
        }
        let stream = try await store.stream(.instance(id)).filter { event in limit.map { event.position <= $0 } ?? true }
        let decisions = stream.filter { $0.type == DecisionMade.eventType }
        guard let last = decisions.last, let made = try? last.decode(DecisionMade.self) else {
            throw APIError.notFound(
                "no decision about \(id)\(limit.map { " up to position \($0)" } ?? "") (is a worker running? `keelson serve` or `keelson worker`)")
        }
        guard let record = try await store.instanceRecord(id, upTo: made.viewPosition, stream: stream) else { throw APIError.notFound("no record of \(id) at position \(made.viewPosition)") }
        let previous = decisions.dropLast().last?.position ?? 0
        let (led, earlier) = try await eventsLeadingTo(id, after: previous, upTo: last.position)
        return Explanation(
            instance: id.description, decisionPosition: last.position, viewPosition: made.viewPosition,
            now: Text.time(made.nowMilliseconds), engineVersion: made.engineVersion, decision: made.decision,
            reason: made.decision.reason.words(at: made.nowMilliseconds), view: record,
            events: led.map(APIEvent.init), earlierEvents: earlier > 0 ? earlier : nil)
    }

    /// At most this many events are listed as leading to a decision (the latest).
    public static let explainEventLimit = 100

    /// The events that led to a decision: those after the decision before it, up to and including
    /// it, that the engine reads about the instance — its own stream (fetches, applies, approvals),
    /// its service's and application's (releases, marks, policy), alerts and pauses, and the
    /// decisions of the service's other instances that converged or passed their watch (what a
    /// soak counts from). The latest `explainEventLimit`, and how many earlier ones were left out.
    private func eventsLeadingTo(_ id: ServiceInstanceID, after previous: Int64, upTo last: Int64) async throws -> ([RecordedEvent], Int) {
        let perStream = 1_000
        var found: [RecordedEvent] = []
        var cut = false
        let streams: [StreamID] = [.instance(id), .service(id.application, id.service), .application(id.application), .alerts, .pauses]
        for stream in streams {
            let events = try await store.events(EventFilter(stream: stream, afterPosition: previous, limit: perStream))
            if events.count == perStream, let end = events.last?.position, end < last { cut = true }
            found += events.filter { $0.position <= last }
        }
        // The decisions of the service's other instances (a read of each one's stream, not of the log).
        var decisions: [RecordedEvent] = []
        for sibling in try await store.instanceStatuses(prefix: "\(id.application)/\(id.service)@") where sibling.instance != id.description {
            guard let other = ServiceInstanceID(sibling.instance) else { continue }
            let events = try await store.events(EventFilter(
                stream: .instance(other), afterPosition: previous, types: [DecisionMade.eventType], limit: perStream, upToPosition: last))
            if events.count == perStream { cut = true }
            decisions += events
        }
        for event in decisions {
            guard let made = try? event.decode(DecisionMade.self) else { continue }
            if made.decision.actions.contains(where: { if case .markConverged = $0 { true } else if case .markGood = $0 { true } else { false } }) {
                found.append(event)
            }
        }
        found.sort { $0.position < $1.position }
        let earlier = max(0, found.count - Self.explainEventLimit) + (cut ? 1 : 0)
        return (Array(found.suffix(Self.explainEventLimit)), earlier)
    }

    public func timeline(_ query: TimelineQuery) async throws -> TimelinePage {
        guard (1...10_000).contains(query.limit) else { throw APIError.badRequest("limit: must be from 1 to 10000, not \(query.limit)") }
        if let application = query.application {
            try await requireKnown(application: application, service: query.service, channel: query.channel)
        }
        let entries = try await store.timeline(query)
        return TimelinePage(entries: entries, next: entries.count == query.limit ? entries.last?.position : nil)
    }

    public func events(_ query: EventsQuery) async throws -> EventsResponse {
        guard (1...10_000).contains(query.limit) else { throw APIError.badRequest("limit: must be from 1 to 10000, not \(query.limit)") }
        var filter = EventFilter()
        filter.afterPosition = query.after
        filter.stream = query.stream.map { StreamID($0) }
        filter.types = query.types
        filter.limit = query.limit
        filter.latest = query.latest
        filter.since = query.since
        filter.until = query.until
        if let to = query.to {
            guard to >= query.after else { throw APIError.badRequest("to (\(to)) is before after (\(query.after))") }
            // Positions are dense: at most to − after events lie in the range.
            if query.stream == nil && query.types.isEmpty && !query.latest { filter.limit = Int(min(Int64(query.limit), to.subtracting(saturating: query.after))) }
        }
        if filter.limit == 0 { return EventsResponse(events: [], next: nil) }
        var events = try await store.events(filter)
        if let to = query.to { events = events.filter { $0.position <= to } }
        let full = events.count == query.limit && !query.latest
        return EventsResponse(events: events.map(APIEvent.init), next: full ? events.last?.position : nil)
    }

    // MARK: signals

    /// The release a signal is about: the one given, or the instance's current desired one.
    private func release(of id: ServiceInstanceID, given: String?) async throws -> String {
        if let given, !given.isEmpty {
            if let problem = Names.versionProblem(given) { throw APIError.badRequest("release: \(problem)") }
            return given
        }
        guard let desired = try await store.desiredState(of: id) else {
            throw APIError.conflict("\(id) has no desired state (has it been released? `keelson release \(id.application)/\(id.service) --version V`)")
        }
        return desired.version
    }

    private func append(_ payload: some EventPayload, to stream: StreamID, actor: String) async throws -> Int64 {
        let results = try await store.append([try NewEvent(payload, actor: actor)], to: stream)
        return results.positions.lowerBound
    }

    public func approve(_ id: ServiceInstanceID, _ body: ApproveBody, actor: String) async throws -> SignalResult {
        try await requireKnown(application: id.application, service: id.service, channel: id.channel)
        let version = try await release(of: id, given: body.release)
        let position = try await append(ApprovalGranted(instance: id, version: version, comment: body.comment), to: .instance(id), actor: actor)
        return SignalResult(message: "approved \(version) for \(id), as \(Text.actor(actor))", position: position)
    }

    public func reject(_ id: ServiceInstanceID, _ body: ReasonBody, actor: String) async throws -> SignalResult {
        try await requireKnown(application: id.application, service: id.service, channel: id.channel)
        let version = try await release(of: id, given: body.release)
        let position = try await append(ApprovalRejected(instance: id, version: version, reason: body.reason), to: .instance(id), actor: actor)
        return SignalResult(message: "rejected \(version) for \(id), as \(Text.actor(actor))", position: position)
    }

    public func rollback(_ id: ServiceInstanceID, _ body: ReasonBody, actor: String) async throws -> SignalResult {
        // A rollback goes to the last good release whatever `release` says, but a value given is checked.
        if let given = body.release, !given.isEmpty, let problem = Names.versionProblem(given) {
            throw APIError.badRequest("release: \(problem)")
        }
        try await requireKnown(application: id.application, service: id.service, channel: id.channel)
        let position = try await append(RollbackRequested(instance: id, reason: body.reason), to: .instance(id), actor: actor)
        return SignalResult(message: "rollback of \(id) requested; the worker carries it out", position: position)
    }

    /// Marks a release of a service bad: no instance will be moved to it, and instances on it are
    /// rolled back to their last good release.
    public func markBad(application: String, service: String, _ body: ReasonBody, actor: String) async throws -> SignalResult {
        try await requireKnown(application: application, service: service)
        guard let version = body.release, !version.isEmpty else { throw APIError.badRequest("release: which release is bad? (required)") }
        if let problem = Names.versionProblem(version) { throw APIError.badRequest("release: \(problem)") }
        let name = "\(application)/\(service)"
        let reason = body.reason.map { "\($0) (\(actor))" } ?? "marked bad by \(actor)"
        let position = try await append(ReleaseMarkedBad(service: name, version: version, reason: reason), to: .service(application, service), actor: actor)
        return SignalResult(message: "marked \(name) \(version) bad", position: position)
    }

    public func pause(_ body: ScopeBody, actor: String) async throws -> SignalResult {
        let scope = try Self.scope(body.scope)
        try await requireKnown(application: scope.application, service: scope.service, channel: scope.channel)
        let position = try await append(Paused(scope: body.scope, reason: body.reason), to: "pauses", actor: actor)
        return SignalResult(message: "paused \(body.scope)", position: position)
    }

    public func resume(_ body: ScopeBody, actor: String) async throws -> SignalResult {
        let scope = try Self.scope(body.scope)
        try await requireKnown(application: scope.application, service: scope.service, channel: scope.channel)
        let position = try await append(Resumed(scope: body.scope), to: "pauses", actor: actor)
        return SignalResult(message: "resumed \(body.scope)", position: position)
    }

    public func alert(_ body: AlertBody, actor: String) async throws -> SignalResult {
        // As Alertmanager sends them: the name is also the `alertname` label, so an alert fired
        // here and resolved through Alertmanager (or the other way round) is the same alert.
        var labels = body.labels ?? [:]
        if labels["alertname"] == nil { labels["alertname"] = body.name }
        try AlertInput.check(name: body.name, labels: labels, at: "")
        let rendering = AlertFired.rendering(name: body.name, labels: labels)
        let position = body.firing
            ? try await append(AlertFired(name: body.name, labels: labels), to: "alerts", actor: actor)
            : try await append(AlertResolved(name: body.name, labels: labels), to: "alerts", actor: actor)
        return SignalResult(message: "\(body.firing ? "firing" : "resolved"): \(rendering)", position: position)
    }

    /// Alertmanager's webhook (payload version 4): each alert that changes something becomes
    /// `AlertFired` or `AlertResolved`, named by its `alertname` label and carrying all its labels,
    /// in one append. Alertmanager repeats notifications (every `repeat_interval`, and whenever
    /// its group changes): an alert already firing since the same `startsAt`, or resolved when it
    /// is not firing, appends nothing.
    public func alertmanager(_ webhook: AlertmanagerWebhook, actor: String) async throws -> AlertmanagerResult {
        guard webhook.version == "4" else {
            throw APIError.badRequest("version: Keelson reads Alertmanager's webhook payload version 4, not \(BoundedInput.quoted(webhook.version))")
        }
        guard webhook.alerts.count <= AlertLimits.alertsPerNotification else {
            throw APIError.badRequest("alerts: at most \(AlertLimits.alertsPerNotification) alerts per notification, found \(webhook.alerts.count)")
        }
        for (index, alert) in webhook.alerts.enumerated() {
            let field = "alerts[\(index)]."
            guard alert.status == "firing" || alert.status == "resolved" else {
                throw APIError.badRequest("\(field)status: expected firing or resolved, found \(BoundedInput.quoted(alert.status))")
            }
            try AlertInput.check(name: alert.labels["alertname"] ?? "unnamed", labels: alert.labels, at: field)
            try AlertInput.checkTimes(startsAt: alert.startsAt, endsAt: alert.endsAt, at: field)
        }
        // Read what fires, decide what changes, append expecting the stream unchanged since the
        // read (a concurrent notification makes it read again), so that two deliveries of one
        // notification cannot both append.
        for _ in 0..<10 {
            let (firing, version) = try await firingAlerts()
            var state = firing
            var events: [NewEvent] = []
            var result = AlertmanagerResult(fired: [], resolved: [], unchanged: [], position: 0)
            for alert in webhook.alerts {
                let name = alert.labels["alertname"] ?? "unnamed"
                let key = AlertFired.key(name: name, labels: alert.labels)
                let rendering = AlertFired.rendering(name: name, labels: alert.labels)
                if alert.status == "firing" {
                    if let known = state[key], known.startsAt == alert.startsAt {
                        result.unchanged.append(rendering)
                        continue
                    }
                    let fired = AlertFired(name: name, labels: alert.labels, startsAt: alert.startsAt, fingerprint: alert.fingerprint)
                    state[key] = fired
                    events.append(try NewEvent(fired, actor: actor, correlationID: webhook.groupKey))
                    result.fired.append(rendering)
                } else {
                    guard state[key] != nil else {
                        result.unchanged.append(rendering)
                        continue
                    }
                    state[key] = nil
                    events.append(try NewEvent(AlertResolved(name: name, labels: alert.labels), actor: actor, correlationID: webhook.groupKey))
                    result.resolved.append(rendering)
                }
            }
            guard !events.isEmpty else {
                result.position = try await store.lastPosition()
                return result
            }
            do {
                let appended = try await store.append(events, to: "alerts", expecting: version == 0 ? .noStream : .exact(version))
                result.position = appended.positions.upperBound
                return result
            } catch StoreError.versionConflict {
                continue
            }
        }
        throw APIError(status: 503, code: "busy", message: "alerts changed concurrently too often; send the notification again")
    }

    /// The alerts firing now, by key (folded from the `alerts` stream), and the stream's version.
    func firingAlerts() async throws -> ([String: AlertFired], Int64) {
        let events = try await store.stream("alerts")
        var firing: [String: AlertFired] = [:]
        for event in events {
            switch event.type {
            case AlertFired.eventType:
                let fired = try event.decode(AlertFired.self)
                firing[fired.key] = fired
            case AlertResolved.eventType:
                firing[try event.decode(AlertResolved.self).key] = nil
            default:
                break
            }
        }
        return (firing, events.last?.version ?? 0)
    }

    // MARK: streams

    /// Every stream with its version, positions, times and event counts (the stream catalogue):
    /// as it stands, or as it stood just after `position` or at `at` (the last event recorded
    /// then) — the earlier of the two when both are given, as `explain` takes them. A position
    /// past the end of the log is the catalogue as it stands. Reads only.
    public func streams(at: Date? = nil, position: Int64? = nil) async throws -> [StreamSummary] {
        let (upTo, past) = try await moment(at: at, position: position)
        return past ? try await store.streamCatalogue(atPosition: upTo) : try await store.streamCatalogue()
    }

    // MARK: runtimes

    /// The runtimes of the applied config, with the instances that run on each.
    public func runtimes() async throws -> [RuntimeInfo] {
        guard let intent = try await appliedIntent() else {
            throw APIError.notFound("no config has been applied yet, so there are no runtimes (`keelson apply -f PATH`)")
        }
        return intent.runtimes.map { runtime in
            RuntimeInfo(
                name: runtime.name, type: runtime.type.rawValue, labels: runtime.labels, settings: runtime.settings,
                instances: intent.services.flatMap { service in
                    service.instances.filter { $0.runtime == runtime.name }.map { "\(service.application)/\(service.name)@\($0.channel)" }
                })
        }
    }

    /// Preflights one runtime: reachable and usable? (local: state folder writable, ports free,
    /// replicas rediscovered; custom: programs exist and are executable.)
    public func checkRuntime(name: String) async throws -> RuntimeCheckReport {
        guard let intent = try await appliedIntent() else {
            throw APIError.notFound("no config has been applied yet, so there is no runtime '\(name)' (`keelson apply -f PATH`)")
        }
        guard let declared = intent.runtimes.first(where: { $0.name == name }) else {
            let names = intent.runtimes.map(\.name)
            let hint = suggestion(for: name, among: names).map { " (did you mean '\($0)'?)" } ?? ""
            throw APIError.notFound("no runtime named '\(name)'\(hint); the applied config declares: \(names.joined(separator: ", "))")
        }
        let checks = await RuntimeFactory(stateRoot: stateRoot).make(declared, in: intent).check()
        return RuntimeCheckReport(
            runtime: name, type: declared.type.rawValue, usable: checks.allSatisfy(\.passed),
            checks: checks.map { RuntimeCheckReport.Check(name: $0.name, passed: $0.passed, detail: $0.detail) })
    }

    // MARK: tokens

    /// What is wrong with `name` as a token name, or nil when it fits: 1 to 64 letters, digits,
    /// '.', '_' or '-'.
    public static func tokenNameProblem(_ name: String) -> String? {
        let bytes = Array(name.utf8)
        let allowed = { (byte: UInt8) in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || [UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-")].contains(byte)
        }
        guard !(1...64).contains(bytes.count) || !bytes.allSatisfy(allowed) else { return nil }
        return "a token name is 1 to 64 letters, digits, '.', '_' or '-'; found \(BoundedInput.quoted(name))"
    }

    /// A new token's text: `kst_` and 256 random bits, base64url.
    public static func newTokenSecret() -> String {
        var bytes = [UInt8](repeating: 0, count: 32)
        var generator = SystemRandomNumberGenerator()
        for index in bytes.indices { bytes[index] = generator.next() }
        return "kst_" + Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// Records a new token (its hash, and a `TokenCreated` event by `createdBy`, in one
    /// transaction). `secret` is the token's text when the caller made it already (the server
    /// writes the first admin token to a file before recording it); a new one otherwise.
    public func createToken(_ body: TokenCreateBody, createdBy: String, secret: String? = nil) async throws -> CreatedToken {
        if let problem = Self.tokenNameProblem(body.name) { throw APIError.badRequest("name: \(problem)") }
        let token = secret ?? Self.newTokenSecret()
        let hint = String(token.prefix(10)) + "…"
        let millis = now().millisecondsSince1970
        do {
            try await store.insertToken(
                name: body.name, role: body.role.rawValue, hash: Self.hash(token), hint: hint, createdBy: createdBy, nowMilliseconds: millis)
        } catch let error as TokenStoreError {
            throw APIError.conflict(error.description)
        }
        guard let record = try await store.tokens().first(where: { $0.name == body.name }) else {
            throw APIError(status: 500, code: "internal", message: "token '\(body.name)' was recorded but cannot be read back")
        }
        return CreatedToken(token: token, info: Self.info(record))
    }

    public func tokens() async throws -> [TokenInfo] {
        try await store.tokens().map(Self.info)
    }

    /// Revokes a token (and records `TokenRevoked` by `actor`); never the last active admin token.
    public func revokeToken(name: String, actor: String) async throws -> SignalResult {
        let position: Int64
        do {
            position = try await store.revokeToken(name: name, actor: actor, nowMilliseconds: now().millisecondsSince1970)
        } catch let error as TokenStoreError {
            switch error {
            case .lastAdmin: throw APIError.conflict(error.description)
            case .unknown, .nameTaken: throw APIError.notFound(error.description)
            }
        }
        return SignalResult(message: "revoked token \(name)", position: position)
    }

    /// The caller a bearer token stands for, or nil when it is unknown or revoked.
    public func authenticate(token: String) async throws -> Identity? {
        guard token.hasPrefix("kst_"), let record = try await store.token(hash: Self.hash(token), nowMilliseconds: now().millisecondsSince1970),
              let role = Role(rawValue: record.role) else { return nil }
        return Identity(name: record.name, role: role)
    }

    static func hash(_ token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    static func info(_ record: TokenRecord) -> TokenInfo {
        TokenInfo(
            name: record.name, role: record.role, hint: record.hint, createdAt: Text.time(record.createdAtMilliseconds),
            createdBy: record.createdBy, lastUsedAt: record.lastUsedAtMilliseconds.map(Text.time),
            revokedAt: record.revokedAtMilliseconds.map(Text.time))
    }

    // MARK: scopes

    public struct Scope: Sendable, Hashable, CustomStringConvertible {
        public var application: String
        public var service: String?
        public var channel: String?

        public var description: String {
            application + (service.map { "/\($0)" } ?? "") + (channel.map { "@\($0)" } ?? "")
        }
    }

    /// `APP`, `APP/SERVICE` or `APP/SERVICE@CHANNEL`, every name checked (``Names``).
    public static func parseScope(_ text: String) -> Result<Scope, InputProblem> {
        let parts = text.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let names = parts[0].split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard !text.isEmpty, text.utf8.count <= 3 * (Names.maxLength + 1), names.count <= 2, parts.count == 1 || names.count == 2,
              !(parts.count > 1 && parts[1].contains("/"))
        else {
            return .failure(InputProblem(
                "\(BoundedInput.quoted(text)) is not a scope: write APPLICATION, APPLICATION/SERVICE or APPLICATION/SERVICE@CHANNEL"))
        }
        let scope = Scope(application: names[0], service: names.count > 1 ? names[1] : nil, channel: parts.count > 1 ? parts[1] : nil)
        for (name, kind) in [(scope.application, Names.Kind.application), (scope.service, .service), (scope.channel, .channel)] {
            if let name, let problem = Names.problem(name, kind: kind) {
                return .failure(InputProblem("\(BoundedInput.quoted(text)) is not a scope: \(problem)"))
            }
        }
        return .success(scope)
    }

    /// ``parseScope(_:)`` for a request: 400 naming the scope.
    public static func scope(_ text: String) throws -> Scope {
        switch parseScope(text) {
        case .success(let scope): return scope
        case .failure(let problem): throw APIError.badRequest("scope: \(problem.message)")
        }
    }
}

/// The last parsed intent and the `config` stream version it was parsed at.
final class IntentCache: Sendable {
    private let state = Mutex<(version: Int64, intent: Intent)?>(nil)

    func intent(at version: Int64) -> Intent? {
        state.withLock { $0.flatMap { $0.version == version ? $0.intent : nil } }
    }

    func remember(_ intent: Intent, at version: Int64) {
        state.withLock { $0 = (version, intent) }
    }
}
