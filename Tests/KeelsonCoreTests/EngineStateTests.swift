import Foundation
import Testing
@testable import KeelsonCore

@Suite("EngineState: the fold decide reads")
struct EngineStateTests {
    var position: Int64 = 0

    mutating func event<Payload: EventPayload>(_ payload: Payload, stream: String, actor: String = "alice", at seconds: Int64 = 0) -> RecordedEvent {
        position += 1
        return RecordedEvent(
            position: position, streamID: StreamID(stream), version: position, type: Payload.eventType, schemaVersion: 1,
            payload: try! CanonicalJSON.string(payload), recordedAtMilliseconds: 1_795_600_800_000 + seconds * 1000, actor: actor,
            correlationID: nil, causationPosition: nil)
    }

    @Test("a view holds the channel's rules, its upstream, matching alerts only, the pause that applies and who converges")
    mutating func view() {
        var state = EngineState()
        let policy = ApplicationPolicy(application: "shop", maxConverging: 2, channels: [
            ChannelPolicy(name: "staging"),
            ChannelPolicy(name: "prod", after: ["staging"], soakSeconds: 600, approvals: 1, alertGates: [["severity": "critical"]]),
        ])
        let events = [
            event(PolicyCompiled(policy: policy, configDigest: "sha256:c"), stream: "app:shop"),
            event(DesiredStateCompiled(instance: "shop/web@staging", digest: "sha256:s1", document: #"{"progressDeadlineSeconds":90,"autoRollback":false}"#, version: "1.0.0", parameters: [:], configDigest: "sha256:c"), stream: "instance:shop/web@staging"),
            event(DesiredStateCompiled(instance: "shop/web@prod", digest: "sha256:p1", document: "{}", version: "1.0.0", parameters: [:], configDigest: "sha256:c"), stream: "instance:shop/web@prod"),
            event(DesiredStateCompiled(instance: "shop/api@prod", digest: "sha256:a1", document: "{}", version: "3.0.0", parameters: [:], configDigest: "sha256:c"), stream: "instance:shop/api@prod"),
            event(AlertFired(name: "Disk", labels: ["severity": "warning"]), stream: "alerts"),
            event(AlertFired(name: "Errors", labels: ["severity": "critical", "service": "web"]), stream: "alerts"),
            event(Paused(scope: "shop/web", reason: "incident"), stream: "pauses", actor: "bob"),
            event(ApprovalGranted(instance: ServiceInstanceID("shop/web@prod")!, version: "1.0.0"), stream: "instance:shop/web@prod", actor: "carol"),
            event(ApprovalGranted(instance: ServiceInstanceID("shop/web@prod")!, version: "1.0.0"), stream: "instance:shop/web@prod", actor: "carol"),
            event(DecisionMade(instance: ServiceInstanceID("shop/api@prod")!, viewPosition: 3, nowMilliseconds: 1_795_600_800_000, engineVersion: 1,
                               decision: Decision(status: .converging, version: "3.0.0", reason: "applying 3.0.0")), stream: "instance:shop/api@prod"),
        ]
        for event in events { state.evolve(event) }
        #expect(state.position == Int64(events.count))
        #expect(state.instances[ServiceInstanceID("shop/web@staging")!]?.desired?.progressDeadlineSeconds == 90)
        #expect(state.instances[ServiceInstanceID("shop/web@staging")!]?.desired?.autoRollback == false)

        let view = try! #require(state.view(of: ServiceInstanceID("shop/web@prod")!))
        #expect(view.policy.approvals == 1)
        #expect(view.upstream.map(\.channel) == ["staging"])
        #expect(view.upstream[0].converged == nil)
        #expect(view.gatingAlerts.map(\.name) == ["Errors"])
        #expect(view.pausedBy == "shop/web: incident")
        #expect(view.convergingInApplication == 1)
        #expect(view.convergingInChannel == 1)
        #expect(view.applicationMaxConverging == 2)
        #expect(view.record.approvals["1.0.0"] == ["carol"])
        #expect(state.view(of: ServiceInstanceID("shop/api@prod")!)?.pausedBy == nil)

        state.evolve(event(Resumed(scope: "shop/web"), stream: "pauses"))
        state.evolve(event(AlertResolved(name: "Errors", labels: ["service": "web", "severity": "critical"]), stream: "alerts"))
        let after = try! #require(state.view(of: ServiceInstanceID("shop/web@prod")!))
        #expect(after.pausedBy == nil)
        #expect(after.gatingAlerts.isEmpty)
        #expect(state.view(of: ServiceInstanceID("other/web@prod")!) == nil)
    }

    @Test("apply results match their request by idempotency key; a restart of its worker or a lease taken over orphans a request without one")
    mutating func requests() {
        var state = EngineState()
        let web = ServiceInstanceID("shop/web@staging")!
        state.evolve(event(ApplyRequested(instance: web, requestID: "req-1", version: "1.0.0", digest: "sha256:1", document: "{}", rollback: false), stream: "instance:shop/web@staging", actor: "worker:1"))
        // A result for another key changes nothing.
        let other = ApplyFinished(instance: web, runtime: "sim", digest: "sha256:1", idempotencyKey: "req-0", result: ApplyResult(succeeded: true, durationMilliseconds: 1))
        position += 1
        state.evolve(RecordedEvent(position: position, streamID: "instance:shop/web@staging", version: position, type: ApplyFinished.succeededType, schemaVersion: 1,
                                   payload: try! CanonicalJSON.string(other), recordedAtMilliseconds: 0, actor: nil, correlationID: nil, causationPosition: nil))
        #expect(state.instances[web]?.request?.result == nil)
        // Another worker starting leaves it alone; its own worker restarting orphans it.
        state.evolve(event(WorkerStarted(worker: "worker:2", engineVersion: 1), stream: "worker:worker:2", at: 20))
        #expect(state.instances[web]?.request?.orphanedAtMilliseconds == nil)
        var leased = state
        state.evolve(event(WorkerStarted(worker: "worker:1", engineVersion: 1), stream: "worker:worker:1", at: 30))
        #expect(state.instances[web]?.request?.orphanedAtMilliseconds == 1_795_600_830_000)
        // So does another worker taking the instance's lease over.
        leased.evolve(event(LeaseAcquired(instance: web, worker: "worker:2", previousOwner: "worker:1"), stream: "instance:shop/web@staging", at: 40))
        #expect(leased.instances[web]?.request?.orphanedAtMilliseconds == 1_795_600_840_000)
        let mine = ApplyFinished(instance: web, runtime: "sim", digest: "sha256:1", idempotencyKey: "req-1", result: ApplyResult(succeeded: false, durationMilliseconds: 1, error: "boom"))
        position += 1
        state.evolve(RecordedEvent(position: position, streamID: "instance:shop/web@staging", version: position, type: ApplyFinished.failedType, schemaVersion: 1,
                                   payload: try! CanonicalJSON.string(mine), recordedAtMilliseconds: 5, actor: nil, correlationID: nil, causationPosition: nil))
        #expect(state.instances[web]?.request?.result?.succeeded == false)
        #expect(state.instances[web]?.request?.result?.error == "boom")
    }
}
