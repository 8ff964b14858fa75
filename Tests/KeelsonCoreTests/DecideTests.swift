import Foundation
import Testing
import KeelsonTestSupport
@testable import KeelsonCore

/// Table-driven tests of `Engine.decide`: one case per rule and status, `now` injected. Each case
/// runs under today's engine (3) and the frozen engine 2; where they answer differently, the
/// `…3` fields say what engine 3 answers.
struct DecideCase: CustomTestStringConvertible, Sendable {
    var name: String
    var view: InstanceView
    var now: Int64 = DecideFixture.now
    var status: InstanceStatus
    var waitingFor: Precondition? = nil
    var actions: [DecisionAction] = []
    /// Substrings the reason must contain.
    var reason: [String] = []
    var wake: Int64?? = .none
    /// Engine 3's status and reason where they differ from engine 2's.
    var status3: InstanceStatus? = nil
    var reason3: [String]? = nil
    /// Engine 3's reason, as a value.
    var why: Reason? = nil

    var testDescription: String { name }
}

enum DecideFixture {
    /// 2026-11-25T10:00:00Z, a Wednesday (11:00 in Berlin).
    static let now: Int64 = 1_795_600_800_000
    static let minute: Int64 = 60_000
    static let web = ServiceInstanceID("shop/web@prod")!

    static func release(_ version: String, deadline: Int = 120, autoRollback: Bool = true) -> ReleaseRef {
        ReleaseRef(version: version, digest: "sha256:\(version)", document: "{}", progressDeadlineSeconds: deadline, autoRollback: autoRollback)
    }

    static func record(
        desired: String? = "2.0.0", deadline: Int = 120, autoRollback: Bool = true,
        request: String? = nil, rollback: Bool = false, requestedAgo: Int64 = 5 * minute,
        result: Bool? = nil, resultAgo: Int64 = 4 * minute, error: String? = "exit 1",
        seen: (healthy: Bool, versions: [String], drifted: Bool, ago: Int64)? = nil,
        converged: (String, ago: Int64)? = nil, lastGood: String? = nil,
        approvals: [String] = [], rejectedBy: String? = nil, rollbackBy: String? = nil,
        issuedAgo: Int64? = nil, attempt: Int? = nil, orphanedAgo: Int64? = nil, runnerChanged: Bool? = nil,
        positions: (result: Int64, seen: Int64)? = nil
    ) -> InstanceRecord {
        var record = InstanceRecord(instance: web)
        record.desired = desired.map { release($0, deadline: deadline, autoRollback: autoRollback) }
        if let request {
            var entry = InstanceRecord.Request(
                requestID: "r-\(request)", release: release(request, deadline: deadline, autoRollback: autoRollback),
                rollback: rollback, atMilliseconds: now - requestedAgo)
            if let result {
                entry.result = .init(succeeded: result, atMilliseconds: now - resultAgo, error: result ? nil : error, position: positions?.result)
            }
            entry.issuedAtMilliseconds = issuedAgo.map { now - $0 }
            entry.attempt = attempt
            entry.runnerChanged = runnerChanged
            entry.orphanedAtMilliseconds = orphanedAgo.map { now - $0 }
            record.request = entry
        }
        if let seen {
            record.seen = .init(
                healthy: seen.healthy, versions: seen.versions, drifted: seen.drifted, ready: seen.healthy ? 2 : 0, desired: 2,
                problem: seen.healthy ? nil : "r1: GET /healthz: HTTP 500", sinceMilliseconds: now - seen.ago,
                atMilliseconds: now - seen.ago, position: positions?.seen)
        }
        if let converged { record.converged = .init(release: release(converged.0, deadline: deadline), atMilliseconds: now - converged.ago) }
        record.lastGood = lastGood.map { release($0, deadline: deadline) }
        if !approvals.isEmpty { record.approvals["2.0.0"] = approvals }
        if let rejectedBy { record.rejections["2.0.0"] = rejectedBy }
        record.rollbackRequestedBy = rollbackBy
        return record
    }

    static func view(
        _ record: InstanceRecord, policy: ChannelPolicy = ChannelPolicy(name: "prod"), upstream: [InstanceView.Upstream] = [],
        paused: String? = nil, alerts: [FiringAlert] = [], appLimit: Int? = nil, convergingInApp: Int = 0,
        convergingInChannel: Int = 0, bad: [String: String] = [:], unreadable: [String] = []
    ) -> InstanceView {
        InstanceView(
            record: record, policy: policy, applicationMaxConverging: appLimit, upstream: upstream, pausedBy: paused,
            gatingAlerts: alerts, convergingInApplication: convergingInApp, convergingInChannel: convergingInChannel,
            badVersions: bad, unreadable: unreadable)
    }

    static func upstream(_ version: String, ago: Int64) -> [InstanceView.Upstream] {
        [InstanceView.Upstream(channel: "canary", converged: .init(release: release(version), atMilliseconds: now - ago))]
    }

    static let alert = FiringAlert(name: "HighErrorRate", labels: ["service": "web", "severity": "critical"], sinceMilliseconds: now - minute)
    static let berlinOfficeHours = WindowPolicy(days: ["mon", "tue", "wed", "thu", "fri"], startMinute: 8 * 60, endMinute: 18 * 60, timeZone: "Europe/Berlin")
}

extension DecisionAction {
    static func applying(_ version: String, rollback: Bool = false) -> DecisionAction {
        .apply(version: version, digest: "sha256:\(version)", rollback: rollback)
    }
}

@Suite("decide: every rule and status")
struct DecideTests {
    typealias F = DecideFixture
    static let m = DecideFixture.minute

    static let cases: [DecideCase] = [
        // Nothing yet, first releases
        DecideCase(name: "no release: idle", view: F.view(F.record(desired: nil)), status: .idle, reason: ["no release yet"], wake: .some(nil), why: .noRelease),
        DecideCase(name: "a first release with no rules is applied", view: F.view(F.record()), status: .converging,
                   actions: [.applying("2.0.0")], reason: ["applying 2.0.0"]),
        DecideCase(name: "an apply that runs: converging until its deadline and a grace", view: F.view(F.record(request: "2.0.0", requestedAgo: m)),
                   status: .converging, reason: ["applying 2.0.0: apply running for 1m"], wake: .some(F.now + 2 * m),
                   why: .applyRunning(version: "2.0.0", rollback: false, sinceMilliseconds: F.now - m)),
        DecideCase(name: "a re-issued apply counts from its re-issue", view: F.view(F.record(request: "2.0.0", requestedAgo: 30 * m, issuedAgo: m)),
                   status: .converging, reason: ["applying 2.0.0: apply running for 1m"], wake: .some(F.now + 2 * m)),
        DecideCase(name: "no result long past the deadline: fetch before deciding, never wait forever", view: F.view(F.record(request: "2.0.0", requestedAgo: 5 * m, seen: (false, [], false, 3 * m))),
                   status: .converging, reason: ["no result from its worker 1m past the progress deadline of 2m: fetching before deciding"]),
        DecideCase(name: "no result long past the deadline, fetched since: re-issued with its key", view: F.view(F.record(request: "2.0.0", requestedAgo: 5 * m, seen: (false, [], false, 10_000))),
                   status: .converging, actions: [.reissue(requestID: "r-2.0.0")], reason: ["no result from its worker", "re-issuing the apply of 2.0.0"]),
        DecideCase(name: "orphaned by a restart, fetched since: re-issued", view: F.view(F.record(request: "2.0.0", requestedAgo: m, seen: (false, [], false, 10_000), orphanedAgo: 30_000)),
                   status: .converging, actions: [.reissue(requestID: "r-2.0.0")], reason: ["resuming after a restart: re-issuing"]),
        DecideCase(name: "orphaned and superseded: abandoned", view: F.view(F.record(desired: "3.0.0", request: "2.0.0", requestedAgo: m, seen: (false, [], false, 10_000), orphanedAgo: 30_000)),
                   status: .converging, actions: [.abandon(requestID: "r-2.0.0", reason: "superseded by 3.0.0 while no worker ran it")]),
        DecideCase(name: "an unreadable event: no decision over an incomplete view", view: F.view(F.record(request: "2.0.0", result: true, resultAgo: m), unreadable: ["event 7 (ApplyRequested on instance:shop/web@prod) cannot be read: field 'version' is missing"]),
                   status: .failed, reason: ["cannot decide: event 7 (ApplyRequested on instance:shop/web@prod) cannot be read"], wake: .some(nil)),
        DecideCase(name: "a rollback that runs: rolling back", view: F.view(F.record(request: "1.0.0", rollback: true, requestedAgo: 10_000)),
                   status: .rollingBack, reason: ["rolling back to 1.0.0"]),

        // Becoming healthy
        DecideCase(name: "applied, not fetched since: converging", view: F.view(F.record(request: "2.0.0", result: true, resultAgo: m, seen: (true, ["1.0.0"], false, 2 * m))),
                   status: .converging, reason: ["not fetched since the apply"], wake: .some(F.now + m)),
        DecideCase(name: "applied and healthy: converged, the watch begins", view: F.view(F.record(request: "2.0.0", result: true, resultAgo: m, seen: (true, ["2.0.0"], false, 10_000))),
                   status: .converged, actions: [.markConverged(version: "2.0.0", digest: "sha256:2.0.0")], reason: ["converged on 2.0.0: 2/2 ready"],
                   wake: .some(F.now + 300_000)),
        DecideCase(name: "applied, then nothing runs before converging (the runtime lost it): applied again", view: F.view(F.record(request: "2.0.0", result: true, resultAgo: m, seen: (false, [], false, 10_000))),
                   status: .converging, actions: [.applying("2.0.0")], reason: ["drift before converging: nothing runs although its apply succeeded; applying 2.0.0 again"]),
        DecideCase(name: "fetched in the millisecond of the apply's result but before it (by position): not an observation of the apply",
                   view: F.view(F.record(request: "2.0.0", result: true, resultAgo: m, seen: (false, [], false, m), positions: (result: 12, seen: 11))),
                   status: .converging, reason: ["waiting for 2.0.0 to become healthy: not fetched since the apply"], wake: .some(F.now + m)),
        DecideCase(name: "fetched in the millisecond of the apply's result and after it (by position): nothing runs, applied again",
                   view: F.view(F.record(request: "2.0.0", result: true, resultAgo: m, seen: (false, [], false, m), positions: (result: 12, seen: 13))),
                   status: .converging, actions: [.applying("2.0.0")], reason: ["drift before converging: nothing runs"]),
        DecideCase(name: "applied, then its processes are gone before converging: applied again", view: F.view(F.record(request: "2.0.0", result: true, resultAgo: m, seen: (false, ["2.0.0"], true, 10_000))),
                   status: .converging, actions: [.applying("2.0.0")], reason: ["drift before converging: drifted"]),
        DecideCase(name: "nothing runs after the second apply too: not applied a third time", view: F.view(F.record(request: "2.0.0", result: true, resultAgo: m, seen: (false, [], false, 10_000), attempt: 2)),
                   status: .converging, reason: ["waiting for 2.0.0 to become healthy: 0/2 ready, running nothing"], wake: .some(F.now + m)),
        DecideCase(name: "nothing runs after the second apply, but its worker started again or handed it over since: applied once more",
                   view: F.view(F.record(request: "2.0.0", result: true, resultAgo: m, seen: (false, [], false, 10_000), attempt: 2, runnerChanged: true)),
                   status: .converging, actions: [.applying("2.0.0")], reason: ["drift before converging: nothing runs"]),
        DecideCase(name: "a rollback that lost its processes before converging: rolled back again", view: F.view(F.record(request: "1.0.0", rollback: true, result: true, resultAgo: m, seen: (false, [], false, 10_000), lastGood: "1.0.0"), bad: ["2.0.0": "x"]),
                   status: .rollingBack, actions: [.applying("1.0.0", rollback: true)], reason: ["drift before converging"]),
        DecideCase(name: "applied, unhealthy before the deadline: waiting for health", view: F.view(F.record(request: "2.0.0", result: true, resultAgo: m, seen: (false, ["2.0.0"], false, 10_000))),
                   status: .converging, reason: ["waiting for 2.0.0 to become healthy: 0/2 ready", "HTTP 500", "deadline in 1m"], wake: .some(F.now + m)),
        DecideCase(name: "unhealthy past the progress deadline: marked bad, rolled back", view: F.view(F.record(request: "2.0.0", result: true, resultAgo: 3 * m, seen: (false, ["2.0.0"], false, 10_000), lastGood: "1.0.0")),
                   status: .rollingBack,
                   actions: [.markBad(version: "2.0.0", reason: "failed in prod: not healthy within its progress deadline of 2m (0/2 ready, running 2.0.0; r1: GET /healthz: HTTP 500)"), .applying("1.0.0", rollback: true)],
                   reason: ["2.0.0 failed: not healthy within its progress deadline of 2m", "rolling back to 1.0.0"]),
        DecideCase(name: "past the deadline with nothing to roll back to: failed", view: F.view(F.record(request: "2.0.0", result: true, resultAgo: 3 * m, seen: (false, ["2.0.0"], false, 10_000))),
                   status: .failed, actions: [.markBad(version: "2.0.0", reason: "failed in prod: not healthy within its progress deadline of 2m (0/2 ready, running 2.0.0; r1: GET /healthz: HTTP 500)")],
                   reason: ["no earlier good release to roll back to"]),
        DecideCase(name: "failed in its watch with nothing to roll back to: stays failed once the alert is resolved", view: F.view(F.record(request: "2.0.0", result: true, resultAgo: 3 * m, seen: (true, ["2.0.0"], false, 10_000), converged: ("2.0.0", 2 * m)), bad: ["2.0.0": "failed in prod: alert fired during the watch"]),
                   status: .failed, reason: ["2.0.0 is marked bad (failed in prod: alert fired during the watch); release it again to retry it"], wake: .some(nil)),
        DecideCase(name: "in its watch here, marked bad elsewhere: rolled back to the last good release", view: F.view(F.record(request: "2.0.0", result: true, resultAgo: 3 * m, seen: (true, ["2.0.0"], false, 10_000), converged: ("2.0.0", 2 * m), lastGood: "1.0.0"), bad: ["2.0.0": "failed in staging: it lost its health during the watch"]),
                   status: .rollingBack, actions: [.applying("1.0.0", rollback: true)], reason: ["2.0.0 is marked bad (failed in staging: it lost its health during the watch); rolling back to 1.0.0, the last good release"]),
        DecideCase(name: "in its watch here, marked bad elsewhere, automatic rollback off: failed, stays", view: F.view(F.record(autoRollback: false, request: "2.0.0", result: true, resultAgo: 3 * m, seen: (true, ["2.0.0"], false, 10_000), converged: ("2.0.0", 2 * m), lastGood: "1.0.0"), bad: ["2.0.0": "failed in staging"]),
                   status: .failed, reason: ["2.0.0 is marked bad (failed in staging); release it again to retry it"]),
        DecideCase(name: "superseded by a release marked bad elsewhere while nothing runs: back to the last good release", view: F.view(F.record(desired: "3.0.0", request: "2.0.0", result: true, resultAgo: m, seen: (false, [], false, 10_000), lastGood: "1.0.0"), bad: ["3.0.0": "failed in staging"]),
                   status: .rollingBack, actions: [.applying("1.0.0", rollback: true)], reason: ["3.0.0 is marked bad (failed in staging) and nothing runs here: rolling back to 1.0.0, the last good release"]),
        DecideCase(name: "superseded by a release marked bad elsewhere, running healthy: stays put", view: F.view(F.record(desired: "3.0.0", request: "2.0.0", result: true, resultAgo: m, seen: (true, ["2.0.0"], false, 10_000), lastGood: "1.0.0"), bad: ["3.0.0": "failed in staging"]),
                   status: .failed, reason: ["3.0.0 is marked bad (failed in staging); release it again to retry it"], status3: .converged, reason3: ["on 2.0.0; 3.0.0 is held back here: it is marked bad (failed in staging)"], why: .heldBack(bad: "3.0.0", why: "failed in staging", running: "2.0.0")),
        DecideCase(name: "past the deadline with automatic rollback off: failed", view: F.view(F.record(autoRollback: false, request: "2.0.0", result: true, resultAgo: 3 * m, seen: (false, ["2.0.0"], false, 10_000), lastGood: "1.0.0")),
                   status: .failed, actions: [.markBad(version: "2.0.0", reason: "failed in prod: not healthy within its progress deadline of 2m (0/2 ready, running 2.0.0; r1: GET /healthz: HTTP 500)")],
                   reason: ["automatic rollback is off"]),
        DecideCase(name: "a failed apply: marked bad, rolled back", view: F.view(F.record(request: "2.0.0", result: false, error: "no free port", lastGood: "1.0.0")),
                   status: .rollingBack, actions: [.markBad(version: "2.0.0", reason: "failed in prod: its apply failed: no free port"), .applying("1.0.0", rollback: true)],
                   reason: ["its apply failed: no free port"]),
        DecideCase(name: "a failed apply of a version already marked bad is not marked again", view: F.view(F.record(request: "2.0.0", result: false, lastGood: "1.0.0"), bad: ["2.0.0": "failed in canary"]),
                   status: .rollingBack, actions: [.applying("1.0.0", rollback: true)]),

        // The watch
        DecideCase(name: "converged, healthy, in the watch: watching", view: F.view(F.record(request: "2.0.0", result: true, resultAgo: 3 * m, seen: (true, ["2.0.0"], false, 10_000), converged: ("2.0.0", 2 * m), lastGood: "1.0.0")),
                   status: .converged, reason: ["watching for 3m more"], wake: .some(F.now + 3 * m)),
        DecideCase(name: "health lost during the watch: rolled back", view: F.view(F.record(request: "2.0.0", result: true, resultAgo: 3 * m, seen: (false, ["2.0.0"], false, 10_000), converged: ("2.0.0", 2 * m), lastGood: "1.0.0")),
                   status: .rollingBack, actions: [.markBad(version: "2.0.0", reason: "failed in prod: it lost its health during the watch (r1: GET /healthz: HTTP 500)"), .applying("1.0.0", rollback: true)],
                   reason: ["lost its health during the watch"]),
        DecideCase(name: "a gating alert during the watch: rolled back", view: F.view(F.record(request: "2.0.0", result: true, resultAgo: 3 * m, seen: (true, ["2.0.0"], false, 10_000), converged: ("2.0.0", 2 * m), lastGood: "1.0.0"), alerts: [F.alert]),
                   status: .rollingBack,
                   actions: [.markBad(version: "2.0.0", reason: "failed in prod: alert HighErrorRate{service=\"web\",severity=\"critical\"} fired during the watch"), .applying("1.0.0", rollback: true)],
                   reason: ["fired during the watch"]),
        DecideCase(name: "the watch is over: the release is good", view: F.view(F.record(request: "2.0.0", result: true, resultAgo: 9 * m, seen: (true, ["2.0.0"], false, 10_000), converged: ("2.0.0", 6 * m), lastGood: "1.0.0")),
                   status: .converged, actions: [.markGood(version: "2.0.0", digest: "sha256:2.0.0")], reason: ["passed its watch of 5m"]),
        DecideCase(name: "the watch is over, last fetched before its end: no verdict until a fetch confirms it", view: F.view(F.record(request: "2.0.0", result: true, resultAgo: 9 * m, seen: (true, ["2.0.0"], false, 2 * m), converged: ("2.0.0", 6 * m), lastGood: "1.0.0")),
                   status: .converged, reason: ["its watch is over, waiting for a fetch to confirm its health"], wake: .some(nil)),
        DecideCase(name: "nothing runs during the watch (the runtime lost it): applied again, not failed", view: F.view(F.record(request: "2.0.0", result: true, resultAgo: 3 * m, seen: (false, [], false, 10_000), converged: ("2.0.0", 2 * m), lastGood: "1.0.0")),
                   status: .converging, actions: [.applying("2.0.0")], reason: ["drift during the watch: nothing runs; applying 2.0.0 again"]),
        DecideCase(name: "applying a good release again (drift) failed: it stays good, tried again later", view: F.view(F.record(request: "2.0.0", result: false, resultAgo: 10_000, error: "timed out", lastGood: "2.0.0")),
                   status: .converging, reason: ["applying 2.0.0 again failed (timed out); it is good here; trying again in 20s"], wake: .some(F.now + 20_000)),
        DecideCase(name: "applying a good release again failed for the third time in a row: tried again after 2m", view: F.view(F.record(request: "2.0.0", result: false, resultAgo: m, error: "timed out", lastGood: "2.0.0", attempt: 3)),
                   status: .converging, reason: ["trying again in 1m"], wake: .some(F.now + m)),
        DecideCase(name: "applying a good release again failed a while ago: applied again", view: F.view(F.record(request: "2.0.0", result: false, resultAgo: m, error: "timed out", lastGood: "2.0.0")),
                   status: .converging, actions: [.applying("2.0.0")], reason: ["it is good here; applying it again"]),
        DecideCase(name: "good and healthy: converged, nothing to do", view: F.view(F.record(request: "2.0.0", result: true, resultAgo: 9 * m, seen: (true, ["2.0.0"], false, 10_000), converged: ("2.0.0", 6 * m), lastGood: "2.0.0")),
                   status: .converged, reason: ["converged on 2.0.0"], wake: .some(nil)),
        DecideCase(name: "good, then drifted: applied again", view: F.view(F.record(request: "2.0.0", result: true, resultAgo: 9 * m, seen: (true, ["2.0.0"], true, 10_000), converged: ("2.0.0", 6 * m), lastGood: "2.0.0")),
                   status: .converging, actions: [.applying("2.0.0")], reason: ["drift: drifted; applying 2.0.0 again"]),
        DecideCase(name: "good, then a replica died: applied again", view: F.view(F.record(request: "2.0.0", result: true, resultAgo: 9 * m, seen: (false, ["2.0.0"], true, 10_000), converged: ("2.0.0", 6 * m), lastGood: "2.0.0")),
                   status: .converging, actions: [.applying("2.0.0")], reason: ["drift: r1: GET /healthz: HTTP 500"]),

        // Rolled back
        DecideCase(name: "the rollback is healthy: rolled back", view: F.view(F.record(request: "1.0.0", rollback: true, result: true, resultAgo: m, seen: (true, ["1.0.0"], false, 10_000), lastGood: "1.0.0"), bad: ["2.0.0": "failed in prod"]),
                   status: .rolledBack, actions: [.markConverged(version: "1.0.0", digest: "sha256:1.0.0")], reason: ["rolled back to 1.0.0"], wake: .some(nil)),
        DecideCase(name: "rolled back and steady: stays there while the release is bad", view: F.view(F.record(request: "1.0.0", rollback: true, result: true, resultAgo: 9 * m, seen: (true, ["1.0.0"], false, 10_000), converged: ("1.0.0", 8 * m), lastGood: "1.0.0"), bad: ["2.0.0": "failed in prod"]),
                   status: .rolledBack, reason: ["rolled back to 1.0.0; 2.0.0 is marked bad: failed in prod"]),
        DecideCase(name: "a rollback that just failed: failed, tried again 30s after", view: F.view(F.record(request: "1.0.0", rollback: true, result: false, resultAgo: 10_000, error: "disk full", lastGood: "1.0.0"), bad: ["2.0.0": "x"]),
                   status: .failed, reason: ["rollback to 1.0.0 failed: disk full; trying again in 20s"], wake: .some(F.now + 20_000)),
        DecideCase(name: "a rollback that failed a while ago: rolled back again", view: F.view(F.record(request: "1.0.0", rollback: true, result: false, error: "disk full", lastGood: "1.0.0"), bad: ["2.0.0": "x"]),
                   status: .rollingBack, actions: [.applying("1.0.0", rollback: true)], reason: ["rollback to 1.0.0 failed: disk full; rolling back to 1.0.0 again (attempt 2)"]),
        DecideCase(name: "a rollback that failed five times in a row: the wait has doubled to 8m", view: F.view(F.record(request: "1.0.0", rollback: true, result: false, error: "disk full", lastGood: "1.0.0", attempt: 5), bad: ["2.0.0": "x"]),
                   status: .failed, reason: ["rollback to 1.0.0 failed: disk full; trying again in 4m"], wake: .some(F.now + 4 * m)),
        DecideCase(name: "a rollback that keeps failing: the wait stops growing at 10m", view: F.view(F.record(request: "1.0.0", rollback: true, result: false, resultAgo: m, error: "disk full", lastGood: "1.0.0", attempt: 1_000_000), bad: ["2.0.0": "x"]),
                   status: .failed, reason: ["trying again in 9m"], wake: .some(F.now + 9 * m)),
        DecideCase(name: "a failed rollback to a release that is no longer the last good one: failed, not retried", view: F.view(F.record(request: "1.0.0", rollback: true, result: false, error: "disk full", lastGood: "0.9.0"), bad: ["2.0.0": "x"]),
                   status: .failed, reason: ["rollback to 1.0.0 failed: disk full"], wake: .some(nil)),
        DecideCase(name: "a rollback not healthy by its deadline: rolled back again after the wait", view: F.view(F.record(request: "1.0.0", rollback: true, result: true, resultAgo: 4 * m, seen: (false, [], false, 10_000), lastGood: "1.0.0", attempt: 2), bad: ["2.0.0": "x"]),
                   status: .rollingBack, actions: [.applying("1.0.0", rollback: true)],
                   reason: ["rollback to 1.0.0 not healthy within its progress deadline of 2m (0/2 ready, running nothing; r1: GET /healthz: HTTP 500); rolling back to 1.0.0 again (attempt 3)"]),
        DecideCase(name: "a rollback not healthy by its deadline: failed until the wait is over", view: F.view(F.record(request: "1.0.0", rollback: true, result: true, resultAgo: 2 * m + 10_000, seen: (false, [], false, 10_000), lastGood: "1.0.0", attempt: 2), bad: ["2.0.0": "x"]),
                   status: .failed, reason: ["rollback to 1.0.0 not healthy within its progress deadline of 2m", "trying again in 50s"], wake: .some(F.now + 50_000)),
        // The status model: an instance's own state, apart from the fate of a release elsewhere.
        DecideCase(name: "converged on 1.0.0 in its watch, 1.1.0 marked bad upstream: engine 3 says converged on 1.0.0, 1.1.0 held back",
                   view: F.view(F.record(desired: "1.1.0", request: "1.0.0", result: true, resultAgo: 3 * m, seen: (true, ["1.0.0"], false, 10_000), converged: ("1.0.0", 2 * m)), bad: ["1.1.0": "failed in staging"]),
                   status: .failed, reason: ["1.1.0 is marked bad (failed in staging); release it again to retry it"],
                   status3: .converged, reason3: ["on 1.0.0; 1.1.0 is held back here: it is marked bad (failed in staging)"],
                   why: .heldBack(bad: "1.1.0", why: "failed in staging", running: "1.0.0")),
        DecideCase(name: "nothing released here before, the first release marked bad upstream: engine 3 says idle, not failed",
                   view: F.view(F.record(desired: "1.0.0"), bad: ["1.0.0": "failed in staging"]),
                   status: .failed, reason: ["1.0.0 is marked bad (failed in staging)"],
                   status3: .idle, reason3: ["1.0.0 is held back here: it is marked bad (failed in staging); nothing was released here before it"],
                   why: .heldBack(bad: "1.0.0", why: "failed in staging", running: nil)),
        DecideCase(name: "running 1.0.0 unhealthy, 1.1.0 marked bad, nothing to roll back to: failed in both",
                   view: F.view(F.record(desired: "1.1.0", request: "1.0.0", result: true, resultAgo: 3 * m, seen: (false, ["1.0.0"], false, 10_000), converged: ("1.0.0", 2 * m)), bad: ["1.1.0": "failed in staging"]),
                   status: .failed, reason: ["1.1.0 is marked bad (failed in staging)"], why: .markedBad(version: "1.1.0", why: "failed in staging")),
        DecideCase(name: "a release marked bad elsewhere is not applied here", view: F.view(F.record(request: "1.0.0", result: true, resultAgo: 9 * m, seen: (true, ["1.0.0"], false, 10_000), converged: ("1.0.0", 8 * m), lastGood: "1.0.0"), bad: ["2.0.0": "failed in canary"]),
                   status: .converged, reason: ["2.0.0 is marked bad (failed in canary); staying on 1.0.0"], reason3: ["on 1.0.0; 2.0.0 is held back here: it is marked bad (failed in canary)"], why: .heldBack(bad: "2.0.0", why: "failed in canary", running: "1.0.0")),
        DecideCase(name: "staying put on the last good release, which the runtime lost: applied again", view: F.view(F.record(request: "1.0.0", result: true, resultAgo: 9 * m, seen: (false, [], false, 10_000), converged: ("1.0.0", 8 * m), lastGood: "1.0.0"), bad: ["2.0.0": "failed in canary"]),
                   status: .rollingBack, actions: [.applying("1.0.0", rollback: true)], reason: ["2.0.0 is marked bad (failed in canary); staying on 1.0.0, but nothing runs: applying 1.0.0 again"]),
        DecideCase(name: "a rollback that failed, then a newer release: the newer one goes through the gates", view: F.view(F.record(desired: "3.0.0", request: "1.0.0", rollback: true, result: false, error: "disk full", lastGood: "1.0.0"), bad: ["2.0.0": "x"]),
                   status: .converging, actions: [.applying("3.0.0")], reason: ["applying 3.0.0"]),
        DecideCase(name: "rolled back here, and a release marked bad stays out", view: F.view(F.record(request: "1.0.0", rollback: true, result: true, resultAgo: 9 * m, seen: (true, ["1.0.0"], false, 10_000), converged: ("1.0.0", 8 * m), lastGood: "1.0.0"), bad: ["2.0.0": "failed in prod"]),
                   status: .rolledBack),
        DecideCase(name: "a rejected release does not go to this channel", view: F.view(F.record(rejectedBy: "alice")),
                   status: .rejected, reason: ["2.0.0 was rejected for prod by alice"]),
        DecideCase(name: "a manual rollback request: the current release is marked bad, the last good one applied", view: F.view(F.record(request: "2.0.0", result: true, resultAgo: 9 * m, seen: (true, ["2.0.0"], false, 10_000), converged: ("2.0.0", 8 * m), lastGood: "1.0.0", rollbackBy: "bob")),
                   status: .rollingBack, actions: [.markBad(version: "2.0.0", reason: "rolled back by bob"), .applying("1.0.0", rollback: true)],
                   reason: ["requested by bob"]),
        DecideCase(name: "a manual rollback with nothing earlier: said so, nothing done", view: F.view(F.record(request: "2.0.0", result: true, resultAgo: 9 * m, seen: (true, ["2.0.0"], false, 10_000), converged: ("2.0.0", 8 * m), lastGood: "2.0.0", rollbackBy: "bob")),
                   status: .converged, reason: ["rollback requested by bob: already on the last good release"]),

        // Ordering and soak
        DecideCase(name: "upstream not converged on the release: waiting", view: F.view(F.record(), policy: ChannelPolicy(name: "prod", after: ["canary"], soakSeconds: 600), upstream: [.init(channel: "canary", converged: nil)]),
                   status: .waiting, waitingFor: .upstream, reason: ["canary has not converged on it yet"]),
        DecideCase(name: "upstream converged on another release: waiting", view: F.view(F.record(), policy: ChannelPolicy(name: "prod", after: ["canary"], soakSeconds: 600), upstream: F.upstream("1.0.0", ago: 60 * m)),
                   status: .waiting, waitingFor: .upstream),
        DecideCase(name: "soaking: waiting, asks again when the soak ends", view: F.view(F.record(), policy: ChannelPolicy(name: "prod", after: ["canary"], soakSeconds: 600), upstream: F.upstream("2.0.0", ago: 192_000)),
                   status: .waiting, waitingFor: .soak, reason: ["soak: canary stable on 2.0.0 for 3m12s of 10m"], wake: .some(F.now + 408_000)),
        DecideCase(name: "soaked: applied", view: F.view(F.record(), policy: ChannelPolicy(name: "prod", after: ["canary"], soakSeconds: 600), upstream: F.upstream("2.0.0", ago: 11 * m)),
                   status: .converging, actions: [.applying("2.0.0")]),

        // Approval
        DecideCase(name: "an approval is needed: waiting, says how to give it", view: F.view(F.record(), policy: ChannelPolicy(name: "prod", approvals: 1)),
                   status: .waiting, waitingFor: .approval, reason: ["approval: 0 of 1", "keelson approve shop/web@prod --release 2.0.0"]),
        DecideCase(name: "two approvers needed, one given: waiting", view: F.view(F.record(approvals: ["alice"]), policy: ChannelPolicy(name: "prod", approvals: 2)),
                   status: .waiting, waitingFor: .approval, reason: ["approval: 1 of 2 (alice)"]),
        DecideCase(name: "approved: applied", view: F.view(F.record(approvals: ["alice", "bob"]), policy: ChannelPolicy(name: "prod", approvals: 2)),
                   status: .converging, actions: [.applying("2.0.0")]),
        DecideCase(name: "a rollback needs no approval", view: F.view(F.record(request: "2.0.0", result: false, lastGood: "1.0.0"), policy: ChannelPolicy(name: "prod", approvals: 2, freezes: [FreezePolicy(from: 0, until: 4_000_000_000)])),
                   status: .rollingBack, actions: [.markBad(version: "2.0.0", reason: "failed in prod: its apply failed: exit 1"), .applying("1.0.0", rollback: true)]),

        // Time: freezes and windows
        DecideCase(name: "inside a freeze: waiting until it ends", view: F.view(F.record(), policy: ChannelPolicy(name: "prod", freezes: [FreezePolicy(from: F.now / 1000 - 3600, until: F.now / 1000 + 7200, reason: "end of year")])),
                   status: .waiting, waitingFor: .freeze, reason: ["freeze until 2026-11-25T12:00:00Z (end of year)"], wake: .some(F.now + 7_200_000)),
        DecideCase(name: "after a freeze: applied", view: F.view(F.record(), policy: ChannelPolicy(name: "prod", freezes: [FreezePolicy(from: F.now / 1000 - 7200, until: F.now / 1000 - 1)])),
                   status: .converging, actions: [.applying("2.0.0")]),
        DecideCase(name: "inside the allowed window (11:00 in Berlin on a Wednesday): applied", view: F.view(F.record(), policy: ChannelPolicy(name: "prod", windows: [F.berlinOfficeHours])),
                   status: .converging, actions: [.applying("2.0.0")]),
        DecideCase(name: "outside the window (19:30 in Berlin): waiting for the next opening, Thursday 08:00 Berlin", view: F.view(F.record(), policy: ChannelPolicy(name: "prod", windows: [F.berlinOfficeHours])),
                   now: F.now + 510 * F.minute, status: .waiting, waitingFor: .window, reason: ["the next opens 2026-11-26T07:00:00Z"], wake: .some(1_795_676_400_000)),
        DecideCase(name: "a Saturday: the next opening is Monday", view: F.view(F.record(), policy: ChannelPolicy(name: "prod", windows: [F.berlinOfficeHours])),
                   now: F.now + 3 * 86_400_000, status: .waiting, waitingFor: .window, reason: ["2026-11-30T07:00:00Z"]),

        // Alerts, pauses, concurrency
        DecideCase(name: "a gating alert firing holds promotion", view: F.view(F.record(), alerts: [F.alert]),
                   status: .waiting, waitingFor: .alert, reason: ["alert firing: HighErrorRate{service=\"web\",severity=\"critical\"}"]),
        DecideCase(name: "paused: waiting", view: F.view(F.record(), paused: "shop: maintenance"),
                   status: .waiting, waitingFor: .paused, reason: ["paused (shop: maintenance)"]),
        DecideCase(name: "a pause does not stop a rollback", view: F.view(F.record(request: "2.0.0", result: false, lastGood: "1.0.0"), paused: "shop: maintenance"),
                   status: .rollingBack, actions: [.markBad(version: "2.0.0", reason: "failed in prod: its apply failed: exit 1"), .applying("1.0.0", rollback: true)]),
        DecideCase(name: "the application's concurrency limit is reached: waiting", view: F.view(F.record(), appLimit: 2, convergingInApp: 2),
                   status: .waiting, waitingFor: .concurrency, reason: ["2 of at most 2 instances of shop are converging"], reason3: ["2.0.0 waits: at most 2 instance(s) of shop converge at a time"], why: .waits(version: "2.0.0", gate: .applicationLimit(application: "shop", limit: 2), superseded: nil)),
        DecideCase(name: "below the limit: applied", view: F.view(F.record(), appLimit: 2, convergingInApp: 1),
                   status: .converging, actions: [.applying("2.0.0")]),
        DecideCase(name: "the channel's concurrency limit is reached: waiting", view: F.view(F.record(), policy: ChannelPolicy(name: "prod", maxConverging: 1), convergingInChannel: 1),
                   status: .waiting, waitingFor: .concurrency, reason: ["1 of at most 1 instances in prod are converging"], reason3: ["at most 1 instance(s) in prod converge at a time"]),

        // Newer releases
        DecideCase(name: "a newer release while the last is good: applied", view: F.view(F.record(desired: "3.0.0", request: "2.0.0", result: true, resultAgo: 60 * m, seen: (true, ["2.0.0"], false, m), converged: ("2.0.0", 59 * m), lastGood: "2.0.0")),
                   status: .converging, actions: [.applying("3.0.0")], reason: ["applying 3.0.0"]),
        DecideCase(name: "a newer release supersedes one still becoming healthy", view: F.view(F.record(desired: "3.0.0", request: "2.0.0", result: true, resultAgo: m, seen: (false, ["2.0.0"], false, 10_000), lastGood: "1.0.0")),
                   status: .converging, actions: [.applying("3.0.0")], reason: ["2.0.0 superseded by 3.0.0; applying 3.0.0"]),
        DecideCase(name: "superseded, and the newer release must wait: superseded", view: F.view(F.record(desired: "3.0.0", request: "2.0.0", result: true, resultAgo: m, seen: (false, ["2.0.0"], false, 10_000), lastGood: "1.0.0"), policy: ChannelPolicy(name: "prod", approvals: 1)),
                   status: .superseded, waitingFor: .approval, reason: ["2.0.0 superseded by 3.0.0; 3.0.0 waits: approval: 0 of 1"]),
        DecideCase(name: "a newer release after a failed one is gated as usual", view: F.view(F.record(desired: "3.0.0", request: "1.0.0", rollback: true, result: true, resultAgo: 9 * m, seen: (true, ["1.0.0"], false, m), converged: ("1.0.0", 8 * m), lastGood: "1.0.0"), bad: ["2.0.0": "x"]),
                   status: .converging, actions: [.applying("3.0.0")]),
    ]

    @Test("decide (engine 3, today's): typed reasons", arguments: cases)
    func decide(_ test: DecideCase) {
        let decision = Engine.decide(test.view, nowMilliseconds: test.now)
        let words = decision.reason.words(at: test.now)
        #expect(decision.status == test.status3 ?? test.status, "\(words)")
        #expect(decision.waitingFor == test.waitingFor)
        #expect(decision.actions == test.actions, "\(words)")
        for part in test.reason3 ?? test.reason { #expect(words.contains(part), "reason: \(words)") }
        if let why = test.why { #expect(decision.reason == why, "\(decision.reason)") }
        if case .words = decision.reason { Issue.record("engine 3 says why as a value, not words: \(words)") }
        if case .some(let wake) = test.wake { #expect(decision.wakeAtMilliseconds == wake) }
    }

    @Test("decide (engine 2, frozen): answers as it recorded", arguments: cases)
    func decideV2(_ test: DecideCase) {
        let decision = Engine.decide(test.view, nowMilliseconds: test.now, engine: 2)
        guard case .words(let words) = decision.reason else {
            Issue.record("engine 2 says why in words: \(decision.reason)")
            return
        }
        #expect(decision.status == test.status, "\(words)")
        #expect(decision.waitingFor == test.waitingFor)
        #expect(decision.actions == test.actions, "\(words)")
        for part in test.reason { #expect(words.contains(part), "reason: \(words)") }
        if case .some(let wake) = test.wake { #expect(decision.wakeAtMilliseconds == wake) }
    }

    @Test("a countdown is words only: two moments of the same soak are one reason, said differently")
    func countdownIsWords() {
        let view = F.view(F.record(), policy: ChannelPolicy(name: "prod", soakSeconds: 600), upstream: F.upstream("2.0.0", ago: F.minute))
        let first = Engine.decide(view, nowMilliseconds: F.now)
        let later = Engine.decide(view, nowMilliseconds: F.now + F.minute)
        #expect(first.reason == Reason.waits(version: "2.0.0", gate: .soak(channel: "canary", sinceMilliseconds: F.now - F.minute, soakSeconds: 600), superseded: nil))
        #expect(first == later)
        #expect(first.reason.words(at: F.now).contains("for 1m of 10m") && later.reason.words(at: F.now + F.minute).contains("for 2m of 10m"))
    }

    @Test("the table covers every status and every precondition, with 40 cases or more")
    func coverage() {
        #expect(Self.cases.count >= 40)
        #expect(Set(Self.cases.map(\.status)) == Set(InstanceStatus.allCases))
        #expect(Set(Self.cases.map { $0.status3 ?? $0.status }) == Set(InstanceStatus.allCases))
        #expect(Set(Self.cases.compactMap(\.waitingFor)) == Set(Precondition.allCases))
    }

    @Test("decisions encode to the same bytes every time (what replay compares)")
    func stableBytes() throws {
        for test in Self.cases {
            for engine in Engine.versions {
                let first = try CanonicalJSON.string(Engine.decide(test.view, nowMilliseconds: test.now, engine: engine))
                let second = try CanonicalJSON.string(Engine.decide(test.view, nowMilliseconds: test.now, engine: engine))
                #expect(first == second)
                // …and read back to the same value (engine 2's words as a string, engine 3's reason as an object).
                #expect(try JSONDecoder().decode(Decision.self, from: Data(first.utf8)) == Engine.decide(test.view, nowMilliseconds: test.now, engine: engine))
            }
        }
    }
}


@Suite("Text: times and durations as people read them")
struct TextTests {
    @Test("times are ISO 8601 in UTC to the second, as a date formatter writes them, from 1970 to the end of year 9999")
    func times() {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        var random = SeededRandom(seed: 11)
        var samples: [Int64] = [0, 999, 1_000, 86_399_999, 86_400_000, 951_782_400_000, 4_107_542_400_000, InputLimits.latestTimeMilliseconds]
        for _ in 0..<5_000 { samples.append(Int64.random(in: 0...InputLimits.latestTimeMilliseconds, using: &random)) }
        for milliseconds in samples {
            let expected = formatter.string(from: Date(timeIntervalSince1970: Double(milliseconds / 1000)))
            #expect(Text.time(milliseconds) == expected, "\(milliseconds)")
        }
        #expect(Text.time(-5) == "1970-01-01T00:00:00Z" && Text.time(.max) == "9999-12-31T23:59:59Z")
    }
}
