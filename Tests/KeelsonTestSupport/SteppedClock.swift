import Foundation

/// A time that moves only when told to: the store, simulated runtimes and workers of a test or a
/// benchmark all read it, and the test steps it.
public final class SteppedClock: @unchecked Sendable {
    private let lock = NSLock()
    private var date: Date

    /// Starts at `start`: by default 2026-11-25T10:00:00Z, a Wednesday.
    public init(start: Date = Date(timeIntervalSince1970: 1_795_600_800)) {
        date = start
    }

    public var now: Date { lock.withLock { date } }

    public func advance(_ seconds: TimeInterval) { lock.withLock { date = date.addingTimeInterval(seconds) } }
}
