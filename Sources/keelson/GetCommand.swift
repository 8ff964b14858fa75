import ArgumentParser
import Foundation
import KeelsonCore
import KeelsonService
import Yams

struct GetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "Show recorded state.",
        subcommands: [GetDesired.self, GetCurrent.self]
    )
}

struct GetDesired: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "desired",
        abstract: "Show the desired state of a service's instances (or one instance).",
        discussion: """
            Examples:
              keelson get desired shop/web
              keelson get desired shop/web@prod-eu -o yaml
            """
    )

    @Argument(help: ArgumentHelp("APPLICATION/SERVICE or APPLICATION/SERVICE@CHANNEL.", valueName: "target"),
              transform: ArgumentParsers.serviceOrInstance)
    var target: ScopeArgument

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var readOnly: ReadOnlyOption

    @Option(name: [.short, .long], help: "Output format: table, json or yaml (the last two include the documents).")
    var output: Format = .table

    enum Format: String, ExpressibleByArgument, CaseIterable { case table, json, yaml }

    func run() async throws {
        let entries = try await connection.readingAPI(readOnly).desiredStates(scope: target.description).instances
        switch output {
        case .json: print(try Formatting.json(entries))
        case .yaml: print(try Formatting.yaml(entries), terminator: "")
        case .table:
            print(TextTable.render(
                headers: ["INSTANCE", "VERSION", "DIGEST", "POSITION", "RECORDED"],
                rows: entries.map { [$0.instance, $0.version, String($0.digest.prefix(19)) + "…", String($0.position), $0.recordedAt] }))
        }
    }
}

struct GetCurrent: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "current",
        abstract: "Show the latest observation of a service's instances (or one instance).",
        discussion: """
            What the runtime last reported, as recorded by the last fetch: per object (a replica, a \
            Deployment…) its version, ready/desired replicas, health and drift. --refresh fetches \
            every instance now (recording it) before showing.

            Examples:
              keelson get current shop/web
              keelson get current shop/web@staging --refresh -o json
            """
    )

    @Argument(help: ArgumentHelp("APPLICATION/SERVICE or APPLICATION/SERVICE@CHANNEL.", valueName: "target"),
              transform: ArgumentParsers.serviceOrInstance)
    var target: ScopeArgument

    @Flag(help: "Fetch from the runtimes now (recorded as events) instead of showing the last recorded fetch.")
    var refresh = false

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var readOnly: ReadOnlyOption

    @Option(name: [.short, .long], help: "Output format: table, json or yaml.")
    var output: GetDesired.Format = .table

    func validate() throws {
        if refresh && readOnly.readOnly { throw ValidationError("--refresh records fetches, which a --read-only open cannot do") }
    }

    func run() async throws {
        let api = try refresh ? connection.api() : connection.readingAPI(readOnly)
        if refresh {
            for failed in try await api.fetch(FetchBody(scope: target.description)).instances {
                if let error = failed.error { FileHandle.standardError.write(Data("warning: \(failed.instance): \(error)\n".utf8)) }
            }
        }
        let entries = try await api.currentStates(scope: target.description).instances
        switch output {
        case .json: print(try Formatting.json(entries))
        case .yaml: print(try Formatting.yaml(entries), terminator: "")
        case .table:
            for (index, entry) in entries.enumerated() {
                if index > 0 { print() }
                let health = entry.observation.objects.isEmpty ? "nothing running" : entry.healthy ? "healthy" : "not healthy"
                print("\(entry.instance) on \(entry.runtime): \(health)"
                    + (entry.versions.isEmpty ? " " : ", running \(entry.versions.joined(separator: ", ")) ")
                    + "(seen \(entry.lastSeenAt), position \(entry.lastSeenPosition))")
                print(CurrentTable.render(entry.observation))
            }
        }
    }
}
