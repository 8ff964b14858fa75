import Synchronization

/// Batches concurrent appends into shared transactions.
///
/// Appenders queue their request and suspend. One drain task at a time takes everything queued
/// (up to a bound), writes it in one transaction, and answers each appender after the commit —
/// so with `synchronous=FULL`, N appenders that arrive while a commit is in flight share the next
/// fsync instead of paying one each. Each request stays atomic on its own: a failing request is
/// rolled back to its savepoint and does not affect the others in the batch.
final class GroupCommitter<Request: Sendable, Response: Sendable>: Sendable {
    typealias Commit = @Sendable ([Request]) async -> [Result<Response, any Error>]

    private struct Waiting {
        var request: Request
        var weight: Int
        var continuation: CheckedContinuation<Response, any Error>
    }

    private struct State {
        var queue: [Waiting] = []
        var draining = false
    }

    private let state = Mutex(State())
    private let maxWeightPerCommit: Int
    private let commit: Commit

    /// - Parameters:
    ///   - maxWeightPerCommit: a batch stops growing once its requests weigh this much (e.g. events).
    ///   - commit: writes a batch in one transaction and returns one result per request, in order.
    init(maxWeightPerCommit: Int, commit: @escaping Commit) {
        self.maxWeightPerCommit = maxWeightPerCommit
        self.commit = commit
    }

    /// Queues `request` and returns its response once the batch that carried it has committed.
    /// Cancelling the caller does not withdraw a queued request: it may already be durable.
    func submit(_ request: Request, weight: Int) async throws -> Response {
        try await withCheckedThrowingContinuation { continuation in
            let startDrain = state.withLock { state in
                state.queue.append(Waiting(request: request, weight: weight, continuation: continuation))
                if state.draining { return false }
                state.draining = true
                return true
            }
            if startDrain {
                Task { await self.drain() }
            }
        }
    }

    private func drain() async {
        while true {
            let batch: [Waiting] = state.withLock { state in
                var taken = 0
                var weight = 0
                while taken < state.queue.count && (taken == 0 || weight + state.queue[taken].weight <= maxWeightPerCommit) {
                    weight += state.queue[taken].weight
                    taken += 1
                }
                if taken == 0 {
                    state.draining = false
                    return []
                }
                let batch = Array(state.queue.prefix(taken))
                state.queue.removeFirst(taken)
                return batch
            }
            if batch.isEmpty { return }
            let results = await commit(batch.map(\.request))
            for (waiting, result) in zip(batch, results) {
                waiting.continuation.resume(with: result)
            }
        }
    }
}
