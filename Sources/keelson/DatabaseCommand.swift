import ArgumentParser
import Foundation
import KeelsonCore
import KeelsonEngine
import KeelsonStore

struct DatabaseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db",
        abstract: "Check, repair, back up and archive the database.",
        subcommands: [CheckDatabase.self, RebuildDatabase.self, BackupDatabase.self, ArchiveDatabase.self, RestoreDatabase.self]
    )
}

struct CheckDatabase: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check the file's integrity and verify every projection against a rebuild.",
        discussion: """
            Runs SQLite's full integrity check, then rebuilds every projection from position 0 into \
            scratch tables (on a separate read transaction, without blocking appends) and compares \
            them with the live tables row by row, and reads every recorded Keelson event: one whose \
            payload does not decode, or holds a value outside what config accepts (a soak longer \
            than 365 days, say: written by hand or before such bounds existed), is listed with its \
            position. Every stored snapshot of the engine's state (what a worker starts from) is \
            compared with a fold of the log to its position. Exits 1 if anything is wrong, listing \
            each problem. Every archive the log continues from is read back and its events hashed \
            against the digest chain recorded when it was made. Repair projections and snapshots \
            with `keelson db rebuild`. Works on a read-only copy too.
            """
    )

    @OptionGroup var store: FileStoreOptions
    @OptionGroup var readOnly: ReadOnlyOption
    @OptionGroup var format: OutputOptions

    struct Report: Encodable {
        var database: String
        var integrityProblems: [String]
        var projections: VerifyReport
        var events: PayloadReport
        var engineSnapshots: [EngineSnapshotCheck]
        var archives: [ArchiveRecord]
        var archiveProblems: [ArchiveProblem]
        var ok: Bool
    }

    func run() async throws {
        let store = try store.open(.read(readOnly: readOnly.readOnly), checkIntegrity: true)
        Progress.say("checking the integrity of \(store.path)…")
        let integrity = try await store.integrityProblems()
        Progress.say("verifying projections against a rebuild of \(try await store.lastPosition()) events…")
        let verify = try await store.verifyProjections()
        Progress.say("reading every Keelson event's payload…")
        let payloads = try await store.payloadProblems()
        Progress.say("verifying the engine's snapshots against a fold of the log…")
        let snapshots = try await store.verifyEngineSnapshots()
        let archives = try await store.archives()
        if !archives.isEmpty { Progress.say("hashing \(archives.count) archive(s) against their digest chain…") }
        let archiveProblems = try await store.archiveProblems()
        let report = Report(
            database: store.path, integrityProblems: integrity, projections: verify, events: payloads, engineSnapshots: snapshots,
            archives: archives, archiveProblems: archiveProblems,
            ok: integrity.isEmpty && verify.isClean && payloads.problems.isEmpty && snapshots.allSatisfy { $0.problem == nil }
                && archiveProblems.isEmpty)
        switch format.output {
        case .json, .yaml:
            try printStructured(report, format.output)
        case .table:
            print("database:    \(store.path)")
            print("events:      \(verify.lastPosition)")
            print("integrity:   " + (integrity.isEmpty ? "ok" : "\(integrity.count) problem(s)"))
            for problem in integrity { print("  - \(problem)") }
            for (name, checkpoint) in verify.checkpoints.sorted(by: { $0.key < $1.key }) {
                let differences = verify.differences.filter { $0.projection == name }
                let state = checkpoint != verify.lastPosition
                    ? "checkpoint \(checkpoint) ≠ last position \(verify.lastPosition)"
                    : differences.isEmpty ? "ok (matches a rebuild)" : "\(differences.count) difference(s)"
                print("projection:  \(name): \(state)")
                for difference in differences { print("  - \(difference)") }
            }
            if verify.omittedDifferences > 0 { print("  … and \(verify.omittedDifferences) more difference(s)") }
            print("payloads:    " + (payloads.problems.isEmpty
                ? "ok (\(payloads.checked) Keelson events read)"
                : "\(payloads.problems.count + payloads.omitted) event(s) with a payload out of bounds or unreadable"))
            for problem in payloads.problems { print("  - \(TerminalText.escaped(problem.description))") }
            if payloads.omitted > 0 { print("  … and \(payloads.omitted) more") }
            let badSnapshots = snapshots.filter { $0.problem != nil }
            print("snapshots:   " + (snapshots.isEmpty ? "none stored"
                : badSnapshots.isEmpty ? "ok (\(snapshots.count) at position \(snapshots.map { String($0.position) }.joined(separator: ", ")) match a fold of the log)"
                : "\(badSnapshots.count) of \(snapshots.count) wrong"))
            for check in badSnapshots { print("  - engine snapshot at position \(check.position): \(check.problem!)") }
            if !archives.isEmpty {
                print("archives:    " + (archiveProblems.isEmpty
                    ? "ok (\(archives.count): positions 1–\(archives.last!.lastPosition), each hashes to its recorded digest)"
                    : "\(archiveProblems.count) problem(s)"))
                for problem in archiveProblems { print("  - \(TerminalText.escaped(problem.description))") }
            }
            let repairable = !verify.isClean || !badSnapshots.isEmpty
            print(report.ok ? "check: clean" : "check: PROBLEMS FOUND" + (repairable ? " (repair projections and snapshots with `keelson db rebuild`)" : ""))
        }
        if !report.ok { throw ExitCode(1) }
    }
}

struct RebuildDatabase: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebuild",
        abstract: "Throw away every projection (or the named ones) and fold the whole log again.",
        discussion: """
            The events are never touched. Appends wait while the rebuild runs (one transaction). \
            A rebuild of every projection also deletes the engine's snapshots: workers then fold \
            the log from its start, and store new ones as it grows.
            """
    )

    @OptionGroup var store: FileStoreOptions
    @OptionGroup var format: OutputOptions

    @Option(help: ArgumentHelp(
        "Only this projection (repeat for several): \(EventStore.defaultProjections.map(\.name).joined(separator: ", ")).", valueName: "name"),
            transform: RebuildDatabase.projectionName)
    var projection: [String] = []

    @Sendable static func projectionName(_ text: String) throws -> String {
        let names = EventStore.defaultProjections.map(\.name)
        guard names.contains(text) else {
            throw InputProblem("unknown projection \(BoundedInput.quoted(text)); known: \(names.joined(separator: ", "))")
        }
        return text
    }

    func run() async throws {
        let store = try store.open(.write(create: false))
        Progress.say("rebuilding from \(try await store.lastPosition()) events…")
        let started = ContinuousClock.now
        let events = try await store.rebuildProjections(named: projection.isEmpty ? nil : projection)
        let snapshots = projection.isEmpty ? try await store.deleteEngineSnapshots() : 0
        let seconds = (ContinuousClock.now - started).seconds
        let names = projection.isEmpty ? store.projections.map(\.name) : projection
        switch format.output {
        case .json, .yaml:
            try printStructured(RebuildReport(projections: names, events: events, seconds: seconds), format.output)
        case .table:
            print("rebuilt \(names.joined(separator: ", ")) from \(events) events in \(String(format: "%.2f", seconds))s"
                + (snapshots > 0 ? "; deleted \(snapshots) engine snapshot(s) (workers store new ones)" : ""))
        }
    }

    struct RebuildReport: Encodable {
        var projections: [String]
        var events: Int64
        var seconds: Double
    }
}

struct BackupDatabase: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Copy the database into a new file, consistently, even while a server writes to it.",
        discussion: """
            Uses SQLite's online backup API: the copy is the log as it stood at one instant, with \
            every event committed until then — including those still in the -wal file, which a \
            plain `cp` of the database file misses. Appends are not blocked while it runs. The \
            copy is one file (no -wal), created mode 0600, checked before the command returns, and \
            can be opened read-only anywhere (`--db COPY --read-only`). PATH must not exist.

            Examples:
              keelson db backup /backups/keelson-$(date +%F-%H%M).db
              keelson db check --db /backups/keelson-2026-11-26-1403.db
            """
    )

    @Argument(help: ArgumentHelp("The new file to write.", valueName: "path"), transform: StoreOptions.parsePath)
    var destination: String

    @OptionGroup var store: FileStoreOptions
    @OptionGroup var readOnly: ReadOnlyOption
    @OptionGroup var format: OutputOptions

    func validate() throws {
        if URL(fileURLWithPath: destination).standardizedFileURL.path == URL(fileURLWithPath: store.path).standardizedFileURL.path {
            throw ValidationError("the backup must go to another file than the database itself")
        }
    }

    func run() async throws {
        let store = try store.open(.read(readOnly: readOnly.readOnly))
        Progress.say("copying \(store.path) to \(destination)…")
        let report = try await store.backup(to: destination)
        switch format.output {
        case .json, .yaml: try printStructured(report, format.output)
        case .table:
            print("backed up \(report.source) to \(report.destination): \(report.lastPosition) events, \(report.bytes) bytes (checked)")
        }
    }
}

struct ArchiveDatabase: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "archive",
        abstract: "Move closed history into a compressed, read-only archive file; nothing is forgotten.",
        discussion: """
            Moves every event recorded before TIME (never the latest one) that is not archived yet \
            into a new archive file: an SQLite file with the same rows, payloads deflated, mode \
            0400. The live file records where the events went (a HistoryArchived event, and the \
            archive's digest, chained to the archive before it) and reads through the archive from \
            then on: `events`, `timeline`, `explain --at`, `replay`, `status --at`, `db check` and \
            `db rebuild` see the whole log as before. The space the events took in the live file \
            is reused by new ones, so the live file stops growing by their size.

            Keep archive files where they were written (the log names them by path) and back them \
            up with the live file. Stop servers and workers using the file first: processes that \
            opened it before see the archive only once they open it again (the command refuses \
            while a worker holds a lease, unless --force). `keelson db restore FILE` brings the \
            latest archive back.

            Examples:
              keelson db archive --before 30d --to /var/lib/keelson/archive-2026-11.db
              keelson db check
            """
    )

    @Option(help: ArgumentHelp("Archive the events recorded before this time (ISO 8601 or an age like 30d).", valueName: "time"),
            transform: TimeArgument.parse)
    var before: TimeArgument

    @Option(help: ArgumentHelp("The new archive file to write (must not exist).", valueName: "path"), transform: StoreOptions.parsePath)
    var to: String

    @Flag(help: "Archive even while workers hold leases on the file.")
    var force = false

    @OptionGroup var store: FileStoreOptions
    @OptionGroup var format: OutputOptions

    func run() async throws {
        let store = try store.open(.write(create: false))
        let cutoff = before.date(relativeTo: Date())
        // The last event recorded strictly before the cutoff.
        let position = try await store.position(atTime: cutoff.addingTimeInterval(-0.001))
        guard position > 0 else {
            throw ValidationError("nothing was recorded before \(Text.time(cutoff.millisecondsSince1970)): nothing to archive")
        }
        Progress.say("archiving the events up to position \(position) into \(to)…")
        let archive = try await store.archive(upTo: position, to: to, actor: CommandActor.current, force: force)
        switch format.output {
        case .json, .yaml: try printStructured(archive, format.output)
        case .table:
            let bytes = ((try? FileManager.default.attributesOfItem(atPath: archive.path)[.size]) as? Int64) ?? 0
            print("archived positions \(archive.firstPosition)–\(archive.lastPosition) (\(archive.events) events) to \(archive.path): \(bytes) bytes, \(archive.digest)")
        }
    }
}

struct RestoreDatabase: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Bring the latest archive's events back into the live file.",
        discussion: """
            Checks that the archive still holds what was archived (its events hash to the digest \
            the log recorded), copies its events back into the live file at their positions, and \
            records a HistoryRestored event, in one transaction. Archives come back latest first. \
            The archive file is left where it is.

            Example:
              keelson db restore /var/lib/keelson/archive-2026-11.db
            """
    )

    @Argument(help: ArgumentHelp("The archive file.", valueName: "path"), transform: StoreOptions.parsePath)
    var archive: String

    @OptionGroup var store: FileStoreOptions
    @OptionGroup var format: OutputOptions

    func run() async throws {
        let store = try store.open(.write(create: false))
        Progress.say("restoring \(archive)…")
        let restored = try await store.restore(from: archive, actor: CommandActor.current)
        switch format.output {
        case .json, .yaml: try printStructured(restored, format.output)
        case .table:
            print("restored positions \(restored.firstPosition)–\(restored.lastPosition) (\(restored.events) events) from \(restored.path)")
        }
    }
}

/// Progress lines for people: on stderr, and only when it is a terminal, so scripts see none.
enum Progress {
    static func say(_ message: String) {
        guard isatty(STDERR_FILENO) != 0 else { return }
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }
}

extension Duration {
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
