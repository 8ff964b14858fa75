import ArgumentParser
import Foundation
import KeelsonCompiler
import KeelsonCore
import KeelsonEngine
import KeelsonStore

struct ApplyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Compile config files and record them; recompile every released service against them.",
        discussion: """
            Records a ConfigApplied event (every file's text and digest) and, for each service that \
            has a release, a DesiredStateCompiled event per instance whose desired state changed — \
            all in one transaction. Prints what changes per instance; prints nothing to change when \
            nothing does. A config that does not compile is recorded as one CompileFailed event and \
            changes nothing.

            Examples:
              keelson apply -f examples/shop
              keelson apply -f examples/shop --dry-run
            """
    )

    @Option(name: [.short, .customLong("file")], help: ArgumentHelp("A config file or directory.", valueName: "path"))
    var file: String

    @Flag(help: "Show what would change without recording anything.")
    var dryRun = false

    @OptionGroup var store: StoreOptions
    @OptionGroup var format: OutputOptions
    @OptionGroup var waiting: WaitOptions

    func run() async throws {
        let store = try store.open()
        let recorder = DesiredStateRecorder(store: store, actor: CommandActor.current)
        let outcome = try await recorder.apply(path: file, dryRun: dryRun)
        try ChangeReport.print(outcome, format: format.output, dryRun: dryRun, what: outcome.configApplied == nil
            ? "config unchanged" : "config \(outcome.configApplied!.digest.prefix(19))… (\(outcome.configApplied!.files.count) files)")
        // --wait follows the instances whose desired state this apply changed.
        let targets = Dictionary(uniqueKeysWithValues: outcome.changes.map { ($0.instance, $0.version) })
        if waiting.wait && !dryRun && !targets.isEmpty {
            let waiter = RolloutWaiter(
                store: store, targets: targets, timeout: .seconds(try waiting.seconds()), after: try await store.lastPosition())
            try RolloutWaiter.exit(try await waiter.run())
        }
    }
}

struct ReleaseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "release",
        abstract: "Release a version of a service: compile it for every release channel and record it.",
        discussion: """
            Compiles APP/SERVICE against the config last applied, with --version and --param values \
            (checked against the service's parameters), and records ReleaseRequested plus a \
            DesiredStateCompiled event per instance whose desired state changed.

            Examples:
              keelson release shop/web --version 1.4.2
              keelson release shop/web --version 1.4.3 --param image=registry.example.com/web:1.4.3 --dry-run
              keelson release shop/web --version 1.4.2 --wait --timeout 20m

            With --wait it follows the rollout (each instance's status as the worker decides it) and \
            exits 0 when every instance converged on the release, 1 when one failed, was rolled back \
            or rejected, and 2 at --timeout.
            """
    )

    @Argument(help: ArgumentHelp("The service, as APPLICATION/SERVICE.", valueName: "app/service"))
    var target: String

    @Option(help: "The version to release.")
    var version: String

    @Option(name: .customLong("param"), help: ArgumentHelp("A parameter value (repeat for several).", valueName: "name=value"))
    var parameters: [String] = []

    @Flag(help: "Show what would change without recording anything.")
    var dryRun = false

    @OptionGroup var store: StoreOptions
    @OptionGroup var format: OutputOptions
    @OptionGroup var waiting: WaitOptions

    func validate() throws {
        if target.split(separator: "/").count != 2 { throw ValidationError("expected APPLICATION/SERVICE, found '\(target)'") }
        for parameter in parameters where !parameter.contains("=") {
            throw ValidationError("--param takes NAME=VALUE, found '\(parameter)'")
        }
    }

    func run() async throws {
        let parts = target.split(separator: "/").map(String.init)
        var values: [String: String] = [:]
        for parameter in parameters {
            let pair = parameter.split(separator: "=", maxSplits: 1).map(String.init)
            values[pair[0]] = pair.count > 1 ? pair[1] : ""
        }
        let store = try store.open()
        let recorder = DesiredStateRecorder(store: store, actor: CommandActor.current)
        let outcome = try await recorder.release(
            ReleaseRequest(application: parts[0], service: parts[1], version: version, parameters: values), dryRun: dryRun)
        try ChangeReport.print(outcome, format: format.output, dryRun: dryRun, what: "release \(target) \(version)")
        if waiting.wait && !dryRun {
            // Every instance of the service: those whose desired state changed and those already on it.
            let instances = try await store.desiredStates(prefix: target + "@").filter { $0.version == version }.map(\.instance)
            let waiter = RolloutWaiter(
                store: store, targets: Dictionary(uniqueKeysWithValues: instances.map { ($0, version) }),
                timeout: .seconds(try waiting.seconds()), after: try await store.lastPosition())
            try RolloutWaiter.exit(try await waiter.run())
        }
    }
}

enum CommandActor {
    static var current: String {
        ProcessInfo.processInfo.environment["USER"].map { "user:\($0)" } ?? "cli"
    }
}

/// Prints what an apply or release changes, per instance.
enum ChangeReport {
    struct Change: Encodable {
        var instance: String
        var digest: String
        var previousDigest: String?
        var version: String
        var diff: [String]
    }

    struct Report: Encodable {
        var recorded: Bool
        var summary: String
        var changes: [Change]
    }

    static func print(_ outcome: DesiredStateRecorder.Outcome, format: OutputFormat, dryRun: Bool, what: String) throws {
        let changes = outcome.changes.map { change in
            Change(
                instance: change.instance, digest: change.digest, previousDigest: outcome.previous[change.instance]?.digest,
                version: change.version,
                diff: DocumentDiff.lines(from: outcome.previous[change.instance]?.document, to: change.document))
        }
        switch format {
        case .json:
            Swift.print(try Formatting.json(Report(recorded: !dryRun, summary: what, changes: changes)))
        case .table:
            Swift.print("\(dryRun ? "would record" : "recorded"): \(what)")
            for policy in outcome.policies {
                Swift.print("\(dryRun ? "would record" : "recorded"): release policy of \(policy.policy.application) (\(policy.policy.channels.map(\.name).joined(separator: " → ")))")
            }
            if changes.isEmpty { Swift.print("no desired state changes") }
            for change in changes {
                let was = change.previousDigest.map { " (was \($0.prefix(19))…)" } ?? " (new)"
                Swift.print("\(change.instance): \(change.digest.prefix(19))…\(was)")
                let shown = change.previousDigest == nil ? [] : change.diff
                for line in shown.prefix(20) { Swift.print("    \(line)") }
                if shown.count > 20 { Swift.print("    … and \(shown.count - 20) more") }
            }
        }
    }
}
