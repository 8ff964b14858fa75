import Foundation
import KeelsonCore
import Synchronization

/// Wakes waiters when this process commits new events, so that subscriptions follow the log
/// without polling the disk in a loop.
final class CommitNotifier: Sendable {
    private struct State {
        var lastPosition: Int64
        var nextID = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    }

    private let state: Mutex<State>
    /// The events this process committed last (see ``RecentEvents``).
    let recent = RecentEvents()

    init(lastPosition: Int64) {
        state = Mutex(State(lastPosition: lastPosition))
    }

    /// Records that `events` (a commit's, in position order) are committed, keeps them among the
    /// recent ones, and wakes every waiter.
    func publish(_ events: [RecordedEvent]) {
        guard let last = events.last?.position else { return }
        recent.record(events)
        publish(last)
    }

    /// Records that events up to `position` are committed and wakes every waiter.
    func publish(_ position: Int64) {
        let waiters = state.withLock { state in
            state.lastPosition = max(state.lastPosition, position)
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once an event after `position` is committed in this process, after `timeout`
    /// (so that appends by other processes are seen too), or when the task is cancelled.
    func wait(beyond position: Int64, timeout: Duration) async {
        let id = state.withLock { state in
            defer { state.nextID += 1 }
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state in
                    if state.lastPosition > position || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow {
                    continuation.resume()
                    return
                }
                Task {
                    try? await Task.sleep(for: timeout)
                    self.resume(id)
                }
            }
        } onCancel: {
            resume(id)
        }
    }

    private func resume(_ id: Int) {
        let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
        waiter?.resume()
    }
}
