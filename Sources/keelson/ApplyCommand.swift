import ArgumentParser
import Foundation
import KeelsonCompiler
import KeelsonCore
import KeelsonEngine
import KeelsonService

struct ApplyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Compile config files and record them; recompile every released service against them.",
        discussion: """
            Checks and records the config (every file's text, so that any decision can be traced to \
            the config it was made under), and compiles every service that has a release against \
            it again: each instance whose desired state changes is what the worker applies next. \
            Prints what changes per instance, or that nothing does. A config with errors lists \
            every error at file:line:column and changes nothing (the failed attempt is kept in the \
            log); --dry-run shows what would change and records nothing.

            A config that no longer declares a released instance (a service, channel or application \
            dropped or renamed, or an empty config) is refused: nothing is recorded, the instances \
            it would orphan are listed, and the exit status is 1. With --prune it is recorded, and \
            the worker stops what those instances run. --dry-run lists them.

            Manifests and task definitions must lie inside the config directory (the folder given \
            to -f, or the folder of the file), after symbolic links are resolved: their whole text \
            is recorded in the log. --allow-files-from DIR allows another directory.

            Examples:
              keelson apply -f examples/shop
              keelson apply -f examples/shop --dry-run
              keelson apply -f examples/shop --prune
              keelson apply -f config/ --allow-files-from shared/manifests
            """
    )

    @Option(name: [.short, .customLong("file")], help: ArgumentHelp("A config file or directory.", valueName: "path"))
    var file: String

    @Flag(help: "Show what would change without recording anything.")
    var dryRun = false

    @Flag(help: "Record the config even when it no longer declares released instances; the worker then stops what they run.")
    var prune = false

    @Option(
        name: .customLong("allow-files-from"),
        help: ArgumentHelp("Also read manifests and task definitions from this directory (repeat for several).", valueName: "dir"))
    var allowFilesFrom: [String] = []

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var format: OutputOptions
    @OptionGroup var waiting: WaitOptions

    func run() async throws {
        // A dry run, or a config that fails, on a database that does not exist yet creates none.
        let (api, report) = try await connection.creatingAPI(lookOnly: dryRun) { api in
            (api, try await api.applyConfig(path: file, options: .init(dryRun: dryRun, prune: prune, allowFilesFrom: allowFilesFrom)))
        }
        try ChangeReport.print(report, format: format.output, dryRun: dryRun)
        // --wait follows the instances whose desired state this apply changed.
        let targets = Dictionary(uniqueKeysWithValues: report.changes.map { ($0.instance, $0.version) })
        if waiting.wait && !dryRun && !targets.isEmpty {
            let waiter = RolloutWaiter(api: api, targets: targets, timeout: .seconds(try waiting.seconds()), after: report.position)
            try RolloutWaiter.exit(try await waiter.run())
        }
    }
}

struct ReleaseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "release",
        abstract: "Release a version of one service, several, or every service of an application.",
        discussion: """
            Compiles each APP/SERVICE (or every service of APP) against the config last applied, \
            with --version and --param values (checked against each service's parameters), for \
            every release channel, and records the releases — all of them in one transaction, or \
            none when one does not compile. The worker then moves them through the channels in \
            order, as their rules allow (soak, approval, windows, alerts); `keelson status` shows \
            where they are. Releasing a version marked bad again clears the mark and retries it.

            Examples:
              keelson release shop/web --version 1.4.2
              keelson release shop/web shop/api --version 1.4.2
              keelson release shop --version 1.4.2            (every service of shop)
              keelson release shop/web --version 1.4.2 --wait --timeout 20m
              keelson release shop/web --version 1.4.3 --dry-run \\
                  --param image=registry.example.com/web:1.4.3

            With --wait it follows the rollout (each instance's status as the worker decides it) and \
            exits 0 when every instance converged on the release, 1 when one failed, was rolled back \
            or rejected, and 2 at --timeout.
            """
    )

    @Argument(help: ArgumentHelp("What to release: APPLICATION/SERVICE, or APPLICATION for every service of it (one or more).", valueName: "app/service"))
    var targets: [String] = []

    @Option(help: "The version to release.")
    var version: String

    @Option(name: .customLong("param"), help: ArgumentHelp("A parameter value (repeat for several); given to every service released.", valueName: "name=value"))
    var parameters: [String] = []

    @Flag(help: "Show what would change without recording anything.")
    var dryRun = false

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var format: OutputOptions
    @OptionGroup var waiting: WaitOptions

    /// At most this many targets on one command line.
    static let maxTargets = ReleaseBody.maxReleases

    func validate() throws {
        // Checked before anything is read or recorded (a usage error: exit 64).
        guard !targets.isEmpty else { throw ValidationError("name what to release: APPLICATION/SERVICE (or APPLICATION for all its services)") }
        guard targets.count <= Self.maxTargets else { throw ValidationError("at most \(Self.maxTargets) targets in one release, not \(targets.count)") }
        var seen = Set<String>()
        for target in targets {
            let parts = target.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            guard parts.count <= 2 else {
                throw ValidationError("app/service: expected APPLICATION/SERVICE or APPLICATION, found \(BoundedInput.quoted(target))")
            }
            if let problem = Names.problem(parts[0], kind: .application) { throw ValidationError("app/service: \(problem)") }
            if parts.count == 2, let problem = Names.problem(parts[1], kind: .service) { throw ValidationError("app/service: \(problem)") }
            guard seen.insert(target).inserted else { throw ValidationError("app/service: \(BoundedInput.quoted(target)) is named twice") }
        }
        if let problem = Names.versionProblem(version) { throw ValidationError("--version: \(problem)") }
        for parameter in parameters where !parameter.contains("=") {
            throw ValidationError("--param takes NAME=VALUE, found \(BoundedInput.quoted(parameter))")
        }
    }

    func run() async throws {
        var values: [String: String] = [:]
        for parameter in parameters {
            let pair = parameter.split(separator: "=", maxSplits: 1).map(String.init)
            values[pair[0]] = pair.count > 1 ? pair[1] : ""
        }
        let items = targets.map { target in
            let parts = target.split(separator: "/").map(String.init)
            return ReleaseItem(application: parts[0], service: parts.count == 2 ? parts[1] : nil, version: version, parameters: values)
        }
        let api = try connection.api()
        let body = items.count == 1
            ? ReleaseBody(application: items[0].application, service: items[0].service, version: version, parameters: values, dryRun: dryRun)
            : ReleaseBody(releases: items, dryRun: dryRun)
        let report = try await api.release(body)
        try ChangeReport.print(report, format: format.output, dryRun: dryRun)
        if waiting.wait && !dryRun {
            // Every instance released: those whose desired state changed and those already on it.
            var instances: [String] = []
            for target in targets {
                instances += try await api.status(scope: target).instances.filter { $0.desired == version }.map(\.instance)
            }
            let waiter = RolloutWaiter(
                api: api, targets: Dictionary(instances.map { ($0, version) }) { first, _ in first },
                timeout: .seconds(try waiting.seconds()), after: report.position)
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
extension ChangeReport {
    static func print(_ report: ChangeReport, format: OutputFormat, dryRun: Bool) throws {
        switch format {
        case .json, .yaml:
            try printStructured(report, format)
        case .table:
            Swift.print("\(dryRun ? "would record" : "recorded"): \(report.summary)")
            for policy in report.policies {
                Swift.print("\(dryRun ? "would record" : "recorded"): release policy of \(policy)")
            }
            if report.changes.isEmpty && report.removed.isEmpty { Swift.print("no desired state changes") }
            for instance in report.removed {
                Swift.print("\(instance): \(dryRun ? "would be removed: no longer in the config (apply records that only with --prune)" : "removed (no longer in the config)")")
            }
            for change in report.changes {
                let was = change.previousDigest.map { " (was \($0.prefix(19))…)" } ?? " (new)"
                Swift.print("\(change.instance): \(change.digest.prefix(19))…\(was)")
                let shown = change.previousDigest == nil ? [] : change.diff
                for line in shown.prefix(20) { Swift.print("    \(line)") }
                if shown.count > 20 { Swift.print("    … and \(shown.count - 20) more") }
            }
        }
    }
}
