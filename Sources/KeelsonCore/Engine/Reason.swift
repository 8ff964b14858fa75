/// Why a decision is what it is, as a value: the rule that answered and the facts it used. It is
/// what a `DecisionMade` records, what the worker compares to know whether a decision says anything
/// new, and what replay compares. Words are made from it only where people read them (`words(at:)`:
/// the CLI, the API, the timeline), so rewording a reason changes no recorded decision and no replay.
///
/// Times are absolute (milliseconds since 1970): a countdown ("soak 1m12s of 2m") is rendered
/// against the moment it is read, so that the same wait is the same reason in every pass, and a
/// status read later says how long it has been waiting since.
public indirect enum Reason: Codable, Sendable, Hashable {
    /// Only words: the reason of a decision made by engine version 2 (which recorded text), or the
    /// worker's when it could not decide (`DecisionFailed`).
    case words(String)

    // Before any rule
    /// Part of what the view is built from could not be read.
    case cannotDecide(unreadable: [String])
    case noRelease
    case removedFromConfig

    // An apply without a result
    /// Its worker stopped, or never answered: fetching before deciding about it.
    case resumeFetching(version: String, cause: Orphaned)
    /// … re-issued with its idempotency key (`running`: what the fetch saw).
    case resumeReissuing(version: String, cause: Orphaned, running: [String])
    /// … given up: a newer release is desired.
    case resumeAbandoning(version: String, cause: Orphaned, supersededBy: String)
    case applyRunning(version: String, rollback: Bool, sinceMilliseconds: Int64)

    // Rollbacks and retries
    case rollbackRequested(to: String, by: String)
    /// A rollback to `version` that failed, which is no longer the last good release.
    case rollbackFailed(version: String, failure: Failure)
    /// A rollback that failed, to the last good release: tried again at `retryAtMilliseconds`
    /// (nil: now, attempt `attempt + 1`).
    case rollbackRetry(version: String, failure: Failure, attempt: Int, retryAtMilliseconds: Int64?)
    /// Applying a release that is good here again (healing drift) failed: tried again later.
    case reapplyRetry(version: String, error: String, retryAtMilliseconds: Int64?)
    /// Applied here and marked bad (here or elsewhere): back to `to`, the last good release.
    case markedBadRollingBack(version: String, why: String, to: String)
    /// The release failed here (`to`: the last good release it rolls back to).
    case failedRollingBack(version: String, failure: Failure, to: String)
    /// The release failed here, and stays: automatic rollback is off, or there is nothing to go back to.
    case failed(version: String, failure: Failure, autoRollbackOff: Bool)

    // Becoming healthy, the watch, drift
    case converged(version: String, ready: Int, desired: Int, rolledBack: Bool)
    case driftBeforeConverging(version: String, seen: Observed)
    case waitingHealthy(version: String, health: Health, deadlineMilliseconds: Int64)
    case driftDuringWatch(version: String)
    case watching(version: String, untilMilliseconds: Int64)
    case watchOverAwaitingFetch(version: String)
    case passedWatch(version: String, watchSeconds: Int)
    case drift(version: String, seen: Observed)
    /// On the last good release after a rollback; `bad`, the desired one, is marked bad.
    case rolledBackHoldingBad(version: String, bad: String, why: String)
    case convergedOn(version: String)

    // A desired release that is marked bad
    /// On the last good release (`good`), which drifted: applied again.
    case healingGood(bad: String, why: String, good: String, seen: Observed)
    /// Not on the last good release, and what runs is not healthy: back to `good`.
    case badAndUnhealthy(bad: String, why: String, good: String, seen: Observed)
    /// The instance keeps `running` (healthy, not marked bad; nil: nothing was released here
    /// before) and will not receive `bad`.
    case heldBack(bad: String, why: String, running: String?)
    /// Runs a release that is marked bad, or nothing healthy, with nothing to go back to.
    case markedBad(version: String, why: String)

    // The gates
    case rejected(version: String, by: String, channel: String)
    /// The release waits for `gate`; `superseded`: the release it replaces before that converged.
    case waits(version: String, gate: Gate, superseded: String?)
    case applying(version: String, superseded: String?)

    /// A rollback was requested that changes nothing here.
    case noted(Reason, RollbackNote)

    /// What a fetch saw, as reasons tell it.
    public struct Observed: Codable, Sendable, Hashable {
        public var ready: Int
        public var desired: Int
        public var running: [String]
        public var problem: String?
        public var drifted: Bool

        public init(ready: Int, desired: Int, running: [String], problem: String?, drifted: Bool) {
            self.ready = ready
            self.desired = desired
            self.running = running
            self.problem = problem
            self.drifted = drifted
        }
    }

    /// How an instance looks while its release becomes healthy.
    public enum Health: Codable, Sendable, Hashable {
        case notFetchedYet
        case notFetchedSinceApply
        case observed(Observed)
    }

    /// Why an apply's worker is not expected to answer.
    public enum Orphaned: Codable, Sendable, Hashable {
        /// Its worker started again, or another took the instance's lease over.
        case restart
        /// No result `graceSeconds` past its progress deadline.
        case noResult(graceSeconds: Int, deadlineSeconds: Int)
    }

    /// How a release failed here.
    public enum Failure: Codable, Sendable, Hashable {
        case applyFailed(error: String)
        case notHealthy(deadlineSeconds: Int, health: Health)
        case lostHealthDuringWatch(problem: String)
        case alertDuringWatch(alert: String)
    }

    /// What holds a release back (see `Precondition`).
    public enum Gate: Codable, Sendable, Hashable {
        case paused(by: String)
        case upstream(channel: String)
        case soak(channel: String, sinceMilliseconds: Int64, soakSeconds: Int)
        case approval(approvers: [String], needed: Int, instance: String)
        case freeze(untilMilliseconds: Int64, reason: String?)
        case window(nextOpeningMilliseconds: Int64?)
        case alert(String)
        case applicationLimit(application: String, limit: Int)
        case channelLimit(channel: String, limit: Int)
    }

    /// A rollback request that finds nothing to do.
    public enum RollbackNote: Codable, Sendable, Hashable {
        case noEarlierGoodRelease(by: String)
        case alreadyOnGood(by: String)
    }
}

extension Reason {
    /// The reason in words, with countdowns and durations as seen at `now` (ms since 1970).
    public func words(at now: Int64) -> String {
        func since(_ at: Int64) -> String { Text.duration(now.subtracting(saturating: at)) }
        func until(_ at: Int64) -> String { Text.duration(at.subtracting(saturating: now)) }
        func seconds(_ value: Int) -> String { Text.duration(.milliseconds(seconds: value)) }
        func list(_ versions: [String]) -> String { versions.isEmpty ? "nothing" : versions.joined(separator: ", ") }
        switch self {
        case .words(let text): return text
        case .cannotDecide(let unreadable):
            return "cannot decide: " + unreadable.joined(separator: "; ") + " (a later event of the same kind clears it; for an instance, a new release)"
        case .noRelease: return "no release yet"
        case .removedFromConfig: return "removed from config"
        case .resumeFetching(let version, let cause):
            return "\(cause.words): fetching before deciding about the unfinished apply of \(version)"
        case .resumeReissuing(let version, let cause, let running):
            return "\(cause.words): re-issuing the apply of \(version) with its idempotency key (it now runs \(list(running)))"
        case .resumeAbandoning(let version, let cause, let newer):
            return "\(cause.words): abandoning the unfinished apply of \(version), superseded by \(newer)"
        case .applyRunning(let version, let rollback, let at):
            return "\(rollback ? "rolling back to" : "applying") \(version): apply running for \(since(at))"
        case .rollbackRequested(let good, let by):
            return "rolling back to \(good), the last good release: requested by \(by)"
        case .rollbackFailed(let version, let failure):
            return "rollback to \(version) \(failure.rollbackWords)"
        case .rollbackRetry(let version, let failure, let attempt, let retryAt):
            let failed = "rollback to \(version) \(failure.rollbackWords)"
            return retryAt.map { "\(failed); trying again in \(until($0))" } ?? "\(failed); rolling back to \(version) again (attempt \(attempt + 1))"
        case .reapplyRetry(let version, let error, let retryAt):
            let failed = "applying \(version) again failed (\(error)); it is good here"
            return retryAt.map { "\(failed); trying again in \(until($0))" } ?? "\(failed); applying it again"
        case .markedBadRollingBack(let version, let why, let good):
            return "\(version) is marked bad (\(why)); rolling back to \(good), the last good release"
        case .failedRollingBack(let version, let failure, let good):
            return "\(version) failed: \(failure.words); rolling back to \(good)"
        case .failed(let version, let failure, let off):
            return "\(version) failed: \(failure.words); "
                + (off ? "automatic rollback is off" : "there is no earlier good release to roll back to")
        case .converged(let version, let ready, let desired, let rolledBack):
            return "\(rolledBack ? "rolled back to" : "converged on") \(version): \(ready)/\(desired) ready"
        case .driftBeforeConverging(let version, let seen):
            let what = seen.running.isEmpty ? "nothing runs" : "drifted (\(seen.problem ?? "0/\(seen.desired) ready"))"
            return "drift before converging: \(what) although its apply succeeded; applying \(version) again"
        case .waitingHealthy(let version, let health, let deadline):
            return "waiting for \(version) to become healthy: \(health.words); deadline in \(until(deadline))"
        case .driftDuringWatch(let version):
            return "drift during the watch: nothing runs; applying \(version) again"
        case .watching(let version, let end):
            return "converged on \(version); watching for \(until(end)) more"
        case .watchOverAwaitingFetch(let version):
            return "converged on \(version); its watch is over, waiting for a fetch to confirm its health"
        case .passedWatch(let version, let watch):
            return "\(version) passed its watch of \(seconds(watch))"
        case .drift(let version, let seen):
            let what = seen.problem ?? (seen.drifted ? "drifted" : "running \(seen.running.joined(separator: ", "))")
            return "drift: \(what); applying \(version) again"
        case .rolledBackHoldingBad(let version, let bad, let why):
            return "rolled back to \(version); \(bad) is marked bad: \(why); release it again to retry it"
        case .convergedOn(let version): return "converged on \(version)"
        case .healingGood(let bad, let why, let good, let seen):
            let what = seen.running.isEmpty ? "nothing runs" : seen.problem ?? (seen.drifted ? "drifted" : "running \(seen.running.joined(separator: ", "))")
            return "\(bad) is marked bad (\(why)); staying on \(good), but \(what): applying \(good) again"
        case .badAndUnhealthy(let bad, let why, let good, let seen):
            let what = seen.running.isEmpty ? "nothing runs" : seen.problem ?? "running \(seen.running.joined(separator: ", ")), not healthy"
            return "\(bad) is marked bad (\(why)) and \(what) here: rolling back to \(good), the last good release"
        case .heldBack(let bad, let why, let running):
            return running.map { "on \($0); \(bad) is held back here: it is marked bad (\(why)); release it again to retry it" }
                ?? "\(bad) is held back here: it is marked bad (\(why)); nothing was released here before it"
        case .markedBad(let version, let why):
            return "\(version) is marked bad (\(why)); release it again to retry it"
        case .rejected(let version, let by, let channel):
            return "\(version) was rejected for \(channel) by \(by)"
        case .waits(let version, let gate, let superseded):
            return (superseded.map { "\($0) superseded by \(version); " } ?? "") + "\(version) waits: " + gate.words(version: version, at: now)
        case .applying(let version, let superseded):
            return (superseded.map { "\($0) superseded by \(version); " } ?? "") + "applying \(version)"
        case .noted(let reason, let note):
            return reason.words(at: now) + note.words
        }
    }
}

extension Reason {
    /// Whether its words change with the moment they are said (a countdown, an elapsed time):
    /// only such a reason is said again as of a later read.
    public var changesWithTime: Bool {
        switch self {
        case .applyRunning, .waitingHealthy, .watching: true
        case .rollbackRetry(_, _, _, let retryAt), .reapplyRetry(_, _, let retryAt): retryAt != nil
        case .waits(_, .soak, _): true
        case .noted(let reason, _): reason.changesWithTime
        default: false
        }
    }
}

extension Reason.Orphaned {
    var words: String {
        switch self {
        case .restart: "resuming after a restart"
        case .noResult(let grace, let deadline):
            "no result from its worker \(Text.duration(.milliseconds(seconds: grace))) past the progress deadline of \(Text.duration(.milliseconds(seconds: deadline)))"
        }
    }
}

extension Reason.Health {
    var words: String {
        switch self {
        case .notFetchedYet: "not fetched yet"
        case .notFetchedSinceApply: "not fetched since the apply"
        case .observed(let seen):
            "\(seen.ready)/\(seen.desired) ready, running \(seen.running.isEmpty ? "nothing" : seen.running.joined(separator: ", "))"
                + (seen.problem.map { "; \($0)" } ?? "")
        }
    }
}

extension Reason.Failure {
    /// How the release failed, in words (also what a `ReleaseMarkedBad` it causes says).
    public var words: String {
        switch self {
        case .applyFailed(let error): "its apply failed: \(error)"
        case .notHealthy(let deadline, let health):
            "not healthy within its progress deadline of \(Text.duration(.milliseconds(seconds: deadline))) (\(health.words))"
        case .lostHealthDuringWatch(let problem): "it lost its health during the watch (\(problem))"
        case .alertDuringWatch(let alert): "alert \(alert) fired during the watch"
        }
    }

    /// As the end of "rollback to V …".
    var rollbackWords: String {
        switch self {
        case .applyFailed(let error): "failed: \(error)"
        default: words
        }
    }
}

extension Reason.Gate {
    func words(version: String, at now: Int64) -> String {
        switch self {
        case .paused(let by): return "paused (\(by))"
        case .upstream(let channel): return "\(channel) has not converged on it yet"
        case .soak(let channel, let since, let soak):
            return "soak: \(channel) stable on \(version) for \(Text.duration(now.subtracting(saturating: since))) of \(Text.duration(.milliseconds(seconds: soak)))"
        case .approval(let approvers, let needed, let instance):
            return "approval: \(approvers.count) of \(needed)" + (approvers.isEmpty ? "" : " (\(approvers.joined(separator: ", ")))")
                + " — keelson approve \(instance) --release \(version)"
        case .freeze(let until, let reason):
            return "freeze until \(Text.time(until))" + (reason.map { " (\($0))" } ?? "")
        case .window(let next):
            return "outside the allowed windows" + (next.map { "; the next opens \(Text.time($0))" } ?? "")
        case .alert(let alert): return "alert firing: \(alert)"
        case .applicationLimit(let application, let limit):
            return "at most \(limit) instance(s) of \(application) converge at a time, and that many are converging"
        case .channelLimit(let channel, let limit):
            return "at most \(limit) instance(s) in \(channel) converge at a time, and that many are converging"
        }
    }
}

extension Reason.RollbackNote {
    var words: String {
        switch self {
        case .noEarlierGoodRelease(let by): " (rollback requested by \(by), but there is no earlier good release here)"
        case .alreadyOnGood(let by): " (rollback requested by \(by): already on the last good release)"
        }
    }
}
