import ArgumentParser
import Foundation
import KeelsonCore
import KeelsonService
import KeelsonStore

struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Read the event log, or append to it.",
        discussion: """
            `keelson events` lists events (filters: --stream, --type, --since, --until, --from, --limit, \
            --follow; see `keelson events list --help`).

            Examples:
              keelson events --stream instance:shop/web@prod --since 2h
              keelson events --follow -o json
              keelson events append app:shop Note --data '{"text":"hello"}'
            """,
        subcommands: [ListEvents.self, AppendEvent.self],
        defaultSubcommand: ListEvents.self
    )
}

struct ListEvents: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "Show events (the default for `keelson events`).",
        discussion: """
            Without --from, shows the latest --limit matching events; with --from, the first --limit \
            events from that position on. Events always print oldest first.

            Examples:
              keelson events --stream instance:shop/web@prod --since 2h
              keelson events --type ApplyFailed --type ApplySucceeded -o json
              keelson events --from 1 --limit 1000 -o json > log.json
              keelson events --follow            # then append from another terminal

            With -o json, prints a JSON array; with --follow, one JSON object per line. Against a \
            server (--server), --follow reads the live event stream and reconnects by itself when \
            the server restarts, resuming after the last event it printed.
            """
    )

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var format: OutputOptions

    @Option(help: ArgumentHelp("Only this stream, e.g. instance:shop/web@prod.", valueName: "stream"))
    var stream: String?

    @Option(help: ArgumentHelp("Only this event type (repeat for several).", valueName: "type"))
    var type: [String] = []

    @Option(help: ArgumentHelp("Only events recorded since this time: an age (30m, 2h, 7d) or ISO 8601.", valueName: "time"))
    var since: TimeArgument?

    @Option(help: ArgumentHelp("Only events recorded before this time: an age or ISO 8601.", valueName: "time"))
    var until: TimeArgument?

    @Option(help: ArgumentHelp("Start at this global position (inclusive).", valueName: "position"))
    var from: Int64?

    @Option(help: "At most this many events (before following).")
    var limit: Int = 100

    @Flag(help: "Keep running and print new matching events as they are appended (Ctrl-C to stop).")
    var follow = false

    func validate() throws {
        if limit < 0 { throw ValidationError("--limit must be 0 or more, not \(limit)") }
        if let from, from < 1 { throw ValidationError("--from is a position, which starts at 1, not \(from)") }
    }

    func run() async throws {
        let api = try connection.api()
        let now = Date()
        var query = EventsQuery()
        query.after = (from ?? 1) - 1
        query.stream = stream
        query.types = type
        query.since = since?.date(relativeTo: now)
        query.until = until?.date(relativeTo: now)
        query.limit = max(limit, 1)
        query.latest = from == nil
        let events = limit == 0 ? [] : try await api.events(query).events.map(\.recorded)

        switch format.output {
        case .table:
            emit(EventTable.render(events, header: true))
            if events.isEmpty && !follow { emit("(no events)") }
        case .json, .yaml:
            if follow {
                for event in events { emit(try Formatting.json(EventJSON(event: event), pretty: false)) }
            } else if format.output == .yaml {
                print(try Formatting.yaml(events.map { APIEvent($0) }), terminator: "")
            } else {
                emit(try Formatting.json(events.map(EventJSON.init)))
            }
        }
        guard follow else { return }

        let after = max(events.last?.position ?? 0, try await api.lastPosition())
        for try await event in api.follow(after: after, stream: stream, types: type) {
            switch format.output {
            case .table: emit(EventTable.render([event], header: false))
            case .json, .yaml: emit(try Formatting.json(EventJSON(event: event), pretty: false))
            }
        }
    }
}

/// Writes a line straight to standard output, so that it shows up at once even in a pipe
/// (`print` buffers until exit there, which would hide a follower's output).
func emit(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

enum EventTable {
    static func render(_ events: [RecordedEvent], header: Bool) -> String {
        let rows = events.map { event in
            [
                String(event.position), Formatting.time(event.recordedAtMilliseconds), event.streamID.rawValue,
                String(event.version), event.type, event.actor ?? "-", Formatting.truncated(event.payload, to: 60),
            ]
        }
        let table = TextTable.render(
            headers: ["POSITION", "RECORDED", "STREAM", "VERSION", "TYPE", "ACTOR", "PAYLOAD"], rows: rows)
        return header ? table : table.split(separator: "\n", omittingEmptySubsequences: false).dropFirst().joined(separator: "\n")
    }
}

struct AppendEvent: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "append",
        abstract: "Append one event to a stream (a low-level tool; later commands append typed events).",
        discussion: """
            Examples:
              keelson events append app:shop Note --data '{"text":"hello"}'
              keelson events append app:shop Note --data @note.json --expect-version 3
            """
    )

    @OptionGroup var store: StoreOptions
    @OptionGroup var format: OutputOptions

    @Argument(help: ArgumentHelp("The stream, e.g. app:shop.", valueName: "stream"))
    var stream: String

    @Argument(help: ArgumentHelp("The event type, e.g. Note.", valueName: "type"))
    var type: String

    @Option(help: ArgumentHelp("The JSON payload, or @FILE to read it from a file.", valueName: "json"))
    var data: String = "{}"

    @Option(help: ArgumentHelp("Only append if the stream is at this version: a number, 'none' (new stream) or 'any'.", valueName: "version"))
    var expectVersion: String = "any"

    @Option(help: "Who is appending (recorded as the event's actor).")
    var actor: String = CommandActor.current

    func run() async throws {
        let expected: ExpectedVersion
        switch expectVersion {
        case "any": expected = .any
        case "none": expected = .noStream
        default:
            guard let version = Int64(expectVersion), version >= 0 else {
                throw ValidationError("--expect-version must be a number, 'none' or 'any', not '\(expectVersion)'")
            }
            expected = version == 0 ? .noStream : .exact(version)
        }
        var payload = data
        if data.hasPrefix("@") {
            let file = String(data.dropFirst())
            guard let contents = FileManager.default.contents(atPath: file) else {
                throw ValidationError("cannot read payload file \(file)")
            }
            payload = String(decoding: contents, as: UTF8.self)
        }
        do {
            _ = try JSONSerialization.jsonObject(with: Data(payload.utf8), options: [.fragmentsAllowed])
        } catch {
            throw ValidationError("--data is not valid JSON: \(Formatting.truncated(payload, to: 80))")
        }
        let store = try store.open()
        let result = try await store.append(
            [NewEvent(type: type, payload: payload, actor: actor)], to: StreamID(stream), expecting: expected)
        switch format.output {
        case .table:
            print("appended \(type) to \(stream) at position \(result.positions.lowerBound) (stream version \(result.newVersion))")
        case .json, .yaml:
            try printStructured(["position": result.positions.lowerBound, "version": result.newVersion], format.output)
        }
    }
}
