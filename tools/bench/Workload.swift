import Foundation
import KeelsonCore

/// The events the benchmark appends: realistic stream names, a few event types, and payloads of
/// valid payloads of their types (about 250 bytes of JSON), built before any clock starts. The Keelson store and the
/// SQLite C baseline write exactly the same values.
struct Workload: Sendable {
    static let eventTypes = ["StateFetched", "DecisionMade", "ApplyRequested", "ApplySucceeded"]
    static let actor = "worker:bench-1"

    let streams: [StreamID]
    /// One prepared batch per stream (reused on every cycle; strings are shared, not copied).
    let batches: [[NewEvent]]

    init(streams streamCount: Int, batchSize: Int) {
        streams = (0..<streamCount).map(Self.streamID)
        batches = streams.enumerated().map { index, stream in
            let correlation = String(format: "corr-%08x-%04x", index &* 2_654_435_761 & 0xffff_ffff, index & 0xffff)
            return (0..<batchSize).map { slot in
                Self.event(stream: stream, sequence: index * batchSize + slot, correlationID: correlation)
            }
        }
    }

    /// `instance:app-042/svc-7@prod` and the like.
    static func streamID(_ index: Int) -> StreamID {
        let channels = ["staging", "canary", "prod-eu", "prod-us"]
        return StreamID("instance:app-\(String(format: "%03d", index / 10))/svc-\(index % 10)@\(channels[index % 4])")
    }

    /// A fetch result, a decision, an apply request or an apply result — each a valid payload of
    /// its type (so that the store's projections fold it as they would in production), about
    /// 250 bytes of JSON on average.
    static func event(stream: StreamID, sequence: Int, correlationID: String?) -> NewEvent {
        let version = "1.\(sequence % 17).\(sequence % 101)"
        let hash = UInt64(sequence) &* 0x9E37_79B9_7F4A_7C15
        let digest = "sha256:" + String(format: "%016llx%016llx", hash, hash ^ 0xBF58_476D_1CE4_E5B9)
        let instance = ServiceInstanceID(String(stream.rawValue.dropFirst("instance:".count)))!
        let replicas = sequence % 5 + 1
        // Typed, as every domain event Keelson appends is (the encoding happens here, before any
        // clock starts; the C baseline writes the same bytes).
        switch eventTypes[sequence % eventTypes.count] {
        case StateFetched.eventType:
            let observation = Observation(objects: [ObservedObject(
                name: "r1", version: version, desiredReplicas: replicas, readyReplicas: replicas,
                health: sequence % 7 == 0 ? .unhealthy : .healthy)])
            return try! NewEvent(
                StateFetched(instance: instance, runtime: "local", observation: observation, digest: digest), actor: actor,
                correlationID: correlationID)
        case DecisionMade.eventType:
            let decision = Decision(status: .converged, version: version, reason: .converged(version: version, ready: replicas, desired: replicas, rolledBack: false))
            return try! NewEvent(
                DecisionMade(
                    instance: instance, viewPosition: Int64(sequence), nowMilliseconds: 1_795_600_800_000 + Int64(sequence),
                    engineVersion: 1, decision: decision),
                actor: actor, correlationID: correlationID)
        case ApplyRequested.eventType:
            return try! NewEvent(
                ApplyRequested(
                    instance: instance, requestID: "req-\(sequence)", version: version, digest: digest,
                    document: #"{"replicas":\#(replicas),"version":"\#(version)"}"#, rollback: false),
                actor: actor, correlationID: correlationID)
        default:
            let finished = ApplyFinished(
                instance: instance, runtime: "local", digest: digest, idempotencyKey: "req-\(sequence)",
                result: ApplyResult(succeeded: true, durationMilliseconds: Int64(200 + sequence % 300), output: "started r1 running \(version)"))
            // ApplySucceeded and ApplyFailed share a payload type, so it is appended by name, as
            // the runtime recorder does.
            return try! NewEvent(type: ApplyFinished.succeededType, encoding: finished, actor: actor, correlationID: correlationID)
        }
    }

    /// The single event appended by call number `call` of a one-event-per-transaction run.
    func single(_ call: Int) -> (stream: StreamID, event: NewEvent) {
        let batch = batches[call % batches.count]
        return (streams[call % streams.count], batch[(call / batches.count) % batch.count])
    }

    /// The average payload size in bytes, for the report.
    var meanPayloadBytes: Int {
        let all = batches.joined()
        return all.reduce(0) { $0 + $1.payload.utf8.count } / max(1, all.count)
    }
}
