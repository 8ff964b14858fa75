import Foundation
import KeelsonCore
import Testing
@testable import KeelsonStore

@Suite("The deploy timeline")
struct TimelineTests {
    @Test("an instance's timeline has its own entries and its service's, newest first, in readable lines; filters and paging work; it rebuilds identically")
    func timeline() async throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        let store = try makeStore(directory, clock: clock)
        let eu = ServiceInstanceID("shop/web@prod-eu")!
        let us = ServiceInstanceID("shop/web@prod-us")!
        try await store.append([try NewEvent(ReleaseRequested(application: "shop", service: "web", version: "1.4.2", parameters: [:]), actor: "user:alice")], to: "service:shop/web")
        for id in [eu, us] {
            try await store.append([try NewEvent(DesiredStateCompiled(instance: id.description, digest: "sha256:0123456789abcdef0123", document: "{}", version: "1.4.2", parameters: [:], configDigest: "c"), actor: "user:alice")], to: StreamID("instance:\(id)"))
        }
        clock.advance(by: 60)
        try await store.append([try NewEvent(DecisionMade(instance: eu, viewPosition: 3, nowMilliseconds: 0, engineVersion: 1, decision: Decision(status: .waiting, waitingFor: .approval, version: "1.4.2", reason: .words("1.4.2 waits: approval: 0 of 1"))), actor: "worker:a")], to: StreamID("instance:\(eu)"))
        try await store.append([try NewEvent(ApprovalGranted(instance: eu, version: "1.4.2", comment: "dashboards green"), actor: "user:bob")], to: StreamID("instance:\(eu)"))
        let finished = ApplyFinished(instance: eu, runtime: "sim", digest: "sha256:x", idempotencyKey: "req-1", result: ApplyResult(succeeded: false, durationMilliseconds: 2_500, error: "port taken"))
        try await store.append([NewEvent(type: ApplyFinished.failedType, payload: try CanonicalJSON.string(finished), actor: "worker:a")], to: StreamID("instance:\(eu)"))
        try await store.append([try NewEvent(StateUnchanged(instance: eu, sameAs: 1), actor: "worker:a")], to: StreamID("instance:\(eu)"))
        try await store.append([try NewEvent(AlertFired(name: "Errors", labels: ["severity": "critical"]), actor: "alertmanager")], to: "alerts")
        try await store.append([try NewEvent(ReleaseMarkedBad(service: "shop/web", version: "1.4.2", reason: "failed in prod-eu"), actor: "worker:a")], to: "service:shop/web")

        let entries = try await store.timeline(TimelineQuery(application: "shop", service: "web", channel: "prod-eu"))
        #expect(entries.map(\.line) == [
            "1.4.2 marked bad: failed in prod-eu",
            "apply on sim failed: port taken",
            "user:bob approved 1.4.2: dashboards green",
            "waiting: 1.4.2 waits: approval: 0 of 1",
            "desired state is now 1.4.2 (sha256:0123456789ab…)",
            "user:alice released shop/web 1.4.2",
        ])
        #expect(entries.map(\.kind) == [.bad, .apply, .approval, .decision, .desired, .release])
        #expect(entries.first?.channel == nil && entries[1].channel == "prod-eu")
        #expect(entries.last?.actor == "user:alice")
        #expect(entries[3].atMilliseconds - entries[4].atMilliseconds == 60_000)

        // The other channel's entries are not in prod-eu's timeline, but are in the service's.
        #expect(try await store.timeline(TimelineQuery(application: "shop", service: "web")).count == 7)
        #expect(try await store.timeline(TimelineQuery()).map(\.kind).contains(.alert))
        var decisions = TimelineQuery(application: "shop", service: "web", channel: "prod-eu")
        decisions.kinds = [.decision, .approval]
        #expect(try await store.timeline(decisions).map(\.kind) == [.approval, .decision])
        var page = TimelineQuery(application: "shop")
        page.limit = 2
        let first = try await store.timeline(page)
        page.before = first.last?.position
        let second = try await store.timeline(page)
        #expect(first.count == 2 && second.count == 2 && second[0].position < first[1].position)
        var recent = TimelineQuery(application: "shop")
        recent.since = clock.read().addingTimeInterval(-30)
        #expect(try await store.timeline(recent).allSatisfy { $0.kind != .release && $0.kind != .desired })

        #expect(try await store.verifyProjections().isClean)
        _ = try await store.rebuildProjections()
        #expect(try await store.timeline(TimelineQuery(application: "shop", service: "web", channel: "prod-eu")) == entries)
    }
}
