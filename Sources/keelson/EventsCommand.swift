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
    @OptionGroup var readOnly: ReadOnlyOption
    @OptionGroup var format: OutputOptions

    @Option(help: ArgumentHelp("Only this stream, e.g. instance:shop/web@prod.", valueName: "stream"), transform: EventFields.stream)
    var stream: String?

    @Option(help: ArgumentHelp("Only this event type (repeat for several).", valueName: "type"), transform: EventFields.type)
    var type: [String] = []

    @Option(parsing: .unconditional, help: ArgumentHelp("Only events recorded since this time: an age (30m, 2h, 7d) or ISO 8601.", valueName: "time"),
            transform: TimeArgument.parse)
    var since: TimeArgument?

    @Option(parsing: .unconditional, help: ArgumentHelp("Only events recorded before this time: an age or ISO 8601.", valueName: "time"),
            transform: TimeArgument.parse)
    var until: TimeArgument?

    @Option(parsing: .unconditional, help: ArgumentHelp("Start at this global position (inclusive; positions start at 1).", valueName: "position"),
            transform: ArgumentParsers.positionFromOne)
    var from: Int64?

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "At most this many events, 1 to \(ArgumentParsers.maxLimit) (with --follow, 0 shows only new ones).", valueName: "limit"),
            transform: ArgumentParsers.limitOrZero)
    var limit: Int = 100

    @Flag(help: "Keep running and print new matching events as they are appended (Ctrl-C to stop).")
    var follow = false

    func validate() throws {
        if limit == 0 && !follow {
            throw ValidationError("--limit: expected a whole number from 1 to \(ArgumentParsers.maxLimit) (0 only with --follow), found 0")
        }
        try TimeArgument.checkRange(since: since, until: until)
    }

    func run() async throws {
        let api = try connection.readingAPI(readOnly)
        let now = Date()
        if let from, !follow {
            let last = try await api.lastPosition()
            if from > last + 1 {
                throw ValidationError("--from \(from) is past the end of the log (its last position is \(last))")
            }
        }
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
                String(event.version), event.type, event.actor ?? "-", Formatting.payloadSummary(event.payload, limit: 80),
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

    @OptionGroup var store: FileStoreOptions
    @OptionGroup var format: OutputOptions

    @Argument(help: ArgumentHelp("The stream, e.g. app:shop.", valueName: "stream"), transform: EventFields.stream)
    var stream: String

    @Argument(help: ArgumentHelp("The event type, e.g. Note.", valueName: "type"), transform: EventFields.type)
    var type: String

    @Option(help: ArgumentHelp("The JSON payload, or @FILE to read it from a file (at most \(EventFields.maxPayloadBytes / 1024 / 1024) MiB).", valueName: "json"))
    var data: String = "{}"

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "Only append if the stream is at this version: a number, 'none' (new stream) or 'any'.", valueName: "version"),
            transform: EventFields.expectedVersion)
    var expectVersion: ExpectedVersion = .any

    @Option(help: "Who is appending (recorded as the event's actor).", transform: ArgumentParsers.printable("--actor", limit: 256))
    var actor: String = CommandActor.current

    /// The payload, read and checked before anything is opened: valid JSON, and for a Keelson
    /// event type, a payload that decodes as that type with every value within the bounds config
    /// accepts (``PayloadCheck``).
    func payload() throws -> String {
        var payload = data
        if data.hasPrefix("@") {
            let contents = try BoundedFile.read(String(data.dropFirst()), flag: "--data", maxBytes: EventFields.maxPayloadBytes)
            guard let text = String(data: contents, encoding: .utf8) else { throw ValidationError("--data: the file is not UTF-8 text") }
            payload = text
        }
        guard payload.utf8.count <= EventFields.maxPayloadBytes else {
            throw ValidationError("--data: the payload is larger than \(EventFields.maxPayloadBytes) bytes")
        }
        do {
            _ = try JSONSerialization.jsonObject(with: Data(payload.utf8), options: [.fragmentsAllowed])
        } catch {
            throw ValidationError("--data is not valid JSON: \(BoundedInput.quoted(payload))")
        }
        let problems = PayloadCheck.problems(type: type, payload: payload)
        if !problems.isEmpty {
            throw ValidationError("--data is not a valid \(type) payload: \(problems.joined(separator: "; "))")
        }
        return payload
    }

    func validate() throws {
        _ = try payload()
    }

    func run() async throws {
        let payload = try payload()
        let store = try store.open(.write(create: true))
        let result = try await store.append(
            [NewEvent(type: type, payload: payload, actor: actor)], to: StreamID(stream), expecting: expectVersion)
        switch format.output {
        case .table:
            print("appended \(type) to \(stream) at position \(result.positions.lowerBound) (stream version \(result.newVersion))")
        case .json, .yaml:
            try printStructured(["position": result.positions.lowerBound, "version": result.newVersion], format.output)
        }
    }
}

/// The parts of an event given on the command line.
enum EventFields {
    static let maxPayloadBytes = 16 * 1024 * 1024

    /// A stream id: 1 to 256 characters, no control characters or spaces.
    @Sendable static func stream(_ text: String) throws -> String {
        guard !text.isEmpty, text.count <= 256, !text.unicodeScalars.contains(where: { $0.value <= 0x20 || (0x7F...0x9F).contains($0.value) }) else {
            throw InputProblem("a stream id is 1 to 256 characters without spaces or control characters (e.g. app:shop), found \(BoundedInput.quoted(text))")
        }
        return text
    }

    /// An event type: a letter, then letters, digits, '.', '_' or '-'; at most 128.
    @Sendable static func type(_ text: String) throws -> String {
        guard text.range(of: #"^[A-Za-z][A-Za-z0-9._-]{0,127}$"#, options: .regularExpression) != nil else {
            throw InputProblem("an event type is a letter followed by letters, digits, '.', '_' or '-', at most 128 (e.g. Note), found \(BoundedInput.quoted(text))")
        }
        return text
    }

    @Sendable static func expectedVersion(_ text: String) throws -> ExpectedVersion {
        switch text {
        case "any": return .any
        case "none": return .noStream
        default:
            guard case .success(let version) = BoundedInput.integer(text, in: 0...InputLimits.maxPosition) else {
                throw InputProblem("expected a stream version (0 to \(InputLimits.maxPosition)), 'none' or 'any', found \(BoundedInput.quoted(text))")
            }
            return version == 0 ? .noStream : .exact(version)
        }
    }
}
