import Foundation

/// Batches concurrent appends into shared transactions.
///
/// Appenders queue their request and suspend. A dedicated commit thread takes everything queued
/// (up to a bound), writes it in one transaction, and answers each appender after the commit —
/// so with `synchronous=FULL`, N appenders that arrive while a commit is in flight share the next
/// fsync instead of paying one each. The thread writes synchronously, so a commit costs no hop
/// through the concurrency runtime. Each request stays atomic on its own: the commit function
/// rolls a failing request back to its savepoint without affecting the others in the batch.
final class GroupCommitter<Request: Sendable, Response: Sendable>: @unchecked Sendable {
    typealias Commit = @Sendable ([Request]) -> [Result<Response, any Error>]

    private struct Waiting {
        var request: Request
        var weight: Int
        var continuation: CheckedContinuation<Response, any Error>
    }

    // `condition` guards `queue` and `stopped` (hence @unchecked Sendable).
    private let condition = NSCondition()
    private var queue: [Waiting] = []
    private var stopped = false
    private let maxWeightPerCommit: Int
    private let commit: Commit

    /// - Parameters:
    ///   - maxWeightPerCommit: a batch stops growing once its requests weigh this much (e.g. events).
    ///   - commit: writes a batch in one transaction and returns one result per request, in order.
    init(label: String, maxWeightPerCommit: Int, commit: @escaping Commit) {
        self.maxWeightPerCommit = maxWeightPerCommit
        self.commit = commit
        let thread = Thread { [self] in run() }
        thread.name = label
        thread.start()
    }

    /// Queues `request` and returns its response once the batch that carried it has committed.
    /// Cancelling the caller does not withdraw a queued request: it may already be durable.
    func submit(_ request: Request, weight: Int) async throws -> Response {
        try await withCheckedThrowingContinuation { continuation in
            condition.lock()
            defer { condition.unlock() }
            guard !stopped else {
                continuation.resume(throwing: CancellationError())
                return
            }
            queue.append(Waiting(request: request, weight: weight, continuation: continuation))
            condition.signal()
        }
    }

    /// Lets the commit thread finish what is queued, then end.
    func stop() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
    }

    private func run() {
        while let batch = nextBatch() {
            let results = commit(batch.map(\.request))
            for (waiting, result) in zip(batch, results) {
                waiting.continuation.resume(with: result)
            }
        }
    }

    /// Waits for work and takes the next batch; `nil` once stopped and drained.
    private func nextBatch() -> [Waiting]? {
        condition.lock()
        defer { condition.unlock() }
        while queue.isEmpty {
            if stopped { return nil }
            condition.wait()
        }
        var taken = 0
        var weight = 0
        while taken < queue.count && (taken == 0 || weight + queue[taken].weight <= maxWeightPerCommit) {
            weight += queue[taken].weight
            taken += 1
        }
        let batch = Array(queue.prefix(taken))
        queue.removeFirst(taken)
        return batch
    }
}
