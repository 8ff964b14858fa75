import Foundation
import KeelsonCore

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

    /// From a runtime's settings (`fetchIntervalConverging`, `fetchIntervalStable`, in seconds).
    public init(settings: [String: String]) {
        if let seconds = settings["fetchIntervalConverging"].flatMap(Int.init) { converging = .seconds(seconds) }
        if let seconds = settings["fetchIntervalStable"].flatMap(Int.init) { stable = .seconds(seconds) }
    }

    /// Whether an instance is stable: it has a desired state, the observation is healthy, nothing
    /// drifted, and every object runs the desired version.
    public static func isStable(desiredVersion: String?, observation: Observation?) -> Bool {
        guard let desiredVersion, let observation, observation.isHealthy else { return false }
        return observation.objects.allSatisfy { !$0.drifted && $0.version == desiredVersion }
    }

    /// When to fetch next, given when the instance was last fetched and whether it is stable.
    public func next(after lastFetch: Date, stable isStable: Bool) -> Date {
        lastFetch.addingTimeInterval(Self.seconds(isStable ? stable : converging))
    }

    static func seconds(_ duration: Duration) -> TimeInterval {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
