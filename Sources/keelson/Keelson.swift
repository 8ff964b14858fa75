import ArgumentParser
import Foundation
import KeelsonCore

@main
struct Keelson: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keelson",
        abstract: "Keelson: an intent-based deployment control plane on an append-only event log.",
        discussion: """
            Start here:
              keelson up                           the quickstart: server, example, release
              keelson status                       every instance: release, status, why
              keelson release APP/SVC --version V  release a version through the channels
              keelson approve APP/SVC@CHANNEL      approve a release that waits for one
              keelson timeline APP/SVC             what happened, newest first
              keelson explain APP/SVC@CHANNEL      why an instance is where it is
              keelson down                         stop the local processes up started

            Every change Keelson makes or sees is an event in an SQLite file (--db, or KEELSON_DB; \
            default .keelson/keelson.db). Most commands work on that file directly, or through a \
            running `keelson serve` with --server URL (or KEELSON_SERVER) and a token in \
            KEELSON_TOKEN. `keelson COMMAND --help` explains each command; `keelson --version` \
            prints the version.
            """,
        groupedSubcommands: [
            CommandGroup(name: "Getting started", subcommands: [
                UpCommand.self, DownCommand.self, StatusCommand.self, DemoCommand.self, VersionCommand.self,
            ]),
            CommandGroup(name: "Releasing", subcommands: [
                ValidateCommand.self, ApplyCommand.self, ReleaseCommand.self, ApproveCommand.self, RejectCommand.self,
                PauseCommand.self, ResumeCommand.self, RollbackCommand.self, MarkBadCommand.self, AlertCommand.self,
            ]),
            CommandGroup(name: "Inspecting", subcommands: [
                TimelineCommand.self, ExplainCommand.self, GetCommand.self, EventsCommand.self, StreamsCommand.self, ReplayCommand.self,
            ]),
            CommandGroup(name: "Running Keelson", subcommands: [
                ServeCommand.self, WorkerCommand.self, RuntimeCommand.self, TokenCommand.self,
            ]),
            CommandGroup(name: "Operating the store", subcommands: [DatabaseCommand.self, SchemaCommand.self]),
        ]
    )

    /// ArgumentParser's `main`, with two differences: an error message is printed with control
    /// characters escaped and very long lines cut, because it may quote a value from the command
    /// line, the environment or a file (an ESC in an argument must not reach the terminal raw);
    /// and a usage error found while a command runs (a position past the end of the log, say) is
    /// one sentence, without the root command's usage lines that would not fit it.
    static func main() async {
        // `keelson --version`, but not as ArgumentParser's version flag: that one is listed in
        // every subcommand's help (where `release --version` is a release's version), and a root
        // flag of that name would take `release --version 1.0` for itself.
        if Array(CommandLine.arguments.dropFirst()) == ["--version"] {
            print(KeelsonVersion.current)
            Foundation.exit(0)
        }
        var command: any ParsableCommand
        do {
            command = try await asyncParseAsRoot()
        } catch {
            exit(reporting: error)
        }
        do {
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as ValidationError {
            FileHandle.standardError.write(Data((TerminalText.escaped("Error: \(error.message)") + "\n").utf8))
            Foundation.exit(ExitCode.validationFailure.rawValue)
        } catch {
            exit(reporting: error)
        }
    }

    private static func exit(reporting error: any Error) -> Never {
        let code = exitCode(for: error)
        let message = fullMessage(for: error)
        if code.isSuccess {
            if !message.isEmpty { print(message) }
        } else if !message.isEmpty {
            FileHandle.standardError.write(Data((TerminalText.escaped(message) + "\n").utf8))
        }
        Foundation.exit(code.rawValue)
    }
}
