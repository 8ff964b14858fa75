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
        let desired = Self.desiredState(id, release)
        let timeout = Self.timeout(release)
        running[id] = Task {
            let recorder = RuntimeRecorder(runtime: runtime, store: store, actor: actor)
            _ = try? await recorder.apply(desired, idempotencyKey: requestID, timeout: timeout)
            let started = ContinuousClock.now
            let observation = try? await recorder.fetch(id, desired: desired)
            onFetch(runtimeName, observation != nil, ContinuousClock.now - started)
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
        running[id] = Task {
            let runtimeName: String
            let result: ApplyResult
            switch found {
            case .success(let (runtime, name)):
                runtimeName = name
                let desired = last.map { Self.desiredState(id, $0) }
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

    /// Starts the fetches that are due, up to `fetchConcurrency` at once, and returns their tasks.
    func startFetches(at now: Date) -> [Task<Void, Never>] {
        var started: [Task<Void, Never>] = []
        let nowMilliseconds = now.millisecondsSince1970
        while fetching.count < settings.fetchConcurrency, let id = schedule.takeFirst(dueAt: now) {
            // One whose apply runs is fetched when the apply ends; one not held is not fetched here.
            guard running[id] == nil, !queuedIDs.contains(id), live.contains(id), (leaseUntil[id] ?? 0) > nowMilliseconds,
                let record = state.instances[id], let release = record.request?.release ?? record.desired
            else { continue }
            guard case .success(let (runtime, name)) = runtime(for: release) else {
                schedule.fetched(id, at: now, stable: false, cadence: nil)
                continue
            }
            let desired = Self.desiredState(id, release)
            let recorder = RuntimeRecorder(runtime: runtime, store: store, actor: settings.name)
            let onFetch = settings.onFetch
            let task = Task {
                let began = ContinuousClock.now
                let observation = try? await recorder.fetch(id, desired: desired)
                onFetch(name, observation != nil, ContinuousClock.now - began)
                self.fetched(id, observation, runtime: name)
            }
            fetching[id] = task
            started.append(task)
        }
        return started
    }

    /// A fetch ended: the next one is scheduled by the runtime's cadence — often while the
    /// instance converges or its release is watched, seldom once it waits or is settled.
    private func fetched(_ id: ServiceInstanceID, _ observation: Observation?, runtime name: String) {
        fetching[id] = nil
        guard live.contains(id), running[id] == nil, !queuedIDs.contains(id) else { return }
        let record = state.instances[id]
        let stable = !(record?.isWatching ?? false)
            && (!(record?.status.isConverging ?? false)
                || FetchCadence.isStable(desiredVersion: record?.desired?.version, observation: observation))
        schedule.fetched(id, at: settings.clock(), stable: stable, cadence: cadences[name])
        wakeup.signal()
    }
}
