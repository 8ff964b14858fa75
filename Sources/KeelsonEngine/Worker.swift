import Foundation
import KeelsonCompiler
import KeelsonCore
import KeelsonRuntimes
import KeelsonStore

/// Runs the loop: fold the log into `EngineState`, decide for every instance that has news or a
/// timer due, record each decision with the applies it asks for in one transaction (the outbox),
/// carry the applies out through the runtimes (recorded by `RuntimeRecorder`), and fetch instances
/// at their cadence. Event-driven: it wakes on new events and at the earliest time something asked
/// for, never by polling.
///
/// Several workers may share one database: each instance is owned through a lease (the `leases`
/// table) that its worker renews; an expired lease is taken over, and recorded (`LeaseAcquired`).
/// A worker's name is exclusive while its holder lives: the name is a lease too, held by the
/// process (host, boot, pid and start time). A worker restarted under the same name takes the name
/// — and so its instances' leases — back at once from its dead predecessor; a second live process
/// under a taken name is refused.
///
/// Crash resume: an apply requested without a result is unfinished work when the worker that runs
/// it restarts (`WorkerStarted` under the same name), when the worker holding the instance's lease
/// restarts, when another worker takes the lease over, or when no result came long after its
/// progress deadline. After a fresh fetch it is re-issued with its idempotency key or abandoned —
/// by a recorded decision like any other.
///
/// Nothing about one instance stops the loop: an instance the worker cannot decide about (a
/// document it cannot read, a runtime it cannot build, an error while recording) gets a recorded
/// `DecisionFailed` with the reason, and the others go on; a pass that fails as a whole (the
/// database, say) is reported and tried again.
public actor Worker {
    public struct Settings: Sendable {
        /// The worker's name: the actor of what it records.
        public var name: String
        /// At most this many applies at once.
        public var applyConcurrency = 4
        public var clock: @Sendable () -> Date = Date.init
        /// Where local runtimes keep their state (see `RuntimeFactory`).
        public var stateRoot: String
        /// How long a lease on an instance (and on the worker's name) lasts; it is renewed at half
        /// of that. A worker that stops without releasing its leases holds its instances this long
        /// (unless it is started again under its name).
        public var leaseDuration: Duration = .seconds(30)
        /// Told how long each fetch took (runtime name, succeeded, duration): the server's metrics.
        public var onFetch: @Sendable (String, Bool, Duration) -> Void = { _, _, _ in }
        /// Told about what the loop met and went on from (a failed pass, an instance it could not
        /// decide about, its name lost): the CLI prints it, the server logs it.
        public var onProblem: @Sendable (String) -> Void = { _ in }

        public init(name: String = Worker.defaultName, stateRoot: String) {
            self.name = name
            self.stateRoot = stateRoot
        }
    }

    /// `worker:<host name>`: stable across restarts, so that a restarted worker takes its leases
    /// back at once; a second worker on the same host needs a name of its own.
    public static var defaultName: String { "worker:\(WorkerIdentity.hostName)" }

    /// Bounds on `Settings.leaseDuration`.
    public static let leaseDurations: ClosedRange<Duration> = .seconds(1) ... .seconds(3600)
    /// How long a runtime's `remove` may take for an instance dropped from config.
    public static let removeTimeout: Duration = .seconds(120)
    /// When an instance could not be decided about, it is asked again after this long (or on news).
    public static let undecidableRetry: Duration = .seconds(60)
    /// A pass that failed as a whole is tried again after this long, doubling up to `passRetryMax`.
    public static let passRetryMin: Duration = .seconds(1)
    public static let passRetryMax: Duration = .seconds(30)

    /// Why a worker cannot run.
    public enum Failure: Error, CustomStringConvertible {
        case nameInUse(name: String, holder: String, untilMilliseconds: Int64)

        public var description: String {
            switch self {
            case .nameInUse(let name, let holder, let until):
                let identity = WorkerIdentity(text: holder)
                let who = identity.map { $0.isGone == false ? "a running \($0)" : "\($0) (which this machine cannot check)" } ?? "'\(holder)'"
                let wait = identity?.isGone == false ? "" : " until \(Text.time(until)) unless it renews it"
                return "the worker name \(BoundedInput.quoted(name)) is in use by \(who)\(wait): stop that worker, "
                    + "or give this one another name (keelson worker --name, keelson serve --worker-name)"
            }
        }
    }

    /// A recorded decision, for whoever watches the worker (the CLI prints them).
    public struct Report: Sendable {
        public var instance: ServiceInstanceID
        public var decision: Decision
        public var position: Int64
    }

    public let store: EventStore
    public let settings: Settings
    private let fixedRuntimes: [String: any Runtime]?
    private let onDecision: @Sendable (Report) -> Void
    private let identity = WorkerIdentity.current()

    private var state = EngineState()
    private var folded: Int64 = 0
    /// Applications with news since their instances were last decided.
    private var dirty: Set<String> = []
    private var everythingDirty = true
    private var wakes: [ServiceInstanceID: Int64] = [:]
    private var lastKeys: [ServiceInstanceID: String] = [:]
    private var schedule = FetchSchedule(cadence: FetchCadence())
    private var runtimes: [String: any Runtime] = [:]
    /// Runtimes the config declares that cannot be built, and why.
    private var unbuildable: [String: String] = [:]
    private var declared: [String: RuntimeIntent] = [:]
    /// The runtime each release's document names (or why it cannot be read), by digest.
    private var runtimeNames: [String: Result<String, RuntimeProblem>] = [:]
    private var cadences: [String: FetchCadence] = [:]
    private var running: [ServiceInstanceID: Task<Void, Never>] = [:]
    private var queued: [(ServiceInstanceID, String, ReleaseRef)] = []
    /// Instances dropped from config; those still to be removed from their runtime, with their
    /// last desired state.
    private var removed: Set<ServiceInstanceID> = []
    private var removals: [ServiceInstanceID: ReleaseRef?] = [:]
    private var started = false
    private let wakeup = Wakeup()
    /// Until when (ms) this worker holds its name; nil once it lost it.
    private var nameUntil: Int64?
    /// Instances this worker holds a lease on, and until when (ms).
    private var leaseUntil: [ServiceInstanceID: Int64] = [:]
    /// Instances another worker holds, and until when (ms): not asked again before that.
    private var heldElsewhere: [ServiceInstanceID: Int64] = [:]

    /// `runtimes` replaces the runtimes config declares (tests pass simulated ones by name).
    public init(
        store: EventStore, settings: Settings, runtimes: [String: any Runtime]? = nil,
        onDecision: @escaping @Sendable (Report) -> Void = { _ in }
    ) {
        self.store = store
        var settings = settings
        settings.leaseDuration = min(max(settings.leaseDuration, Self.leaseDurations.lowerBound), Self.leaseDurations.upperBound)
        self.settings = settings
        self.fixedRuntimes = runtimes
        self.onDecision = onDecision
        if let runtimes { self.runtimes = runtimes }
    }

    /// The engine state as folded so far (for status, tests).
    public var engineState: EngineState { state }

    private var nowMilliseconds: Int64 { settings.clock().millisecondsSince1970 }

    /// Claims the worker's name (refused while another live process holds it), records
    /// `WorkerStarted` and folds the whole log.
    public func start() async throws {
        guard !started else { return }
        let now = nowMilliseconds
        switch try await claimName(now: now) {
        case .heldBy(let holder, let until):
            throw Failure.nameInUse(name: settings.name, holder: holder, untilMilliseconds: until)
        case .renewed, .acquired:
            break
        }
        started = true
        try await store.append(
            [try NewEvent(WorkerStarted(worker: settings.name, engineVersion: Engine.version), actor: settings.name)],
            to: StreamID("worker:\(settings.name)"))
        try await catchUp()
    }

    /// Takes or renews the lease on the worker's name, as this process. A holder on this machine
    /// that is gone loses it at once, whatever its expiry; one that lives keeps it, whatever its
    /// expiry; one elsewhere keeps it until it expires.
    private func claimName(now: Int64) async throws -> LeaseOutcome {
        let until = now.adding(saturating: settings.leaseDuration.milliseconds)
        let outcome = try await store.claimLease(
            "worker:\(settings.name)", owner: identity.text, nowMilliseconds: now, expiresAtMilliseconds: until
        ) { holder, expired in
            guard let other = WorkerIdentity(text: holder) else { return expired }
            return other.isGone ?? expired
        }
        switch outcome {
        case .renewed, .acquired:
            if nameUntil == nil { LiveWorkers.shared.insert(identity.text) }
            nameUntil = until
        case .heldBy:
            nameUntil = nil
            LiveWorkers.shared.remove(identity.text)
        }
        return outcome
    }

    /// Runs until the task is cancelled. A pass that fails is reported and tried again (after 1 s,
    /// doubling up to 30 s); only a name in use at the start stops it.
    public func run() async throws {
        try await start()
        let subscription = store.follow(after: folded)
        let wakeup = wakeup
        let follower = Task {
            for try await _ in subscription { wakeup.signal() }
        }
        defer { follower.cancel() }
        var failures = 0
        while !Task.isCancelled {
            var next: Date?
            do {
                next = try await step()
                failures = 0
            } catch where Task.isCancelled || error is CancellationError {
                break
            } catch {
                // What this pass had not got to yet is news for the next.
                everythingDirty = true
                failures += 1
                let retry = min(Self.passRetryMin * (1 << min(failures - 1, 10)), Self.passRetryMax)
                settings.onProblem("\(settings.name): a pass failed (trying again in \(retry.short)): \(error)")
                next = settings.clock().addingTimeInterval(retry.timeInterval)
            }
            // Wake for leases too: renew ours, and look again at instances whose holder may be gone.
            let renewal = settings.clock().addingTimeInterval(settings.leaseDuration.timeInterval / 2)
            let pause = min(next ?? renewal, renewal).timeIntervalSince(settings.clock())
            if pause > 0 { await wakeup.wait(seconds: min(pause, 3600)) }
        }
        await waitForApplies()
        await stop()
    }

    /// Gives up this worker's leases and its name, so that another worker need not wait for them
    /// to expire.
    public func stop() async {
        let (store, name, identity) = (store, settings.name, identity.text)
        let holdsName = nameUntil != nil
        // In a task of its own: the caller may be a cancelled task.
        await Task.detached {
            // A worker that lost its name must not release the leases of the one that holds it now.
            if holdsName { try? await store.releaseLeases(owner: name) }
            try? await store.releaseLease("worker:\(name)", owner: identity)
        }.value
        LiveWorkers.shared.remove(identity)
        nameUntil = nil
        leaseUntil.removeAll()
    }

    /// Forgets this worker without releasing anything, as a killed process would (tests). Its
    /// applies in flight are left alone.
    func abandon() {
        LiveWorkers.shared.remove(identity.text)
        nameUntil = nil
        leaseUntil.removeAll()
    }

    /// Takes or renews the worker's name and the leases of `instances` that need it; records a
    /// `LeaseAcquired` for each instance that changed hands. Returns the instances this worker
    /// holds now (none while another process holds its name).
    private func holdLeases(_ instances: [ServiceInstanceID], now: Int64) async throws -> Set<ServiceInstanceID> {
        let duration = settings.leaseDuration.milliseconds
        let renewAt = now.adding(saturating: duration / 2)
        if (nameUntil ?? 0) < renewAt {
            let hadName = nameUntil != nil
            if case .heldBy(let holder, _) = try await claimName(now: now) {
                leaseUntil.removeAll()
                if hadName {
                    settings.onProblem("\(settings.name): another process (\(WorkerIdentity(text: holder)?.description ?? holder)) "
                        + "took this worker's name while it could not renew it; this worker acts on nothing until the name is free again")
                }
                return []
            }
        }
        let needing = instances.filter { (leaseUntil[$0] ?? 0) < renewAt && (heldElsewhere[$0] ?? 0) <= now }
        if !needing.isEmpty {
            let until = now.adding(saturating: duration)
            let outcomes = try await store.acquireLeases(
                needing.map { "instance:\($0)" }, owner: settings.name, nowMilliseconds: now, expiresAtMilliseconds: until)
            var changes: [StreamAppend] = []
            for id in needing {
                switch outcomes["instance:\(id)"] {
                case .renewed?:
                    leaseUntil[id] = until
                case .acquired(let previous)?:
                    leaseUntil[id] = until
                    heldElsewhere[id] = nil
                    changes.append(StreamAppend(
                        stream: StreamID("instance:\(id)"),
                        events: [try NewEvent(LeaseAcquired(instance: id, worker: settings.name, previousOwner: previous), actor: settings.name)]))
                case .heldBy(_, let heldUntil)?:
                    leaseUntil[id] = nil
                    heldElsewhere[id] = heldUntil
                case nil:
                    leaseUntil[id] = nil
                }
            }
            if !changes.isEmpty {
                try await store.append(changes)
                try await catchUp()
            }
        }
        return Set(instances.filter { (leaseUntil[$0] ?? 0) > now })
    }

    /// One pass at the clock's `now`: fold, decide what is due, launch applies and removals, fetch
    /// what is due. Returns when the worker next wants to run (or nil: only when something happens).
    @discardableResult
    public func step() async throws -> Date? {
        if !started { try await start() }
        try await catchUp()
        let now = settings.clock()
        let nowMilliseconds = now.millisecondsSince1970
        let candidates = Set(state.instances.keys.filter { state.instances[$0]?.desired != nil && !removed.contains($0) })
            .union(removals.keys).sorted()
        let owned = try await holdLeases(candidates, now: nowMilliseconds)
        let instances = candidates.filter { owned.contains($0) && !removed.contains($0) }
        let deciding = Set(instances)
        // News that arrives while deciding (our own decisions among it) is for the next pass.
        let news = dirty
        let everything = everythingDirty
        dirty.removeAll()
        everythingDirty = false
        for id in instances {
            let timerDue = wakes[id].map { $0 <= nowMilliseconds } ?? false
            let due = everything || news.contains(id.application) || timerDue
            guard due, running[id] == nil, !queued.contains(where: { $0.0 == id }) else { continue }
            // A timer (a watch's or a soak's end, a deadline) is judged on a fresh observation:
            // fetched in this pass, and decided again with it.
            if timerDue { schedule.expedite(id, at: now) }
            do {
                try await decide(id, now: nowMilliseconds)
            } catch where Task.isCancelled || error is CancellationError {
                throw error
            } catch {
                // Whatever went wrong is about this instance: say so for it, and go on.
                try await undecidable(id, "recording its decision failed: \(error)", now: nowMilliseconds)
            }
        }
        for id in removals.keys.sorted() where owned.contains(id) && running[id] == nil {
            launchRemoval(id)
        }
        for id in schedule.instances where !deciding.contains(id) { schedule.remove(id) }
        for id in instances { schedule.add(id, at: now) }
        for id in schedule.due(at: now) where running[id] == nil {
            guard let record = state.instances[id], let release = record.request?.release ?? record.desired else { continue }
            guard case .success(let (runtime, name)) = runtime(for: release) else {
                schedule.fetched(id, at: now, stable: false, cadence: nil)
                continue
            }
            let desired = Self.desiredState(id, release)
            let started = ContinuousClock.now
            let observation = try? await RuntimeRecorder(runtime: runtime, store: store, actor: settings.name).fetch(id, desired: desired)
            settings.onFetch(name, observation != nil, ContinuousClock.now - started)
            // Fetched often only while converging; an instance that waits or is settled is stable.
            let stable = !record.status.isConverging
                || FetchCadence.isStable(desiredVersion: record.desired?.version, observation: observation)
            schedule.fetched(id, at: now, stable: stable, cadence: cadences[name])
        }
        // Decisions recorded in this pass are news for their neighbours: go again at once.
        if everythingDirty || !dirty.isEmpty { return now }
        // Instances whose apply runs (or waits to run) are looked at again when it ends.
        let busy = Set(running.keys).union(queued.map(\.0))
        let wake = wakes.filter { deciding.contains($0.key) && !busy.contains($0.key) }.values.min()
            .map { Date(millisecondsSince1970: max($0, nowMilliseconds.adding(saturating: 10))) }
        return [wake, schedule.nextWake(excluding: busy)].compactMap { $0 }.min()
    }

    /// Decides about one instance and records the decision when it says something new.
    private func decide(_ id: ServiceInstanceID, now: Int64) async throws {
        guard let view = state.view(of: id) else {
            // No policy for its application: nothing to decide by — unless that is because
            // something could not be read.
            let unreadable = state.unreadable(concerning: id)
            if !unreadable.isEmpty { try await undecidable(id, "cannot decide: " + unreadable.joined(separator: "; "), now: now) }
            return
        }
        if view.unreadable.isEmpty, let desired = view.record.desired, case .failure(let problem) = runtime(for: desired) {
            try await undecidable(id, problem.description, now: now)
            return
        }
        let decision = Engine.decide(view, nowMilliseconds: now)
        wakes[id] = decision.wakeAtMilliseconds
        let key = Self.key(decision)
        // A worker that just started knows the last recorded decision from the log: the same one
        // again (same status and reason) is not recorded twice.
        if lastKeys[id] == nil, let record = state.instances[id], record.status == decision.status,
            Self.normalized(record.reason) == Self.normalized(decision.reason)
        {
            lastKeys[id] = key
        }
        if !decision.actions.isEmpty || lastKeys[id] != key {
            try await record(decision, for: id, view: view, now: now)
            lastKeys[id] = key
            try await catchUp()
        }
    }

    /// Records that the worker could not decide about `id` (once per reason), and asks again later.
    private func undecidable(_ id: ServiceInstanceID, _ reason: String, now: Int64) async throws {
        wakes[id] = now.adding(saturating: Self.undecidableRetry.milliseconds)
        let key = "undecidable|" + reason
        guard lastKeys[id] != key else { return }
        settings.onProblem("\(settings.name): \(id): \(reason)")
        try await store.append(
            [try NewEvent(DecisionFailed(instance: id, nowMilliseconds: now, reason: reason), actor: settings.name)],
            to: StreamID("instance:\(id)"))
        lastKeys[id] = key
        try await catchUp()
    }

    /// Waits until every apply launched so far has finished (and been recorded).
    public func waitForApplies() async {
        while let task = running.values.first {
            await task.value
        }
    }

    // MARK: folding

    private func catchUp() async throws {
        let types = EngineState.eventTypes + [ConfigApplied.eventType, InstanceRemoved.eventType, InstanceRemovalFinished.eventType]
        while true {
            let events = try await store.events(EventFilter(afterPosition: folded, types: types, limit: 2_000))
            guard !events.isEmpty else { return }
            for event in events {
                switch event.type {
                case ConfigApplied.eventType:
                    if let config = try? event.decode(ConfigApplied.self) { loadRuntimes(config) }
                case InstanceRemoved.eventType:
                    // Before the fold sees it: what to remove is the last desired state.
                    if let removal = try? event.decode(InstanceRemoved.self), let id = ServiceInstanceID(removal.instance) {
                        removed.insert(id)
                        removals[id] = .some(state.instances[id]?.desired)
                    }
                    state.evolve(event)
                case InstanceRemovalFinished.eventType:
                    if let finished = try? event.decode(InstanceRemovalFinished.self) { removals[finished.instance] = nil }
                default:
                    if event.type == DesiredStateCompiled.eventType, let id = event.instanceID, removed.contains(id) {
                        // Back in config: converged like any other instance again.
                        removed.remove(id)
                        removals[id] = nil
                    }
                    state.evolve(event)
                }
                if let id = event.instanceID {
                    // Its neighbours read it too: upstream convergence, concurrency counts.
                    dirty.insert(id.application)
                } else {
                    everythingDirty = true
                }
                folded = event.position
            }
        }
    }

    private func loadRuntimes(_ config: ConfigApplied) {
        guard let intent = try? AppliedConfig.intent(of: config) else { return }
        let factory = RuntimeFactory(stateRoot: settings.stateRoot, clock: settings.clock)
        for runtime in intent.runtimes {
            cadences[runtime.name] = FetchCadence(settings: runtime.settings)
            guard fixedRuntimes == nil else { continue }
            // Keep a runtime whose declaration did not change (a simulated one holds its state).
            if declared[runtime.name] != runtime || (runtimes[runtime.name] == nil && unbuildable[runtime.name] == nil) {
                switch factory.build(runtime, in: intent) {
                case .success(let built):
                    runtimes[runtime.name] = built
                    unbuildable[runtime.name] = nil
                case .failure(let problem):
                    runtimes[runtime.name] = nil
                    unbuildable[runtime.name] = problem.reason
                }
                declared[runtime.name] = runtime
            }
        }
    }

    /// Why a release cannot be acted on here.
    struct RuntimeProblem: Error, CustomStringConvertible {
        var description: String
    }

    /// The runtime a release's document names, and its name.
    private func runtime(for release: ReleaseRef) -> Result<(any Runtime, String), RuntimeProblem> {
        let named: Result<String, RuntimeProblem>
        if let cached = runtimeNames[release.digest] {
            named = cached
        } else {
            do {
                named = .success(try CompiledDocument.decode(release.document).runtime.name)
            } catch {
                named = .failure(RuntimeProblem(description: "the desired state of \(release.version) cannot be read: \(error)"))
            }
            // Bounded: a cache, not a record of every release ever seen.
            if runtimeNames.count >= 10_000 { runtimeNames.removeAll() }
            runtimeNames[release.digest] = named
        }
        let name: String
        switch named {
        case .success(let found): name = found
        case .failure(let problem): return .failure(problem)
        }
        if let runtime = runtimes[name] { return .success((runtime, name)) }
        if let reason = unbuildable[name] { return .failure(RuntimeProblem(description: "runtime \(name) cannot be built: \(reason)")) }
        return .failure(RuntimeProblem(description: "runtime \(BoundedInput.quoted(name)) is not declared by the config in force"))
    }

    static func desiredState(_ id: ServiceInstanceID, _ release: ReleaseRef) -> DesiredState {
        DesiredState(
            instance: id, digest: release.digest, version: release.version, document: release.document,
            replicas: (try? CompiledDocument.decode(release.document))?.replicas ?? 1)
    }

    /// What must change for a decision to be recorded again: its status, precondition, release,
    /// and the words of its reason (numbers such as countdowns left out).
    static func key(_ decision: Decision) -> String {
        "\(decision.status.rawValue)|\(decision.waitingFor?.rawValue ?? "")|\(decision.version ?? "")|" + normalized(decision.reason)
    }

    /// A reason without its numbers (durations, counts, times), which change from pass to pass.
    static func normalized(_ reason: String) -> String {
        reason.replacingOccurrences(of: #"([0-9]+(ms|[dhms])?)+"#, with: "#", options: .regularExpression)
    }

    /// An apply's timeout: the release's progress deadline, at least a second and at most
    /// `InputLimits.maxDurationSeconds` (a recorded document may hold any number).
    static func timeout(_ release: ReleaseRef) -> Duration {
        .seconds(min(max(1, release.progressDeadlineSeconds), InputLimits.maxDurationSeconds))
    }

    // MARK: recording and applying

    /// One transaction: `DecisionMade`, the `ApplyRequested` outbox, `ReleaseMarkedBad`, and the
    /// failure of an abandoned request. Then the applies start.
    private func record(_ decision: Decision, for id: ServiceInstanceID, view: InstanceView, now: Int64) async throws {
        let record = view.record
        let made = DecisionMade(instance: id, viewPosition: folded, nowMilliseconds: now, engineVersion: Engine.version, decision: decision)
        var instanceEvents = [try NewEvent(made, actor: settings.name)]
        var others: [StreamAppend] = []
        var launches: [(String, ReleaseRef)] = []
        for action in decision.actions {
            switch action {
            case .apply(_, let digest, let rollback):
                guard let release = [record.desired, record.lastGood, record.request?.release].compactMap({ $0 })
                    .first(where: { $0.digest == digest })
                else { continue }
                let requestID = "req-" + UUID().uuidString.lowercased()
                instanceEvents.append(try NewEvent(
                    ApplyRequested(
                        instance: id, requestID: requestID, version: release.version, digest: release.digest,
                        document: release.document, rollback: rollback),
                    actor: settings.name))
                launches.append((requestID, release))
            case .reissue(let requestID):
                if let request = record.request, request.requestID == requestID { launches.append((requestID, request.release)) }
            case .abandon(let requestID, let reason):
                guard let request = record.request, request.requestID == requestID else { continue }
                let runtimeName = (try? runtime(for: request.release).get())?.1 ?? "unknown"
                let finished = ApplyFinished(
                    instance: id, runtime: runtimeName, digest: request.release.digest, idempotencyKey: requestID,
                    result: ApplyResult(succeeded: false, durationMilliseconds: 0, error: "abandoned: \(reason)"))
                instanceEvents.append(NewEvent(type: ApplyFinished.failedType, payload: try CanonicalJSON.string(finished), actor: settings.name))
            case .markBad(let version, let reason):
                let service = "\(id.application)/\(id.service)"
                others.append(StreamAppend(
                    stream: StreamID("service:\(service)"),
                    events: [try NewEvent(ReleaseMarkedBad(service: service, version: version, reason: reason), actor: settings.name)]))
            case .markConverged, .markGood:
                break
            }
        }
        let results = try await store.append([StreamAppend(stream: StreamID("instance:\(id)"), events: instanceEvents)] + others)
        onDecision(Report(instance: id, decision: decision, position: results[0].positions.lowerBound))
        for (requestID, release) in launches { launch(id, requestID, release) }
    }

    private func launch(_ id: ServiceInstanceID, _ requestID: String, _ release: ReleaseRef) {
        guard running.count < settings.applyConcurrency else {
            queued.append((id, requestID, release))
            return
        }
        let store = store
        let actor = settings.name
        let onFetch = settings.onFetch
        let found = runtime(for: release)
        guard case .success(let (runtime, runtimeName)) = found else {
            guard case .failure(let problem) = found else { return }
            running[id] = Task {
                let finished = ApplyFinished(
                    instance: id, runtime: "unknown", digest: release.digest, idempotencyKey: requestID,
                    result: ApplyResult(succeeded: false, durationMilliseconds: 0, error: problem.description))
                _ = try? await store.append(
                    [NewEvent(type: ApplyFinished.failedType, payload: (try? CanonicalJSON.string(finished)) ?? "{}", actor: actor)],
                    to: StreamID("instance:\(id)"))
                self.finished(id)
            }
            return
        }
        let desired = Self.desiredState(id, release)
        let timeout = Self.timeout(release)
        running[id] = Task {
            let recorder = RuntimeRecorder(runtime: runtime, store: store, actor: actor)
            _ = try? await recorder.apply(desired, idempotencyKey: requestID, timeout: timeout)
            let started = ContinuousClock.now
            let observation = try? await recorder.fetch(id, desired: desired)
            onFetch(runtimeName, observation != nil, ContinuousClock.now - started)
            self.finished(id)
        }
    }

    /// Stops what an instance dropped from config runs, through its runtime's `remove`, and
    /// records the result (`InstanceRemovalFinished`). Unfinished when its worker stops: the next
    /// holder of the instance's lease does it again (`remove` is idempotent).
    private func launchRemoval(_ id: ServiceInstanceID) {
        guard let last = removals[id] else { return }
        let store = store
        let actor = settings.name
        let found: Result<(any Runtime, String), RuntimeProblem> = last.map { runtime(for: $0) }
            ?? .failure(RuntimeProblem(description: "it had no desired state, so no runtime to remove it from"))
        running[id] = Task {
            let runtimeName: String
            let result: ApplyResult
            switch found {
            case .success(let (runtime, name)):
                runtimeName = name
                let desired = last.map { Self.desiredState(id, $0) }
                do {
                    result = try await runtime.remove(id, desired: desired, timeout: Self.removeTimeout)
                } catch {
                    result = ApplyResult(succeeded: false, durationMilliseconds: 0, error: "\(error)")
                }
            case .failure(let problem):
                runtimeName = "unknown"
                result = ApplyResult(succeeded: true, durationMilliseconds: 0, output: "nothing to stop: \(problem.description)")
            }
            _ = try? await store.append(
                [try NewEvent(InstanceRemovalFinished(instance: id, runtime: runtimeName, result: result), actor: actor)],
                to: StreamID("instance:\(id)"))
            self.finished(id)
        }
    }

    private func finished(_ id: ServiceInstanceID) {
        running[id] = nil
        schedule.expedite(id, at: settings.clock())
        if !queued.isEmpty, running.count < settings.applyConcurrency {
            let (next, requestID, release) = queued.removeFirst()
            launch(next, requestID, release)
        }
        wakeup.signal()
    }
}

extension RecordedEvent {
    /// The instance of an `instance:` stream.
    var instanceID: ServiceInstanceID? {
        streamID.rawValue.hasPrefix("instance:") ? ServiceInstanceID(String(streamID.rawValue.dropFirst(9))) : nil
    }
}

/// Wakes the worker's loop: on a signal (new events) or at a time, whichever comes first.
final class Wakeup: @unchecked Sendable {
    private let lock = NSLock()
    private var pending = false
    private var continuation: CheckedContinuation<Void, Never>?

    func signal() {
        lock.lock()
        if let continuation {
            self.continuation = nil
            lock.unlock()
            continuation.resume()
        } else {
            pending = true
            lock.unlock()
        }
    }

    private func next() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            lock.lock()
            if pending {
                pending = false
                lock.unlock()
                continuation.resume()
            } else {
                self.continuation = continuation
                lock.unlock()
            }
        }
    }

    func wait(seconds: TimeInterval) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                // Also when cancelled (the other child is done, or the worker stops): a spare
                // signal only costs one extra pass.
                try? await Task.sleep(for: .milliseconds(Int64(clampingDouble: seconds * 1000)))
                self.signal()
            }
            group.addTask { await self.next() }
            await group.next()
            group.cancelAll()
        }
    }
}
