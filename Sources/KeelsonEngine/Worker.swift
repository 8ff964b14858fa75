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
///
/// Crash resume: an apply requested without a result is unfinished work when its worker restarts
/// (`WorkerStarted` under the same name) or when another worker takes over the instance's lease.
/// After a fresh fetch it is re-issued with its idempotency key or abandoned — by a recorded
/// decision like any other.
public actor Worker {
    public struct Settings: Sendable {
        /// The worker's name: the actor of what it records.
        public var name: String
        /// At most this many applies at once.
        public var applyConcurrency = 4
        public var clock: @Sendable () -> Date = Date.init
        /// Where local runtimes keep their state (see `RuntimeFactory`).
        public var stateRoot: String
        /// How long a lease on an instance lasts; it is renewed at half of that. A worker that
        /// stops without releasing its leases holds its instances this long.
        public var leaseDuration: Duration = .seconds(30)
        /// Told how long each fetch took (runtime name, succeeded, duration): the server's metrics.
        public var onFetch: @Sendable (String, Bool, Duration) -> Void = { _, _, _ in }

        public init(name: String = "worker:\(ProcessInfo.processInfo.processIdentifier)", stateRoot: String) {
            self.name = name
            self.stateRoot = stateRoot
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

    private var state = EngineState()
    private var folded: Int64 = 0
    /// Applications with news since their instances were last decided.
    private var dirty: Set<String> = []
    private var everythingDirty = true
    private var wakes: [ServiceInstanceID: Int64] = [:]
    private var lastKeys: [ServiceInstanceID: String] = [:]
    private var schedule = FetchSchedule(cadence: FetchCadence())
    private var runtimes: [String: any Runtime] = [:]
    private var declared: [String: RuntimeIntent] = [:]
    private var cadences: [String: FetchCadence] = [:]
    private var running: [ServiceInstanceID: Task<Void, Never>] = [:]
    private var queued: [(ServiceInstanceID, String, ReleaseRef)] = []
    private var started = false
    private let wakeup = Wakeup()
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
        self.settings = settings
        self.fixedRuntimes = runtimes
        self.onDecision = onDecision
        if let runtimes { self.runtimes = runtimes }
    }

    /// The engine state as folded so far (for status, tests).
    public var engineState: EngineState { state }

    /// Records `WorkerStarted` and folds the whole log.
    public func start() async throws {
        guard !started else { return }
        started = true
        try await store.append(
            [try NewEvent(WorkerStarted(worker: settings.name, engineVersion: Engine.version), actor: settings.name)],
            to: StreamID("worker:\(settings.name)"))
        try await catchUp()
    }

    /// Runs until the task is cancelled.
    public func run() async throws {
        try await start()
        let subscription = store.follow(after: folded)
        let wakeup = wakeup
        let follower = Task {
            for try await _ in subscription { wakeup.signal() }
        }
        defer { follower.cancel() }
        do {
            while !Task.isCancelled {
                let next = try await step()
                // Wake for leases too: renew ours, and look again at instances whose holder may be gone.
                let renewal = settings.clock().addingTimeInterval(settings.leaseDuration.timeInterval / 2)
                let pause = min(next ?? renewal, renewal).timeIntervalSince(settings.clock())
                if pause > 0 { await wakeup.wait(seconds: min(pause, 3600)) }
            }
        } catch where Task.isCancelled {
            // Stopped while reading or writing: stop cleanly below.
        } catch {
            await stop()
            throw error
        }
        await waitForApplies()
        await stop()
    }

    /// Gives up this worker's leases, so that another worker need not wait for them to expire.
    public func stop() async {
        let (store, name) = (store, settings.name)
        // In a task of its own: the caller may be a cancelled task.
        await Task.detached { try? await store.releaseLeases(owner: name) }.value
        leaseUntil.removeAll()
    }

    /// Takes or renews the leases of `instances` that need it; records a `LeaseAcquired` for each
    /// instance that changed hands. Returns the instances this worker holds now.
    private func holdLeases(_ instances: [ServiceInstanceID], now: Int64) async throws -> Set<ServiceInstanceID> {
        let duration = settings.leaseDuration.milliseconds
        let needing = instances.filter { (leaseUntil[$0] ?? 0) < now + duration / 2 && (heldElsewhere[$0] ?? 0) <= now }
        if !needing.isEmpty {
            let outcomes = try await store.acquireLeases(
                needing.map { "instance:\($0)" }, owner: settings.name, nowMilliseconds: now, expiresAtMilliseconds: now + duration)
            var changes: [StreamAppend] = []
            for id in needing {
                switch outcomes["instance:\(id)"] {
                case .renewed?:
                    leaseUntil[id] = now + duration
                case .acquired(let previous)?:
                    leaseUntil[id] = now + duration
                    heldElsewhere[id] = nil
                    changes.append(StreamAppend(
                        stream: StreamID("instance:\(id)"),
                        events: [try NewEvent(LeaseAcquired(instance: id, worker: settings.name, previousOwner: previous), actor: settings.name)]))
                case .heldBy(_, let until)?:
                    leaseUntil[id] = nil
                    heldElsewhere[id] = until
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

    /// One pass at the clock's `now`: fold, decide what is due, launch applies, fetch what is due.
    /// Returns when the worker next wants to run (or nil: only when something happens).
    @discardableResult
    public func step() async throws -> Date? {
        if !started { try await start() }
        try await catchUp()
        let now = settings.clock()
        let nowMilliseconds = Int64((now.timeIntervalSince1970 * 1000).rounded())
        let owned = try await holdLeases(state.instances.keys.filter { state.instances[$0]?.desired != nil }.sorted(), now: nowMilliseconds)
        let instances = state.instances.keys.filter { owned.contains($0) }.sorted()
        // News that arrives while deciding (our own decisions among it) is for the next pass.
        let news = dirty
        let everything = everythingDirty
        dirty.removeAll()
        everythingDirty = false
        for id in instances {
            let due = everything || news.contains(id.application) || (wakes[id].map { $0 <= nowMilliseconds } ?? false)
            guard due, running[id] == nil, !queued.contains(where: { $0.0 == id }), let view = state.view(of: id) else { continue }
            let decision = Engine.decide(view, nowMilliseconds: nowMilliseconds)
            wakes[id] = decision.wakeAtMilliseconds
            let key = Self.key(decision)
            if !decision.actions.isEmpty || lastKeys[id] != key {
                try await record(decision, for: id, view: view, now: nowMilliseconds)
                lastKeys[id] = key
                try await catchUp()
            }
        }
        for id in instances { schedule.add(id, at: now) }
        for id in schedule.due(at: now) where running[id] == nil && owned.contains(id) {
            guard let record = state.instances[id], let release = record.request?.release ?? record.desired else { continue }
            guard let (runtime, name) = runtime(for: release) else { continue }
            let desired = Self.desiredState(id, release)
            let started = ContinuousClock.now
            let observation = try? await RuntimeRecorder(runtime: runtime, store: store, actor: settings.name).fetch(id, desired: desired)
            settings.onFetch(name, observation != nil, ContinuousClock.now - started)
            // Fetched often only while converging; an instance that waits or is settled is stable.
            let stable = !record.status.isConverging
                || FetchCadence.isStable(desiredVersion: record.desired?.version, observation: observation)
            schedule.fetched(id, at: now, stable: stable, cadence: cadences[name])
        }
        let wake = wakes.values.min().map { Date(timeIntervalSince1970: Double($0) / 1000) }
        // Decisions recorded in this pass are news for their neighbours: go again at once.
        if everythingDirty || !dirty.isEmpty { return now }
        return [wake, schedule.nextWake].compactMap { $0 }.min()
    }

    /// Waits until every apply launched so far has finished (and been recorded).
    public func waitForApplies() async {
        while let task = running.values.first {
            await task.value
        }
    }

    // MARK: folding

    private func catchUp() async throws {
        while true {
            let events = try await store.events(EventFilter(
                afterPosition: folded, types: EngineState.eventTypes + [ConfigApplied.eventType], limit: 2_000))
            guard !events.isEmpty else { return }
            for event in events {
                if event.type == ConfigApplied.eventType {
                    if let config = try? event.decode(ConfigApplied.self) { loadRuntimes(config) }
                } else {
                    state.evolve(event)
                }
                if event.streamID.rawValue.hasPrefix("instance:"), let id = ServiceInstanceID(String(event.streamID.rawValue.dropFirst(9))) {
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
            if declared[runtime.name] != runtime || runtimes[runtime.name] == nil {
                runtimes[runtime.name] = factory.make(runtime, in: intent)
                declared[runtime.name] = runtime
            }
        }
    }

    private func runtime(for release: ReleaseRef) -> (any Runtime, String)? {
        guard let name = (try? CompiledDocument.decode(release.document))?.runtime.name ?? runtimes.keys.sorted().first,
            let runtime = runtimes[name]
        else { return nil }
        return (runtime, name)
    }

    static func desiredState(_ id: ServiceInstanceID, _ release: ReleaseRef) -> DesiredState {
        DesiredState(
            instance: id, digest: release.digest, version: release.version, document: release.document,
            replicas: (try? CompiledDocument.decode(release.document))?.replicas ?? 1)
    }

    /// What must change for a decision to be recorded again: its status, precondition, release,
    /// and the words of its reason (numbers such as countdowns left out).
    static func key(_ decision: Decision) -> String {
        "\(decision.status.rawValue)|\(decision.waitingFor?.rawValue ?? "")|\(decision.version ?? "")|"
            + decision.reason.replacingOccurrences(of: #"([0-9]+(ms|[dhms])?)+"#, with: "#", options: .regularExpression)
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
                let finished = ApplyFinished(
                    instance: id, runtime: runtime(for: request.release)?.1 ?? "unknown", digest: request.release.digest,
                    idempotencyKey: requestID,
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
        guard let (runtime, runtimeName) = runtime(for: release) else {
            running[id] = Task {
                let finished = ApplyFinished(
                    instance: id, runtime: "unknown", digest: release.digest, idempotencyKey: requestID,
                    result: ApplyResult(succeeded: false, durationMilliseconds: 0, error: "no runtime for this desired state"))
                _ = try? await store.append(
                    [NewEvent(type: ApplyFinished.failedType, payload: (try? CanonicalJSON.string(finished)) ?? "{}", actor: actor)],
                    to: StreamID("instance:\(id)"))
                self.finished(id)
            }
            return
        }
        let desired = Self.desiredState(id, release)
        let timeout = Duration.seconds(max(1, release.progressDeadlineSeconds))
        running[id] = Task {
            let recorder = RuntimeRecorder(runtime: runtime, store: store, actor: actor)
            _ = try? await recorder.apply(desired, idempotencyKey: requestID, timeout: timeout)
            let started = ContinuousClock.now
            let observation = try? await recorder.fetch(id, desired: desired)
            onFetch(runtimeName, observation != nil, ContinuousClock.now - started)
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
                try? await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
                self.signal()
            }
            group.addTask { await self.next() }
            await group.next()
            group.cancelAll()
        }
    }
}
