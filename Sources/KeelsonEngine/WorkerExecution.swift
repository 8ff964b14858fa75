import Foundation
import KeelsonCore
import KeelsonRuntimes
import KeelsonStore

/// Carrying decisions out: applies (the recorded outbox) and removals, at most `applyConcurrency`
/// at once, and fetches at their cadence, at most `fetchConcurrency` at once. Each runs in a task
/// of its own, off the decision loop, and records what it did through `RuntimeRecorder`; its end
/// is news for its instance.
extension Worker {
    func launch(_ id: ServiceInstanceID, _ requestID: String, _ release: ReleaseRef) {
        guard running.count < settings.applyConcurrency else {
            queued.append((id, requestID, release))
            queuedIDs.insert(id)
            return
        }
        // Its apply fetches it when it ends; the schedule takes it back then.
        schedule.remove(id)
        let store = store
        let actor = settings.name
        let onFetch = settings.onFetch
        let found = runtime(for: release)
        guard case .success(let (runtime, runtimeName)) = found else {
            guard case .failure(let problem) = found else { return }
            running[id] = Task {
                let finished = ApplyFinished(
                    instance: id, runtime: "unknown", digest: release.digest, idempotencyKey: requestID,
                    result: ApplyResult(succeeded: false, durationMilliseconds: 0, error: problem.description))
                _ = try? await store.append(
                    [NewEvent(type: ApplyFinished.failedType, payload: (try? CanonicalJSON.string(finished)) ?? "{}", actor: actor)],
                    to: .instance(id))
                self.finished(id)
            }
            return
        }
        let desired = desiredState(id, release)
        let timeout = Self.timeout(release)
        running[id] = Task {
            let recorder = RuntimeRecorder(runtime: runtime, store: store, actor: actor)
            // The apply's result and the fetch after it are recorded together.
            if let (_, fetched) = try? await recorder.applyThenFetch(desired, idempotencyKey: requestID, timeout: timeout) {
                onFetch(runtimeName, (try? fetched.result.get()) != nil, fetched.duration)
            }
            self.finished(id, fetchedFrom: runtimeName)
        }
    }

    /// Stops what an instance dropped from config runs, through its runtime's `remove`, and
    /// records the result (`InstanceRemovalFinished`). Unfinished when its worker stops: the next
    /// holder of the instance's lease does it again (`remove` is idempotent).
    func launchRemoval(_ id: ServiceInstanceID) {
        guard let last = removals[id] else { return }
        let store = store
        let actor = settings.name
        let found: Result<(any Runtime, String), RuntimeProblem> = last.map { runtime(for: $0) }
            ?? .failure(RuntimeProblem(description: "it had no desired state, so no runtime to remove it from"))
        let desired = last.map { desiredState(id, $0) }
        running[id] = Task {
            let runtimeName: String
            let result: ApplyResult
            switch found {
            case .success(let (runtime, name)):
                runtimeName = name
                do {
                    result = try await runtime.remove(id, desired: desired, timeout: Self.removeTimeout)
                } catch {
                    result = ApplyResult(succeeded: false, durationMilliseconds: 0, error: "\(error)")
                }
            case .failure(let problem):
                runtimeName = "unknown"
                result = ApplyResult(succeeded: true, durationMilliseconds: 0, output: "nothing to stop: \(problem.description)")
            }
            _ = try? await store.append(
                [try NewEvent(InstanceRemovalFinished(instance: id, runtime: runtimeName, result: result), actor: actor)],
                to: .instance(id))
            self.finished(id)
        }
    }

    /// An apply or a removal ended: its instance is news (whatever was or was not recorded), it is
    /// fetched again soon — at the converging cadence after the fetch that followed the apply, at
    /// once when there was none — and the next queued apply starts.
    private func finished(_ id: ServiceInstanceID, fetchedFrom runtime: String? = nil) {
        running[id] = nil
        dirty.insert(id)
        if live.contains(id) {
            if let runtime {
                schedule.fetched(id, at: settings.clock(), stable: false, cadence: cadences[runtime])
            } else {
                schedule.expedite(id, at: settings.clock())
            }
        }
        while !queued.isEmpty, running.count < settings.applyConcurrency {
            let (next, requestID, release) = queued.removeFirst()
            queuedIDs.remove(next)
            launch(next, requestID, release)
        }
        wakeup.signal()
    }

    /// Starts the fetches that are due, as a batch per runtime (at most `fetchBatchLimit`
    /// instances each): a batch runs its fetches within the runtime's `fetchConcurrency` slots
    /// (shared by its batches) and records their results as they come — those that end together
    /// in one transaction — and the worker hears of each group once. Stable fetches fall due
    /// together (on whole seconds), so a big fleet's fetches cost one write and one pass a second,
    /// not one each. Returns the batches started.
    func startFetches(at now: Date) -> [Task<Void, Never>] {
        let nowMilliseconds = now.millisecondsSince1970
        var due: [String: [RuntimeRecorder.FetchRequest]] = [:]
        var order: [String] = []
        var runtimesByName: [String: any Runtime] = [:]
        while let id = schedule.takeFirst(dueAt: now) {
            // One whose apply runs is fetched when the apply ends; one not held is not fetched here.
            guard running[id] == nil, !queuedIDs.contains(id), fetching[id] == nil, live.contains(id),
                (leaseUntil[id] ?? 0) > nowMilliseconds, let record = state.instances[id],
                let release = record.request?.release ?? record.desired
            else { continue }
            guard case .success(let (runtime, name)) = runtime(for: release) else {
                schedule.fetched(id, at: now, stable: false, cadence: nil)
                continue
            }
            if due[name] == nil { order.append(name) }
            runtimesByName[name] = runtime
            due[name, default: []].append(RuntimeRecorder.FetchRequest(instance: id, desired: desiredState(id, release)))
        }
        var started: [Task<Void, Never>] = []
        for name in order {
            guard let runtime = runtimesByName[name], let requests = due[name] else { continue }
            let slots = fetchSlots[name] ?? FetchSlots(limit: settings.fetchConcurrency)
            fetchSlots[name] = slots
            let recorder = RuntimeRecorder(runtime: runtime, store: store, actor: settings.name)
            let onFetch = settings.onFetch
            for start in stride(from: 0, to: requests.count, by: Self.fetchBatchLimit) {
                let batch = Array(requests[start..<min(start + Self.fetchBatchLimit, requests.count)])
                let task = Task {
                    _ = try? await recorder.fetch(batch, slots: slots, screen: { await self.screen($0) }) { outcomes in
                        for outcome in outcomes { onFetch(name, (try? outcome.result.get()) != nil, outcome.duration) }
                        await self.fetched(outcomes, runtime: name)
                    }
                    self.batchEnded(batch.map(\.instance))
                }
                for request in batch { fetching[request.instance] = task }
                fetchBatchesStarted += 1
                started.append(task)
            }
        }
        return started
    }

    /// Fetches ended (and were recorded): each instance's next fetch is scheduled by the
    /// runtime's cadence — often while it converges or its release is watched, seldom once it
    /// waits or is settled.
    private func fetched(_ outcomes: [RuntimeRecorder.FetchOutcome], runtime name: String) {
        let now = settings.clock()
        for outcome in outcomes {
            let id = outcome.instance
            fetching[id] = nil
            guard live.contains(id), running[id] == nil, !queuedIDs.contains(id) else { continue }
            let record = state.instances[id]
            let stable = !(record?.isWatching ?? false)
                && (!(record?.status.isConverging ?? false)
                    || FetchCadence.isStable(desiredVersion: record?.desired?.version, observation: try? outcome.result.get()))
            schedule.fetched(id, at: now, stable: stable, cadence: cadences[name])
        }
        wakeup.signal()
    }

    /// A batch is over: none of its instances counts as fetching any more (each was told of
    /// already, unless the batch ended early).
    private func batchEnded(_ ids: [ServiceInstanceID]) {
        for id in ids where fetching[id] != nil {
            fetching[id] = nil
            if live.contains(id) { schedule.expedite(id, at: settings.clock()) }
        }
    }
}
