import ArgumentParser
import Foundation
import KeelsonCore
import KeelsonService

struct TimelineCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "timeline",
        abstract: "What happened to an application, a service or an instance, newest first.",
        discussion: """
            One line per event that tells a deploy's story: releases, desired states, decisions, \
            applies, changed observations, approvals, rollbacks, releases marked bad, pauses, alerts \
            and lease changes — what happened, which release, why, who. An instance's timeline \
            includes its service's releases. Reads the timeline projection: the latest entries cost \
            the same however long the log is. --before POSITION pages further back (the next cursor \
            is printed at the end).

            Examples:
              keelson timeline shop/web@prod-eu
              keelson timeline shop --since 2h --kind decision --kind apply
              keelson timeline shop/web -o json --limit 500
            """)

    @Argument(help: ArgumentHelp("APPLICATION[/SERVICE[@CHANNEL]] (default: everything).", valueName: "scope"),
              transform: ArgumentParsers.scope)
    var scope: ScopeArgument?

    @Option(parsing: .unconditional, help: ArgumentHelp("Only entries since then (an age like 2h, or ISO 8601).", valueName: "time"), transform: TimeArgument.parse)
    var since: TimeArgument?

    @Option(parsing: .unconditional, help: ArgumentHelp("Only entries until then.", valueName: "time"), transform: TimeArgument.parse)
    var until: TimeArgument?

    @Option(name: .customLong("kind"), help: ArgumentHelp(
        "Only these kinds (repeatable): \(TimelineEntry.Kind.allCases.map(\.rawValue).joined(separator: ", ")).", valueName: "kind"),
            transform: TimelineCommand.kind)
    var kinds: [TimelineEntry.Kind] = []

    @Option(parsing: .unconditional, help: ArgumentHelp("Entries before this position (paging).", valueName: "position"),
            transform: ArgumentParsers.positionFromOne)
    var before: Int64?

    @Option(parsing: .unconditional, help: ArgumentHelp("At most this many entries, 1 to \(ArgumentParsers.maxLimit).", valueName: "limit"),
            transform: ArgumentParsers.limit)
    var limit = 100

    @Option(name: [.short, .long], help: "Output format: table, json or yaml.")
    var output: TableOrJSON = .table

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var readOnly: ReadOnlyOption

    @Sendable static func kind(_ text: String) throws -> TimelineEntry.Kind {
        guard let kind = TimelineEntry.Kind(rawValue: text) else {
            throw InputProblem("unknown kind \(BoundedInput.quoted(text)); known: \(TimelineEntry.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return kind
    }

    func validate() throws {
        try TimeArgument.checkRange(since: since, until: until)
    }

    func run() async throws {
        var query = TimelineQuery()
        if let scope {
            query.application = scope.application
            query.service = scope.service
            query.channel = scope.channel
        }
        query.kinds = kinds
        query.before = before
        query.limit = limit
        let page = try await connection.readingAPI(readOnly).timeline(query, since: since, until: until)
        let entries = page.entries
        switch output {
        case .json, .yaml:
            try printStructured(page, output)
        case .table:
            guard !entries.isEmpty else {
                print("nothing in the timeline\(scope.map { " of \($0)" } ?? "") for these filters")
                return
            }
            print(TextTable.render(
                headers: ["TIME", "POSITION", "WHERE", "KIND", "WHO", "WHAT"],
                rows: entries.map { entry in
                    let place = [entry.application, entry.service].compactMap { $0 }.joined(separator: "/")
                        + (entry.channel.map { "@\($0)" } ?? "")
                    return [Formatting.time(entry.atMilliseconds), String(entry.position), place.isEmpty ? "-" : place,
                            entry.kind.rawValue, entry.actor ?? "-", entry.line]
                }))
            if let next = page.next {
                print("(more: --before \(next))")
            }
        }
    }
}
