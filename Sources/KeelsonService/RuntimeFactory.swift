import Foundation
import KeelsonCompiler
import KeelsonCore
import KeelsonEngine
import KeelsonRuntimes
import KeelsonStore

/// Builds the runtime objects that config declares (`Runtime` documents and their `settings`).
public struct RuntimeFactory: Sendable {
    /// Local and custom runtimes keep their state (replicas' pid files and logs; apply locks) in
    /// `<stateRoot>/<runtime name>` unless a local runtime's `stateDirectory` says otherwise. By
    /// default `<the database's folder>/state`.
    public var stateRoot: String
    /// The simulated runtime's clock.
    public var clock: @Sendable () -> Date

    public init(stateRoot: String, clock: @escaping @Sendable () -> Date = Date.init) {
        self.stateRoot = stateRoot
        self.clock = clock
    }

    /// The default state root for a database file: `state/` beside it.
    public static func stateRoot(forDatabase path: String) -> String {
        let folder = FilePaths.parent(path)
        return FilePaths.join(folder.isEmpty ? "." : folder, "state")
    }

    /// A runtime whose settings cannot be used (a recorded config is read again without trusting
    /// it: it may predate a check, or hold a value out of range).
    public typealias Problem = DeclaredRuntime.Problem

    /// The runtime a declaration describes, or an `UnavailableRuntime` that says why it cannot be built.
    public func make(_ runtime: RuntimeIntent, in intent: Intent) -> any Runtime {
        switch build(runtime, in: intent) {
        case .success(let built): built
        case .failure(let problem): UnavailableRuntime(name: runtime.name, reason: problem.description)
        }
    }

    /// The runtime a declaration describes, with its settings checked.
    public func build(_ runtime: RuntimeIntent, in intent: Intent) -> Result<any Runtime, Problem> {
        let settings = runtime.settings
        func problem(_ reason: String) -> Result<any Runtime, Problem> { .failure(Problem(runtime: runtime.name, reason: reason)) }
        /// A whole number of seconds from a setting, within `InputLimits.maxDurationSeconds`.
        func seconds(_ key: String) -> Result<Int?, Problem> {
            guard let text = settings[key] else { return .success(nil) }
            guard let value = Int(text), (0...InputLimits.maxDurationSeconds).contains(value) else {
                return .failure(Problem(runtime: runtime.name, reason: "\(key) is \(BoundedInput.quoted(text)), not a number of seconds from 0 to \(InputLimits.maxDurationSeconds)"))
            }
            return .success(value)
        }
        let stateDirectory = settings["stateDirectory"] ?? FilePaths.join(stateRoot, runtime.name)
        switch runtime.type {
        case .local:
            var local = LocalRuntimeSettings(stateDirectory: stateDirectory)
            if let text = settings["ports"] {
                let bounds = text.split(separator: "-", omittingEmptySubsequences: false).map { Int($0) }
                guard bounds.count == 2, let low = bounds[0], let high = bounds[1], InputLimits.ports.contains(low),
                    InputLimits.ports.contains(high), low <= high
                else { return problem("ports is \(BoundedInput.quoted(text)), not a range LOW-HIGH of ports 1 to 65535") }
                local.ports = low...high
            }
            switch (seconds("stopGracePeriod"), seconds("startupGrace")) {
            case (.failure(let failure), _), (_, .failure(let failure)): return .failure(failure)
            case (.success(let grace), .success(let startup)):
                if let grace { local.stopGracePeriod = .seconds(grace) }
                if let startup { local.startupGrace = .seconds(startup) }
            }
            return .success(LocalProcessRuntime(name: runtime.name, settings: local))
        case .simulated:
            var simulation = SimulationSettings()
            if let text = settings["seed"] {
                guard let seed = UInt64(text) else { return problem("seed is \(BoundedInput.quoted(text)), not a whole number ≥ 0") }
                simulation.seed = seed
            }
            switch (seconds("applyLatency"), seconds("timeToHealthy")) {
            case (.failure(let failure), _), (_, .failure(let failure)): return .failure(failure)
            case (.success(let latency), .success(let healthy)):
                if let latency { simulation.applyLatency = .seconds(latency) }
                if let healthy { simulation.timeToHealthy = .seconds(healthy) }
            }
            for key in ["applyFailureRate", "applyHangRate", "fetchErrorRate"] {
                guard let text = settings[key] else { continue }
                guard let rate = Double(text), (0...1).contains(rate) else {
                    return problem("\(key) is \(BoundedInput.quoted(text)), not a probability from 0 to 1")
                }
                switch key {
                case "applyFailureRate": simulation.applyFailureRate = rate
                case "applyHangRate": simulation.applyHangRate = rate
                default: simulation.fetchErrorRate = rate
                }
            }
            if let versions = settings["unhealthyVersions"] {
                simulation.unhealthyVersions = Set(versions.split(separator: ",").map(String.init))
            }
            return .success(SimulatedRuntime(name: runtime.name, settings: simulation, clock: clock))
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
            return .success(CustomProgramRuntime(name: runtime.name, stateDirectory: stateDirectory, programs: programs))
        case .kubernetes:
            var kubernetes = KubernetesSettings()
            kubernetes.kubeconfig = settings["kubeconfig"]
            kubernetes.context = settings["context"]
            kubernetes.namespace = settings["namespace"]
            kubernetes.forceConflicts = settings["forceConflicts"] == "true"
            switch seconds("requestTimeout") {
            case .failure(let failure): return .failure(failure)
            case .success(let timeout): if let timeout, timeout > 0 { kubernetes.requestTimeout = .seconds(timeout) }
            }
            kubernetes.kinds = Self.manifestKinds(of: runtime.name, in: intent)
            kubernetes.namespaces = Self.namespaces(of: runtime, in: intent)
            return .success(KubernetesRuntime(name: runtime.name, settings: kubernetes))
        case .ecs:
            return .success(UnavailableRuntime(
                name: runtime.name,
                reason: "\(runtime.type.rawValue) runtimes are not built yet: Keelson can compile their desired states but not apply them"))
        }
    }

    /// The kinds the manifests of the runtime's instances use, read from the files where they
    /// are readable (for `runtime check`'s permission review; a manifest that cannot be read
    /// here is left out).
    static func manifestKinds(of runtime: String, in intent: Intent) -> [KindReference] {
        var kinds = Set<KindReference>()
        let files = DiskFiles()
        for service in intent.services {
            for instance in service.instances where instance.runtime == runtime {
                guard case .kubernetes(let manifests, _) = instance.run else { continue }
                for file in manifests {
                    guard case .success(let text) = files.text(of: file) else { continue }
                    for document in ConfigSource.parse(text, file: file).documents {
                        guard let apiVersion = document.node["apiVersion"]?.string, let kind = document.node["kind"]?.string else { continue }
                        kinds.insert(KindReference(apiVersion: apiVersion, kind: kind))
                    }
                }
            }
        }
        return kinds.sorted()
    }

    /// The namespaces the runtime's instances deploy into, as far as config alone says: each
    /// instance's `run.kubernetes.namespace` rendered for its channel (one that needs a release's
    /// parameters is left out). For `runtime check`.
    static func namespaces(of runtime: RuntimeIntent, in intent: Intent) -> [String] {
        var found = Set<String>()
        for service in intent.services {
            guard let application = intent.applications.first(where: { $0.name == service.application }) else { continue }
            for instance in service.instances where instance.runtime == runtime.name {
                guard case .kubernetes(_, let template?) = instance.run,
                      let channel = application.channels.first(where: { $0.name == instance.channel })
                else { continue }
                let values = TemplateContext.values(
                    application: application, service: service.name, channel: channel, runtime: runtime,
                    parameters: [:], version: "", replicas: instance.replicas)
                guard !Template.isTemplated(template) || !template.contains("parameters.") && !template.contains("release."),
                      let namespace = try? Template.render(template, with: values), !namespace.isEmpty
                else { continue }
                found.insert(namespace)
            }
        }
        return found.sorted()
    }

    /// Every runtime the intent declares, by name.
    public func makeAll(_ intent: Intent) -> [String: any Runtime] {
        Dictionary(uniqueKeysWithValues: intent.runtimes.map { ($0.name, make($0, in: intent)) })
    }

    /// The runtimes `intent` declares, as a worker builds them.
    public static func declared(by intent: Intent) -> [DeclaredRuntime] {
        intent.runtimes.map { runtime in
            // Canonical JSON of the declaration: equal declarations, equal text.
            let declaration = (try? CanonicalJSON.string(JSONValue.object([
                "name": .string(runtime.name), "type": .string(runtime.type.rawValue),
                "labels": .object(runtime.labels.mapValues(JSONValue.string)),
                "settings": .object(runtime.settings.mapValues(JSONValue.string)),
            ]))) ?? runtime.name
            return DeclaredRuntime(name: runtime.name, settings: runtime.settings, declaration: declaration) { stateRoot, clock in
                RuntimeFactory(stateRoot: stateRoot, clock: clock).build(runtime, in: intent)
            }
        }
    }
}

/// What a worker is given to read the runtimes of a recorded config: the config is parsed again
/// from the files `ConfigApplied` recorded (kept while it is in force, see `AppliedConfig`).
public struct ConfigRuntimes: RuntimeDeclarations {
    public init() {}

    public func runtimes(of config: ConfigApplied) -> [DeclaredRuntime]? {
        guard let intent = try? AppliedConfig.intent(of: config) else { return nil }
        return RuntimeFactory.declared(by: intent)
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
