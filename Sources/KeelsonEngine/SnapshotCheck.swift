import Foundation
import KeelsonCore
import KeelsonStore

/// What `keelson db check` found of one stored engine snapshot.
public struct EngineSnapshotCheck: Sendable, Codable, Hashable {
    public var position: Int64
    public var foldVersion: Int
    public var bytes: Int
    /// nil: it holds what a fold of the log to its position makes (or it is of another fold
    /// version, which no worker starts from); else what is wrong.
    public var problem: String?
}

extension EventStore {
    /// Checks every stored engine snapshot of today's fold against a fold of the log to its
    /// position, in one pass over the log.
    public func verifyEngineSnapshots() async throws -> [EngineSnapshotCheck] {
        let stored = try await engineSnapshots()
        var checks: [EngineSnapshotCheck] = []
        var state = EngineState()
        var folded: Int64 = 0
        for info in stored {
            var check = EngineSnapshotCheck(position: info.position, foldVersion: info.foldVersion, bytes: info.bytes)
            defer { checks.append(check) }
            guard info.foldVersion == EngineSnapshot.foldVersion else { continue }
            let snapshot: EngineSnapshot
            do {
                guard let found = try await engineSnapshot(at: info.position) else { continue }
                snapshot = found
            } catch {
                check.problem = "it cannot be read: \(error)"
                continue
            }
            try await foldEngineEvents(from: folded, upTo: info.position) { state.evolve($0) }
            folded = info.position
            var expected = state
            expected.position = info.position
            var held = snapshot.state
            held.position = info.position
            if snapshot.position != info.position {
                check.problem = "it says position \(snapshot.position), stored at \(info.position)"
            } else if !held.holdsTheSame(as: expected) {
                let differing = Set(expected.instances.keys).union(held.instances.keys).sorted()
                    .filter { expected.instances[$0] != held.instances[$0] }
                check.problem = "it differs from a fold of the log to position \(info.position)"
                    + (differing.isEmpty ? " (outside the instances)" : ": \(differing.prefix(5).map(\.description).joined(separator: ", "))"
                        + (differing.count > 5 ? " and \(differing.count - 5) more" : ""))
            }
        }
        return checks
    }
}
