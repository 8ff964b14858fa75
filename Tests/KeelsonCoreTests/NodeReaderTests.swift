import Foundation
import Testing

@testable import KeelsonCore

/// The hand-written readers of the hot payloads (`NodeReadable`) read exactly what `Decodable`
/// reads, and give way to it on anything they do not handle.
@Suite("Hand-written payload readers")
struct NodeReaderTests {
    static let id = ServiceInstanceID("shop/web@prod-eu")!
    static let observed = Reason.Observed(ready: 1, desired: 3, running: ["1.0.0", "ünï \"q\""], problem: "web-1: crash\nloop", drifted: true)

    /// One of every reason (and of every gate, health, failure and cause inside one).
    static let reasons: [Reason] = [
        .words("converged on 1.0.0"), .cannotDecide(unreadable: ["event 3", "event 4"]), .noRelease, .removedFromConfig,
        .resumeFetching(version: "1", cause: .restart),
        .resumeReissuing(version: "1", cause: .noResult(graceSeconds: 60, deadlineSeconds: 600), running: ["0.9"]),
        .resumeAbandoning(version: "1", cause: .restart, supersededBy: "2"),
        .applyRunning(version: "1", rollback: true, sinceMilliseconds: 1_796_000_000_000),
        .rollbackRequested(to: "0.9", by: "ana"),
        .rollbackFailed(version: "0.9", failure: .applyFailed(error: "exit 1")),
        .rollbackRetry(version: "0.9", failure: .lostHealthDuringWatch(problem: "oom"), attempt: 2, retryAtMilliseconds: nil),
        .rollbackRetry(version: "0.9", failure: .alertDuringWatch(alert: "High{a=\"b\"}"), attempt: 2, retryAtMilliseconds: 5),
        .reapplyRetry(version: "1", error: "boom", retryAtMilliseconds: 7),
        .markedBadRollingBack(version: "2", why: "failed in canary", to: "1"),
        .failedRollingBack(version: "2", failure: .notHealthy(deadlineSeconds: 600, health: .observed(observed)), to: "1"),
        .failed(version: "2", failure: .notHealthy(deadlineSeconds: 1, health: .notFetchedSinceApply), autoRollbackOff: true),
        .converged(version: "1", ready: 3, desired: 3, rolledBack: false),
        .driftBeforeConverging(version: "1", seen: observed),
        .waitingHealthy(version: "1", health: .notFetchedYet, deadlineMilliseconds: 9),
        .waitingHealthy(version: "1", health: .notFetchedSinceApply, deadlineMilliseconds: 9),
        .waitingHealthy(version: "1", health: .observed(observed), deadlineMilliseconds: -9),
        .driftDuringWatch(version: "1"), .watching(version: "1", untilMilliseconds: Int64.max), .watchOverAwaitingFetch(version: "1"),
        .passedWatch(version: "1", watchSeconds: 0), .drift(version: "1", seen: observed),
        .rolledBackHoldingBad(version: "1", bad: "2", why: "x"), .convergedOn(version: "1"),
        .healingGood(bad: "2", why: "x", good: "1", seen: observed), .badAndUnhealthy(bad: "2", why: "x", good: "1", seen: observed),
        .heldBack(bad: "2", why: "x", running: nil), .heldBack(bad: "2", why: "x", running: "1"), .markedBad(version: "2", why: "x"),
        .rejected(version: "2", by: "ana", channel: "prod"),
        .waits(version: "2", gate: .paused(by: "shop: maintenance"), superseded: nil),
        .waits(version: "2", gate: .upstream(channel: "canary"), superseded: "1"),
        .waits(version: "2", gate: .soak(channel: "canary", sinceMilliseconds: 3, soakSeconds: 120), superseded: nil),
        .waits(version: "2", gate: .approval(approvers: [], needed: 2, instance: "shop/web@prod"), superseded: nil),
        .waits(version: "2", gate: .approval(approvers: ["ana", "bo"], needed: 2, instance: "shop/web@prod"), superseded: nil),
        .waits(version: "2", gate: .freeze(untilMilliseconds: 4, reason: nil), superseded: nil),
        .waits(version: "2", gate: .freeze(untilMilliseconds: 4, reason: "black friday"), superseded: nil),
        .waits(version: "2", gate: .window(nextOpeningMilliseconds: nil), superseded: nil),
        .waits(version: "2", gate: .window(nextOpeningMilliseconds: 8), superseded: nil),
        .waits(version: "2", gate: .alert("High"), superseded: nil),
        .waits(version: "2", gate: .applicationLimit(application: "shop", limit: 1), superseded: nil),
        .waits(version: "2", gate: .channelLimit(channel: "prod", limit: 2), superseded: nil),
        .applying(version: "2", superseded: nil), .applying(version: "2", superseded: "1"),
        .noted(.convergedOn(version: "1"), .noEarlierGoodRelease(by: "ana")), .noted(.noRelease, .alreadyOnGood(by: "bo")),
    ]

    static let actions: [DecisionAction] = [
        .apply(version: "2", digest: "sha256:ab", rollback: false), .apply(version: "1", digest: "sha256:cd", rollback: true),
        .markConverged(version: "2", digest: "sha256:ab"), .markGood(version: "2", digest: "sha256:ab"),
        .markBad(version: "2", reason: "ünïcode \"quoted\" \n"), .reissue(requestID: "r-1"), .abandon(requestID: "r-2", reason: "newer"),
    ]

    /// The reasons a settled or rolling fleet gives most: the ones the reader handles itself.
    static func readByHand(_ reason: Reason) -> Bool {
        switch reason {
        case .words, .noRelease, .applyRunning, .converged, .waitingHealthy, .watching, .watchOverAwaitingFetch, .passedWatch,
            .convergedOn, .applying:
            true
        case .waits(_, let gate, _):
            switch gate {
            case .freeze, .window, .alert: false
            case .paused, .upstream, .soak, .approval, .applicationLimit, .channelLimit: true
            }
        default:
            false
        }
    }

    static func decodedBothWays<Value: Decodable & Equatable>(_: Value.Type, _ text: String) throws -> Value {
        let ours = try PayloadDecoder().decode(Value.self, from: text)
        #expect(try ours == JSONDecoder().decode(Value.self, from: Data(text.utf8)), "\(text)")
        return ours
    }

    static func node(_ text: String) throws -> JSONNode {
        var text = text
        return try text.withUTF8 { try JSONNode.parse($0) }
    }

    @Test("every reason and action in a decision reads back equal, through the hand-written reader where it has the case")
    func decisions() throws {
        var read = 0
        for (index, reason) in Self.reasons.enumerated() {
            let decision = Decision(
                status: InstanceStatus.allCases[index % InstanceStatus.allCases.count],
                waitingFor: index.isMultiple(of: 3) ? nil : Precondition.allCases[index % Precondition.allCases.count],
                version: index.isMultiple(of: 5) ? nil : "2", reason: reason,
                actions: Array(Self.actions.prefix(index % (Self.actions.count + 1))),
                wakeAtMilliseconds: index.isMultiple(of: 2) ? nil : Int64(index) * 1_000)
            let made = DecisionMade(instance: Self.id, viewPosition: Int64(index), nowMilliseconds: 1_796_074_779_495, engineVersion: 3, decision: decision)
            let text = try CanonicalJSON.string(made)
            #expect(try Self.decodedBothWays(DecisionMade.self, text) == made)
            // Whether the reader itself read it (not `Decodable` after it gave up).
            let readByHand = (try? DecisionMade(node: Self.node(text))) == made
            #expect(readByHand == Self.readByHand(reason), "\(reason)")
            if readByHand { read += 1 }
        }
        #expect(read >= 15)
    }

    @Test("the other hot payloads read back equal, by hand")
    func otherPayloads() throws {
        let objects = [
            ObservedObject(name: "web-2", version: nil, desiredReplicas: 3, readyReplicas: 0, health: .unknown),
            ObservedObject(name: "web-1", version: "1.0.0", desiredReplicas: 3, readyReplicas: 2, health: .unhealthy, message: "😀\u{0}", drifted: true),
        ]
        // Written in an order that is not sorted: read as written, as `Decodable` reads it.
        var observation = Observation(objects: [])
        observation.objects = objects
        let fetched = StateFetched(instance: Self.id, runtime: "sim", observation: observation, digest: "sha256:00")
        let requested = ApplyRequested(instance: Self.id, requestID: "r", version: "2", digest: "d", document: "{\"a\":[1,2]}", rollback: true)
        let finished = ApplyFinished(instance: Self.id, runtime: "sim", digest: "d", idempotencyKey: "r", result: ApplyResult(succeeded: false, durationMilliseconds: -1, output: "", error: "x"))
        let succeeded = ApplyFinished(instance: Self.id, runtime: "sim", digest: "d", idempotencyKey: "r", result: ApplyResult(succeeded: true, durationMilliseconds: 12))
        let unchanged = StateUnchanged(instance: Self.id, sameAs: 4, fetches: 9, firstMilliseconds: 1, lastMilliseconds: nil)
        let leased = LeaseAcquired(instance: Self.id, worker: "w", previousOwner: nil)
        let compiled = DesiredStateCompiled(instance: "shop/web@prod-eu", digest: "d", document: "{}", version: "2", parameters: ["image": "x:2", "": "ü"], configDigest: "c")

        func check<Value: Codable & Equatable & NodeReadable>(_ value: Value) throws {
            let text = try CanonicalJSON.string(value)
            #expect(try Self.decodedBothWays(Value.self, text) == value)
            #expect(try Value(node: Self.node(text)) == value, "\(text)")
        }
        try check(fetched)
        try check(requested)
        try check(finished)
        try check(succeeded)
        try check(unchanged)
        try check(StateUnchanged(instance: Self.id, sameAs: 4))
        try check(leased)
        try check(LeaseAcquired(instance: Self.id, worker: "w", previousOwner: "v"))
        try check(compiled)
    }

    @Test("spellings the readers leave to Decodable read as JSONDecoder reads them, or fail as it fails", arguments: [
        // A number written with an exponent or a fraction that is whole.
        #"{"instance":"a/b@c","viewPosition":1e3,"nowMilliseconds":2.0,"engineVersion":3,"decision":{"status":"idle","reason":{"noRelease":{}},"actions":[]}}"#,
        // Null where a value may be absent; a field the type does not have.
        #"{"instance":"a/b@c","viewPosition":1,"nowMilliseconds":2,"engineVersion":3,"extra":[1],"decision":{"status":"idle","waitingFor":null,"version":null,"reason":{"noRelease":{}},"actions":[],"wakeAtMilliseconds":null}}"#,
        // Duplicate keys: the first counts.
        #"{"instance":"a/b@c","instance":"x","viewPosition":1,"nowMilliseconds":2,"engineVersion":3,"decision":{"status":"idle","reason":{"noRelease":{}},"actions":[]}}"#,
        // Reasons as engine 2 wrote them (words), and a case with a member it does not know.
        #"{"instance":"a/b@c","viewPosition":1,"nowMilliseconds":2,"engineVersion":2,"decision":{"status":"idle","reason":"no release yet","actions":[]}}"#,
        #"{"instance":"a/b@c","viewPosition":1,"nowMilliseconds":2,"engineVersion":3,"decision":{"status":"idle","reason":{"convergedOn":{"version":"1","later":true}},"actions":[]}}"#,
        // Wrong: two cases in one, an unknown status, a bad instance, a missing field, a string for a number.
        #"{"instance":"a/b@c","viewPosition":1,"nowMilliseconds":2,"engineVersion":3,"decision":{"status":"idle","reason":{"noRelease":{},"removedFromConfig":{}},"actions":[]}}"#,
        #"{"instance":"a/b@c","viewPosition":1,"nowMilliseconds":2,"engineVersion":3,"decision":{"status":"sleeping","reason":{"noRelease":{}},"actions":[]}}"#,
        #"{"instance":"a//b@c","viewPosition":1,"nowMilliseconds":2,"engineVersion":3,"decision":{"status":"idle","reason":{"noRelease":{}},"actions":[]}}"#,
        #"{"instance":"a/b@c","nowMilliseconds":2,"engineVersion":3,"decision":{"status":"idle","reason":{"noRelease":{}},"actions":[]}}"#,
        #"{"instance":"a/b@c","viewPosition":"1","nowMilliseconds":2,"engineVersion":3,"decision":{"status":"idle","reason":{"noRelease":{}},"actions":[]}}"#,
        #"{"instance":"a/b@c","viewPosition":1,"nowMilliseconds":2,"engineVersion":3,"decision":{"status":"idle","reason":{"noRelease":[]},"actions":[{"apply":{"version":"1","digest":"d"}}]}}"#,
        #"{"instance":"a/b@c","viewPosition":99999999999999999999,"nowMilliseconds":2,"engineVersion":3,"decision":{"status":"idle","reason":{"noRelease":{}},"actions":[]}}"#,
    ])
    func fallback(_ text: String) throws {
        let ours = Result { try PayloadDecoder().decode(DecisionMade.self, from: text) }
        let foundation = Result { try JSONDecoder().decode(DecisionMade.self, from: Data(text.utf8)) }
        switch (ours, foundation) {
        case (.success(let left), .success(let right)): #expect(left == right)
        case (.failure, .failure): break
        default: Issue.record("PayloadDecoder: \(ours); JSONDecoder: \(foundation)")
        }
    }
}
