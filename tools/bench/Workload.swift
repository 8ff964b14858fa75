import Foundation
import KeelsonCore

/// The events the benchmark appends: realistic stream names, a few event types, and payloads of
/// about 100 bytes of pre-encoded JSON, built before any clock starts. The Keelson store and the
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

    /// An event shaped like a fetch result or a decision: about 100 bytes of JSON.
    static func event(stream: StreamID, sequence: Int, correlationID: String?) -> NewEvent {
        let version = "1.\(sequence % 17).\(sequence % 101)"
        let hash = UInt64(sequence) &* 0x9E37_79B9_7F4A_7C15
        let digest = String(format: "%016llx%016llx", hash, hash ^ 0xBF58_476D_1CE4_E5B9)
        let payload = #"{"digest":"sha256:\#(digest)","healthy":\#(sequence % 7 != 0),"replicas":\#(sequence % 5 + 1),"version":"\#(version)"}"#
        return NewEvent(
            type: eventTypes[sequence % eventTypes.count], payload: payload, actor: actor, correlationID: correlationID)
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
