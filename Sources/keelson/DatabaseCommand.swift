import ArgumentParser
import Foundation
import KeelsonCore
import KeelsonStore

struct DatabaseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db",
        abstract: "Check and repair the database.",
        subcommands: [CheckDatabase.self, RebuildDatabase.self]
    )
}

struct CheckDatabase: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check the file's integrity and verify every projection against a rebuild.",
        discussion: """
            Runs SQLite's full integrity check, then rebuilds every projection from position 0 into \
            scratch tables (on a separate read transaction, without blocking appends) and compares \
            them with the live tables row by row. Exits 1 if anything differs, listing each \
            difference with its table, key and both values. Repair with `keelson db rebuild`.
            """
    )

    @OptionGroup var store: StoreOptions
    @OptionGroup var format: OutputOptions

    struct Report: Encodable {
        var database: String
        var integrityProblems: [String]
        var projections: VerifyReport
        var ok: Bool
    }

    func run() async throws {
        let store = try store.open(mustExist: true)
        Progress.say("checking the integrity of \(store.path)…")
        let integrity = try await store.integrityProblems()
        Progress.say("verifying projections against a rebuild of \(try await store.lastPosition()) events…")
        let verify = try await store.verifyProjections()
        let report = Report(
            database: store.path, integrityProblems: integrity, projections: verify,
            ok: integrity.isEmpty && verify.isClean)
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
            print(report.ok ? "check: clean" : "check: PROBLEMS FOUND (repair projections with `keelson db rebuild`)")
        }
        if !report.ok { throw ExitCode(1) }
    }
}

struct RebuildDatabase: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebuild",
        abstract: "Throw away every projection (or the named ones) and fold the whole log again.",
        discussion: "The events are never touched. Appends wait while the rebuild runs (one transaction)."
    )

    @OptionGroup var store: StoreOptions
    @OptionGroup var format: OutputOptions

    @Option(help: ArgumentHelp("Only this projection (repeat for several).", valueName: "name"))
    var projection: [String] = []

    func run() async throws {
        let store = try store.open(mustExist: true)
        Progress.say("rebuilding from \(try await store.lastPosition()) events…")
        let started = ContinuousClock.now
        let events = try await store.rebuildProjections(named: projection.isEmpty ? nil : projection)
        let seconds = (ContinuousClock.now - started).seconds
        let names = projection.isEmpty ? store.projections.map(\.name) : projection
        switch format.output {
        case .json, .yaml:
            try printStructured(RebuildReport(projections: names, events: events, seconds: seconds), format.output)
        case .table:
            print("rebuilt \(names.joined(separator: ", ")) from \(events) events in \(String(format: "%.2f", seconds))s")
        }
    }

    struct RebuildReport: Encodable {
        var projections: [String]
        var events: Int64
        var seconds: Double
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
