import Foundation
import KeelsonCore
import KeelsonRuntimes

/// How often an instance is fetched: often while it converges, rarely once it is stable. Pure
/// (the caller passes the facts and the time), so a worker's schedule can be replayed.
public struct FetchCadence: Sendable, Hashable {
    /// While the instance is converging: its desired state is not yet what runs healthy.
    public var converging: Duration = .seconds(2)
    /// Once it runs its desired state healthy and undrifted.
    public var stable: Duration = .seconds(60)

    public init(converging: Duration = .seconds(2), stable: Duration = .seconds(60)) {
        self.converging = converging
        self.stable = stable
    }

    /// The shortest and the longest interval a setting gives: a recorded config is read again
    /// without trusting its numbers (a zero interval would fetch in a loop).
    public static let bounds: ClosedRange<Int> = 1...InputLimits.maxDurationSeconds

    /// From a runtime's settings (`fetchIntervalConverging`, `fetchIntervalStable`, in seconds),
    /// clamped to `bounds`.
    public init(settings: [String: String]) {
        func seconds(_ key: String) -> Duration? {
            settings[key].flatMap { Int($0) }.map { .seconds(min(max($0, Self.bounds.lowerBound), Self.bounds.upperBound)) }
        }
        if let interval = seconds("fetchIntervalConverging") { converging = interval }
        if let interval = seconds("fetchIntervalStable") { stable = interval }
    }

    /// Whether an instance is stable: it has a desired state, the observation is healthy, nothing
    /// drifted, and every object runs the desired version.
    public static func isStable(desiredVersion: String?, observation: Observation?) -> Bool {
        guard let desiredVersion, let observation, observation.isHealthy else { return false }
        return observation.objects.allSatisfy { !$0.drifted && $0.version == desiredVersion }
    }

    /// Stable fetches fall on whole multiples of this (when the interval is at least 10 s), so
    /// that the instances of a big fleet come due together, once a second, and are fetched and
    /// recorded in one batch instead of one by one.
    public static let stableGrid: Int64 = 1_000

    /// When to fetch next, given when the instance was last fetched and whether it is stable: a
    /// stable interval of 10 s or more is rounded up to the next whole second (`stableGrid`).
    public func next(after lastFetch: Date, stable isStable: Bool) -> Date {
        let interval = isStable ? stable : converging
        guard isStable, interval >= .seconds(10) else { return lastFetch.addingTimeInterval(interval.timeInterval) }
        let next = lastFetch.millisecondsSince1970.adding(saturating: interval.milliseconds)
        // Up to the next multiple (`%` keeps the sign of `next`: a time before 1970 rounds up too).
        return Date(millisecondsSince1970: next.adding(saturating: (Self.stableGrid - next % Self.stableGrid) % Self.stableGrid))
    }
}

/// Which instances are due for a fetch, by the cadence: each instance's next fetch time, from when
/// it was last fetched and whether it was stable then. Deterministic: due instances come sorted,
/// and nothing here reads a clock.
public struct FetchSchedule: Sendable {
    public var cadence: FetchCadence
    private var nextFetch = Deadlines<ServiceInstanceID, Date>()

    public init(cadence: FetchCadence) {
        self.cadence = cadence
    }

    /// Adds an instance, due at once (a new instance is fetched straight away).
    public mutating func add(_ instance: ServiceInstanceID, at now: Date) {
        if nextFetch.deadline(of: instance) == nil { nextFetch.set(instance, at: now) }
    }

    public mutating func remove(_ instance: ServiceInstanceID) {
        nextFetch.remove(instance)
    }

    /// Records a fetch (or a failed one: not stable) and schedules the next, by the instance's
    /// runtime's cadence when given (else the schedule's).
    public mutating func fetched(_ instance: ServiceInstanceID, at time: Date, stable: Bool, cadence: FetchCadence? = nil) {
        nextFetch.set(instance, at: (cadence ?? self.cadence).next(after: time, stable: stable))
    }

    /// The instance settled (a decision says it runs its release and passed its watch): its next
    /// fetch comes by the stable cadence from `lastFetch`, not sooner. (Its last fetch scheduled
    /// the next one while its watch ran, by the converging cadence.)
    public mutating func settled(_ instance: ServiceInstanceID, lastFetch: Date, cadence: FetchCadence? = nil) {
        guard let at = nextFetch.deadline(of: instance) else { return }
        let stable = (cadence ?? self.cadence).next(after: lastFetch, stable: true)
        if at < stable { nextFetch.set(instance, at: stable) }
    }

    /// Asks for an early fetch (an apply just happened, so the instance is converging).
    public mutating func expedite(_ instance: ServiceInstanceID, at now: Date) {
        nextFetch.set(instance, at: now)
    }

    /// The instances due at `now`, sorted (they stay scheduled until fetched or removed).
    public func due(at now: Date) -> [ServiceInstanceID] {
        nextFetch.due(at: now)
    }

    /// Takes the instances due at `now` off the schedule, earliest first: whoever fetches them
    /// puts them back (`fetched`).
    public mutating func takeDue(at now: Date) -> [ServiceInstanceID] {
        nextFetch.popDue(at: now)
    }

    /// Takes the earliest instance due at `now` off the schedule, if any.
    public mutating func takeFirst(dueAt now: Date) -> ServiceInstanceID? {
        nextFetch.popFirst(dueAt: now)
    }

    /// When the next instance falls due, if any.
    public var nextWake: Date? { nextFetch.earliest }

    public func contains(_ instance: ServiceInstanceID) -> Bool { nextFetch.deadline(of: instance) != nil }

    public var count: Int { nextFetch.count }
}
