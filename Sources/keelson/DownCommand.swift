import ArgumentParser
import Foundation
import KeelsonCompiler
import KeelsonCore
import KeelsonEngine
import KeelsonRuntimes
import KeelsonService

struct DownCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "down",
        abstract: "Stop every local process Keelson started from this database.",
        discussion: """
            The processes of a local runtime outlive the server or worker that started them (a \
            restart picks them up again). `keelson down` stops every one that the local runtimes of \
            the applied config run from this database's state directory, then fetches each \
            instance and records it, so that the log says nothing runs there. Instances on other \
            runtimes (custom programs, simulated) are left alone.

            A worker that runs on this database would start them again: stop it first (Ctrl-C on \
            `keelson up` or `keelson serve`), or give --force. `keelson up` starts them again.

            Examples:
              keelson down --dry-run        list what runs; stop nothing
              keelson down
            """
    )

    @Flag(help: "List what runs; stop nothing.")
    var dryRun = false

    @Flag(help: "Stop them even while a worker runs on this database (it will start them again).")
    var force = false

    @OptionGroup var format: OutputOptions
    @OptionGroup var store: FileStoreOptions

    struct Entry: Codable {
        var instance: String
        var runtime: String
        var versions: [String]
        var pids: [Int32]
        var ports: [Int]
        /// nil in a dry run.
        var stopped: Bool?
        var error: String?
    }

    func run() async throws {
        let context = try await RuntimeContext.open(store)
        let workers = try await Worker.workers(on: context.store, nowMilliseconds: Date().millisecondsSince1970)
        let running = workers.map { "\($0.name) (\($0.holder))" }.joined(separator: ", ")
        if !workers.isEmpty && !dryRun && !force {
            throw ValidationError(
                "a worker runs on \(store.path): \(running). It would start the processes again: stop it first "
                    + "(Ctrl-C on `keelson up` or `keelson serve`), or give --force")
        }
        var entries: [Entry] = []
        for (declared, runtime, instances) in await LocalProcesses.running(context.intent, factory: context.factory) {
            for (instance, replicas) in instances {
                var entry = Entry(
                    instance: instance.description, runtime: declared.name,
                    versions: Array(Set(replicas.map(\.version))).sorted(), pids: replicas.map(\.pid).sorted(),
                    ports: replicas.map(\.port).sorted())
                if !dryRun {
                    let desired = try await context.store.desiredState(of: instance)
                    let result = try await runtime.remove(instance, desired: desired, timeout: .seconds(120))
                    _ = try? await RuntimeRecorder(runtime: runtime, store: context.store, actor: CommandActor.current)
                        .fetch(instance, desired: desired)
                    entry.stopped = result.succeeded
                    entry.error = result.error
                }
                entries.append(entry)
            }
        }
        switch format.output {
        case .json, .yaml:
            try printStructured(entries, format.output)
        case .table:
            if entries.isEmpty {
                print("no local process runs for \(store.path)")
            } else {
                print(TextTable.render(
                    headers: ["INSTANCE", "RUNTIME", "VERSION", "PIDS", "PORTS"] + (dryRun ? [] : ["RESULT"]),
                    rows: entries.map { entry in
                        [entry.instance, entry.runtime, entry.versions.joined(separator: ","),
                         entry.pids.map(String.init).joined(separator: ","), entry.ports.map(String.init).joined(separator: ",")]
                            + (dryRun ? [] : [entry.stopped == true ? "stopped" : "failed: \(entry.error ?? "no error given")"])
                    }))
                let processes = entries.reduce(0) { $0 + $1.pids.count }
                print(dryRun
                    ? "\n\(processes) process(es) of \(entries.count) instance(s) run; `\(Invocation.keelson("down", db: store.path == StoreOptions.defaultPath ? nil : store.path))` stops them"
                    : "\nstopped \(entries.filter { $0.stopped == true }.reduce(0) { $0 + $1.pids.count }) process(es) of \(entries.count) instance(s)")
                if !workers.isEmpty {
                    print("note: a worker runs on this database and will start them again: \(running)")
                }
            }
        }
        if entries.contains(where: { $0.stopped == false }) { throw ExitCode(1) }
    }
}

/// The processes local runtimes run from one database's state directory.
enum LocalProcesses {
    typealias Replica = (instance: ServiceInstanceID, replica: String, pid: Int32, port: Int, version: String, running: Bool)

    /// Per local runtime of `intent` (each state directory once): the runtime and its running
    /// replicas by instance, sorted.
    static func running(_ intent: Intent, factory: RuntimeFactory) async
        -> [(RuntimeIntent, LocalProcessRuntime, [(ServiceInstanceID, [Replica])])]
    {
        var seen: Set<String> = []
        var found: [(RuntimeIntent, LocalProcessRuntime, [(ServiceInstanceID, [Replica])])] = []
        for declared in intent.runtimes where declared.type == .local {
            guard case .success(let built) = factory.build(declared, in: intent), let runtime = built as? LocalProcessRuntime,
                seen.insert(runtime.settings.stateDirectory).inserted
            else { continue }
            let replicas = await runtime.discover().filter(\.running)
            let byInstance = Dictionary(grouping: replicas, by: \.instance)
            let instances = byInstance.keys.sorted().map { ($0, byInstance[$0]!) }
            if !instances.isEmpty { found.append((declared, runtime, instances)) }
        }
        return found
    }
}
