import Foundation

/// The convergence engine's decision function: pure. The same view and `now` give the same
/// decision, in any process — no clock, randomness, I/O or unordered iteration here.
public enum Engine {
    /// Bump whenever `decide` changes what it answers, and keep the previous version callable
    /// (frozen): replay re-decides each recorded decision with the engine version that made it.
    ///
    /// - 2: reasons recorded as words; an instance that keeps its release while a newer one is
    ///   marked bad elsewhere shows `failed`.
    /// - 3: structured reasons (`Reason`); such an instance is `converged` on what it runs (or
    ///   `idle` if nothing was released there), with the bad release named as held back.
    public static let version = 3
    /// The engine versions this Keelson can decide with (`keelson replay --engine N`).
    public static let versions = [2, 3]

    /// How long past its progress deadline an apply without a result is waited for. Its worker
    /// bounds it by that deadline and records a result; none by then (and this grace) means that
    /// worker is gone without a trace the log shows, and the apply is decided about like one whose
    /// worker restarted — never waited on forever.
    public static let lostResultGraceSeconds = 60
    /// How long after a failed apply of a release that is good here (a rollback to it, or a
    /// re-apply healing drift) it is applied again: this, doubled with each attempt in a row, up
    /// to `maxRetrySeconds`.
    public static let healRetrySeconds = 30
    public static let maxRetrySeconds = 600

    /// The wait before applying a good release again after its `attempt`th apply in a row failed.
    public static func retryDelaySeconds(afterAttempt attempt: Int) -> Int {
        let doublings = min(max(attempt, 1) - 1, 10)
        return min(healRetrySeconds << doublings, maxRetrySeconds)
    }

    /// The decision engine `version` (one of `versions`; today's by default) makes over `view` at `now`.
    public static func decide(_ view: InstanceView, nowMilliseconds now: Int64, engine: Int = version) -> Decision {
        switch engine {
        case 2: DeciderV2(view: view, now: now).decide()
        default: Decider(view: view, now: now).decide()
        }
    }
}

/// Engine version 3.
private struct Decider {
    let view: InstanceView
    let now: Int64
    var record: InstanceRecord { view.record }

    func decide() -> Decision {
        // Part of what the view is built from could not be read: deciding over the rest could undo
        // what the missing part said (a request, a result, a gate). Say so, and wait for news.
        if !view.unreadable.isEmpty {
            return Decision(status: .failed, version: record.desired?.version, reason: .cannotDecide(unreadable: view.unreadable))
        }
        guard let desired = record.desired else {
            // A desired state that went (InstanceRemoved) leaves its time behind.
            return Decision(status: .idle, reason: record.desiredAtMilliseconds > 0 ? .removedFromConfig : .noRelease)
        }

        if let request = record.request, request.result == nil {
            let deadline = Int64.milliseconds(seconds: request.release.progressDeadlineSeconds)
            let lostAt = request.issuedAt.adding(saturating: deadline).adding(saturating: .milliseconds(seconds: Engine.lostResultGraceSeconds))
            let status: InstanceStatus = request.rollback ? .rollingBack : .converging
            let version = request.release.version
            // An apply whose worker stopped (it restarted, or another took its lease over), or one
            // with no result long after its deadline: fetch first, then re-issue it or give it up.
            if let orphaned = request.orphanedAtMilliseconds ?? (now >= lostAt ? lostAt : nil) {
                let cause: Reason.Orphaned = request.orphanedAtMilliseconds != nil
                    ? .restart
                    : .noResult(graceSeconds: Engine.lostResultGraceSeconds, deadlineSeconds: request.release.progressDeadlineSeconds)
                guard let seen = record.seen, seen.atMilliseconds >= orphaned else {
                    return Decision(status: status, version: version, reason: .resumeFetching(version: version, cause: cause))
                }
                if request.rollback || request.release.digest == desired.digest {
                    return Decision(
                        status: status, version: version, reason: .resumeReissuing(version: version, cause: cause, running: seen.versions),
                        actions: [.reissue(requestID: request.requestID)])
                }
                return Decision(
                    status: .converging, version: desired.version,
                    reason: .resumeAbandoning(version: version, cause: cause, supersededBy: desired.version),
                    actions: [.abandon(requestID: request.requestID, reason: "superseded by \(desired.version) while no worker ran it")])
            }

            // An apply is running: wait for its result (its worker bounds it by the deadline).
            return Decision(
                status: status, version: version,
                reason: .applyRunning(version: version, rollback: request.rollback, sinceMilliseconds: request.issuedAt),
                wakeAtMilliseconds: lostAt)
        }

        var note: Reason.RollbackNote?
        if let by = record.rollbackRequestedBy {
            if let good = record.lastGood, record.request?.release.digest != good.digest || record.request?.result?.succeeded != true {
                var marks: [DecisionAction] = []
                if let current = record.request?.release, current.version != good.version, view.badVersions[current.version] == nil {
                    marks.append(.markBad(version: current.version, reason: "rolled back by \(by)"))
                }
                return rollBack(to: good, .rollbackRequested(to: good.version, by: by), after: marks)
            }
            note = record.lastGood == nil ? .noEarlierGoodRelease(by: by) : .alreadyOnGood(by: by)
        }

        if let request = record.request, let result = request.result {
            let release = request.release
            let sameRelease = release.digest == desired.digest
            if !result.succeeded {
                // A failed rollback holds while the release it rolled back from is still the
                // desired one (marked bad); a new release goes through the gates as usual.
                let error = result.error ?? "no error given"
                if request.rollback, view.badVersions[desired.version] != nil {
                    return retryRollback(request, failedAt: result.atMilliseconds, because: .applyFailed(error: error), note: note)
                }
                // Applying again a release that passed its watch here (healing drift) says nothing
                // about the release: it stays good, and is applied again a little later.
                if sameRelease, record.lastGood?.digest == release.digest {
                    return retry(request, failedAt: result.atMilliseconds, waiting: .converging, retrying: .converging, note: note) {
                        .reapplyRetry(version: release.version, error: error, retryAtMilliseconds: $0)
                    }
                }
                if sameRelease { return fail(release, .applyFailed(error: error)) }
            } else if !request.rollback, sameRelease, let why = view.badVersions[release.version] {
                // Applied here, and marked bad (here or elsewhere): back to the last good release
                // where that is allowed. Otherwise it stays failed — even if it looks healthy again
                // later — until it is retried (which clears the mark) or a newer release comes.
                if release.autoRollback, let good = record.lastGood, good.digest != release.digest {
                    return rollBack(to: good, noted(.markedBadRollingBack(version: release.version, why: why, to: good.version), note))
                }
                return gate(desired, note: note)
            } else if sameRelease || (request.rollback && view.badVersions[desired.version] != nil) {
                return follow(request, result: result, note: note)
            }
        }
        return gate(desired, note: note)
    }

    func noted(_ reason: Reason, _ note: Reason.RollbackNote?) -> Reason {
        note.map { .noted(reason, $0) } ?? reason
    }

    /// What `seen` says, as reasons tell it.
    static func observed(_ seen: InstanceRecord.Seen) -> Reason.Observed {
        Reason.Observed(ready: seen.ready, desired: seen.desired, running: seen.versions, problem: seen.problem, drifted: seen.drifted)
    }

    /// A rollback that failed (`because`, at `failedAt`): the instance is failed — and, while the
    /// release it went back to is still its last good one, that release is applied again after a
    /// wait that doubles with each attempt in a row (`Engine.retryDelaySeconds`): a rollback that
    /// failed for a passing reason (a timeout, a runtime that lost its state) still ends on the good
    /// release, and one that keeps failing costs a few events an hour.
    func retryRollback(_ request: InstanceRecord.Request, failedAt: Int64, because: Reason.Failure, note: Reason.RollbackNote?) -> Decision {
        let release = request.release
        guard record.lastGood?.digest == release.digest else {
            return Decision(status: .failed, version: release.version, reason: noted(.rollbackFailed(version: release.version, failure: because), note))
        }
        return retry(request, failedAt: failedAt, waiting: .failed, retrying: .rollingBack, note: note) {
            .rollbackRetry(version: release.version, failure: because, attempt: request.attempt ?? 1, retryAtMilliseconds: $0)
        }
    }

    /// Applies `request`'s release — good here — again once the wait after its failed attempt
    /// (`failedAt`, `Engine.retryDelaySeconds`) is over; until then says when (`reason(retryAt)`;
    /// nil: now).
    func retry(
        _ request: InstanceRecord.Request, failedAt: Int64, waiting: InstanceStatus, retrying: InstanceStatus,
        note: Reason.RollbackNote?, reason: (Int64?) -> Reason
    ) -> Decision {
        let release = request.release
        let retryAt = failedAt.adding(saturating: .milliseconds(seconds: Engine.retryDelaySeconds(afterAttempt: request.attempt ?? 1)))
        if now >= retryAt {
            return Decision(
                status: retrying, version: release.version, reason: noted(reason(nil), note),
                actions: [.apply(version: release.version, digest: release.digest, rollback: request.rollback)])
        }
        return Decision(status: waiting, version: release.version, reason: noted(reason(retryAt), note), wakeAtMilliseconds: retryAt)
    }

    /// After a successful apply of `request`: becoming healthy, converged and watched, then good;
    /// afterwards, drift is healed by applying the release again.
    func follow(_ request: InstanceRecord.Request, result: InstanceRecord.Request.Result, note: Reason.RollbackNote?) -> Decision {
        let release = request.release
        let appliedAt = result.atMilliseconds
        let policy = view.policy
        let convergedHere = record.converged.map { $0.release.digest == release.digest && $0.atMilliseconds >= appliedAt } ?? false
        guard convergedHere, let converged = record.converged else {
            if let seen = record.seen, seen.isAfter(result), seen.healthy, !seen.drifted,
                seen.versions == [release.version]
            {
                return Decision(
                    status: request.rollback ? .rolledBack : .converged, version: release.version,
                    reason: noted(.converged(version: release.version, ready: seen.ready, desired: seen.desired, rolledBack: request.rollback), note),
                    actions: [.markConverged(version: release.version, digest: release.digest)],
                    wakeAtMilliseconds: request.rollback ? nil : now.adding(saturating: .milliseconds(seconds: policy.watchSeconds)))
            }
            // Nothing runs although the apply succeeded (the runtime lost it: its state, its
            // processes): drift, healed by applying it again — once; a second time it counts,
            // unless the worker that ran it started again or handed it over since (what that
            // worker's runtime held may be gone with it).
            if let seen = record.seen, seen.isAfter(result), seen.ready == 0, seen.versions.isEmpty || seen.drifted,
                (request.attempt ?? 1) < 2 || request.runnerChanged == true
            {
                return Decision(
                    status: request.rollback ? .rollingBack : .converging, version: release.version,
                    reason: noted(.driftBeforeConverging(version: release.version, seen: Self.observed(seen)), note),
                    actions: [.apply(version: release.version, digest: release.digest, rollback: request.rollback)])
            }
            let deadline = appliedAt.adding(saturating: .milliseconds(seconds: release.progressDeadlineSeconds))
            let health: Reason.Health = record.seen.map { seen in
                seen.isAfter(result) ? .observed(Self.observed(seen)) : .notFetchedSinceApply
            } ?? .notFetchedYet
            if now >= deadline {
                let failure = Reason.Failure.notHealthy(deadlineSeconds: release.progressDeadlineSeconds, health: health)
                if request.rollback { return retryRollback(request, failedAt: deadline, because: failure, note: note) }
                return fail(release, failure)
            }
            return Decision(
                status: request.rollback ? .rollingBack : .converging, version: release.version,
                reason: noted(.waitingHealthy(version: release.version, health: health, deadlineMilliseconds: deadline), note),
                wakeAtMilliseconds: deadline)
        }

        if record.lastGood?.digest != release.digest && !request.rollback {
            let watchEnd = converged.atMilliseconds.adding(saturating: .milliseconds(seconds: policy.watchSeconds))
            if let seen = record.seen, seen.atMilliseconds > converged.atMilliseconds, !seen.healthy {
                // Nothing at all runs: the runtime lost it (its state, its processes), which says
                // nothing about the release. Drift, healed by applying it again; the watch starts
                // over once it has converged again.
                if seen.versions.isEmpty, seen.ready == 0 {
                    return Decision(
                        status: .converging, version: release.version, reason: noted(.driftDuringWatch(version: release.version), note),
                        actions: [.apply(version: release.version, digest: release.digest, rollback: false)])
                }
                return fail(release, .lostHealthDuringWatch(problem: seen.problem ?? "\(seen.ready)/\(seen.desired) ready"))
            }
            if let alert = view.gatingAlerts.first {
                return fail(release, .alertDuringWatch(alert: AlertFired.rendering(name: alert.name, labels: alert.labels)))
            }
            if now < watchEnd {
                return Decision(
                    status: .converged, version: release.version,
                    reason: noted(.watching(version: release.version, untilMilliseconds: watchEnd), note), wakeAtMilliseconds: watchEnd)
            }
            // The watch is judged on an observation from its end (not one from before a worker
            // stopped, say): until one is recorded, it is not over.
            guard (record.seen?.atMilliseconds ?? .min) >= watchEnd else {
                return Decision(status: .converged, version: release.version, reason: noted(.watchOverAwaitingFetch(version: release.version), note))
            }
            return Decision(
                status: .converged, version: release.version,
                reason: noted(.passedWatch(version: release.version, watchSeconds: policy.watchSeconds), note),
                actions: [.markGood(version: release.version, digest: release.digest)])
        }

        if let seen = record.seen, seen.atMilliseconds > converged.atMilliseconds,
            !seen.healthy || seen.drifted || seen.versions != [release.version]
        {
            return Decision(
                status: request.rollback ? .rollingBack : .converging, version: release.version,
                reason: .drift(version: release.version, seen: Self.observed(seen)),
                actions: [.apply(version: release.version, digest: release.digest, rollback: request.rollback)])
        }
        if request.rollback, let desired = record.desired, let why = view.badVersions[desired.version] {
            return Decision(
                status: .rolledBack, version: release.version,
                reason: noted(.rolledBackHoldingBad(version: release.version, bad: desired.version, why: why), note))
        }
        return Decision(status: .converged, version: release.version, reason: noted(.convergedOn(version: release.version), note))
    }

    /// Back to `good`, the last good release here, after `marks` (release marks that come with it).
    func rollBack(to good: ReleaseRef, _ reason: Reason, after marks: [DecisionAction] = []) -> Decision {
        Decision(
            status: .rollingBack, version: good.version, reason: reason,
            actions: marks + [.apply(version: good.version, digest: good.digest, rollback: true)])
    }

    /// The release failed here: mark it bad, and roll back to the last good release if allowed.
    func fail(_ release: ReleaseRef, _ failure: Reason.Failure) -> Decision {
        var marks: [DecisionAction] = []
        if view.badVersions[release.version] == nil {
            marks.append(.markBad(version: release.version, reason: "failed in \(record.instance.channel): \(failure.words)"))
        }
        if release.autoRollback, let good = record.lastGood, good.digest != release.digest {
            return rollBack(to: good, .failedRollingBack(version: release.version, failure: failure, to: good.version), after: marks)
        }
        return Decision(
            status: .failed, version: release.version,
            reason: .failed(version: release.version, failure: failure, autoRollbackOff: !release.autoRollback), actions: marks)
    }

    /// A release not applied here yet: every precondition must hold before it is applied.
    func gate(_ desired: ReleaseRef, note: Reason.RollbackNote?) -> Decision {
        let version = desired.version
        if let why = view.badVersions[version] { return holdBack(desired, why: why, note: note) }
        if let by = record.rejections[version] {
            return Decision(status: .rejected, version: version, reason: noted(.rejected(version: version, by: by, channel: record.instance.channel), note))
        }
        var superseded: String?
        if let request = record.request, !request.rollback, request.release.digest != desired.digest,
            record.converged?.release.digest != request.release.digest
        {
            superseded = request.release.version
        }
        func wait(_ precondition: Precondition, _ gate: Reason.Gate, until wake: Int64? = nil) -> Decision {
            Decision(
                status: superseded == nil ? .waiting : .superseded, waitingFor: precondition, version: version,
                reason: noted(.waits(version: version, gate: gate, superseded: superseded), note), wakeAtMilliseconds: wake)
        }

        if let pause = view.pausedBy { return wait(.paused, .paused(by: pause)) }
        for upstream in view.upstream {
            guard let converged = upstream.converged, converged.release.version == version else {
                return wait(.upstream, .upstream(channel: upstream.channel))
            }
            let soak = Int64.milliseconds(seconds: view.policy.soakSeconds)
            if now.subtracting(saturating: converged.atMilliseconds) < soak {
                return wait(
                    .soak, .soak(channel: upstream.channel, sinceMilliseconds: converged.atMilliseconds, soakSeconds: view.policy.soakSeconds),
                    until: converged.atMilliseconds.adding(saturating: soak))
            }
        }
        let needed = view.policy.approvals
        if needed > 0 {
            let approvers = record.approvals[version] ?? []
            if approvers.count < needed {
                return wait(.approval, .approval(approvers: approvers, needed: needed, instance: record.instance.description))
            }
        }
        let seconds = now / 1000
        if let freeze = view.policy.freezes.first(where: { $0.from <= seconds && seconds < $0.until }) {
            let until = freeze.until.multiplied(saturating: 1000)
            return wait(.freeze, .freeze(untilMilliseconds: until, reason: freeze.reason), until: until)
        }
        if !view.policy.windows.isEmpty && !TimeRules.inside(now, view.policy.windows) {
            let next = TimeRules.nextOpening(after: now, view.policy.windows)
            return wait(.window, .window(nextOpeningMilliseconds: next), until: next)
        }
        if let alert = view.gatingAlerts.first {
            return wait(.alert, .alert(AlertFired.rendering(name: alert.name, labels: alert.labels)))
        }
        if let limit = view.applicationMaxConverging, view.convergingInApplication >= limit {
            return wait(.concurrency, .applicationLimit(application: record.instance.application, limit: limit))
        }
        if let limit = view.policy.maxConverging, view.convergingInChannel >= limit {
            return wait(.concurrency, .channelLimit(channel: record.instance.channel, limit: limit))
        }
        return Decision(
            status: .converging, version: version, reason: noted(.applying(version: version, superseded: superseded), note),
            actions: [.apply(version: version, digest: desired.digest, rollback: false)])
    }

    /// The desired release is marked bad (`why`; rolled back here, or never tried here because it
    /// failed elsewhere): it stays put. The instance's own state is what its status says —
    /// converged on what it runs when that is healthy and not marked bad; idle when nothing was
    /// released here before; failed otherwise.
    func holdBack(_ desired: ReleaseRef, why: String, note: Reason.RollbackNote?) -> Decision {
        let version = desired.version
        let good = record.lastGood
        let onGood = good != nil && record.converged?.release.digest == good?.digest
        // Staying put means running the last good release: drift from it (a runtime that lost
        // what it ran) is healed by applying it again.
        if onGood, let good, let converged = record.converged, let seen = record.seen,
            seen.atMilliseconds > converged.atMilliseconds,
            !seen.healthy || seen.drifted || seen.versions != [good.version]
        {
            return rollBack(to: good, noted(.healingGood(bad: version, why: why, good: good.version, seen: Self.observed(seen)), note))
        }
        // Not on its last good release, and what runs is not healthy (nothing at all, say: the
        // runtime lost a release that a bad one superseded before it converged): back to the
        // last good release, which is not marked bad.
        if !onGood, let good, desired.autoRollback, view.badVersions[good.version] == nil, let seen = record.seen, !seen.healthy {
            return rollBack(to: good, noted(.badAndUnhealthy(bad: version, why: why, good: good.version, seen: Self.observed(seen)), note))
        }
        // Stays on its last good release (the one marked bad, if it passed its watch here).
        if onGood, let good {
            return Decision(
                status: record.request?.rollback == true ? .rolledBack : .converged, version: good.version,
                reason: noted(good.version == version ? .markedBad(version: version, why: why) : .heldBack(bad: version, why: why, running: good.version), note))
        }
        // Keeps what it runs — what it converged on, or else what it last applied — healthy as
        // last seen, and not marked bad itself.
        let applied = record.request.flatMap { $0.result?.succeeded == true ? $0.release : nil }
        if let running = record.converged?.release ?? applied, view.badVersions[running.version] == nil,
            record.seen.map({ $0.healthy && !$0.drifted && $0.versions == [running.version] }) ?? (record.converged != nil)
        {
            return Decision(status: .converged, version: running.version, reason: noted(.heldBack(bad: version, why: why, running: running.version), note))
        }
        // Nothing was ever applied here, and nothing runs.
        if record.converged == nil, record.request == nil, (record.seen?.versions ?? []).isEmpty {
            return Decision(status: .idle, reason: noted(.heldBack(bad: version, why: why, running: nil), note))
        }
        return Decision(status: .failed, version: version, reason: noted(.markedBad(version: version, why: why), note))
    }
}

/// Allowed windows in their time zones. Deterministic: the answer depends only on `now` and the
/// windows (and the time zone database).
public enum TimeRules {
    static let dayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]

    static func calendar(_ zone: String) -> Calendar {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: zone) ?? TimeZone(identifier: "UTC")!
        return calendar
    }

    /// Whether `now` (milliseconds since 1970) falls inside any window.
    public static func inside(_ now: Int64, _ windows: [WindowPolicy]) -> Bool {
        let date = Date(timeIntervalSince1970: Double(now) / 1000)
        return windows.contains { window in
            let calendar = calendar(window.timeZone)
            let parts = calendar.dateComponents([.weekday, .hour, .minute], from: date)
            let day = dayNames[(parts.weekday ?? 1) - 1]
            let minute = (parts.hour ?? 0) * 60 + (parts.minute ?? 0)
            return (window.days.isEmpty || window.days.contains(day)) && window.startMinute <= minute && minute < window.endMinute
        }
    }

    /// The first time after `now` at which a window opens (within the next 8 days).
    public static func nextOpening(after now: Int64, _ windows: [WindowPolicy]) -> Int64? {
        let date = Date(timeIntervalSince1970: Double(now) / 1000)
        var best: Int64?
        for window in windows {
            let calendar = calendar(window.timeZone)
            let today = calendar.startOfDay(for: date)
            for offset in 0...8 {
                guard let day = calendar.date(byAdding: .day, value: offset, to: today) else { continue }
                let name = dayNames[calendar.component(.weekday, from: day) - 1]
                guard window.days.isEmpty || window.days.contains(name),
                    let start = calendar.date(byAdding: .minute, value: window.startMinute, to: day)
                else { continue }
                let milliseconds = start.millisecondsSince1970
                if milliseconds > now {
                    best = min(best ?? milliseconds, milliseconds)
                    break
                }
            }
        }
        return best
    }
}

/// How decisions write durations and times for people.
public enum Text {
    /// `45s`, `3m12s`, `2h5m`, `1d3h`.
    public static func duration(_ milliseconds: Int64) -> String {
        let seconds = max(0, milliseconds / 1000)
        if seconds < 60 { return "\(seconds)s" }
        if seconds < 3600 { return "\(seconds / 60)m" + (seconds % 60 == 0 ? "" : "\(seconds % 60)s") }
        if seconds < 86_400 { return "\(seconds / 3600)h" + (seconds % 3600 / 60 == 0 ? "" : "\(seconds % 3600 / 60)m") }
        return "\(seconds / 86_400)d" + (seconds % 86_400 / 3600 == 0 ? "" : "\(seconds % 86_400 / 3600)h")
    }

    /// ISO 8601 in UTC, to the second (`2026-11-25T10:00:00Z`), for times from 1970 to the end of
    /// year 9999. Computed (the proleptic Gregorian calendar), not formatted by a `DateFormatter`:
    /// a status of 10,000 instances says 20,000 times.
    public static func time(_ milliseconds: Int64) -> String {
        let seconds = min(max(milliseconds, 0), InputLimits.latestTimeMilliseconds) / 1000
        let (days, rest) = seconds.quotientAndRemainder(dividingBy: 86_400)
        // Days since 1970-01-01 to year, month, day (H. Hinnant's civil_from_days).
        let z = days + 719_468
        let era = z / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let paddedYear = String(repeating: "0", count: max(0, 4 - String(year).count)) + String(year)
        return "\(paddedYear)-\(two(month))-\(two(day))T\(two(rest / 3_600)):\(two(rest % 3_600 / 60)):\(two(rest % 60))Z"
    }
}

extension Text {
    /// Who an event's actor is, in words: `user:alice` → "user alice (on the database file)",
    /// `token:ci` → "token ci", `cli` → "the command line (no $USER set)"; a worker or anything
    /// else as it is.
    public static func actor(_ actor: String) -> String {
        if actor.hasPrefix("user:") { return "user \(actor.dropFirst(5)) (on the database file)" }
        if actor.hasPrefix("token:") { return "token \(actor.dropFirst(6))" }
        if actor == "cli" { return "the command line (no $USER set)" }
        return actor
    }
}
