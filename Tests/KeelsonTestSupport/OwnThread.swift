import Foundation

/// Runs blocking work — waiting for a child process, a socket, a semaphore — on a thread of its
/// own, and waits for it without holding one of Swift concurrency's threads. There are as many of
/// those as cores (two on CI): a test that blocks one for seconds stalls every async test running
/// beside it (a program that has ended is not noticed, a timer fires late).
///
/// `body` must not record test issues: the task-local test context does not follow it.
public func onOwnThread<Value: Sendable>(
    stackSize: Int? = nil, _ body: @escaping @Sendable () throws -> Value
) async throws -> Value {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        if let stackSize { thread.stackSize = stackSize }
        thread.start()
    }
}

/// ``onOwnThread(stackSize:_:)`` for work that cannot fail.
public func onOwnThread<Value: Sendable>(stackSize: Int? = nil, _ body: @escaping @Sendable () -> Value) async -> Value {
    await withCheckedContinuation { continuation in
        let thread = Thread { continuation.resume(returning: body()) }
        if let stackSize { thread.stackSize = stackSize }
        thread.start()
    }
}
