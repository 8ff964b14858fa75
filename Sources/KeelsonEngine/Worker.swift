import Foundation
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
        /// At most this many fetches of one runtime at once (across its batches).
        public var fetchConcurrency = 16
        public var clock: @Sendable () -> Date = Date.init
        /// Where local runtimes keep their state (see `DeclaredRuntime.build`).
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
        /// A snapshot of the engine's state is stored once the log has grown by this many events
        /// since the last one (0: never) and `snapshotInterval` has passed, and when the worker
        /// stops; a worker starts from the latest.
        public var snapshotEvery: Int64 = 10_000
        /// At least this long between two snapshots while the worker runs, and from its start to
        /// the first (a snapshot of a big fleet costs a second or two of CPU).
        public var snapshotInterval: Duration = .seconds(300)
        /// How many snapshots are kept (the latest).
        public var snapshotsKept = 2
        /// Unchanged fetches of a settled instance are held back and recorded together, as one
        /// `StateUnchanged`, at least this often (0: each fetch is recorded on its own). See
        /// `Worker.UnchangedRun`.
        public var unchangedRunLength: Duration = .seconds(600)

        public init(name: String = Worker.defaultName, stateRoot: String) {
            self.name = name
            self.stateRoot = stateRoot
        }
    }

    /// `worker:<host name>`: stable across restarts, so that a restarted worker takes its leases
    /// back at once; a second worker on the same host needs a name of its own.
    public static var defaultName: String { "worker:\(WorkerIdentity.hostName)" }

    /// Bounds on `Settings.unchangedRunLength`.
    public static let unchangedRunLengths: ClosedRange<Duration> = .zero ... .seconds(86_400)
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
        /// The decision's `now` (ms since 1970).
        public var nowMilliseconds: Int64

        /// The reason in words, as of the decision.
        public var words: String { decision.reason.words(at: nowMilliseconds) }
    }

    public let store: EventStore
    public let settings: Settings
    let fixedRuntimes: [String: any Runtime]?
    /// How the runtimes of a recorded config are read.
    let declarations: any RuntimeDeclarations
    let onDecision: @Sendable (Report) -> Void
    let identity = WorkerIdentity.current()

    var state = EngineState()
    var folded: Int64 = 0
    /// The position of the last snapshot stored or started from, and the one being written.
    var snapshotAt: Int64 = 0
    var snapshotTime: Int64 = 0
    var snapshotWriting: Task<Void, Never>?
    /// The instances decided about: those with a desired state that config did not drop.
    var live: Set<ServiceInstanceID> = []
    var liveByApplication: [String: Set<ServiceInstanceID>] = [:]
    var liveByService: [String: Set<ServiceInstanceID>] = [:]
    /// Instances with news since they were last decided; or all of them.
    var dirty: Set<ServiceInstanceID> = []
    var everythingDirty = true
    /// When an instance asked to be decided again even without news (a decision's wake time, the
    /// end of another worker's lease, a retry): the earliest first.
    var timers = Deadlines<ServiceInstanceID, Int64>()
    /// Instances whose last decision waits for a free slot (`maxConverging`), by application:
    /// asked again whenever an instance of it starts or stops converging.
    var waitingForSlot: [String: Set<ServiceInstanceID>] = [:]
    var lastKeys: [ServiceInstanceID: DecisionKey] = [:]
    /// How many times this worker asked `decide` (tests bound it by what changed).
    var decideCalls = 0
    var schedule = FetchSchedule(cadence: FetchCadence())
    var runtimes: [String: any Runtime] = [:]
    /// Runtimes the config declares that cannot be built, and why.
    var unbuildable: [String: String] = [:]
    var declared: [String: String] = [:]
    /// The config in force at the snapshot a start restored, parsed off the worker while the start
    /// folds the log after it (parsing a config of thousands of services is a third of a start).
    var parsingConfig: Task<[DeclaredRuntime]?, Never>?
    /// What the worker needs of each release's document (or why it cannot be read), by digest.
    var documents: [String: Result<DocumentFacts, RuntimeProblem>] = [:]
    var cadences: [String: FetchCadence] = [:]
    /// Applies and removals that run, and those that wait for a free slot (`applyConcurrency`).
    var running: [ServiceInstanceID: Task<Void, Never>] = [:]
    var queued: [(ServiceInstanceID, String, ReleaseRef)] = []
    var queuedIDs: Set<ServiceInstanceID> = []
    /// Instances being fetched, with their batch; each runtime's fetch slots (`fetchConcurrency`).
    var fetching: [ServiceInstanceID: Task<Void, Never>] = [:]
    var fetchSlots: [String: FetchSlots] = [:]
    /// At most this many instances in one batch of fetches.
    static let fetchBatchLimit = 500
    /// How many batches of fetches this worker started (tests bound it).
    var fetchBatchesStarted = 0
    /// Unchanged fetches held back, by instance (see `UnchangedRun`).
    var unchangedRuns: [ServiceInstanceID: UnchangedRun] = [:]
    /// When each run is to be recorded at the latest (ms).
    var runsEnding = Deadlines<ServiceInstanceID, Int64>()
    /// Instances dropped from config; those still to be removed from their runtime, with their
    /// last desired state.
    var removed: Set<ServiceInstanceID> = []
    var removals: [ServiceInstanceID: ReleaseRef?] = [:]
    var started = false
    let wakeup = Wakeup()
    /// Until when (ms) this worker holds its name; nil once it lost it.
    var nameUntil: Int64?
    /// Instances this worker holds a lease on, and until when (ms).
    var leaseUntil: [ServiceInstanceID: Int64] = [:]
    /// When the leases held next need renewing (ms).
    var renewLeasesAt: Int64 = .max
    /// Instances another worker holds, and until when (ms): not asked again before that.
    var heldElsewhere: [ServiceInstanceID: Int64] = [:]

    /// `declarations` reads the runtimes a recorded config declares (KeelsonService's
    /// `ConfigRuntimes`); `runtimes` replaces the runtimes themselves (tests pass simulated ones by
    /// name; the config still gives their fetch cadences).
    public init(
        store: EventStore, settings: Settings, declarations: some RuntimeDeclarations, runtimes: [String: any Runtime]? = nil,
        onDecision: @escaping @Sendable (Report) -> Void = { _ in }
    ) {
        self.store = store
        self.declarations = declarations
        var settings = settings
        settings.leaseDuration = min(max(settings.leaseDuration, Self.leaseDurations.lowerBound), Self.leaseDurations.upperBound)
        settings.applyConcurrency = max(1, settings.applyConcurrency)
        settings.fetchConcurrency = max(1, settings.fetchConcurrency)
        settings.unchangedRunLength = min(max(settings.unchangedRunLength, .zero), Self.unchangedRunLengths.upperBound)
        self.settings = settings
        self.fixedRuntimes = runtimes
        self.onDecision = onDecision
        if let runtimes { self.runtimes = runtimes }
    }

    /// The engine state as folded so far (for status, tests).
    public var engineState: EngineState { state }

    /// Claims the worker's name (refused while another live process holds it), records
    /// `WorkerStarted` and folds the whole log.
    public func start() async throws {
        guard !started else { return }
        let now = settings.clock().millisecondsSince1970
        switch try await claimName(now: now) {
        case .heldBy(let holder, let until):
            throw Failure.nameInUse(name: settings.name, holder: holder, untilMilliseconds: until)
        case .renewed, .acquired:
            break
        }
        started = true
        try await store.append(
            [try NewEvent(WorkerStarted(worker: settings.name, engineVersion: Engine.version), actor: settings.name)],
            to: .worker(settings.name))
        // The first snapshot comes `snapshotInterval` after the start at the earliest: a worker
        // that starts on a busy log (a rollout of thousands) does not pay for one at once.
        snapshotTime = now
        try await restoreSnapshot()
        try await catchUp()
        if let parsing = parsingConfig {
            parsingConfig = nil
            if let declared = await parsing.value { loadRuntimes(declared) }
        }
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
                next = try await pass(waitingForFetches: false)
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
        await closeUnchangedRuns(now: settings.clock().millisecondsSince1970, all: true)
        await snapshotOnStop()
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

    /// One pass at the clock's `now`, and the fetches it starts awaited (tests and benchmarks step
    /// through time this way). Returns when the worker next wants to run (or nil: only when
    /// something happens).
    @discardableResult
    public func step() async throws -> Date? {
        try await pass(waitingForFetches: true)
    }

    /// One pass: fold what is new; decide about the instances that have news or a timer due (all
    /// of them after a start), and record those decisions in one transaction; launch the applies
    /// and removals they ask for; start the fetches that are due. The work of a pass grows with
    /// what changed, not with the fleet.
    func pass(waitingForFetches: Bool) async throws -> Date? {
        if !started { try await start() }
        try await catchUp()
        let now = settings.clock()
        let nowMilliseconds = now.millisecondsSince1970
        let timed = Set(timers.popDue(at: nowMilliseconds))
        var due = everythingDirty ? live : dirty.intersection(live)
        due.formUnion(timed.intersection(live))
        due.formUnion(removals.keys)
        dirty.removeAll()
        everythingDirty = false
        let owned = try await holdLeases(due, now: nowMilliseconds)
        try await decide(owned.filter { live.contains($0) }.sortedByDescription(), timed: timed, now: now)
        for id in removals.keys.sorted() where owned.contains(id) && running[id] == nil {
            launchRemoval(id)
        }
        for id in owned where live.contains(id) && running[id] == nil && !queuedIDs.contains(id) && fetching[id] == nil {
            schedule.add(id, at: now)
        }
        await closeUnchangedRuns(now: nowMilliseconds)
        var fetches = startFetches(at: now)
        // A step fetches everything due before it returns, `fetchConcurrency` at a time.
        while waitingForFetches, !fetches.isEmpty {
            for task in fetches { await task.value }
            fetches = startFetches(at: now)
        }
        // Decisions recorded in this pass are news for their neighbours: go again at once.
        try await catchUp()
        if everythingDirty || !dirty.isEmpty { return now }
        let timer = timers.earliest.map { Date(millisecondsSince1970: max($0, nowMilliseconds.adding(saturating: 10))) }
        let fetch = schedule.nextWake
        let renewal = renewLeasesAt == .max ? nil : Date(millisecondsSince1970: renewLeasesAt)
        let runEnd = nextRunEnd.map { Date(millisecondsSince1970: $0) }
        return [timer, fetch, renewal, runEnd].compactMap { $0 }.min()
    }

    /// The runtime named `name` as this worker has built it from the config in force (nil when
    /// it has none by that name): others that act on the runtime for it — a fetch asked of the
    /// server — use the same one (a simulated runtime's state is the worker's).
    public func runtime(named name: String) -> (any Runtime)? { runtimes[name] }

    /// Waits until every apply, removal and fetch launched so far has finished (and been recorded).
    public func waitForApplies() async {
        while let task = running.values.first ?? fetching.values.first {
            await task.value
        }
    }

    // MARK: folding

    /// The event types the worker reads.
    static let foldedTypes = EngineState.eventTypes + [ConfigApplied.eventType]

    func catchUp() async throws {
        // Until a read finds nothing new (events keep coming while a long log is folded).
        while true {
            var filter = EventFilter(afterPosition: folded, types: Self.foldedTypes)
            filter.typesAreMostOfTheLog = true
            var pages = EventPages(store, filter, size: 2_000)
            defer { pages.cancel() }
            let before = folded
            while let page = try await pages.next() {
                for event in page { fold(event) }
            }
            if folded == before { break }
        }
        snapshotIfDue()
    }

    static let foldedTypeSet = Set(foldedTypes)

    /// Folds what this worker has just appended (`appends`, answered by `results`) from memory —
    /// the same events a read of the log would give, their payloads already typed — when nothing
    /// was appended between the last event folded and them; otherwise reads the log.
    func foldAppended(_ appends: [StreamAppend], _ results: [AppendResult]) async throws {
        let events = zip(appends, results).flatMap { $1.recordedEvents(of: $0) }.sorted { $0.position < $1.position }
        guard let first = events.first, first.position == folded + 1,
            zip(events, events.dropFirst()).allSatisfy({ $1.position == $0.position + 1 })
        else {
            try await catchUp()
            return
        }
        for event in events where Self.foldedTypeSet.contains(event.type) { fold(event) }
        snapshotIfDue()
    }

    /// Folds one event, and marks what it can change as news: its own instance; for a decision,
    /// the instances downstream of it when its convergence changed, and those waiting for a slot
    /// when it started or stopped converging; for a service's or an application's event, their
    /// instances; for anything else (config, alerts, pauses, a worker's start), every instance.
    private func fold(_ event: RecordedEvent) {
        let instance = event.instanceID
        let convergingBefore = instance.map { state.isConverging($0) }
        let convergedBefore = instance.flatMap { state.instances[$0]?.converged }
        let settledBefore = instance.map { Self.isSettled(state.instances[$0]) }
        let decoded = EngineEvent.decode(event)
        switch decoded {
        case nil where event.type == ConfigApplied.eventType:
            // A newer config than the one a start is still parsing: that one is never in force here.
            parsingConfig?.cancel()
            parsingConfig = nil
            if let config = try? event.decode(ConfigApplied.self) { loadRuntimes(config) }
        case .success(.instanceRemoved(let removal))?:
            // Before the fold sees it: what to remove is the last desired state.
            if let id = ServiceInstanceID(removal.instance) {
                removed.insert(id)
                removals[id] = .some(state.instances[id]?.desired)
            }
        case .success(.instanceRemovalFinished(let finished))?:
            removals[finished.instance] = nil
        case .success(.desiredStateCompiled)?:
            if let id = instance, removed.contains(id) {
                // Back in config: converged like any other instance again.
                removed.remove(id)
                removals[id] = nil
            }
        default:
            break
        }
        state.evolve(event, decoded)
        folded = event.position
        guard let id = instance else {
            switch event.streamID.kind {
            case .service(let application, let service): dirty.formUnion(liveByService["\(application)/\(service)"] ?? [])
            case .application(let application): dirty.formUnion(liveByApplication[application] ?? [])
            case .instance, .worker, .other: everythingDirty = true
            }
            return
        }
        dirty.insert(id)
        switch event.type {
        case DesiredStateCompiled.eventType, InstanceRemoved.eventType:
            updateLive(id)
        case DecisionMade.eventType, DecisionFailed.eventType:
            if state.instances[id]?.converged != convergedBefore, let policy = state.policies[id.application] {
                for channel in policy.channels where channel.after.contains(id.channel) {
                    dirty.insert(ServiceInstanceID(application: id.application, service: id.service, channel: channel.name))
                }
            }
            if state.isConverging(id) != convergingBefore { dirty.formUnion(waitingForSlot[id.application] ?? []) }
            if settledBefore == false, let record = state.instances[id], Self.isSettled(record), let seen = record.seen,
                fetching[id] == nil, running[id] == nil, let release = record.desired, case .success(let (_, name)) = runtime(for: release)
            {
                schedule.settled(id, lastFetch: Date(millisecondsSince1970: seen.atMilliseconds), cadence: cadences[name])
            }
            if state.instances[id]?.waitingFor == .concurrency {
                waitingForSlot[id.application, default: []].insert(id)
            } else {
                waitingForSlot[id.application]?.remove(id)
            }
        default:
            break
        }
    }

    /// Converged on its desired release, and past its watch: fetched by the stable cadence.
    static func isSettled(_ record: InstanceRecord?) -> Bool {
        guard let record, record.status == .converged, !record.isWatching, let converged = record.converged else { return false }
        return converged.release.digest == record.desired?.digest
    }

    /// Keeps `live` and its indexes in step with the instance's desired state.
    private func updateLive(_ id: ServiceInstanceID) {
        let service = "\(id.application)/\(id.service)"
        if state.instances[id]?.desired != nil && !removed.contains(id) {
            live.insert(id)
            liveByApplication[id.application, default: []].insert(id)
            liveByService[service, default: []].insert(id)
        } else {
            live.remove(id)
            liveByApplication[id.application]?.remove(id)
            liveByService[service]?.remove(id)
            schedule.remove(id)
            timers.remove(id)
        }
    }

    func loadRuntimes(_ config: ConfigApplied) {
        guard let declared = declarations.runtimes(of: config) else { return }
        loadRuntimes(declared)
    }

    func loadRuntimes(_ declaredRuntimes: [DeclaredRuntime]) {
        for runtime in declaredRuntimes {
            cadences[runtime.name] = FetchCadence(settings: runtime.settings)
            guard fixedRuntimes == nil else { continue }
            // Keep a runtime whose declaration did not change (a simulated one holds its state).
            if declared[runtime.name] != runtime.declaration || (runtimes[runtime.name] == nil && unbuildable[runtime.name] == nil) {
                switch runtime.build(settings.stateRoot, settings.clock) {
                case .success(let built):
                    runtimes[runtime.name] = built
                    unbuildable[runtime.name] = nil
                case .failure(let problem):
                    runtimes[runtime.name] = nil
                    unbuildable[runtime.name] = problem.reason
                }
                declared[runtime.name] = runtime.declaration
            }
        }
    }

    /// Why a release cannot be acted on here.
    struct RuntimeProblem: Error, CustomStringConvertible {
        var description: String
    }

    /// What the worker needs of a release's document: read once per digest.
    struct DocumentFacts {
        var runtime: String
        var replicas: Int
    }

    /// At most this many documents' facts are kept (a cache, not a record of every release).
    static let documentCacheLimit = 50_000

    func facts(of release: ReleaseRef) -> Result<DocumentFacts, RuntimeProblem> {
        if let cached = documents[release.digest] { return cached }
        let facts: Result<DocumentFacts, RuntimeProblem>
        do {
            let document = try CompiledDocument.decode(release.document)
            facts = .success(DocumentFacts(runtime: document.runtime.name, replicas: document.replicas))
        } catch {
            facts = .failure(RuntimeProblem(description: "the desired state of \(release.version) cannot be read: \(error)"))
        }
        if documents.count >= Self.documentCacheLimit { documents.removeAll() }
        documents[release.digest] = facts
        return facts
    }

    /// The runtime a release's document names, and its name.
    func runtime(for release: ReleaseRef) -> Result<(any Runtime, String), RuntimeProblem> {
        let name: String
        switch facts(of: release) {
        case .success(let found): name = found.runtime
        case .failure(let problem): return .failure(problem)
        }
        if let runtime = runtimes[name] { return .success((runtime, name)) }
        if let reason = unbuildable[name] { return .failure(RuntimeProblem(description: "runtime \(name) cannot be built: \(reason)")) }
        return .failure(RuntimeProblem(description: "runtime \(BoundedInput.quoted(name)) is not declared by the config in force"))
    }

    func desiredState(_ id: ServiceInstanceID, _ release: ReleaseRef) -> DesiredState {
        DesiredState(
            instance: id, digest: release.digest, version: release.version, document: release.document,
            replicas: (try? facts(of: release).get())?.replicas ?? 1)
    }

    /// An apply's timeout: the release's progress deadline, at least a second and at most
    /// `InputLimits.maxDurationSeconds` (a recorded document may hold any number).
    static func timeout(_ release: ReleaseRef) -> Duration {
        .seconds(min(max(1, release.progressDeadlineSeconds), InputLimits.maxDurationSeconds))
    }
}

extension RecordedEvent {
    /// The instance of an `instance:` stream.
    var instanceID: ServiceInstanceID? {
        if case .instance(let id) = streamID.kind { id } else { nil }
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
                // Cancelled only when the other child is done or the worker stops (then the other
                // child wakes by its own cancellation): no spare signal, which would end the next
                // wait at once — and that one's the next, a loop that never sleeps.
                try? await Task.sleep(for: .milliseconds(Int64(clampingDouble: seconds * 1000)))
                if !Task.isCancelled { self.signal() }
            }
            group.addTask {
                await withTaskCancellationHandler { await self.next() } onCancel: { self.signal() }
            }
            await group.next()
            group.cancelAll()
        }
    }
}

// MARK: snapshots

extension Worker {
    /// Starts from the latest stored snapshot of the engine's state, if there is one: the log
    /// before it is not folded again. One that cannot be read is reported, and the log folded
    /// from its start.
    func restoreSnapshot() async throws {
        guard folded == 0 else { return }
        let snapshot: EngineSnapshot
        do {
            guard let found = try await store.latestEngineSnapshot() else { return }
            snapshot = found
        } catch {
            settings.onProblem("\(settings.name): starting without a snapshot: \(error)")
            return
        }
        state = snapshot.state
        folded = snapshot.position
        snapshotAt = snapshot.position
        // What the fold of the events before it would have set up besides the state: the runtimes
        // of the config in force then, the instances decided about, those waiting for a slot,
        // and those still to be removed.
        if let config = try await store.events(EventFilter(types: [ConfigApplied.eventType], limit: 1, latest: true, upToPosition: folded)).first,
            let applied = try? config.decode(ConfigApplied.self)
        {
            let declarations = declarations
            parsingConfig = Task.detached { declarations.runtimes(of: applied) }
        }
        for (id, record) in state.instances {
            if record.desired == nil && record.desiredAtMilliseconds > 0 { removed.insert(id) }
            if let removal = record.removal { removals[id] = .some(removal.last) }
            if record.waitingFor == .concurrency { waitingForSlot[id.application, default: []].insert(id) }
            updateLive(id)
        }
        everythingDirty = true
    }

    /// Stores a snapshot of the state once the log has grown by `snapshotEvery` events since the
    /// last one this worker knows of. It is encoded and written off the worker (the state is a
    /// value: the worker goes on folding while a copy is written), one at a time.
    func snapshotIfDue() {
        guard settings.snapshotEvery > 0, folded - snapshotAt >= settings.snapshotEvery, snapshotWriting == nil else { return }
        let now = settings.clock().millisecondsSince1970
        guard now >= snapshotTime.adding(saturating: settings.snapshotInterval.milliseconds) else { return }
        let (copy, position, store, settings) = (state, folded, store, settings)
        snapshotAt = position
        snapshotTime = now
        snapshotWriting = Task.detached(priority: .utility) {
            await Self.writeSnapshot(of: copy, at: position, to: store, settings: settings)
            await self.snapshotWritten()
        }
    }

    /// Stores a snapshot of `state` at `position`; a failure is reported, not thrown (the log
    /// holds everything: a missing snapshot only costs a longer start).
    private static func writeSnapshot(of state: EngineState, at position: Int64, to store: EventStore, settings: Settings) async {
        var snapshot = EngineSnapshot(state)
        snapshot.position = position
        do {
            try await store.writeEngineSnapshot(snapshot, keep: settings.snapshotsKept, nowMilliseconds: settings.clock().millisecondsSince1970)
        } catch {
            settings.onProblem("\(settings.name): storing the engine snapshot at position \(position) failed: \(error)")
        }
    }

    private func snapshotWritten() { snapshotWriting = nil }

    /// When the worker stops: a snapshot of where it got to, if the log grew since the last one,
    /// so that the next start folds nothing (written in a task of its own: the caller may be a
    /// cancelled task).
    func snapshotOnStop() async {
        await snapshotWriting?.value
        guard settings.snapshotEvery > 0, folded > snapshotAt else { return }
        let (copy, position, store, settings) = (state, folded, store, settings)
        snapshotAt = position
        await Task.detached { await Self.writeSnapshot(of: copy, at: position, to: store, settings: settings) }.value
    }

    /// Waits until the snapshot being written, if any, is stored (tests, benchmarks).
    public func waitForSnapshot() async {
        await snapshotWriting?.value
    }
}
