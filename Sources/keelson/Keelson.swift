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
}
