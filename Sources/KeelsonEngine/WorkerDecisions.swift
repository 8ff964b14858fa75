import Foundation
import KeelsonCore
import KeelsonStore

/// Deciding and recording: every instance due in a pass is decided over the same view (the log as
/// folded at the start of the pass, `viewPosition` in each `DecisionMade`), and the decisions that
/// say something new are recorded together — with their outbox (`ApplyRequested`), the releases
/// they mark bad and the requests they abandon — in one transaction per `decisionsPerCommit`.
extension Worker {
    /// At most this many decisions are recorded in one transaction.
    static let decisionsPerCommit = 500

    /// A decision to record, with the events that carry it out and the applies to launch after.
    struct PreparedDecision {
        var instance: ServiceInstanceID
        var decision: Decision
        var key: DecisionKey
        var appends: [StreamAppend]
        var launches: [(requestID: String, release: ReleaseRef)]
    }

    /// Decides about `instances` (held, not busy) at `now`, and records what is new.
    ///
    /// Decisions of one pass see the same view, so two of them must not both take a slot that a
    /// concurrency limit (`maxConverging`) counts: once one instance of a limited application
    /// starts converging in a pass, another that would start too is left for the next pass, when
    /// the view counts the first.
    func decide(_ instances: [ServiceInstanceID], timed: Set<ServiceInstanceID>, now: Date) async throws {
        let nowMilliseconds = now.millisecondsSince1970
        var batch: [PreparedDecision] = []
        var started: Set<String> = []
        for id in instances {
            guard running[id] == nil, !queuedIDs.contains(id) else { continue }
            // A timer (a watch's or a soak's end, a deadline) is judged on a fresh observation:
            // fetched in this pass, and decided again with it.
            if timed.contains(id) { schedule.expedite(id, at: now) }
            do {
                guard let decision = try await decisionFor(id, now: nowMilliseconds) else { continue }
                let starts = decision.status.isConverging && !state.isConverging(id)
                if starts, let policy = state.policies[id.application], Self.limitsConcurrency(policy) {
                    guard started.insert(id.application).inserted else {
                        dirty.insert(id)
                        continue
                    }
                }
                if let wake = decision.wakeAtMilliseconds { timers.set(id, at: wake) } else { timers.remove(id) }
                let key = Self.key(decision)
                // A worker that just started knows the last recorded decision from the log: the
                // same one again (same status and reason) is not recorded twice.
                if lastKeys[id] == nil, let record = state.instances[id], record.status == decision.status, record.reason == decision.reason {
                    lastKeys[id] = key
                }
                guard !decision.actions.isEmpty || lastKeys[id] != key else { continue }
                batch.append(try prepare(decision, key: key, for: id, now: nowMilliseconds))
            } catch where Task.isCancelled || error is CancellationError {
                throw error
            } catch {
                try await undecidable(id, "recording its decision failed: \(error)", now: nowMilliseconds)
            }
        }
        // Decisions that act (apply, roll back, mark bad) are recorded first, so that their
        // applies start while the others are recorded: all were made over the same view, so the
        // order they are recorded in changes none of them.
        let acting = batch.filter { !$0.decision.actions.isEmpty } + batch.filter { $0.decision.actions.isEmpty }
        for start in stride(from: 0, to: acting.count, by: Self.decisionsPerCommit) {
            try await record(Array(acting[start..<min(start + Self.decisionsPerCommit, acting.count)]), now: nowMilliseconds)
        }
    }

    static func limitsConcurrency(_ policy: ApplicationPolicy) -> Bool {
        policy.maxConverging != nil || policy.channels.contains { $0.maxConverging != nil }
    }

    /// The decision `decide` makes for `id` now, or nil when it cannot decide (recorded as such).
    private func decisionFor(_ id: ServiceInstanceID, now: Int64) async throws -> Decision? {
        guard let view = state.view(of: id) else {
            // No policy for its application: nothing to decide by — unless that is because
            // something could not be read.
            let unreadable = state.unreadable(concerning: id)
            if !unreadable.isEmpty { try await undecidable(id, "cannot decide: " + unreadable.joined(separator: "; "), now: now) }
            return nil
        }
        if view.unreadable.isEmpty, let desired = view.record.desired, case .failure(let problem) = runtime(for: desired) {
            try await undecidable(id, problem.description, now: now)
            return nil
        }
        decideCalls += 1
        return Engine.decide(view, nowMilliseconds: now)
    }

    /// The events that record `decision` and carry it out: `DecisionMade`, the `ApplyRequested`
    /// outbox, the failure of an abandoned request (on the instance's stream), and
    /// `ReleaseMarkedBad` (on its service's).
    private func prepare(_ decision: Decision, key: DecisionKey, for id: ServiceInstanceID, now: Int64) throws -> PreparedDecision {
        let record = state.instances[id] ?? InstanceRecord(instance: id)
        let made = DecisionMade(instance: id, viewPosition: folded, nowMilliseconds: now, engineVersion: Engine.version, decision: decision)
        // Fetches held back come first: they ran before this decision was made.
        var instanceEvents = [takeUnchangedRun(id), try NewEvent(made, actor: settings.name)].compactMap { $0 }
        var others: [StreamAppend] = []
        var launches: [(String, ReleaseRef)] = []
        for action in decision.actions {
            switch action {
            case .apply(_, let digest, let rollback):
                guard let release = [record.desired, record.lastGood, record.request?.release].compactMap({ $0 })
                    .first(where: { $0.digest == digest })
                else { continue }
                let requestID = "req-" + UUID().uuidString.lowercased()
                instanceEvents.append(try NewEvent(
                    ApplyRequested(
                        instance: id, requestID: requestID, version: release.version, digest: release.digest,
                        document: release.document, rollback: rollback),
                    actor: settings.name))
                launches.append((requestID, release))
            case .reissue(let requestID):
                if let request = record.request, request.requestID == requestID { launches.append((requestID, request.release)) }
            case .abandon(let requestID, let reason):
                guard let request = record.request, request.requestID == requestID else { continue }
                let runtimeName = (try? runtime(for: request.release).get())?.1 ?? "unknown"
                let finished = ApplyFinished(
                    instance: id, runtime: runtimeName, digest: request.release.digest, idempotencyKey: requestID,
                    result: ApplyResult(succeeded: false, durationMilliseconds: 0, error: "abandoned: \(reason)"))
                instanceEvents.append(NewEvent(type: ApplyFinished.failedType, payload: try CanonicalJSON.string(finished), actor: settings.name))
            case .markBad(let version, let reason):
                let service = "\(id.application)/\(id.service)"
                others.append(StreamAppend(
                    stream: .service(id.application, id.service),
                    events: [try NewEvent(ReleaseMarkedBad(service: service, version: version, reason: reason), actor: settings.name)]))
            case .markConverged, .markGood:
                break
            }
        }
        return PreparedDecision(
            instance: id, decision: decision, key: key,
            appends: [StreamAppend(stream: .instance(id), events: instanceEvents)] + others, launches: launches)
    }

    /// Records `batch` in one transaction, then launches its applies. When the transaction fails
    /// as a whole, each decision is recorded on its own, so that one that cannot be recorded is
    /// reported for its instance and the others go on.
    private func record(_ batch: [PreparedDecision], now: Int64) async throws {
        let results: [AppendResult]
        let appends = batch.flatMap(\.appends)
        do {
            results = try await store.append(appends)
        } catch where Task.isCancelled || error is CancellationError {
            throw error
        } catch {
            guard batch.count > 1 else { throw error }
            for prepared in batch {
                do {
                    try await record([prepared], now: now)
                } catch where Task.isCancelled || error is CancellationError {
                    throw error
                } catch {
                    try await undecidable(prepared.instance, "recording its decision failed: \(error)", now: now)
                }
            }
            return
        }
        var index = 0
        for prepared in batch {
            onDecision(Report(instance: prepared.instance, decision: prepared.decision, position: results[index].positions.lowerBound, nowMilliseconds: now))
            index += prepared.appends.count
            lastKeys[prepared.instance] = prepared.key
            for launch in prepared.launches { self.launch(prepared.instance, launch.requestID, launch.release) }
        }
        try await foldAppended(appends, results)
    }

    /// Records that the worker could not decide about `id` (once per reason), and asks again later.
    func undecidable(_ id: ServiceInstanceID, _ reason: String, now: Int64) async throws {
        timers.set(id, at: now.adding(saturating: Self.undecidableRetry.milliseconds))
        let key = DecisionKey(status: .failed, reason: .words("undecidable: " + reason))
        guard lastKeys[id] != key else { return }
        settings.onProblem("\(settings.name): \(id): \(reason)")
        try await store.append(
            [takeUnchangedRun(id), try NewEvent(DecisionFailed(instance: id, nowMilliseconds: now, reason: reason), actor: settings.name)]
                .compactMap { $0 },
            to: .instance(id))
        lastKeys[id] = key
    }

    /// What must change for a decision to be recorded again: its status, precondition, release
    /// or reason — compared as values (a reason keeps its times absolute, so a countdown is the
    /// same reason in every pass).
    struct DecisionKey: Hashable {
        var status: InstanceStatus
        var waitingFor: Precondition?
        var version: String?
        var reason: Reason
    }

    static func key(_ decision: Decision) -> DecisionKey {
        DecisionKey(status: decision.status, waitingFor: decision.waitingFor, version: decision.version, reason: decision.reason)
    }
}
