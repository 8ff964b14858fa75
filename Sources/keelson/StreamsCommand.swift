import ArgumentParser
import Foundation
import KeelsonCore

struct StreamsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "streams",
        abstract: "List every stream with its version, positions, times and event counts.",
        discussion: """
            Reads the stream catalogue projection, from the database file or through a server \
            (--server). With --at, shows it as it stood just after that position (or, with \
            --at-time, after the last event recorded by then): the catalogue's versions at the nearest \
            checkpoint, folded forward.

            Examples:
              keelson streams
              keelson streams --at 5000 -o json
              keelson streams --at-time 2026-11-26T14:03:00Z
            """
    )

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var readOnly: ReadOnlyOption
    @OptionGroup var format: OutputOptions

    @Option(parsing: .unconditional, help: ArgumentHelp("Show the catalogue as of this global position.", valueName: "position"),
            transform: ArgumentParsers.position)
    var at: Int64?

    @Option(parsing: .unconditional, help: ArgumentHelp("Show the catalogue as of this time (an age like 2h, or ISO 8601).", valueName: "time"),
            transform: TimeArgument.parse)
    var atTime: TimeArgument?

    func validate() throws {
        if at != nil && atTime != nil { throw ValidationError("give --at or --at-time, not both") }
    }

    func run() async throws {
        let api = try connection.readingAPI(readOnly)
        if let at {
            let last = try await api.lastPosition()
            guard at <= last else { throw ValidationError("--at \(at) is past the end of the log (its last position is \(last))") }
        }
        let summaries = try await api.streams(at: atTime, position: at)
        switch format.output {
        case .json, .yaml:
            try printStructured(summaries, format.output)
        case .table:
            let rows = summaries.map { summary in
                [
                    summary.streamID.rawValue, String(summary.version),
                    "\(summary.firstPosition)–\(summary.lastPosition)",
                    Formatting.time(summary.lastRecordedAtMilliseconds),
                    summary.eventCountsByType.sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" }
                        .joined(separator: " "),
                ]
            }
            print(TextTable.render(headers: ["STREAM", "VERSION", "POSITIONS", "LAST EVENT", "EVENTS BY TYPE"], rows: rows))
            if summaries.isEmpty { print("(no streams)") }
        }
    }
}
