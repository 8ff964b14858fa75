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
                               decision: Decision(status: .converging, version: "3.0.0", reason: .words("applying 3.0.0"))), stream: "instance:shop/api@prod"),
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

    mutating func raw(_ type: String, _ payload: String, stream: String, actor: String = "alice", at seconds: Int64 = 0) -> RecordedEvent {
        position += 1
        return RecordedEvent(
            position: position, streamID: StreamID(stream), version: position, type: type, schemaVersion: 1, payload: payload,
            recordedAtMilliseconds: 1_795_600_800_000 + seconds * 1000, actor: actor, correlationID: nil, causationPosition: nil)
    }

    mutating func finished(_ key: String, succeeded: Bool, at seconds: Int64) -> RecordedEvent {
        let payload = ApplyFinished(
            instance: ServiceInstanceID("shop/web@staging")!, runtime: "sim", digest: "sha256:1", idempotencyKey: key,
            result: ApplyResult(succeeded: succeeded, durationMilliseconds: 1, error: succeeded ? nil : "boom"))
        return raw(succeeded ? ApplyFinished.succeededType : ApplyFinished.failedType, try! CanonicalJSON.string(payload), stream: "instance:shop/web@staging", at: seconds)
    }

    static let policy = ApplicationPolicy(application: "shop", maxConverging: nil, channels: [ChannelPolicy(name: "staging")])

    @Test("after a request's result, its worker starting again or the lease changing hands marks its runner changed; nothing else does")
    mutating func runnerChanged() {
        let web = ServiceInstanceID("shop/web@staging")!
        let stream = "instance:shop/web@staging"
        var state = EngineState()
        state.evolve(event(ApplyRequested(instance: web, requestID: "req-1", version: "1.0.0", digest: "sha256:1", document: "{}", rollback: false), stream: stream, actor: "w1"))
        state.evolve(finished("req-1", succeeded: true, at: 10))
        var restarted = state, handedOver = state, untouched = state
        restarted.evolve(event(WorkerStarted(worker: "w1", engineVersion: Engine.version), stream: "worker:w1", actor: "w1", at: 20))
        #expect(restarted.instances[web]?.request?.runnerChanged == true)
        #expect(restarted.instances[web]?.request?.orphanedAtMilliseconds == nil)
        handedOver.evolve(event(LeaseAcquired(instance: web, worker: "w2", previousOwner: "w1"), stream: stream, actor: "w2", at: 20))
        #expect(handedOver.instances[web]?.request?.runnerChanged == true)
        untouched.evolve(event(WorkerStarted(worker: "w2", engineVersion: Engine.version), stream: "worker:w2", actor: "w2", at: 20))
        untouched.evolve(event(LeaseAcquired(instance: web, worker: "w1", previousOwner: nil), stream: stream, actor: "w1", at: 30))
        #expect(untouched.instances[web]?.request?.runnerChanged == nil)
        // A new request starts afresh.
        restarted.evolve(event(ApplyRequested(instance: web, requestID: "req-2", version: "1.0.0", digest: "sha256:1", document: "{}", rollback: false), stream: stream, actor: "w1", at: 40))
        #expect(restarted.instances[web]?.request?.runnerChanged == nil)
        #expect(restarted.instances[web]?.request?.attempt == 2)
    }

    @Test("a re-issued request is run by the worker that re-issued it: that worker's restart orphans it again, whoever asked first")
    mutating func reissuedThenRestarted() {
        var state = EngineState()
        let web = ServiceInstanceID("shop/web@staging")!
        let stream = "instance:shop/web@staging"
        state.evolve(event(ApplyRequested(instance: web, requestID: "req-1", version: "1.0.0", digest: "sha256:1", document: "{}", rollback: false), stream: stream, actor: "w1"))
        // w1 dies; w2 takes the lease over and re-issues the request.
        state.evolve(event(LeaseAcquired(instance: web, worker: "w2", previousOwner: "w1"), stream: stream, actor: "w2", at: 40))
        #expect(state.instances[web]?.request?.orphanedAtMilliseconds != nil)
        let reissue = DecisionMade(instance: web, viewPosition: position, nowMilliseconds: 1_795_600_850_000, engineVersion: Engine.version,
                                   decision: Decision(status: .converging, reason: .words("re-issuing"), actions: [.reissue(requestID: "req-1")]))
        state.evolve(event(reissue, stream: stream, actor: "w2", at: 50))
        let request = state.instances[web]?.request
        #expect(request?.orphanedAtMilliseconds == nil)
        #expect(request?.requestedBy == "w1" && request?.executor == "w2" && request?.runBy == "w2")
        #expect(request?.issuedAt == 1_795_600_850_000)
        #expect(state.instances[web]?.leaseHolder == "w2")
        // w2 is killed and started again under its name (its leases are renewed, no hand-over).
        var other = state
        state.evolve(event(WorkerStarted(worker: "w2", engineVersion: Engine.version), stream: "worker:w2", actor: "w2", at: 60))
        #expect(state.instances[web]?.request?.orphanedAtMilliseconds == 1_795_600_860_000)
        // w1 starting again does not touch what w2 runs.
        other.evolve(event(WorkerStarted(worker: "w1", engineVersion: Engine.version), stream: "worker:w1", actor: "w1", at: 60))
        #expect(other.instances[web]?.request?.orphanedAtMilliseconds == nil)
        // The first result counts; a late second one (a run that outlived its worker) does not.
        state.evolve(finished("req-1", succeeded: true, at: 70))
        state.evolve(finished("req-1", succeeded: false, at: 80))
        #expect(state.instances[web]?.request?.result?.succeeded == true)
    }

    @Test("releasing a version marked bad again forgets its finished request wherever it failed: apply, health before converging, or watch")
    mutating func retryClearsEveryFailure() {
        let web = ServiceInstanceID("shop/web@staging")!
        let stream = "instance:shop/web@staging"
        func run(succeeded: Bool, converged: Bool, status: InstanceStatus, good: Bool) -> InstanceRecord.Request? {
            var state = EngineState()
            state.evolve(event(PolicyCompiled(policy: Self.policy, configDigest: "c"), stream: "app:shop"))
            state.evolve(event(ApplyRequested(instance: web, requestID: "req-1", version: "2.0.0", digest: "sha256:1", document: "{}", rollback: false), stream: stream, actor: "w", at: 1))
            state.evolve(finished("req-1", succeeded: succeeded, at: 2))
            var actions: [DecisionAction] = converged ? [.markConverged(version: "2.0.0", digest: "sha256:1")] : []
            if good { actions.append(.markGood(version: "2.0.0", digest: "sha256:1")) }
            state.evolve(event(DecisionMade(instance: web, viewPosition: position, nowMilliseconds: 1_795_600_803_000, engineVersion: Engine.version,
                                            decision: Decision(status: status, reason: .words("x"), actions: actions)), stream: stream, actor: "w", at: 3))
            state.evolve(event(ReleaseMarkedBad(service: "shop/web", version: "2.0.0", reason: "failed in staging"), stream: "service:shop/web", at: 4))
            state.evolve(event(ReleaseRequested(application: "shop", service: "web", version: "2.0.0", parameters: [:]), stream: "service:shop/web", at: 5))
            #expect(state.badReleases["shop/web"]?["2.0.0"] == nil)
            return state.instances[web]?.request
        }
        #expect(run(succeeded: false, converged: false, status: .failed, good: false) == nil, "its apply failed")
        #expect(run(succeeded: true, converged: false, status: .failed, good: false) == nil, "not healthy by its deadline")
        #expect(run(succeeded: true, converged: true, status: .failed, good: false) == nil, "lost its health during the watch")
        #expect(run(succeeded: true, converged: true, status: .converged, good: true) != nil, "good here: kept")
    }

    @Test("the same release applied again before it converged is a further attempt; after converging it is the first again")
    mutating func attempts() {
        var state = EngineState()
        let web = ServiceInstanceID("shop/web@staging")!
        let stream = "instance:shop/web@staging"
        func request(_ id: String, at seconds: Int64) -> RecordedEvent {
            event(ApplyRequested(instance: web, requestID: id, version: "1.0.0", digest: "sha256:1", document: "{}", rollback: false), stream: stream, actor: "w", at: seconds)
        }
        state.evolve(request("req-1", at: 1))
        state.evolve(finished("req-1", succeeded: true, at: 2))
        state.evolve(request("req-2", at: 3))
        #expect(state.instances[web]?.request?.attempt == 2)
        state.evolve(finished("req-2", succeeded: true, at: 4))
        state.evolve(event(DecisionMade(instance: web, viewPosition: position, nowMilliseconds: 1_795_600_805_000, engineVersion: Engine.version,
                                        decision: Decision(status: .converged, reason: .words("x"), actions: [.markConverged(version: "1.0.0", digest: "sha256:1")])), stream: stream, at: 5))
        state.evolve(request("req-3", at: 6))
        #expect(state.instances[web]?.request?.attempt == nil)
    }

    @Test("an event that does not decode is noted with its position and concerns its instance, application or everyone; a later one of its kind clears it")
    mutating func unreadable() throws {
        var state = EngineState()
        let web = ServiceInstanceID("shop/web@staging")!
        let api = ServiceInstanceID("shop/api@staging")!
        state.evolve(event(PolicyCompiled(policy: Self.policy, configDigest: "c"), stream: "app:shop"))
        for id in [web, api] {
            state.evolve(event(DesiredStateCompiled(instance: id.description, digest: "sha256:1", document: "{}", version: "1.0.0", parameters: [:], configDigest: "c"), stream: "instance:\(id)"))
        }
        state.evolve(raw(ApplyRequested.eventType, #"{"instance":"shop/web@staging"}"#, stream: "instance:shop/web@staging"))
        let problem = try #require(state.view(of: web)?.unreadable.first)
        #expect(problem.contains("event \(position) (ApplyRequested on instance:shop/web@staging) cannot be read: field 'requestID' is missing"), "\(problem)")
        #expect(state.view(of: api)?.unreadable == [])
        #expect(Engine.decide(state.view(of: web)!, nowMilliseconds: 1_795_600_900_000).status == .failed)
        state.evolve(event(ApplyRequested(instance: web, requestID: "req-2", version: "1.0.0", digest: "sha256:1", document: "{}", rollback: false), stream: "instance:shop/web@staging"))
        #expect(state.view(of: web)?.unreadable == [])

        // A signal nobody can read (an alert) concerns every instance until one of its kind reads well.
        state.evolve(raw(AlertFired.eventType, "not json", stream: "alerts"))
        #expect(state.view(of: api)?.unreadable.first?.contains("the payload is not valid JSON") == true)
        state.evolve(event(AlertResolved(name: "x", labels: [:]), stream: "alerts"))
        #expect(state.view(of: api)?.unreadable == [])
        // An application's policy that cannot be read concerns its instances only.
        state.evolve(raw(PolicyCompiled.eventType, "{}", stream: "app:shop"))
        #expect(state.view(of: web)?.unreadable.count == 1)
        #expect(state.unreadable(concerning: ServiceInstanceID("other/web@staging")!) == [])
    }
}
