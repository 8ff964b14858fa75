import ArgumentParser
import Foundation
import KeelsonCompiler
import KeelsonCore
import KeelsonEngine
import KeelsonRuntimes
import KeelsonService
import KeelsonStore

struct RuntimeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runtime",
        abstract: "Inspect and try out the runtimes the applied config declares.",
        subcommands: [RuntimeList.self, RuntimeCheckCommand.self, RuntimeApply.self, RuntimeRemove.self, RuntimeWatch.self]
    )
}

/// The runtimes of the applied config, built with their settings.
struct RuntimeContext {
    let store: EventStore
    let intent: Intent
    let factory: RuntimeFactory

    /// Opens the database to record what the runtimes do.
    static func open(_ options: FileStoreOptions) async throws -> RuntimeContext {
        let store = try options.open(.write(create: false))
        guard let applied = try await DesiredStateRecorder.appliedIntent(store) else {
            throw ValidationError("no config has been applied to \(options.path) yet: run `keelson apply -f PATH` first")
        }
        return RuntimeContext(store: store, intent: applied.intent, factory: RuntimeFactory(stateRoot: options.stateRoot()))
    }

    func runtime(named name: String) throws -> (RuntimeIntent, any Runtime) {
        guard let declared = intent.runtimes.first(where: { $0.name == name }) else {
            let names = intent.runtimes.map(\.name)
            let hint = suggestion(for: name, among: names).map { " (did you mean '\($0)'?)" } ?? ""
            throw ValidationError("no runtime named '\(name)'\(hint); the applied config declares: \(names.joined(separator: ", "))")
        }
        return (declared, factory.make(declared, in: intent))
    }

    /// The instance's desired state and the runtime its document names.
    func instance(_ id: ServiceInstanceID) async throws -> (ServiceInstanceID, DesiredState, any Runtime) {
        guard let desired = try await store.desiredState(of: id) else {
            throw ValidationError("\(id) has no desired state (has it been released? `keelson release \(id.application)/\(id.service) --version V`)")
        }
        let document = try CompiledDocument.decode(desired.document)
        return (id, desired, try runtime(named: document.runtime.name).1)
    }
}

struct RuntimeList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List the runtimes of the applied config, with their settings.")

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var readOnly: ReadOnlyOption
    @Option(name: [.short, .long], help: "Output format: table, json or yaml.") var output: TableOrJSON = .table

    func run() async throws {
        let entries = try await connection.readingAPI(readOnly).runtimes()
        switch output {
        case .json, .yaml: try printStructured(entries, output)
        case .table:
            print(TextTable.render(
                headers: ["NAME", "TYPE", "LABELS", "SETTINGS", "INSTANCES"],
                rows: entries.map {
                    [$0.name, $0.type, $0.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","),
                     $0.settings.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","),
                     String($0.instances.count)]
                }))
        }
    }
}

struct RuntimeCheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Preflight a runtime: is it reachable and usable?",
        discussion: """
            local: the state directory is writable, ports of the range are free, running replicas \
            are rediscovered. custom: every fetch and apply program the services name exists and is \
            executable. kubernetes: where the credentials come from, the API server is reachable \
            (its version) and accepts them, the namespace exists, and Keelson may get, list, patch \
            and delete each kind the manifests use. simulated: always usable. Exits 1 when a check \
            fails.

            Examples:
              keelson runtime check local
              keelson runtime check vms -o json
              KUBECONFIG=~/.kube/prod keelson runtime check prod-eu
            """
    )

    @Argument(help: ArgumentHelp("The runtime's name (see `keelson runtime list`).", valueName: "name"),
              transform: ArgumentParsers.runtimeName)
    var name: String

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var readOnly: ReadOnlyOption
    @Option(name: [.short, .long], help: "Output format: table, json or yaml.") var output: TableOrJSON = .table

    func run() async throws {
        let report = try await connection.readingAPI(readOnly).checkRuntime(name: name)
        switch output {
        case .json, .yaml:
            try printStructured(report, output)
        case .table:
            print("runtime \(name) (\(report.type))")
            for check in report.checks { print("  \(check.passed ? "✓" : "✗") \(check.name): \(check.detail)") }
        }
        if !report.usable { throw ExitCode(1) }
    }
}

struct RuntimeApply: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Apply an instance's desired state on its runtime now, then fetch it (both recorded).",
        discussion: """
            For trying a runtime out by hand: this bypasses the convergence engine and its rules \
            (ordering, soak, approvals, windows). The apply and the fetch are recorded as events \
            like any other. Exits 1 when the apply fails.

            Example:
              keelson runtime apply shop/web@staging
            """
    )

    @Argument(help: ArgumentHelp("APPLICATION/SERVICE@CHANNEL.", valueName: "instance"), transform: ArgumentParsers.instance)
    var instance: ServiceInstanceID

    @Option(help: ArgumentHelp("Give up after this long (e.g. 90s, 5m; at most 365d).", valueName: "duration"), transform: DurationArgument.parse)
    var timeout = DurationArgument("2m")

    @OptionGroup var store: FileStoreOptions

    func run() async throws {
        let seconds = timeout.seconds
        let context = try await RuntimeContext.open(store)
        let (id, desired, runtime) = try await context.instance(instance)
        let recorder = RuntimeRecorder(runtime: runtime, store: context.store, actor: CommandActor.current)
        let key = "manual:\(desired.digest.dropFirst(7).prefix(16)):\(UUID().uuidString.prefix(8).lowercased())"
        print("applying \(desired.version) to \(id) on \(runtime.name) (timeout \(Duration.seconds(seconds).short))…")
        let result = try await recorder.apply(desired, idempotencyKey: key, timeout: .seconds(seconds))
        if !result.output.isEmpty { print(result.output.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n")) }
        let observation = try? await recorder.fetch(id, desired: desired)
        if let observation { print(CurrentTable.render(observation)) }
        if let error = result.error {
            FileHandle.standardError.write(Data("error: apply failed after \(Duration.milliseconds(result.durationMilliseconds).short): \(error)\n".utf8))
            throw ExitCode(1)
        }
        print("applied in \(Duration.milliseconds(result.durationMilliseconds).short)")
    }
}

struct RuntimeRemove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Stop everything an instance runs on its runtime, then fetch it (the fetch is recorded).",
        discussion: "Example:\n  keelson runtime remove shop/web@staging"
    )

    @Argument(help: ArgumentHelp("APPLICATION/SERVICE@CHANNEL.", valueName: "instance"), transform: ArgumentParsers.instance)
    var instance: ServiceInstanceID

    @OptionGroup var store: FileStoreOptions

    func run() async throws {
        let context = try await RuntimeContext.open(store)
        let (id, desired, runtime) = try await context.instance(instance)
        let result = try await runtime.remove(id, desired: desired, timeout: .seconds(120))
        if !result.output.isEmpty { print(result.output) }
        _ = try? await RuntimeRecorder(runtime: runtime, store: context.store, actor: CommandActor.current).fetch(id, desired: desired)
        if let error = result.error {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

struct RuntimeWatch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Fetch instances at their fetch cadence, record every fetch, and print each change.",
        discussion: """
            Every instance of the target with a desired state is fetched straight away, then every \
            fetchIntervalConverging (default 2s) while it is not stable and every \
            fetchIntervalStable (default 1m) once it is — healthy, undrifted, on the desired \
            version. Every fetch is recorded in the log (an unchanged observation compactly); a line \
            is printed when an observation changes. Ctrl-C stops, or --for.

            Examples:
              keelson runtime watch shop/web
              keelson runtime watch shop/web@staging --for 10m
            """
    )

    @Argument(help: ArgumentHelp("APPLICATION/SERVICE or APPLICATION/SERVICE@CHANNEL.", valueName: "target"),
              transform: ArgumentParsers.serviceOrInstance)
    var target: ScopeArgument

    @Option(name: .customLong("for"), help: ArgumentHelp("Stop after this long (e.g. 90s, 10m; at most 365d).", valueName: "duration"),
            transform: DurationArgument.parse)
    var duration: DurationArgument?

    @OptionGroup var store: FileStoreOptions

    func run() async throws {
        let limit = duration.map { Date().addingTimeInterval(TimeInterval($0.seconds)) }
        let context = try await RuntimeContext.open(store)
        let rows = try await target.desiredStates(in: context.store)
        guard !rows.isEmpty else { throw ValidationError("no desired state for \(target): nothing to watch") }
        var watched: [ServiceInstanceID: (DesiredState, any Runtime, RuntimeIntent)] = [:]
        var schedule = FetchSchedule(cadence: FetchCadence())
        for row in rows {
            guard let rowID = ServiceInstanceID(row.instance) else { continue }
            let (id, desired, runtime) = try await context.instance(rowID)
            let declared = try context.runtime(named: runtime.name).0
            watched[id] = (desired, runtime, declared)
            schedule.add(id, at: Date())
        }
        emit("watching \(watched.count) instance(s); Ctrl-C stops")
        var last: [ServiceInstanceID: String] = [:]
        while !Task.isCancelled {
            let now = Date()
            if let limit, now >= limit { break }
            for id in schedule.due(at: now) {
                guard let (desired, runtime, declared) = watched[id] else { continue }
                let cadence = FetchCadence(settings: declared.settings)
                let recorder = RuntimeRecorder(runtime: runtime, store: context.store, actor: CommandActor.current)
                var line: String
                var stable = false
                do {
                    let observation = try await recorder.fetch(id, desired: desired)
                    stable = FetchCadence.isStable(desiredVersion: desired.version, observation: observation)
                    let versions = observation.versions.joined(separator: ", ")
                    let ready = observation.objects.reduce(0) { $0 + $1.readyReplicas }
                    let wanted = observation.objects.reduce(0) { $0 + $1.desiredReplicas }
                    line = observation.objects.isEmpty ? "nothing running"
                        : "\(stable ? "stable" : "converging"): \(versions.isEmpty ? "-" : versions), \(ready)/\(wanted) ready"
                            + (observation.objects.contains(where: \.drifted) ? ", drifted" : "")
                            + (observation.objects.first { $0.health != .healthy }?.message.map { " (\($0))" } ?? "")
                } catch {
                    line = "fetch failed: \(error)"
                }
                if last[id] != line {
                    emit("\(Formatting.time(Int64(Date().timeIntervalSince1970 * 1000)))  \(id)  \(line)")
                    last[id] = line
                }
                schedule.fetched(id, at: Date(), stable: stable, cadence: cadence)
            }
            guard let wake = schedule.nextWake else { break }
            let until = limit.map { min($0, wake) } ?? wake
            let pause = until.timeIntervalSinceNow
            if pause > 0 { try? await Task.sleep(for: .milliseconds(Int64(pause * 1000))) }
        }
    }
}


extension ScopeArgument {
    /// The key prefix of this service's (or instance's) rows in the projections.
    var instancePrefix: String {
        guard let service else { return application + "/" }
        return channel == nil ? "\(application)/\(service)@" : description
    }

    /// Whether an instance (`app/service@channel`) lies within this scope.
    func matches(_ instance: String) -> Bool {
        channel == nil ? instance.hasPrefix(instancePrefix) : instance == description
    }

    func desiredStates(in store: EventStore) async throws -> [DesiredStateRow] {
        try await store.desiredStates(prefix: instancePrefix).filter { matches($0.instance) }
    }
}

/// An observation as lines: one per object.
enum CurrentTable {
    static func render(_ observation: Observation) -> String {
        guard !observation.objects.isEmpty else { return "  (nothing running)" }
        return TextTable.render(
            headers: ["OBJECT", "VERSION", "READY", "HEALTH", "DRIFT", "MESSAGE"],
            rows: observation.objects.map {
                [$0.name, $0.version ?? "-", "\($0.readyReplicas)/\($0.desiredReplicas)", $0.health.rawValue,
                 $0.drifted ? "drifted" : "-", $0.message ?? ""]
            })
    }
}
