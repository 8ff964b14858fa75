import ArgumentParser
import Foundation
import KeelsonCore
import KeelsonStore

struct StreamsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "streams",
        abstract: "List every stream with its version, positions, times and event counts.",
        discussion: """
            Reads the stream catalogue projection. With --at, shows it as it stood just after that \
            position (or time): the nearest snapshot, folded forward.

            Examples:
              keelson streams
              keelson streams --at 5000 -o json
              keelson streams --at-time 2026-11-26T14:03:00Z
            """
    )

    @OptionGroup var store: FileStoreOptions
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
        let store = try store.open(.read(readOnly: readOnly.readOnly))
        let summaries: [StreamSummary]
        if let at {
            let last = try await store.lastPosition()
            guard at <= last else { throw ValidationError("--at \(at) is past the end of the log (its last position is \(last))") }
            summaries = try await store.streamCatalogue(atPosition: at)
        } else if let atTime {
            summaries = try await store.streamCatalogue(
                atPosition: try await store.position(atTime: atTime.date(relativeTo: Date())))
        } else {
            summaries = try await store.streamCatalogue()
        }
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
