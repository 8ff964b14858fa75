import Foundation
import KeelsonCompiler
import KeelsonCore
import KeelsonRuntimes
import KeelsonStore

/// Builds the runtime objects that config declares (`Runtime` documents and their `settings`).
public struct RuntimeFactory: Sendable {
    /// Local runtimes keep their state in `<stateRoot>/<runtime name>` unless `stateDirectory` says
    /// otherwise. By default `<the database's folder>/state`.
    public var stateRoot: String
    /// The simulated runtime's clock.
    public var clock: @Sendable () -> Date

    public init(stateRoot: String, clock: @escaping @Sendable () -> Date = Date.init) {
        self.stateRoot = stateRoot
        self.clock = clock
    }

    /// The default state root for a database file: `state/` beside it.
    public static func stateRoot(forDatabase path: String) -> String {
        let folder = (path as NSString).deletingLastPathComponent
        return ((folder.isEmpty ? "." : folder) as NSString).appendingPathComponent("state")
    }

    public func make(_ runtime: RuntimeIntent, in intent: Intent) -> any Runtime {
        let settings = runtime.settings
        switch runtime.type {
        case .local:
            var local = LocalRuntimeSettings(
                stateDirectory: settings["stateDirectory"] ?? (stateRoot as NSString).appendingPathComponent(runtime.name))
            if let ports = settings["ports"]?.split(separator: "-").compactMap({ Int($0) }), ports.count == 2 {
                local.ports = ports[0]...ports[1]
            }
            if let seconds = settings["stopGracePeriod"].flatMap(Int.init) { local.stopGracePeriod = .seconds(seconds) }
            if let seconds = settings["startupGrace"].flatMap(Int.init) { local.startupGrace = .seconds(seconds) }
            return LocalProcessRuntime(name: runtime.name, settings: local)
        case .simulated:
            var simulation = SimulationSettings()
            if let seed = settings["seed"].flatMap(UInt64.init) { simulation.seed = seed }
            if let seconds = settings["applyLatency"].flatMap(Int.init) { simulation.applyLatency = .seconds(seconds) }
            if let seconds = settings["timeToHealthy"].flatMap(Int.init) { simulation.timeToHealthy = .seconds(seconds) }
            if let rate = settings["applyFailureRate"].flatMap(Double.init) { simulation.applyFailureRate = rate }
            if let rate = settings["applyHangRate"].flatMap(Double.init) { simulation.applyHangRate = rate }
            if let rate = settings["fetchErrorRate"].flatMap(Double.init) { simulation.fetchErrorRate = rate }
            if let versions = settings["unhealthyVersions"] {
                simulation.unhealthyVersions = Set(versions.split(separator: ",").map(String.init))
            }
            return SimulatedRuntime(name: runtime.name, settings: simulation, clock: clock)
        case .custom:
            var programs: [(what: String, command: String, workingDirectory: String?)] = []
            for service in intent.services {
                for instance in service.instances where instance.runtime == runtime.name {
                    guard case .custom(let fetch, let apply) = instance.run else { continue }
                    let id = "\(service.application)/\(service.name)@\(instance.channel)"
                    programs.append((what: "\(id) fetch", command: fetch.command, workingDirectory: fetch.workingDirectory))
                    programs.append((what: "\(id) apply", command: apply.command, workingDirectory: apply.workingDirectory))
                }
            }
            return CustomProgramRuntime(name: runtime.name, programs: programs)
        case .kubernetes, .ecs:
            return UnavailableRuntime(
                name: runtime.name,
                reason: "\(runtime.type.rawValue) runtimes are not built yet: Keelson can compile their desired states but not apply them")
        }
    }

    /// Every runtime the intent declares, by name.
    public func makeAll(_ intent: Intent) -> [String: any Runtime] {
        Dictionary(uniqueKeysWithValues: intent.runtimes.map { ($0.name, make($0, in: intent)) })
    }
}

/// A runtime type Keelson cannot drive yet: every call says so.
public struct UnavailableRuntime: Runtime {
    public let name: String
    public let reason: String

    public func fetch(_ instance: ServiceInstanceID, desired: DesiredState?) async throws -> Observation {
        throw FetchError(runtime: name, instance: instance, reason: reason)
    }

    public func apply(_ state: DesiredState, idempotencyKey: String, timeout: Duration) async throws -> ApplyResult {
        ApplyResult(succeeded: false, durationMilliseconds: 0, error: reason)
    }

    public func remove(_ instance: ServiceInstanceID, desired: DesiredState?, timeout: Duration) async throws -> ApplyResult {
        ApplyResult(succeeded: false, durationMilliseconds: 0, error: reason)
    }

    public func check() async -> [RuntimeCheck] {
        [RuntimeCheck(name: "support", passed: false, detail: reason)]
    }
}
