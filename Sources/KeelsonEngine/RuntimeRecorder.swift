import Foundation
import KeelsonCore
import KeelsonRuntimes
import KeelsonStore
import Synchronization

/// Wraps a runtime so that every fetch and apply is in the log.
///
/// - fetch appends `StateFetched`, or — when the observation equals the instance's current one —
///   a small `StateUnchanged` that refers to it; a failed fetch appends `FetchFailed`.
/// - apply appends `ApplyStarted` before calling the runtime, then `ApplySucceeded` or
///   `ApplyFailed` with the duration, a bounded output excerpt and the error.
/// - a batch of fetches records the results that end together in one transaction; `applyThenFetch` records an apply's
///   result and the fetch after it in one.
public struct RuntimeRecorder: Sendable {
    public let runtime: any Runtime
    public let store: EventStore
    public let actor: String
    /// Output excerpts are cut to this many characters.
    public var outputLimit = 4_096

    public init(runtime: any Runtime, store: EventStore, actor: String) {
        self.runtime = runtime
        self.store = store
        self.actor = actor
    }

    /// Fetches `instance`; its desired state is read from the store unless given. Throws what the
    /// runtime threw (after recording it).
    @discardableResult
    public func fetch(_ instance: ServiceInstanceID, desired: DesiredState? = nil) async throws -> Observation {
        var desired = desired
        if desired == nil { desired = try await store.desiredState(of: instance) }
        return try await fetch([FetchRequest(instance: instance, desired: desired)], slots: FetchSlots(limit: 1))[0].result.get()
    }

    /// One instance to fetch, with its desired state.
    public struct FetchRequest: Sendable {
        public var instance: ServiceInstanceID
        public var desired: DesiredState?

        public init(instance: ServiceInstanceID, desired: DesiredState?) {
            self.instance = instance
            self.desired = desired
        }
    }

    /// What one fetch of a batch found, and how long it took.
    public struct FetchOutcome: Sendable {
        public var instance: ServiceInstanceID
        public var result: Result<Observation, any Error>
        public var duration: Duration
    }

    /// Fetches `requests`, at most `slots` at once, and records the results as they come: every
    /// result that is in when the previous write ends goes in the next, one transaction (if that
    /// fails as a whole, each on its own) — fetches that end together share a write, and a slow
    /// one holds up none but itself. `recorded` hears of each group once it is written (or could
    /// not be). Returns every outcome, in the order asked; throws a recording error only when not
    /// one result could be recorded.
    ///
    /// `screen`, when given, is asked about each group before it is written, and may hold back
    /// unchanged fetches or put a run of earlier ones before them (see `FetchRecording`).
    public func fetch(
        _ requests: [FetchRequest], slots: FetchSlots, screen: Screen? = nil,
        recorded: @escaping @Sendable ([FetchOutcome]) async -> Void = { _ in }
    ) async throws -> [FetchOutcome] {
        guard !requests.isEmpty else { return [] }
        let runtime = runtime
        let pending = Arrivals()
        let (bell, ring) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        var all: [FetchOutcome] = []
        var recordedAny = false
        var lastError: (any Error)?
        await withTaskGroup(of: Void.self) { group in
            for request in requests {
                group.addTask {
                    await slots.acquire()
                    let began = ContinuousClock.now
                    let result: Result<Observation, any Error>
                    do {
                        result = .success(try await runtime.fetch(request.instance, desired: request.desired))
                    } catch {
                        result = .failure(error)
                    }
                    await slots.release()
                    let outcome = FetchOutcome(instance: request.instance, result: result, duration: ContinuousClock.now - began)
                    pending.outcomes.withLock { $0.append(outcome) }
                    ring.yield()
                }
            }
            for await _ in bell {
                let arrived = pending.outcomes.withLock { taken in
                    defer { taken.removeAll() }
                    return taken
                }
                guard !arrived.isEmpty else { continue }
                all += arrived
                do {
                    try await record(arrived, screen: screen)
                    recordedAny = true
                } catch {
                    lastError = error
                }
                await recorded(arrived)
                if all.count >= requests.count { break }
            }
        }
        if !recordedAny, let lastError { throw lastError }
        let order = Dictionary(requests.enumerated().map { ($1.instance, $0) }, uniquingKeysWith: { first, _ in first })
        return all.sorted { (order[$0.instance] ?? 0) < (order[$1.instance] ?? 0) }
    }

    /// Fetch results in, not yet recorded.
    private final class Arrivals: Sendable {
        let outcomes = Mutex<[FetchOutcome]>([])
    }

    /// A fetch about to be recorded, as a screen sees it.
    public struct ScreenedFetch: Sendable {
        public var instance: ServiceInstanceID
        /// The position of the `StateFetched` it equals (nil: it saw something new, or failed).
        public var sameAs: Int64?
    }

    /// How to record a fetch.
    public enum FetchRecording: Sendable {
        /// As it is: `StateFetched`, `StateUnchanged` or `FetchFailed`.
        case record
        /// Not now (an unchanged fetch the worker keeps in a run of them).
        case hold
        /// This run of earlier unchanged fetches first, then the fetch as it is.
        case recordAfter(StateUnchanged)
        /// This `StateUnchanged` instead: the run this unchanged fetch closes, itself included.
        case recordAs(StateUnchanged)
    }

    /// Tells, for a group of fetches, how each is to be recorded (missing: as it is).
    public typealias Screen = @Sendable ([ScreenedFetch]) async -> [ServiceInstanceID: FetchRecording]

    /// Records one group of fetch results in one transaction, or each on its own when that fails;
    /// throws only when none could be recorded.
    private func record(_ outcomes: [FetchOutcome], screen: Screen?) async throws {
        let appends = try await events(for: outcomes, screen: screen).map { StreamAppend(stream: .instance($0.instance), events: $0.events) }
        guard !appends.isEmpty else { return }
        do {
            try await store.append(appends)
        } catch where appends.count > 1 && !(error is CancellationError) {
            var recorded = 0
            var lastError: any Error = error
            for append in appends {
                do {
                    try await store.append([append])
                    recorded += 1
                } catch {
                    lastError = error
                }
            }
            if recorded == 0 { throw lastError }
        }
    }

    /// The events that record each fetch: `StateFetched`; `StateUnchanged` when the observation
    /// equals the instance's latest; `FetchFailed` — as `screen` has it (a held fetch has none).
    private func events(for outcomes: [FetchOutcome], screen: Screen? = nil) async throws -> [(instance: ServiceInstanceID, events: [NewEvent])] {
        let current = try await store.currentStates(of: outcomes.compactMap { (try? $0.result.get()) != nil ? $0.instance : nil })
        var sameAs: [ServiceInstanceID: Int64] = [:]
        var digests: [ServiceInstanceID: String] = [:]
        for outcome in outcomes {
            guard case .success(let observation) = outcome.result else { continue }
            let digest = "sha256:" + SHA256Hex.of(try CanonicalJSON.string(observation))
            digests[outcome.instance] = digest
            if let latest = current[outcome.instance], latest.digest == digest { sameAs[outcome.instance] = latest.fetchedPosition }
        }
        let recordings = await screen?(outcomes.map { ScreenedFetch(instance: $0.instance, sameAs: sameAs[$0.instance]) }) ?? [:]
        return try outcomes.compactMap { outcome in
            let id = outcome.instance
            var events: [NewEvent] = []
            switch recordings[id] ?? .record {
            case .hold:
                return nil
            case .recordAs(let run):
                return (id, [try NewEvent(run, actor: actor)])
            case .recordAfter(let run):
                events.append(try NewEvent(run, actor: actor))
            case .record:
                break
            }
            switch outcome.result {
            case .failure(let error):
                events.append(try NewEvent(FetchFailed(instance: id, runtime: runtime.name, error: "\(error)"), actor: actor))
            case .success(let observation):
                if let sameAs = sameAs[id] {
                    events.append(try NewEvent(StateUnchanged(instance: id, sameAs: sameAs), actor: actor))
                } else {
                    events.append(try NewEvent(
                        StateFetched(instance: id, runtime: runtime.name, observation: observation, digest: digests[id] ?? ""),
                        actor: actor))
                }
            }
            return (id, events)
        }
    }

    /// Applies `state`, then fetches the instance, and records the apply's result and the fetch
    /// in one transaction (after `ApplyStarted`, recorded before the runtime is called): one
    /// durable write fewer per apply than `apply` and `fetch` one after the other. Throws only
    /// when the results cannot be recorded.
    public func applyThenFetch(_ state: DesiredState, idempotencyKey: String, timeout: Duration) async throws -> (ApplyResult, FetchOutcome) {
        let (result, finished) = try await applyUnrecorded(state, idempotencyKey: idempotencyKey, timeout: timeout)
        let began = ContinuousClock.now
        let observed: Result<Observation, any Error>
        do {
            observed = .success(try await runtime.fetch(state.instance, desired: state))
        } catch {
            observed = .failure(error)
        }
        let outcome = FetchOutcome(instance: state.instance, result: observed, duration: ContinuousClock.now - began)
        do {
            let fetched = try await events(for: [outcome])
            try await store.append([finished] + fetched.flatMap(\.events), to: .instance(state.instance))
        } catch where !(error is CancellationError) {
            // At least the apply's result (the fetch is only news).
            try await store.append([finished], to: .instance(state.instance))
        }
        return (result, outcome)
    }

    /// Applies `state`: `ApplyStarted` is recorded before the runtime is called, then
    /// `ApplySucceeded` or `ApplyFailed` with the duration, a bounded output excerpt and the error.
    @discardableResult
    public func apply(_ state: DesiredState, idempotencyKey: String, timeout: Duration) async throws -> ApplyResult {
        let (result, finished) = try await applyUnrecorded(state, idempotencyKey: idempotencyKey, timeout: timeout)
        try await store.append([finished], to: .instance(state.instance))
        return result
    }

    /// Records `ApplyStarted`, calls the runtime, and returns its result with the event that
    /// records it (not yet appended).
    private func applyUnrecorded(_ state: DesiredState, idempotencyKey: String, timeout: Duration) async throws -> (ApplyResult, NewEvent) {
        try await store.append(
            [try NewEvent(ApplyStarted(
                instance: state.instance, runtime: runtime.name, digest: state.digest, version: state.version,
                idempotencyKey: idempotencyKey), actor: actor)],
            to: .instance(state.instance))
        var result: ApplyResult
        do {
            result = try await runtime.apply(state, idempotencyKey: idempotencyKey, timeout: timeout)
        } catch {
            result = ApplyResult(succeeded: false, durationMilliseconds: 0, error: "\(error)")
        }
        if result.output.count > outputLimit { result.output = String(result.output.prefix(outputLimit)) + "…" }
        let finished = ApplyFinished(
            instance: state.instance, runtime: runtime.name, digest: state.digest, idempotencyKey: idempotencyKey,
            result: result)
        return (result, try NewEvent(type: result.succeeded ? ApplyFinished.succeededType : ApplyFinished.failedType, encoding: finished, actor: actor))
    }
}

extension EventStore {
    /// The instance's current desired state, as a runtime takes it.
    public func desiredState(of instance: ServiceInstanceID) async throws -> DesiredState? {
        guard let row = try await desiredStates(prefix: instance.description).first(where: { $0.instance == instance.description })
        else { return nil }
        return DesiredState(row)
    }
}

extension DesiredState {
    /// A desired state from its projection row (replicas read from the document).
    public init(_ row: DesiredStateRow) {
        let replicas = (try? CompiledDocument.decode(row.document))?.replicas ?? 1
        self.init(
            instance: ServiceInstanceID(row.instance)!, digest: row.digest, version: row.version, document: row.document,
            replicas: replicas)
    }
}

/// Bounds how many fetches of one runtime run at once, across batches: a batch takes a slot for
/// each of its fetches.
public actor FetchSlots {
    private let limit: Int
    private var used = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []

    public init(limit: Int) {
        self.limit = max(1, limit)
    }

    func acquire() async {
        if used < limit {
            used += 1
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    /// Hands the slot to the longest waiting fetch, if any.
    func release() {
        if waiting.isEmpty {
            used -= 1
        } else {
            waiting.removeFirst().resume()
        }
    }
}
