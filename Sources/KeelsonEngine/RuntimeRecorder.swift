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

    @discardableResult
    public func fetch(_ instance: ServiceInstanceID) async throws -> Observation {
        let stream = StreamID("instance:\(instance)")
        let observation: Observation
        do {
            observation = try await runtime.fetch(instance)
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
        let stream = StreamID("instance:\(state.instance)")
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
            [NewEvent(
                type: result.succeeded ? ApplyFinished.succeededType : ApplyFinished.failedType,
                payload: try CanonicalJSON.string(finished), actor: actor)],
            to: stream)
        return result
    }

}
