import Foundation
import KeelsonCore

/// What a runtime is asked to make true for one instance: the compiled desired state.
public struct DesiredState: Sendable, Hashable {
    public var instance: ServiceInstanceID
    public var digest: String
    public var version: String
    /// The compiled document (canonical JSON).
    public var document: String
    public var replicas: Int

    public init(instance: ServiceInstanceID, digest: String, version: String, document: String, replicas: Int) {
        self.instance = instance
        self.digest = digest
        self.version = version
        self.document = document
        self.replicas = replicas
    }
}

/// Keelson's gateway to a place where services run: observe an instance, drive it toward a desired
/// state. Backends: local processes, custom fetch/apply programs, a simulated runtime (here);
/// Kubernetes and ECS later.
public protocol Runtime: Sendable {
    var name: String { get }

    /// Observes the instance as it is now. `desired` is its current desired state, if it has one
    /// (a custom fetch program is named there; other runtimes remember what they applied).
    func fetch(_ instance: ServiceInstanceID, desired: DesiredState?) async throws -> Observation

    /// Drives the instance toward `state`. Re-issuing an apply with the same `idempotencyKey` does
    /// no harm. Bounded by `timeout`; a timeout is a failed apply, not a thrown error.
    func apply(_ state: DesiredState, idempotencyKey: String, timeout: Duration) async throws -> ApplyResult

    /// Stops everything the instance runs and forgets it (the instance was removed from config);
    /// `desired` is its last desired state.
    func remove(_ instance: ServiceInstanceID, desired: DesiredState?, timeout: Duration) async throws -> ApplyResult

    /// Preflight: whether the runtime is reachable and usable, one line per check.
    func check() async -> [RuntimeCheck]
}

/// One preflight check of `keelson runtime check`.
public struct RuntimeCheck: Sendable, Hashable, Codable {
    public var name: String
    public var passed: Bool
    public var detail: String

    public init(name: String, passed: Bool, detail: String) {
        self.name = name
        self.passed = passed
        self.detail = detail
    }
}

/// A fetch that could not observe the instance.
public struct FetchError: Error, Sendable, Hashable, CustomStringConvertible {
    public var runtime: String
    public var instance: ServiceInstanceID
    public var reason: String

    public init(runtime: String, instance: ServiceInstanceID, reason: String) {
        self.runtime = runtime
        self.instance = instance
        self.reason = reason
    }

    public var description: String { "runtime \(runtime) could not fetch \(instance): \(reason)" }
}

extension Duration {
    /// `500ms`, `1s`, `1.5s`, `2m30s`, `1h5m`: how people write durations in config.
    public var short: String {
        let milliseconds = components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
        if milliseconds < 1000 { return "\(milliseconds)ms" }
        if milliseconds < 60_000 {
            return milliseconds % 1000 == 0 ? "\(milliseconds / 1000)s" : String(format: "%.1fs", Double(milliseconds) / 1000)
        }
        let seconds = milliseconds / 1000
        if seconds < 3600 { return "\(seconds / 60)m" + (seconds % 60 == 0 ? "" : "\(seconds % 60)s") }
        return "\(seconds / 3600)h" + (seconds % 3600 / 60 == 0 ? "" : "\(seconds % 3600 / 60)m")
    }
}
