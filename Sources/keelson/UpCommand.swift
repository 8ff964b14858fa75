import ArgumentParser
import Foundation
import KeelsonCore
import KeelsonEngine
import KeelsonServer
import KeelsonService

struct UpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "The quickstart: start the server, apply a config, release every service, follow the rollout.",
        discussion: """
            Starts `keelson serve` in this process (an SQLite database at --db, the local-process \
            runtime for real child processes), applies DIR (default examples/shop), releases \
            --version of every service that has no release yet, prints what to try next, and then \
            one line per decision the worker makes. Ctrl-C stops the server and says what still \
            runs: the local processes it started keep running (`keelson up` again picks them up; \
            `keelson down` stops them).

            Examples:
              keelson up
              keelson up examples/shop --version 2.0.0 --listen 127.0.0.1:7421
            """)

    @Argument(help: ArgumentHelp("The config to apply.", valueName: "dir"), transform: StoreOptions.parsePath) var directory: String = "examples/shop"
    @Option(help: ArgumentHelp("The version to release first.", valueName: "version"), transform: ArgumentParsers.version) var version: String = "1.0.0"
    @OptionGroup var server: ServerOptions
    @OptionGroup var store: StoreOptions

    func run() async throws {
        guard FileManager.default.fileExists(atPath: directory) else {
            throw ValidationError("no config at \(BoundedInput.printable(directory, limit: 1000)): run this from the repository root, or give a directory")
        }
        var serverOptions = server
        if serverOptions.logLevel == .info { serverOptions.logLevel = .warning }  // decisions are printed below instead
        let logger = try serverOptions.logger(label: "keelson")
        let store = try store.open(.write(create: true))
        _ = self.store.stateRoot()
        var settings = serverOptions.settings(databasePath: self.store.path)
        settings.onDecision = { report in
            let actions = report.decision.actions.map(Replay.describe)
            emit("  \(Text.time(Date().millisecondsSince1970))  \(report.instance)  \(report.decision.status.rawValue): \(report.words)"
                + (actions.isEmpty ? "" : "  [\(actions.joined(separator: "; "))]"))
        }
        let (listening, announce) = AsyncStream<String>.makeStream()
        let serverTask = Task { [settings] in
            defer { announce.finish() }
            try await KeelsonServer.run(store: store, settings: settings, logger: logger) { url in announce.yield(url) }
        }
        var iterator = listening.makeAsyncIterator()
        guard let url = await iterator.next() else {
            try await serverTask.value  // it failed to start: say why
            return
        }
        emit("keelson is running at \(url) (database \(self.store.path))")

        let control = ControlPlane(store: store)
        emit("\n$ keelson apply -f \(directory)")
        try ChangeReport.print(try await control.applyConfig(path: directory, dryRun: false, actor: "keelson up"), format: .table, dryRun: false)
        fflush(nil)
        guard let intent = try await DesiredStateRecorder.appliedIntent(store)?.intent else { return }
        var released: [String] = []
        for service in intent.services {
            let name = "\(service.application)/\(service.name)"
            if let existing = try await store.desiredStates(prefix: name + "@").first {
                emit("\n\(name) already has release \(existing.version): not releasing it again")
                continue
            }
            emit("\n$ keelson release \(name) --version \(version)")
            try ChangeReport.print(
                try await control.release(ReleaseBody(application: service.application, service: service.name, version: version), actor: "keelson up"),
                format: .table, dryRun: false)
            released.append(name)
        }
        fflush(nil)
        let first = intent.services.first.map { "\($0.application)/\($0.name)" } ?? "shop/web"
        let application = intent.applications.first { $0.name == intent.services.first?.application }
        let channels = application?.channels.map(\.name) ?? []
        let approving = application?.channels.first { $0.rules.approvals > 0 }?.name
        let tokenFile = settings.bootstrapTokenFile ?? ".keelson/admin.token"
        // The database named in each command unless it is the default (KEELSON_DB in this shell
        // need not be set in the other terminal).
        let db = self.store.path == StoreOptions.defaultPath ? nil : self.store.path
        func keelson(_ arguments: String) -> String { Invocation.keelson(arguments, db: db) }
        func hint(_ command: String, _ what: String) -> String {
            let line = "  \(keelson(command))"
            return line.count < 62 ? line.padding(toLength: 62, withPad: " ", startingAt: 0) + what : line + "\n" + String(repeating: " ", count: 62) + what
        }
        var hints = [
            hint("status", "every instance: release, status, why"),
            hint("timeline \(first)", "what happened, newest first"),
            hint("explain \(first)@\(channels.first ?? "staging")", "why an instance is where it is"),
        ]
        if let approving { hints.append(hint("approve \(first)@\(approving)", "\(approving) waits for an approval")) }
        if first == "shop/web" {
            hints.append(hint("release shop/web --version 1.1.0-bad --wait", "a bad release: fails its health check, rolls back"))
        }
        hints.append(hint("replay --verify", "recompute every decision from the log"))
        hints.append(hint("down", "stop the local processes (after Ctrl-C here)"))
        emit("""

            The worker now moves \(released.isEmpty ? "the releases" : released.joined(separator: ", ")) through \(channels.joined(separator: " → ")). \
            Each decision is printed below. Try, in another terminal (in this directory):

            \(hints.joined(separator: "\n"))
              curl -H "Authorization: Bearer $(cat \(tokenFile))" \(url)/api/v1/status

            The commands above open the database file; to go through the server instead:
              export KEELSON_SERVER=\(url) KEELSON_TOKEN=$(cat \(tokenFile))

            The web UI, to watch the rollout and approve from a browser: \(url)/ (sign in with the token in \(tokenFile))

            Ctrl-C stops the server; the processes it started keep running until `\(keelson("down"))`.

            """)
        do {
            try await serverTask.value
        } catch {
            try? store.close()
            throw error
        }
        // Stopped (Ctrl-C): say what still runs, and how to stop it.
        let still = await LocalProcesses.running(intent, factory: RuntimeFactory(stateRoot: self.store.stateRoot()))
        let instances = still.flatMap { $0.2 }
        if instances.isEmpty {
            emit("\nkeelson stopped; no local process runs.")
        } else {
            let processes = instances.reduce(0) { $0 + $1.1.count }
            emit("\nkeelson stopped. Still running: \(processes) local process(es) of \(instances.map { $0.0.description }.joined(separator: ", ")).")
            emit("Stop them with `\(keelson("down"))`; `\(keelson("up"))` again picks them up.")
        }
        try store.close()
    }
}
