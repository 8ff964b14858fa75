import ArgumentParser
import Foundation
import KeelsonCore

@main
struct Keelson: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keelson",
        abstract: "Keelson: an intent-based deployment control plane on an append-only event log.",
        discussion: """
            Every change Keelson makes or sees is an event in an SQLite file (--db, or KEELSON_DB; \
            default .keelson/keelson.db). Projections derived from the log answer questions fast and \
            can be rebuilt from it at any time. Most commands work on that file directly, or through \
            a running `keelson serve` with --server URL (or KEELSON_SERVER) and a token in KEELSON_TOKEN.

            Try:
              keelson up                       quickstart: server, examples/shop, a release
              keelson serve                    the state server (HTTP API, worker, metrics)
              keelson status                   every instance: release, status, why
              keelson events --limit 20        the latest events
              keelson events --follow          watch new events as they are appended
              keelson streams                  every stream with its version and counts
              keelson db check                 integrity check + projection verify
            """,
        version: KeelsonVersion.current,
        subcommands: [
            EventsCommand.self, StreamsCommand.self, ValidateCommand.self, ApplyCommand.self, ReleaseCommand.self,
            GetCommand.self, RuntimeCommand.self, StatusCommand.self, TimelineCommand.self, WorkerCommand.self, ApproveCommand.self, RejectCommand.self,
            PauseCommand.self, ResumeCommand.self, RollbackCommand.self, MarkBadCommand.self, AlertCommand.self, ReplayCommand.self,
            ExplainCommand.self, ServeCommand.self, UpCommand.self, TokenCommand.self,
            SchemaCommand.self, DatabaseCommand.self, DemoCommand.self,
            VersionCommand.self,
        ]
    )

    /// ArgumentParser's `main`, with two differences: an error message is printed with control
    /// characters escaped and very long lines cut, because it may quote a value from the command
    /// line, the environment or a file (an ESC in an argument must not reach the terminal raw);
    /// and a usage error found while a command runs (a position past the end of the log, say) is
    /// one sentence, without the root command's usage lines that would not fit it.
    static func main() async {
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
