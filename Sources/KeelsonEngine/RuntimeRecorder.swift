import Foundation
import KeelsonCompiler
import KeelsonCore
import KeelsonRuntimes
import KeelsonStore

/// Wraps a runtime so that every fetch and apply is in the log.
///
/// - fetch appends `StateFetched`, or — when the observation equals the instance's current one —
///   a small `StateUnchanged` that refers to it; a failed fetch appends `FetchFailed`.
/// - apply appends `ApplyStarted` before calling the runtime, then `ApplySucceeded` or
///   `ApplyFailed` with the duration, a bounded output excerpt and the error.
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

    /// Fetches `instance`; its desired state is read from the store unless given.
    @discardableResult
    public func fetch(_ instance: ServiceInstanceID, desired: DesiredState? = nil) async throws -> Observation {
        let stream = StreamID.instance(instance)
        let observation: Observation
        do {
            var desired = desired
            if desired == nil { desired = try await store.desiredState(of: instance) }
            observation = try await runtime.fetch(instance, desired: desired)
        } catch {
            try await store.append(
                [try NewEvent(FetchFailed(instance: instance, runtime: runtime.name, error: "\(error)"), actor: actor)],
                to: stream)
            throw error
        }
        let digest = "sha256:" + Compiler.sha256Hex(try CanonicalJSON.string(observation))
        // The prefix also matches longer channel names (`@prod` and `@prod-eu`): keep the exact one.
        let current = try await store.currentStates(prefix: instance.description).first { $0.instance == instance.description }
        if let current, current.digest == digest {
            try await store.append(
                [try NewEvent(StateUnchanged(instance: instance, sameAs: current.fetchedPosition), actor: actor)], to: stream)
        } else {
            try await store.append(
                [try NewEvent(StateFetched(instance: instance, runtime: runtime.name, observation: observation, digest: digest), actor: actor)],
                to: stream)
        }
        return observation
    }

    @discardableResult
    public func apply(_ state: DesiredState, idempotencyKey: String, timeout: Duration) async throws -> ApplyResult {
        let stream = StreamID.instance(state.instance)
        try await store.append(
            [try NewEvent(ApplyStarted(
                instance: state.instance, runtime: runtime.name, digest: state.digest, version: state.version,
                idempotencyKey: idempotencyKey), actor: actor)],
            to: stream)
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
        try await store.append(
            [try NewEvent(
                type: result.succeeded ? ApplyFinished.succeededType : ApplyFinished.failedType, encoding: finished, actor: actor)],
            to: stream)
        return result
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
