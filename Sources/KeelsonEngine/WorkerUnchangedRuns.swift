import Foundation
import KeelsonCore
import KeelsonStore

/// Unchanged fetches of settled instances, held back and recorded together.
///
/// A stable fleet is fetched all the time and almost never changes. Recording each of those
/// fetches — an event, its projection rows, a fold and a decision — is most of what an idle
/// worker does. So an unchanged fetch after which `decide` would answer exactly as before is held
/// back in a *run* of such fetches, and the run is recorded as one `StateUnchanged` (with its
/// count and the times of its first and last fetch):
/// - when the next fetch of the instance sees something new, fails, or would change the decision
///   (the run is recorded first, or together with that fetch);
/// - before the worker records anything else for the instance (a decision, an apply request);
/// - when the run is `Settings.unchangedRunLength` old;
/// - when the worker stops.
///
/// Nothing decided ever depends on a held-back fetch: the worker does not fold it, so every
/// decision is made over the log as recorded, and replay stays exact. What a crash loses is at
/// most one run per instance of fetches that saw nothing new.
extension Worker {
    /// Unchanged fetches of one instance, not yet recorded.
    struct UnchangedRun: Sendable {
        var sameAs: Int64
        var fetches: Int
        var firstMilliseconds: Int64
        var lastMilliseconds: Int64

        /// The event that records the run, written after its last fetch.
        func event(for id: ServiceInstanceID) -> StateUnchanged {
            StateUnchanged(
                instance: id, sameAs: sameAs, fetches: fetches, firstMilliseconds: firstMilliseconds, lastMilliseconds: lastMilliseconds)
        }
    }

    /// How each fetch of a group is recorded: an unchanged fetch of a settled instance is held
    /// back (see above); anything else is recorded at once, after the run it ends.
    func screen(_ fetched: [RuntimeRecorder.ScreenedFetch]) -> [ServiceInstanceID: RuntimeRecorder.FetchRecording] {
        let now = settings.clock().millisecondsSince1970
        let length = settings.unchangedRunLength.milliseconds
        var recordings: [ServiceInstanceID: RuntimeRecorder.FetchRecording] = [:]
        for fetch in fetched {
            let id = fetch.instance
            let run = takeRun(id)
            guard let sameAs = fetch.sameAs, run.map({ $0.sameAs == sameAs }) ?? true else {
                if let run { recordings[id] = .recordAfter(run.event(for: id)) }
                continue
            }
            var next = run ?? UnchangedRun(sameAs: sameAs, fetches: 0, firstMilliseconds: now, lastMilliseconds: now)
            next.fetches += 1
            next.lastMilliseconds = max(next.lastMilliseconds, now)
            if length > 0, now.subtracting(saturating: next.firstMilliseconds) < length, isSettled(id, now: now) {
                keep(next, of: id)
                recordings[id] = .hold
            } else if next.fetches > 1 {
                recordings[id] = .recordAs(StateUnchanged(
                    instance: id, sameAs: sameAs, fetches: next.fetches, firstMilliseconds: next.firstMilliseconds))
            }
        }
        return recordings
    }

    /// Whether a fetch of `id` that sees nothing new changes nothing `decide` answers now: then it
    /// may wait in a run. Not while an apply of it runs or waits, nor when this worker does not
    /// hold it.
    private func isSettled(_ id: ServiceInstanceID, now: Int64) -> Bool {
        guard live.contains(id), running[id] == nil, !queuedIDs.contains(id), (leaseUntil[id] ?? 0) > now,
            let view = state.view(of: id), view.unreadable.isEmpty, view.record.seen != nil
        else { return false }
        var fetched = view
        fetched.record.seen?.atMilliseconds = now
        fetched.record.seen?.position = state.position.adding(saturating: 1)
        return Engine.decide(fetched, nowMilliseconds: now) == Engine.decide(view, nowMilliseconds: now)
    }

    /// The run of `id`, taken to be recorded with the worker's next event for it.
    func takeUnchangedRun(_ id: ServiceInstanceID) -> NewEvent? {
        guard let run = takeRun(id) else { return nil }
        return try? NewEvent(run.event(for: id), actor: settings.name)
    }

    private func takeRun(_ id: ServiceInstanceID) -> UnchangedRun? {
        guard let run = unchangedRuns.removeValue(forKey: id) else { return nil }
        runsEnding.remove(id)
        return run
    }

    /// Keeps `run` of `id`, to be recorded `unchangedRunLength` after its first fetch at the latest.
    private func keep(_ run: UnchangedRun, of id: ServiceInstanceID) {
        unchangedRuns[id] = run
        runsEnding.set(id, at: run.firstMilliseconds.adding(saturating: settings.unchangedRunLength.milliseconds))
    }

    /// Records the runs that are over — `unchangedRunLength` old, or all of them (`all`, when the
    /// worker stops) — in one transaction. (A run of an instance the worker no longer holds or
    /// decides about waits for its time too: written late, it says so, and counts for its
    /// fetches' times only.) Runs that cannot be recorded are reported and kept for the next try.
    func closeUnchangedRuns(now: Int64, all: Bool = false) async {
        let ending = all ? Array(unchangedRuns.keys) : runsEnding.popDue(at: now)
        guard !ending.isEmpty else { return }
        var closing: [(ServiceInstanceID, UnchangedRun)] = []
        for id in ending.sorted() {
            if let run = takeRun(id) { closing.append((id, run)) }
        }
        do {
            let appends = try closing.map { id, run in
                StreamAppend(stream: .instance(id), events: [try NewEvent(run.event(for: id), actor: settings.name)])
            }
            try await store.append(appends)
        } catch {
            settings.onProblem("\(settings.name): recording \(closing.count) run(s) of unchanged fetches failed (trying again): \(error)")
            for (id, run) in closing where unchangedRuns[id] == nil { keep(run, of: id) }
        }
    }

    /// When the next run is to be recorded (ms).
    var nextRunEnd: Int64? { runsEnding.earliest }

    /// How many unchanged fetches are held back, not yet recorded, and of how many instances (tests).
    public var heldUnchangedFetches: Int { unchangedRuns.values.reduce(0) { $0 + $1.fetches } }
    public var heldUnchangedRuns: Int { unchangedRuns.count }
}
