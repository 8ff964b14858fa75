import ArgumentParser
import Foundation
import KeelsonCompiler
import KeelsonCore
import KeelsonEngine
import KeelsonService
import KeelsonStore

/// Prints what a signal recorded (or its JSON).
func printSignal(_ result: SignalResult, _ format: OutputOptions) throws {
    switch format.output {
    case .json, .yaml: try printStructured(result, format.output)
    case .table: print(result.message)
    }
}

struct ApproveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "approve",
        abstract: "Approve a release for one instance (a channel with an approval rule waits for it).",
        discussion: "Examples:\n  keelson approve shop/web@prod-eu\n  keelson approve shop/web@prod-eu --release 1.4.2 --comment 'checked the dashboards'")

    @Argument(help: ArgumentHelp("APPLICATION/SERVICE@CHANNEL.", valueName: "instance"), transform: ArgumentParsers.instance)
    var instance: ServiceInstanceID
    @Option(help: ArgumentHelp("The release (default: the instance's current desired release).", valueName: "version"),
            transform: ArgumentParsers.version)
    var release: String?
    @Option(help: "A note kept with the approval.") var comment: String?
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var format: OutputOptions

    func run() async throws {
        let id = instance
        try printSignal(try await connection.api().approve(id, ApproveBody(release: release, comment: comment)), format)
    }
}

struct RejectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reject", abstract: "Reject a release for one instance: it will not go there.",
        discussion: "Example:\n  keelson reject shop/web@prod-eu --release 1.4.2 --reason 'breaks checkout'")

    @Argument(help: ArgumentHelp("APPLICATION/SERVICE@CHANNEL.", valueName: "instance"), transform: ArgumentParsers.instance)
    var instance: ServiceInstanceID
    @Option(help: ArgumentHelp("The release (default: the instance's current desired release).", valueName: "version"),
            transform: ArgumentParsers.version)
    var release: String?
    @Option(help: "Why.") var reason: String?
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var format: OutputOptions

    func run() async throws {
        let id = instance
        try printSignal(try await connection.api().reject(id, ReasonBody(release: release, reason: reason)), format)
    }
}

struct PauseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pause", abstract: "Hold promotion for an application, a service or one instance (rollbacks still happen).",
        discussion: "Examples:\n  keelson pause shop --reason 'payment provider incident'\n  keelson pause shop/web@prod-eu")

    @Argument(help: ArgumentHelp("APPLICATION[/SERVICE[@CHANNEL]].", valueName: "scope"), transform: ArgumentParsers.scope)
    var scope: ScopeArgument
    @Option(help: "Why (shown in status).") var reason: String?
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var format: OutputOptions

    func run() async throws {
        try printSignal(try await connection.api().pause(ScopeBody(scope: scope.description, reason: reason)), format)
    }
}

struct ResumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume", abstract: "Lift a pause (the same scope that was paused).",
        discussion: "Example:\n  keelson resume shop")

    @Argument(help: ArgumentHelp("APPLICATION[/SERVICE[@CHANNEL]].", valueName: "scope"), transform: ArgumentParsers.scope)
    var scope: ScopeArgument
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var format: OutputOptions

    func run() async throws {
        try printSignal(try await connection.api().resume(ScopeBody(scope: scope.description)), format)
    }
}

struct RollbackCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollback", abstract: "Roll an instance back to its last good release (the current one is marked bad).",
        discussion: "Example:\n  keelson rollback shop/web@prod-eu --reason 'latency up'")

    @Argument(help: ArgumentHelp("APPLICATION/SERVICE@CHANNEL.", valueName: "instance"), transform: ArgumentParsers.instance)
    var instance: ServiceInstanceID
    @Option(help: "Why.") var reason: String?
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var format: OutputOptions

    func run() async throws {
        let id = instance
        try printSignal(try await connection.api().rollback(id, ReasonBody(reason: reason)), format)
    }
}

struct MarkBadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mark-bad",
        abstract: "Mark a release of a service bad: it goes nowhere else, and instances on it roll back to their last good release.",
        discussion: "Example:\n  keelson mark-bad shop/web --release 1.4.2 --reason 'corrupts carts'\n\nReleasing the same version again clears the mark.")

    @Argument(help: ArgumentHelp("APPLICATION/SERVICE.", valueName: "service"), transform: MarkBadCommand.service)
    var service: ScopeArgument
    @Option(help: ArgumentHelp("The bad release.", valueName: "version"), transform: ArgumentParsers.version) var release: String
    @Option(help: "Why.") var reason: String?
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var format: OutputOptions

    @Sendable static func service(_ text: String) throws -> ScopeArgument {
        let scope = try ScopeArgument.parse(text).get()
        guard let _ = scope.service, scope.channel == nil else {
            throw InputProblem("expected APPLICATION/SERVICE (e.g. shop/web), found \(BoundedInput.quoted(text))")
        }
        return scope
    }

    func run() async throws {
        try printSignal(
            try await connection.api().markBad(application: service.application, service: service.service ?? "", ReasonBody(release: release, reason: reason)),
            format)
    }
}

struct AlertCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alert", abstract: "Record alerts firing and resolving (what an alert gate reads).",
        subcommands: [Fire.self, Resolve.self])

    struct Labels: ParsableArguments {
        @Argument(help: ArgumentHelp("The alert's name.", valueName: "name"), transform: ArgumentParsers.printable("the alert's name", limit: 256))
        var name: String
        @Option(name: .customLong("label"), help: ArgumentHelp("A label, k=v (repeatable).", valueName: "k=v"), transform: Labels.label)
        var labels: [Label] = []
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var format: OutputOptions

        struct Label: Sendable { var key: String; var value: String }

        @Sendable static func label(_ text: String) throws -> Label {
            let parts = text.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty else { throw InputProblem("expected k=v, found \(BoundedInput.quoted(text))") }
            let key = try ArgumentParsers.printable("a label's name", limit: 256)(parts[0])
            guard parts[1].count <= 4096, !parts[1].unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }) else {
                throw InputProblem("a label's value is at most 4096 characters without control characters; found \(BoundedInput.quoted(parts[1]))")
            }
            return Label(key: key, value: parts[1])
        }

        func validate() throws {
            let keys = labels.map(\.key)
            if let repeated = keys.first(where: { key in keys.filter { $0 == key }.count > 1 }) {
                throw ValidationError("--label \(BoundedInput.quoted(repeated)) is given twice")
            }
        }

        /// Records the alert firing or resolving and prints what was recorded.
        func record(firing: Bool) async throws {
            let labels = Dictionary(self.labels.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last })
            try printSignal(try await connection.api().alert(AlertBody(name: name, labels: labels, firing: firing)), format)
        }
    }

    struct Fire: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "An alert fires.", discussion: "Example:\n  keelson alert fire HighErrorRate --label service=web --label severity=critical")
        @OptionGroup var options: Labels

        func run() async throws { try await options.record(firing: true) }
    }

    struct Resolve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "An alert resolves (name and labels as it fired).", discussion: "Example:\n  keelson alert resolve HighErrorRate --label service=web --label severity=critical")
        @OptionGroup var options: Labels

        func run() async throws { try await options.record(firing: false) }
    }
}

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Every instance: its desired, target and current release, status, reason, since when.",
        discussion: """
            DESIRED is the release asked for (the service's newest release, compiled for the \
            instance). TARGET is the release Keelson last applied or is applying there: it differs \
            from DESIRED while the new release waits at a gate (soak, approval, window, alert…), \
            after a rollback (marked "(rollback)"), or when DESIRED is marked bad. CURRENT is what \
            the runtime reported running at its last fetch. REASON says why, in words; `keelson \
            explain` says more about one instance.

            Examples:
              keelson status
              keelson status shop/web -o json
              keelson status --status failed,waiting
              keelson status --at 2026-11-26T14:03:00Z      # as it was then (also --at 2h: two hours ago)
              keelson status --position 1884                # just after the event at 1884
            """)

    @Argument(help: ArgumentHelp("APPLICATION or APPLICATION/SERVICE (default: everything).", valueName: "scope"), transform: StatusCommand.scope)
    var scope: ScopeArgument?
    @Option(parsing: .unconditional, help: ArgumentHelp(
        "Only instances with these statuses, comma-separated: \(StatusFilter.statusNames.joined(separator: ", ")).", valueName: "statuses"),
            transform: StatusCommand.statuses)
    var status: Set<String> = []
    @Option(parsing: .unconditional, help: ArgumentHelp("As it was at this time (ISO 8601 or an age like 2h); reasons are said as of then.", valueName: "time"), transform: TimeArgument.parse)
    var at: TimeArgument?
    @Option(parsing: .unconditional, help: ArgumentHelp("As it was just after the event at this log position.", valueName: "position"), transform: ArgumentParsers.positionFromOne)
    var position: Int64?
    @Option(name: [.short, .long], help: "Output format: table, json or yaml.") var output: TableOrJSON = .table
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var readOnly: ReadOnlyOption

    @Sendable static func statuses(_ text: String) throws -> Set<String> {
        let names = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard names.count <= 16 else { throw InputProblem("at most 16 statuses, found \(names.count)") }
        return Set(try names.map { try StatusFilter.status($0).get() })
    }

    @Sendable static func scope(_ text: String) throws -> ScopeArgument {
        let scope = try ScopeArgument.parse(text).get()
        guard scope.channel == nil else {
            throw InputProblem("expected APPLICATION or APPLICATION/SERVICE (for one instance: `keelson explain`), found \(BoundedInput.quoted(text))")
        }
        return scope
    }

    func run() async throws {
        // The instance_status projection: one indexed read, whatever the length of the log.
        // In the past: each row's latest version at the position, from the projection's history.
        let entries = try await connection.readingAPI(readOnly).status(
            scope: scope?.description, filter: StatusFilter(statuses: status), at: at, position: position
        ).instances
        switch output {
        case .json, .yaml: try printStructured(entries, output)
        case .table:
            guard !entries.isEmpty else {
                print(status.isEmpty
                    ? "no instances with a release\(scope.map { " in \($0)" } ?? "") yet"
                    : "no instance\(scope.map { " in \($0)" } ?? "") is \(status.sorted().joined(separator: " or "))")
                return
            }
            print(TextTable.render(
                headers: ["INSTANCE", "DESIRED", "TARGET", "CURRENT", "STATUS", "SINCE", "REASON"],
                rows: entries.map {
                    [$0.instance, $0.desired ?? "-", $0.target.map { [rollback = $0.targetIsRollback] t in t + (rollback ? " (rollback)" : "") } ?? "-", $0.current.isEmpty ? "-" : $0.current.joined(separator: ","),
                     $0.status, $0.since ?? "-", Formatting.truncated($0.reason, to: 100)]
                }))
        }
    }
}

struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run the convergence worker: decide, apply and fetch until stopped.",
        discussion: """
            Folds the log, decides for every instance that has news or a timer due, records each \
            decision with the applies it asks for, carries the applies out on the runtimes the \
            config declares, and fetches instances at their cadence. Prints every recorded \
            decision. Stop it with Ctrl-C; a worker started later resumes unfinished applies \
            (re-issued with their idempotency key, or abandoned, by a recorded decision).

            Example:
              keelson worker --db .keelson/keelson.db
            """)

    @Option(help: ArgumentHelp(
        "The worker's name (default worker:<host name>). Keep it stable so that a restart resumes at once; while a worker runs, its name is refused to any other.",
        valueName: "name"), transform: ArgumentParsers.printable("--name", limit: 128))
    var name: String?
    @Option(help: ArgumentHelp(
        "How long its leases on instances last without renewal (1s to 1h, default 30s): how long its instances wait when it dies and is not started again.",
        valueName: "duration"), transform: DurationArgument.parse(between: 1, and: 3600))
    var leaseDuration: DurationArgument?
    @Option(help: ArgumentHelp(
        "How long the unchanged fetches of a settled instance may be held back and recorded together, as one event (0s to 1d, default 10m; 0s records every fetch as it ends).",
        valueName: "duration"), transform: DurationArgument.parse(between: 0, and: 86_400))
    var unchangedRunLength: DurationArgument?
    @Option(help: ArgumentHelp("Stop after this long (e.g. 10m; at most 365d); default: run until stopped.", valueName: "duration"),
            transform: DurationArgument.parse)
    var duration: DurationArgument?
    @OptionGroup var store: FileStoreOptions

    func run() async throws {
        let store = try store.open(.write(create: false))
        var settings = Worker.Settings(stateRoot: self.store.stateRoot())
        if let name { settings.name = name }
        if let leaseDuration { settings.leaseDuration = leaseDuration.duration }
        if let unchangedRunLength { settings.unchangedRunLength = unchangedRunLength.duration }
        settings.onProblem = { emit("\(Text.time(Date().millisecondsSince1970))  \($0)") }
        let worker = Worker(store: store, settings: settings, declarations: ConfigRuntimes()) { report in
            let actions = report.decision.actions.map(Replay.describe)
            emit("\(Text.time(Int64(Date().timeIntervalSince1970 * 1000)))  \(report.instance)  \(report.decision.status.rawValue): \(report.words)"
                + (actions.isEmpty ? "" : "  [\(actions.joined(separator: "; "))]"))
        }
        // Claims its name first: a name in use is refused before anything is said to run.
        try await worker.start()
        emit("\(settings.name) running on \(self.store.path); Ctrl-C stops")
        let task = Task { try await worker.run() }
        // Ctrl-C and SIGTERM stop it cleanly: running applies finish and its leases are released.
        var sources: [DispatchSourceSignal] = []
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .main)
            source.setEventHandler { task.cancel() }
            source.resume()
            sources.append(source)
        }
        defer { sources.forEach { $0.cancel() } }
        if let duration {
            try await Task.sleep(for: duration.duration)
            task.cancel()
        }
        do {
            try await task.value
        } catch is CancellationError {
            emit("\(settings.name) stopped")
        }
    }
}

struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Recompute every recorded decision from the log and compare.",
        discussion: """
            Rebuilds the engine's view along the log in one pass and asks decide again at each \
            decision's view position and recorded time, with the engine version that made it: \
            a log replays identically under the Keelson that wrote it and every later one. \
            --verify exits 1 on any difference and prints it.

            --engine N re-decides every decision with engine version N instead (today's is \
            \(Engine.version); this Keelson has \(Engine.versions.map(String.init).joined(separator: ", "))): \
            "what would engine N have decided on this incident?". --engine current is today's.

            Examples:
              keelson replay --verify
              keelson replay --from 1200 --to 1900 -o json
              keelson replay --engine \(Engine.version) --until 2h
            """)

    @Option(parsing: .unconditional, help: ArgumentHelp("First decision position to replay.", valueName: "position"),
            transform: ArgumentParsers.position)
    var from: Int64 = 0
    @Option(parsing: .unconditional, help: ArgumentHelp("Last decision position to replay.", valueName: "position"),
            transform: ArgumentParsers.position)
    var to: Int64?
    @Option(parsing: .unconditional, help: ArgumentHelp("Replay decisions up to this time (ISO 8601 or an age like 2h).", valueName: "time"), transform: TimeArgument.parse)
    var until: TimeArgument?
    @Flag(help: "Exit 1 when a decision differs.") var verify = false
    @Option(help: ArgumentHelp("recorded (default: each decision's own), current, or a version number.", valueName: "engine"))
    var engine: EngineChoice = .recorded
    @Option(name: [.short, .long], help: "Output format: table or json.") var output: TableOrJSON = .table
    @OptionGroup var store: FileStoreOptions
    @OptionGroup var readOnly: ReadOnlyOption

    enum EngineChoice: ExpressibleByArgument, Equatable {
        case recorded
        case version(Int)

        init?(argument: String) {
            switch argument {
            case "recorded": self = .recorded
            case "current": self = .version(Engine.version)
            default:
                guard let number = Int(argument), Engine.versions.contains(number) else { return nil }
                self = .version(number)
            }
        }

        static var allValueStrings: [String] { ["recorded", "current"] + Engine.versions.map(String.init) }
    }

    func validate() throws {
        if let to, from > to { throw ValidationError("--from \(from) is after --to \(to): no position lies between them") }
    }

    func run() async throws {
        let store = try store.open(.read(readOnly: readOnly.readOnly))
        let lastPosition = try await store.lastPosition()
        if from > lastPosition { throw ValidationError("--from \(from) is past the end of the log (its last position is \(lastPosition))") }
        var last = to
        if let until {
            let date = until.date(relativeTo: Date())
            let before = try await store.events(EventFilter(until: date, limit: 1, latest: true)).first?.position ?? 0
            last = min(last ?? before, before)
        }
        var version: Int?
        if case .version(let number) = engine { version = number }
        let report = try await Replay.run(store: store, from: from, to: last, engine: version)
        switch output {
        case .json, .yaml: try printStructured(report, output)
        case .table:
            let range = report.firstPosition.map { "positions \($0)–\(report.lastPosition!)" } ?? "no decisions"
            print("replayed \(report.decisions) decision(s), \(range): \(report.matched) identical, \(report.differences.count) different"
                + (report.unreadable.isEmpty ? "" : ", \(report.unreadable.count) unreadable")
                + (version.map { " (with engine version \($0))" } ?? "")
                + (report.skipped > 0 ? ", \(report.skipped) by an engine version this Keelson cannot run skipped (use --engine current)" : ""))
            for problem in report.unreadable {
                print("\nposition \(problem.position)  \(problem.stream)  the recorded decision cannot be read: \(problem.problem)")
            }
            for difference in report.differences {
                print("\nposition \(difference.position)  \(difference.instance)  (engine \(difference.recordedEngineVersion) → \(version ?? difference.recordedEngineVersion))")
                for line in difference.diff { print("  \(line)") }
            }
        }
        if verify && !(report.differences.isEmpty && report.unreadable.isEmpty) { throw ExitCode(1) }
    }
}

struct ExplainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Why an instance is where it is: the view, the decision and the events that led to it.",
        discussion: """
            Shows the last decision for the instance at the given point (default: now), the view \
            it was made over, its reasons, and the instance's events since the decision before.

            Examples:
              keelson explain shop/web@prod-eu
              keelson explain shop/web@prod-eu --at 2026-11-26T14:03:00Z
              keelson explain shop/web@prod-eu --position 1884 -o json
            """)

    @Argument(help: ArgumentHelp("APPLICATION/SERVICE@CHANNEL.", valueName: "instance"), transform: ArgumentParsers.instance)
    var instance: ServiceInstanceID
    @Option(parsing: .unconditional, help: ArgumentHelp("As it was at this time (ISO 8601 or an age like 2h).", valueName: "time"), transform: TimeArgument.parse)
    var at: TimeArgument?
    @Option(parsing: .unconditional, help: ArgumentHelp("As it was at this log position.", valueName: "position"), transform: ArgumentParsers.positionFromOne)
    var position: Int64?
    @Option(name: [.short, .long], help: "Output format: table, json or yaml.") var output: TableOrJSON = .table
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var readOnly: ReadOnlyOption

    func run() async throws {
        let id = instance
        let api = try connection.readingAPI(readOnly)
        if let position {
            let last = try await api.lastPosition()
            guard position <= last else { throw ValidationError("--position \(position) is past the end of the log (its last position is \(last))") }
        }
        let explanation = try await api.explain(id, at: at, position: position)
        let record = explanation.view
        switch output {
        case .json, .yaml:
            try printStructured(explanation, output)
        case .table:
            let decision = explanation.decision
            print("\(id) at position \(explanation.decisionPosition) (\(explanation.now))")
            print("  status:   \(decision.status.rawValue)\(decision.waitingFor.map { " (waiting for \($0.rawValue))" } ?? "")")
            print("  reason:   \(explanation.reason)")
            if !decision.actions.isEmpty { print("  actions:  \(decision.actions.map(Replay.describe).joined(separator: "; "))") }
            if let wake = decision.wakeAtMilliseconds { print("  next:     asks again at \(Text.time(wake))") }
            print("\nthe view at position \(explanation.viewPosition):")
            print("  desired:  \(record.desired?.version ?? "-")")
            print("  target:   \(record.request.map { "\($0.release.version)\($0.rollback ? " (rollback)" : "") — \($0.result.map { $0.succeeded ? "applied" : "apply failed: \($0.error ?? "")" } ?? "apply running")" } ?? "-")")
            print("  current:  \(record.seen.map { $0.desired == 0 ? "nothing running" : "\($0.versions.joined(separator: ", ")) \($0.ready)/\($0.desired) ready\($0.healthy ? ", healthy" : "")\($0.drifted ? ", drifted" : "")" } ?? "not fetched")")
            print("  converged: \(record.converged.map { "\($0.release.version) at \(Text.time($0.atMilliseconds))" } ?? "-")")
            print("  last good: \(record.lastGood?.version ?? "-")")
            if !record.approvals.isEmpty { print("  approvals: \(record.approvals.keys.sorted().map { "\($0): \(record.approvals[$0]!.joined(separator: ", "))" }.joined(separator: "; "))") }
            print("\nevents that led to it (since the decision before; -o json shows every field):")
            if let earlier = explanation.earlierEvents { print("  (\(earlier) earlier event(s) not shown)") }
            print(EventTable.render(explanation.events.map(\.recorded), header: true))
            let engine = explanation.engineVersion == Engine.version
                ? "this Keelson's"
                : "this Keelson decides with version \(Engine.version); `keelson replay --engine \(Engine.version)` re-decides it with today's rules"
            print("\ndecided by engine version \(explanation.engineVersion): the version of Keelson's decision rules that made it (\(engine)); "
                + "`keelson replay` re-decides every recorded decision from the log and compares.")
        }
    }
}
