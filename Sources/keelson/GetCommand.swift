import ArgumentParser
import Foundation
import KeelsonCore
import KeelsonEngine
import KeelsonRuntimes
import KeelsonStore
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

    @OptionGroup var store: FileStoreOptions
    @OptionGroup var readOnly: ReadOnlyOption

    @Option(name: [.short, .long], help: "Output format: table, json or yaml (the last two include the documents).")
    var output: Format = .table

    enum Format: String, ExpressibleByArgument, CaseIterable { case table, json, yaml }

    struct Entry: Encodable {
        var instance: String
        var digest: String
        var version: String
        var parameters: JSONValue
        var position: Int64
        var configDigest: String
        var document: JSONValue
    }

    func run() async throws {
        let store = try store.open(.read(readOnly: readOnly.readOnly))
        let rows = try await target.desiredStates(in: store)
        guard !rows.isEmpty else {
            throw ValidationError("no desired state for \(target) (has it been released? `keelson release \(target.application)/\(target.service ?? "SERVICE") --version V`)")
        }
        let decode = { (json: String) in (try? JSONDecoder().decode(JSONValue.self, from: Data(json.utf8))) ?? .null }
        let entries = rows.map {
            Entry(instance: $0.instance, digest: $0.digest, version: $0.version, parameters: decode($0.parameters),
                  position: $0.position, configDigest: $0.configDigest, document: decode($0.document))
        }
        switch output {
        case .json: print(try Formatting.json(entries))
        case .yaml: print(try Formatting.yaml(entries), terminator: "")
        case .table:
            print(TextTable.render(
                headers: ["INSTANCE", "VERSION", "DIGEST", "POSITION", "RECORDED"],
                rows: rows.map { [$0.instance, $0.version, String($0.digest.prefix(19)) + "…", String($0.position), Formatting.time($0.recordedAtMilliseconds)] }))
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

    @OptionGroup var store: FileStoreOptions
    @OptionGroup var readOnly: ReadOnlyOption

    @Option(name: [.short, .long], help: "Output format: table, json or yaml.")
    var output: GetDesired.Format = .table

    struct Entry: Encodable {
        var instance: String
        var runtime: String
        var healthy: Bool
        var versions: [String]
        var observation: Observation
        var fetchedPosition: Int64
        var lastSeenPosition: Int64
        var lastSeenAt: String
    }

    func validate() throws {
        if refresh && readOnly.readOnly { throw ValidationError("--refresh records fetches, which a --read-only open cannot do") }
    }

    func run() async throws {
        if refresh {
            let context = try await RuntimeContext.open(store)
            let desired = try await target.desiredStates(in: context.store)
            guard !desired.isEmpty else { throw ValidationError("no desired state for \(target): nothing to fetch") }
            for row in desired {
                guard let rowID = ServiceInstanceID(row.instance) else { continue }
                let (id, state, runtime) = try await context.instance(rowID)
                do {
                    try await RuntimeRecorder(runtime: runtime, store: context.store, actor: CommandActor.current).fetch(id, desired: state)
                } catch {
                    FileHandle.standardError.write(Data("warning: \(error)\n".utf8))
                }
            }
        }
        let store = try store.open(.read(readOnly: readOnly.readOnly))
        let rows = try await store.currentStates(prefix: target.instancePrefix).filter { target.matches($0.instance) }
        guard !rows.isEmpty else {
            throw ValidationError("no observation of \(target) has been recorded yet (fetch one with `keelson get current \(target) --refresh`)")
        }
        let entries = rows.map { row in
            let observation = (try? JSONDecoder().decode(Observation.self, from: Data(row.observation.utf8))) ?? Observation(objects: [])
            return Entry(
                instance: row.instance, runtime: row.runtime, healthy: row.healthy, versions: observation.versions,
                observation: observation, fetchedPosition: row.fetchedPosition, lastSeenPosition: row.lastSeenPosition,
                lastSeenAt: Formatting.time(row.lastSeenAtMilliseconds))
        }
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

extension ScopeArgument {
    /// The key prefix of this service's (or instance's) rows in the projections.
    var instancePrefix: String {
        guard let service else { return application + "/" }
        return channel == nil ? "\(application)/\(service)@" : description
    }

    /// Whether an instance (`app/service@channel`) lies within this scope.
    func matches(_ instance: String) -> Bool {
        channel == nil ? instance.hasPrefix(instancePrefix) : instance == description
    }

    func desiredStates(in store: EventStore) async throws -> [DesiredStateRow] {
        try await store.desiredStates(prefix: instancePrefix).filter { matches($0.instance) }
    }
}
