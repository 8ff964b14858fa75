/// Engine version 2's `decide`, frozen: it answers as it did when it recorded decisions, so that
/// `keelson replay` reproduces every decision of a log it wrote, and `keelson replay --engine 2`
/// says what it would have decided on a newer log. Do not change what it answers; a change to the
/// rules is a new engine version (see `Engine.version`). Its reasons are words (`Reason.words`),
/// as version 2 recorded them.
///
/// It shares the helpers it used (`Text`, `TimeRules`, `AlertFired.rendering`, `InstanceView`):
/// changing what those return changes its words, which replay of an old log would report.

/// Version 2 made its decisions with reasons in words.
private func worded(
    status: InstanceStatus, waitingFor: Precondition? = nil, version: String? = nil, reason: String,
    actions: [DecisionAction] = [], wakeAtMilliseconds: Int64? = nil
) -> Decision {
    Decision(status: status, waitingFor: waitingFor, version: version, reason: .words(reason), actions: actions, wakeAtMilliseconds: wakeAtMilliseconds)
}

struct DeciderV2 {
    let view: InstanceView
    let now: Int64
    var record: InstanceRecord { view.record }

    func decide() -> Decision {
        // Part of what the view is built from could not be read: deciding over the rest could undo
        // what the missing part said (a request, a result, a gate). Say so, and wait for news.
        if !view.unreadable.isEmpty {
            return worded(
                status: .failed, version: record.desired?.version,
                reason: "cannot decide: " + view.unreadable.joined(separator: "; ")
                    + " (a later event of the same kind clears it; for an instance, a new release)")
        }
        guard let desired = record.desired else {
            // A desired state that went (InstanceRemoved) leaves its time behind.
            return worded(status: .idle, reason: record.desiredAtMilliseconds > 0 ? "removed from config" : "no release yet")
        }

        if let request = record.request, request.result == nil {
            let deadline = Int64.milliseconds(seconds: request.release.progressDeadlineSeconds)
            let lostAt = request.issuedAt.adding(saturating: deadline).adding(saturating: .milliseconds(seconds: Engine.lostResultGraceSeconds))
            // An apply whose worker stopped (it restarted, or another took its lease over), or one
            // with no result long after its deadline: fetch first, then re-issue it or give it up.
            if let orphaned = request.orphanedAtMilliseconds ?? (now >= lostAt ? lostAt : nil) {
                let why = request.orphanedAtMilliseconds != nil
                    ? "resuming after a restart"
                    : "no result from its worker \(Text.duration(.milliseconds(seconds: Engine.lostResultGraceSeconds))) past the progress deadline of \(Text.duration(deadline))"
                guard let seen = record.seen, seen.atMilliseconds >= orphaned else {
                    return worded(
                        status: request.rollback ? .rollingBack : .converging, version: request.release.version,
                        reason: "\(why): fetching before deciding about the unfinished apply of \(request.release.version)")
                }
                if request.rollback || request.release.digest == desired.digest {
                    return worded(
                        status: request.rollback ? .rollingBack : .converging, version: request.release.version,
                        reason: "\(why): re-issuing the apply of \(request.release.version) with its idempotency key "
                            + "(it now runs \(seen.versions.isEmpty ? "nothing" : seen.versions.joined(separator: ", ")))",
                        actions: [.reissue(requestID: request.requestID)])
                }
                return worded(
                    status: .converging, version: desired.version,
                    reason: "\(why): abandoning the unfinished apply of \(request.release.version), superseded by \(desired.version)",
                    actions: [.abandon(requestID: request.requestID, reason: "superseded by \(desired.version) while no worker ran it")])
            }

            // An apply is running: wait for its result (its worker bounds it by the deadline).
            let verb = request.rollback ? "rolling back to" : "applying"
            return worded(
                status: request.rollback ? .rollingBack : .converging, version: request.release.version,
                reason: "\(verb) \(request.release.version): apply running for \(Text.duration(now.subtracting(saturating: request.issuedAt)))",
                wakeAtMilliseconds: lostAt)
        }

        var note = ""
        if let by = record.rollbackRequestedBy {
            if let good = record.lastGood, record.request?.release.digest != good.digest || record.request?.result?.succeeded != true {
                var marks: [DecisionAction] = []
                if let current = record.request?.release, current.version != good.version, view.badVersions[current.version] == nil {
                    marks.append(.markBad(version: current.version, reason: "rolled back by \(by)"))
                }
                return rollBack(to: good, "rolling back to \(good.version), the last good release: requested by \(by)", after: marks)
            }
            note = record.lastGood == nil
                ? " (rollback requested by \(by), but there is no earlier good release here)"
                : " (rollback requested by \(by): already on the last good release)"
        }

        if let request = record.request, let result = request.result {
            let release = request.release
            let sameRelease = release.digest == desired.digest
            if !result.succeeded {
                // A failed rollback holds while the release it rolled back from is still the
                // desired one (marked bad); a new release goes through the gates as usual.
                let error = result.error ?? "no error given"
                if request.rollback, view.badVersions[desired.version] != nil {
                    return retryRollback(request, failedAt: result.atMilliseconds, because: "failed: \(error)", note: note)
                }
                // Applying again a release that passed its watch here (healing drift) says nothing
                // about the release: it stays good, and is applied again a little later.
                if sameRelease, record.lastGood?.digest == release.digest {
                    return retry(
                        request, failedAt: result.atMilliseconds, waiting: .converging, retrying: .converging,
                        failed: "applying \(release.version) again failed (\(error)); it is good here", again: "applying it again", note: note)
                }
                if sameRelease { return fail(release, "its apply failed: \(result.error ?? "no error given")") }
            } else if !request.rollback, sameRelease, let why = view.badVersions[release.version] {
                // Applied here, and marked bad (here or elsewhere): back to the last good release
                // where that is allowed. Otherwise it stays failed — even if it looks healthy again
                // later — until it is retried (which clears the mark) or a newer release comes.
                if release.autoRollback, let good = record.lastGood, good.digest != release.digest {
                    return rollBack(to: good, "\(release.version) is marked bad (\(why)); rolling back to \(good.version), the last good release\(note)")
                }
                return gate(desired, note: note)
            } else if sameRelease || (request.rollback && view.badVersions[desired.version] != nil) {
                return follow(request, result: result, note: note)
            }
        }
        return gate(desired, note: note)
    }

    /// A rollback that failed (`because`, at `failedAt`): the instance is failed — and, while the
    /// release it went back to is still its last good one, that release is applied again after a
    /// wait that doubles with each attempt in a row (`Engine.retryDelaySeconds`): a rollback that
    /// failed for a passing reason (a timeout, a runtime that lost its state) still ends on the good
    /// release, and one that keeps failing costs a few events an hour.
    func retryRollback(_ request: InstanceRecord.Request, failedAt: Int64, because: String, note: String) -> Decision {
        let release = request.release
        let failed = "rollback to \(release.version) \(because)"
        guard record.lastGood?.digest == release.digest else {
            return worded(status: .failed, version: release.version, reason: failed + note)
        }
        return retry(
            request, failedAt: failedAt, waiting: .failed, retrying: .rollingBack, failed: failed,
            again: "rolling back to \(release.version) again (attempt \((request.attempt ?? 1) + 1))", note: note)
    }

    /// Applies `request`'s release — good here — again once the wait after its failed attempt
    /// (`failedAt`, `Engine.retryDelaySeconds`) is over; until then says when.
    func retry(
        _ request: InstanceRecord.Request, failedAt: Int64, waiting: InstanceStatus, retrying: InstanceStatus,
        failed: String, again: String, note: String
    ) -> Decision {
        let release = request.release
        let retryAt = failedAt.adding(saturating: .milliseconds(seconds: Engine.retryDelaySeconds(afterAttempt: request.attempt ?? 1)))
        if now >= retryAt {
            return worded(
                status: retrying, version: release.version, reason: "\(failed); \(again)\(note)",
                actions: [.apply(version: release.version, digest: release.digest, rollback: request.rollback)])
        }
        return worded(
            status: waiting, version: release.version,
            reason: "\(failed); trying again in \(Text.duration(retryAt.subtracting(saturating: now)))\(note)",
            wakeAtMilliseconds: retryAt)
    }

    /// After a successful apply of `request`: becoming healthy, converged and watched, then good;
    /// afterwards, drift is healed by applying the release again.
    func follow(_ request: InstanceRecord.Request, result: InstanceRecord.Request.Result, note: String) -> Decision {
        let release = request.release
        let appliedAt = result.atMilliseconds
        let policy = view.policy
        let convergedHere = record.converged.map { $0.release.digest == release.digest && $0.atMilliseconds >= appliedAt } ?? false
        guard convergedHere, let converged = record.converged else {
            if let seen = record.seen, seen.isAfter(result), seen.healthy, !seen.drifted,
                seen.versions == [release.version]
            {
                return worded(
                    status: request.rollback ? .rolledBack : .converged, version: release.version,
                    reason: "\(request.rollback ? "rolled back to" : "converged on") \(release.version): \(seen.ready)/\(seen.desired) ready\(note)",
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
                let what = seen.versions.isEmpty ? "nothing runs" : "drifted (\(seen.problem ?? "0/\(seen.desired) ready"))"
                return worded(
                    status: request.rollback ? .rollingBack : .converging, version: release.version,
                    reason: "drift before converging: \(what) although its apply succeeded; applying \(release.version) again\(note)",
                    actions: [.apply(version: release.version, digest: release.digest, rollback: request.rollback)])
            }
            let deadline = appliedAt.adding(saturating: .milliseconds(seconds: release.progressDeadlineSeconds))
            let health = record.seen.map { seen in
                seen.isAfter(result)
                    ? "\(seen.ready)/\(seen.desired) ready, running \(seen.versions.isEmpty ? "nothing" : seen.versions.joined(separator: ", "))"
                        + (seen.problem.map { "; \($0)" } ?? "")
                    : "not fetched since the apply"
            } ?? "not fetched yet"
            if now >= deadline {
                if request.rollback {
                    return retryRollback(
                        request, failedAt: deadline,
                        because: "not healthy within its progress deadline of \(Text.duration(.milliseconds(seconds: release.progressDeadlineSeconds))) (\(health))",
                        note: note)
                }
                return fail(release, "not healthy within its progress deadline of \(Text.duration(.milliseconds(seconds: release.progressDeadlineSeconds))) (\(health))")
            }
            return worded(
                status: request.rollback ? .rollingBack : .converging, version: release.version,
                reason: "waiting for \(release.version) to become healthy: \(health); deadline in \(Text.duration(deadline.subtracting(saturating: now)))\(note)",
                wakeAtMilliseconds: deadline)
        }

        if record.lastGood?.digest != release.digest && !request.rollback {
            let watchEnd = converged.atMilliseconds.adding(saturating: .milliseconds(seconds: policy.watchSeconds))
            if let seen = record.seen, seen.atMilliseconds > converged.atMilliseconds, !seen.healthy {
                // Nothing at all runs: the runtime lost it (its state, its processes), which says
                // nothing about the release. Drift, healed by applying it again; the watch starts
                // over once it has converged again.
                if seen.versions.isEmpty, seen.ready == 0 {
                    return worded(
                        status: .converging, version: release.version,
                        reason: "drift during the watch: nothing runs; applying \(release.version) again\(note)",
                        actions: [.apply(version: release.version, digest: release.digest, rollback: false)])
                }
                return fail(release, "it lost its health during the watch (\(seen.problem ?? "\(seen.ready)/\(seen.desired) ready"))")
            }
            if let alert = view.gatingAlerts.first {
                return fail(release, "alert \(AlertFired.rendering(name: alert.name, labels: alert.labels)) fired during the watch")
            }
            if now < watchEnd {
                return worded(
                    status: .converged, version: release.version,
                    reason: "converged on \(release.version); watching for \(Text.duration(watchEnd.subtracting(saturating: now))) more\(note)",
                    wakeAtMilliseconds: watchEnd)
            }
            // The watch is judged on an observation from its end (not one from before a worker
            // stopped, say): until one is recorded, it is not over.
            guard (record.seen?.atMilliseconds ?? .min) >= watchEnd else {
                return worded(
                    status: .converged, version: release.version,
                    reason: "converged on \(release.version); its watch is over, waiting for a fetch to confirm its health\(note)")
            }
            return worded(
                status: .converged, version: release.version,
                reason: "\(release.version) passed its watch of \(Text.duration(.milliseconds(seconds: policy.watchSeconds)))\(note)",
                actions: [.markGood(version: release.version, digest: release.digest)])
        }

        if let seen = record.seen, seen.atMilliseconds > converged.atMilliseconds,
            !seen.healthy || seen.drifted || seen.versions != [release.version]
        {
            let what = seen.problem ?? (seen.drifted ? "drifted" : "running \(seen.versions.joined(separator: ", "))")
            return worded(
                status: request.rollback ? .rollingBack : .converging, version: release.version,
                reason: "drift: \(what); applying \(release.version) again",
                actions: [.apply(version: release.version, digest: release.digest, rollback: request.rollback)])
        }
        if request.rollback, let desired = record.desired, let why = view.badVersions[desired.version] {
            return worded(
                status: .rolledBack, version: release.version,
                reason: "rolled back to \(release.version); \(desired.version) is marked bad: \(why); release it again to retry it\(note)")
        }
        return worded(status: .converged, version: release.version, reason: "converged on \(release.version)\(note)")
    }

    /// Back to `good`, the last good release here, after `marks` (release marks that come with it).
    func rollBack(to good: ReleaseRef, _ reason: String, after marks: [DecisionAction] = []) -> Decision {
        worded(
            status: .rollingBack, version: good.version, reason: reason,
            actions: marks + [.apply(version: good.version, digest: good.digest, rollback: true)])
    }

    /// The release failed here: mark it bad, and roll back to the last good release if allowed.
    func fail(_ release: ReleaseRef, _ why: String) -> Decision {
        var marks: [DecisionAction] = []
        if view.badVersions[release.version] == nil {
            marks.append(.markBad(version: release.version, reason: "failed in \(record.instance.channel): \(why)"))
        }
        if release.autoRollback, let good = record.lastGood, good.digest != release.digest {
            return rollBack(to: good, "\(release.version) failed: \(why); rolling back to \(good.version)", after: marks)
        }
        let why2 = !release.autoRollback ? "automatic rollback is off" : "there is no earlier good release to roll back to"
        return worded(status: .failed, version: release.version, reason: "\(release.version) failed: \(why); \(why2)", actions: marks)
    }

    /// A release not applied here yet: every precondition must hold before it is applied.
    func gate(_ desired: ReleaseRef, note: String) -> Decision {
        let version = desired.version
        if let why = view.badVersions[version] {
            // Rolled back here, or never tried here (it failed upstream): either way it stays put.
            let good = record.lastGood
            let onGood = good != nil && record.converged?.release.digest == good?.digest
            // Staying put means running the last good release: drift from it (a runtime that lost
            // what it ran) is healed by applying it again.
            if onGood, let good, let converged = record.converged, let seen = record.seen,
                seen.atMilliseconds > converged.atMilliseconds,
                !seen.healthy || seen.drifted || seen.versions != [good.version]
            {
                let what = seen.versions.isEmpty ? "nothing runs" : seen.problem ?? (seen.drifted ? "drifted" : "running \(seen.versions.joined(separator: ", "))")
                return rollBack(to: good, "\(version) is marked bad (\(why)); staying on \(good.version), but \(what): applying \(good.version) again" + note)
            }
            // Not on its last good release, and what runs is not healthy (nothing at all, say: the
            // runtime lost a release that a bad one superseded before it converged): back to the
            // last good release, which is not marked bad.
            if !onGood, let good, desired.autoRollback, view.badVersions[good.version] == nil, let seen = record.seen, !seen.healthy {
                let what = seen.versions.isEmpty ? "nothing runs" : seen.problem ?? "running \(seen.versions.joined(separator: ", ")), not healthy"
                return rollBack(to: good, "\(version) is marked bad (\(why)) and \(what) here: rolling back to \(good.version), the last good release" + note)
            }
            let status: InstanceStatus = !onGood ? .failed : record.request?.rollback == true ? .rolledBack : .converged
            return worded(
                status: status, version: version,
                reason: "\(version) is marked bad (\(why))" + (onGood ? "; staying on \(good!.version)" : "")
                    + "; release it again to retry it" + note)
        }
        if let by = record.rejections[version] {
            return worded(status: .rejected, version: version, reason: "\(version) was rejected for \(record.instance.channel) by \(by)\(note)")
        }
        var superseded = ""
        if let request = record.request, !request.rollback, request.release.digest != desired.digest,
            record.converged?.release.digest != request.release.digest
        {
            superseded = "\(request.release.version) superseded by \(version); "
        }
        func wait(_ precondition: Precondition, _ reason: String, until wake: Int64? = nil) -> Decision {
            worded(
                status: superseded.isEmpty ? .waiting : .superseded, waitingFor: precondition, version: version,
                reason: superseded + "\(version) waits: " + reason + note, wakeAtMilliseconds: wake)
        }

        if let pause = view.pausedBy { return wait(.paused, "paused (\(pause))") }
        for upstream in view.upstream {
            guard let converged = upstream.converged, converged.release.version == version else {
                return wait(.upstream, "\(upstream.channel) has not converged on it yet")
            }
            let soak = Int64.milliseconds(seconds: view.policy.soakSeconds)
            let stable = now.subtracting(saturating: converged.atMilliseconds)
            if stable < soak {
                return wait(
                    .soak, "soak: \(upstream.channel) stable on \(version) for \(Text.duration(stable)) of \(Text.duration(soak))",
                    until: converged.atMilliseconds.adding(saturating: soak))
            }
        }
        let needed = view.policy.approvals
        if needed > 0 {
            let approvers = record.approvals[version] ?? []
            if approvers.count < needed {
                return wait(
                    .approval,
                    "approval: \(approvers.count) of \(needed)" + (approvers.isEmpty ? "" : " (\(approvers.joined(separator: ", ")))")
                        + " — keelson approve \(record.instance) --release \(version)")
            }
        }
        let seconds = now / 1000
        if let freeze = view.policy.freezes.first(where: { $0.from <= seconds && seconds < $0.until }) {
            return wait(
                .freeze, "freeze until \(Text.time(freeze.until.multiplied(saturating: 1000)))" + (freeze.reason.map { " (\($0))" } ?? ""),
                until: freeze.until.multiplied(saturating: 1000))
        }
        if !view.policy.windows.isEmpty && !TimeRules.inside(now, view.policy.windows) {
            let next = TimeRules.nextOpening(after: now, view.policy.windows)
            return wait(.window, "outside the allowed windows" + (next.map { "; the next opens \(Text.time($0))" } ?? ""), until: next)
        }
        if let alert = view.gatingAlerts.first {
            return wait(.alert, "alert firing: \(AlertFired.rendering(name: alert.name, labels: alert.labels))")
        }
        if let limit = view.applicationMaxConverging, view.convergingInApplication >= limit {
            return wait(.concurrency, "\(view.convergingInApplication) of at most \(limit) instances of \(record.instance.application) are converging")
        }
        if let limit = view.policy.maxConverging, view.convergingInChannel >= limit {
            return wait(.concurrency, "\(view.convergingInChannel) of at most \(limit) instances in \(record.instance.channel) are converging")
        }
        return worded(
            status: .converging, version: version, reason: superseded + "applying \(version)" + note,
            actions: [.apply(version: version, digest: desired.digest, rollback: false)])
    }
}
