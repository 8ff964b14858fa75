import ArgumentParser
import Foundation
import KeelsonCompiler
import KeelsonCore

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check config files without recording anything.",
        discussion: """
            Reads a file, or every .yaml/.yml file under a directory, and reports every problem at \
            once as FILE:LINE:COLUMN: FIELD: what was found and what was expected. Exits 1 when \
            there is any problem. Manifests and task definitions must lie inside the config \
            directory (as `keelson apply` requires); --allow-files-from DIR allows another. See \
            docs/config.md for the format.

            Examples:
              keelson validate -f examples/shop
              keelson validate -f platform.yaml -o json
            """
    )

    @Option(name: [.short, .customLong("file")], help: ArgumentHelp("A config file or directory.", valueName: "path"))
    var file: String

    @Option(
        name: .customLong("allow-files-from"),
        help: ArgumentHelp("Also read manifests and task definitions from this directory (repeat for several).", valueName: "dir"))
    var allowFilesFrom: [String] = []

    @OptionGroup var format: OutputOptions

    struct Report: Encodable {
        var ok: Bool
        var runtimes: [String]
        var applications: [String: [String]]
        var services: [String]
        var problems: [ConfigDiagnostic]
    }

    func run() throws {
        let files = DiskFiles()
        let loaded = ConfigSource.load(path: file, from: files, allowing: allowFilesFrom)
        var problems = loaded.diagnostics
        var report = Report(ok: false, runtimes: [], applications: [:], services: [], problems: [])
        switch IntentParser.parse(loaded, files: files) {
        case .success(let intent):
            report.runtimes = intent.runtimes.map(\.name)
            for application in intent.applications {
                report.applications[application.name] = application.channels.map(\.name)
            }
            report.services = intent.services.map { "\($0.application)/\($0.name)" }
        case .failure(let errors):
            problems += errors.diagnostics
        }
        report.problems = problems.sorted()
        report.ok = problems.isEmpty
        switch format.output {
        case .json, .yaml:
            try printStructured(report, format.output)
        case .table:
            if report.ok {
                print("\(BoundedInput.printable(file)): ok — \(report.runtimes.count) runtime(s), \(report.applications.count) application(s), \(report.services.count) service(s)")
                for (name, channels) in report.applications.sorted(by: { $0.key < $1.key }) {
                    print("  \(name): \(channels.joined(separator: ", "))")
                }
                for service in report.services { print("  service \(service)") }
            } else {
                print(ConfigErrors(problems).description)
            }
        }
        if !report.ok { throw ExitCode(1) }
    }
}
