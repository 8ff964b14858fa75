import ArgumentParser
import KeelsonCore

@main
struct Keelson: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keelson",
        abstract: "Keelson: an intent-based deployment control plane on an append-only event log.",
        discussion: """
            Every change Keelson makes or sees is an event in an SQLite file (--db, or KEELSON_DB; \
            default .keelson/keelson.db). Projections derived from the log answer questions fast and \
            can be rebuilt from it at any time.

            Try:
              keelson up                       start the server, apply examples/shop, release, follow
              keelson demo                     append a small sample history and show it
              keelson events --last 20         the latest events
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
}
