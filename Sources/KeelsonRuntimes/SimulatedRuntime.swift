import Foundation
import KeelsonCore

/// How the simulated runtime behaves. Every random choice comes from `seed`, the instance and a
/// per-instance counter, so the same seed and the same calls give the same results.
public struct SimulationSettings: Sendable, Hashable {
    public var seed: UInt64 = 1
    /// How long an apply takes (reported as its duration; replicas start after it).
    public var applyLatency: Duration = .seconds(1)
    /// How long after starting a replica becomes healthy.
    public var timeToHealthy: Duration = .seconds(5)
    /// The probability that an apply fails outright.
    public var applyFailureRate: Double = 0
    /// The probability that an apply hangs (it then fails at its timeout).
    public var applyHangRate: Double = 0
    /// The probability that a fetch fails.
    public var fetchErrorRate: Double = 0
    /// Versions that start but never become healthy.
    public var unhealthyVersions: Set<String> = []

    public init() {}
}

/// A deterministic, seedable runtime for tests, benchmarks and fault injection. It runs nothing:
/// it remembers what was applied and reports what a real runtime would, on the injected clock.
/// Cheap enough for tens of thousands of instances (one small record each).
public actor SimulatedRuntime: Runtime {
    public nonisolated let name: String
    public let settings: SimulationSettings
    private let clock: @Sendable () -> Date

    private struct InstanceState {
        var version: String
        var replicas: Int
        var startedAt: Date
        var idempotencyKey: String
    }

    private var instances: [ServiceInstanceID: InstanceState] = [:]
    private var draws: [ServiceInstanceID: UInt64] = [:]

    public init(name: String, settings: SimulationSettings = SimulationSettings(), clock: @escaping @Sendable () -> Date) {
        self.name = name
        self.settings = settings
        self.clock = clock
    }

    public func fetch(_ instance: ServiceInstanceID, desired: DesiredState? = nil) async throws -> Observation {
        if draw(instance) < settings.fetchErrorRate {
            throw FetchError(runtime: name, instance: instance, reason: "simulated fetch error")
        }
        guard let state = instances[instance] else { return Observation(objects: []) }
        let healthyAt = state.startedAt.addingTimeInterval(settings.timeToHealthy.timeInterval)
        let started = clock() >= healthyAt
        let health: Health = !started ? .unknown : settings.unhealthyVersions.contains(state.version) ? .unhealthy : .healthy
        return Observation(objects: [
            ObservedObject(
                name: "sim-\(instance)", version: state.version, desiredReplicas: state.replicas,
                readyReplicas: health == .healthy ? state.replicas : 0, health: health,
                message: health == .unhealthy ? "version \(state.version) never becomes healthy" : nil),
        ])
    }

    public func apply(_ state: DesiredState, idempotencyKey: String, timeout: Duration) async throws -> ApplyResult {
        if let current = instances[state.instance], current.idempotencyKey == idempotencyKey {
            return ApplyResult(succeeded: true, durationMilliseconds: 0, output: "already applied (idempotency key \(idempotencyKey))")
        }
        let roll = draw(state.instance)
        if roll < settings.applyHangRate {
            return ApplyResult(
                succeeded: false, durationMilliseconds: timeout.milliseconds, error: "apply timed out after \(timeout.short)")
        }
        if roll < settings.applyHangRate + settings.applyFailureRate {
            return ApplyResult(
                succeeded: false, durationMilliseconds: settings.applyLatency.milliseconds, error: "simulated apply failure")
        }
        if settings.applyLatency > timeout {
            return ApplyResult(
                succeeded: false, durationMilliseconds: timeout.milliseconds, error: "apply timed out after \(timeout.short)")
        }
        instances[state.instance] = InstanceState(
            version: state.version, replicas: state.replicas,
            startedAt: clock().addingTimeInterval(settings.applyLatency.timeInterval), idempotencyKey: idempotencyKey)
        return ApplyResult(
            succeeded: true, durationMilliseconds: settings.applyLatency.milliseconds,
            output: "\(state.replicas) replica(s) of \(state.version) starting")
    }

    public func remove(_ instance: ServiceInstanceID, desired: DesiredState? = nil, timeout: Duration) async throws -> ApplyResult {
        let existed = instances.removeValue(forKey: instance) != nil
        return ApplyResult(succeeded: true, durationMilliseconds: 0, output: existed ? "removed \(instance)" : "\(instance) was not running")
    }

    /// Forgets an instance, as if it was deleted outside Keelson (a fetch then sees nothing).
    public func forget(_ instance: ServiceInstanceID) {
        instances[instance] = nil
    }

    public func check() async -> [RuntimeCheck] {
        [RuntimeCheck(name: "simulation", passed: true, detail: "seed \(settings.seed), \(instances.count) instance(s) held in memory")]
    }

    /// The number of instances the runtime holds.
    public var count: Int { instances.count }

    /// The next number in [0, 1) for `instance`: SplitMix64 over the seed, a stable hash of the
    /// instance (never Swift's per-process `hashValue`) and a per-instance counter.
    private func draw(_ instance: ServiceInstanceID) -> Double {
        let counter = draws[instance, default: 0]
        draws[instance] = counter + 1
        var z = settings.seed &+ Self.fnv1a(instance.description) &+ counter &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Double(z >> 11) / Double(1 << 53)
    }

    static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        return hash
    }
}

extension Duration {
    /// In seconds, as Foundation's dates take it.
    public var timeInterval: TimeInterval { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
    public var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}
