import ArgumentParser
import Foundation
import KeelsonCore
import KeelsonService
import KeelsonStore

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

    @Argument(help: ArgumentHelp("APPLICATION[/SERVICE[@CHANNEL]] (default: everything).", valueName: "scope"))
    var scope: String?

    @Option(help: ArgumentHelp("Only entries since then (an age like 2h, or ISO 8601).", valueName: "time"))
    var since: TimeArgument?

    @Option(help: ArgumentHelp("Only entries until then.", valueName: "time"))
    var until: TimeArgument?

    @Option(name: .customLong("kind"), help: ArgumentHelp(
        "Only these kinds (repeatable): \(TimelineEntry.Kind.allCases.map(\.rawValue).joined(separator: ", ")).", valueName: "kind"))
    var kinds: [String] = []

    @Option(help: ArgumentHelp("Entries before this position (paging).", valueName: "position"))
    var before: Int64?

    @Option(help: "At most this many entries.")
    var limit = 100

    @Option(name: [.short, .long], help: "Output format: table, json or yaml.")
    var output: TableOrJSON = .table

    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        var query = TimelineQuery()
        if let scope {
            let parts = scope.split(separator: "@", maxSplits: 1).map(String.init)
            let names = parts[0].split(separator: "/", maxSplits: 1).map(String.init)
            guard !names.isEmpty, !names[0].isEmpty, parts.count == 1 || names.count == 2 else {
                throw ValidationError("'\(scope)' is not a scope: write APPLICATION, APPLICATION/SERVICE or APPLICATION/SERVICE@CHANNEL")
            }
            query.application = names[0]
            query.service = names.count > 1 ? names[1] : nil
            query.channel = parts.count > 1 ? parts[1] : nil
        }
        query.kinds = try kinds.map { text in
            guard let kind = TimelineEntry.Kind(rawValue: text) else {
                throw ValidationError("--kind: unknown kind '\(text)'; known: \(TimelineEntry.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return kind
        }
        guard (1...10_000).contains(limit) else { throw ValidationError("--limit must be from 1 to 10000") }
        query.before = before
        query.limit = limit
        let page = try await connection.api().timeline(query, since: since, until: until)
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
