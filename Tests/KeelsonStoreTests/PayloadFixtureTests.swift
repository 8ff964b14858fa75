import Foundation
import GRDB
import KeelsonCore
import Testing

/// Every payload of a log written by an earlier Keelson (`Tests/Fixtures/logs/engine-2.db`) reads
/// the same through `PayloadDecoder` (what folds, replay and snapshots use) as through
/// `JSONDecoder` (what every earlier version read it with), and writes back the same bytes through
/// `CanonicalJSON` as through `JSONEncoder`.
@Suite("Payload decoder on a recorded log")
struct PayloadFixtureTests {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/logs/engine-2.db")

    /// Both decoders read the same value, and it encodes to the same bytes through `CanonicalJSON`
    /// (its tree written directly) as through `JSONEncoder`.
    static func same<Payload: Codable & Equatable & SendableMetatype>(_: Payload.Type) -> @Sendable (String) throws -> Bool {
        { text in
            let value = try PayloadDecoder().decode(Payload.self, from: text)
            return try value == JSONDecoder().decode(Payload.self, from: Data(text.utf8))
                && CanonicalJSON.data(value) == CanonicalJSON.encoded(value)
        }
    }

    static let types: [String: @Sendable (String) throws -> Bool] = [
        AlertFired.eventType: same(AlertFired.self), AlertResolved.eventType: same(AlertResolved.self),
        ApplyFinished.failedType: same(ApplyFinished.self), ApplyFinished.succeededType: same(ApplyFinished.self),
        ApplyRequested.eventType: same(ApplyRequested.self), ApplyStarted.eventType: same(ApplyStarted.self),
        ApprovalGranted.eventType: same(ApprovalGranted.self), ConfigApplied.eventType: same(ConfigApplied.self),
        DecisionMade.eventType: same(DecisionMade.self), DesiredStateCompiled.eventType: same(DesiredStateCompiled.self),
        LeaseAcquired.eventType: same(LeaseAcquired.self), PolicyCompiled.eventType: same(PolicyCompiled.self),
        ReleaseMarkedBad.eventType: same(ReleaseMarkedBad.self), ReleaseRequested.eventType: same(ReleaseRequested.self),
        StateFetched.eventType: same(StateFetched.self), StateUnchanged.eventType: same(StateUnchanged.self),
        WorkerStarted.eventType: same(WorkerStarted.self),
    ]

    @Test("every payload of every type in the log decodes equal both ways")
    func everyPayload() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-fixture-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let copy = directory.appendingPathComponent("log.db")
        try FileManager.default.copyItem(at: Self.fixture, to: copy)
        let rows = try DatabaseQueue(path: copy.path).read { db in
            try Row.fetchAll(db, sql: "SELECT position, type, payload FROM events ORDER BY position")
        }
        var checked: [String: Int] = [:]
        for row in rows {
            let type: String = row["type"], payload: String = row["payload"], position: Int64 = row["position"]
            guard let same = Self.types[type] else {
                Issue.record("the fixture holds a \(type) this test does not know")
                continue
            }
            #expect(try same(payload), "event \(position) (\(type))")
            checked[type, default: 0] += 1
        }
        #expect(checked.keys.sorted() == Self.types.keys.sorted())
        #expect(checked.values.reduce(0, +) > 200)
    }
}
