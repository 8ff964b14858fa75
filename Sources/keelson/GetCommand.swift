import ArgumentParser
import Foundation
import KeelsonCore
import KeelsonStore
import Yams

struct GetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "Show recorded state.",
        subcommands: [GetDesired.self]
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

    @Argument(help: ArgumentHelp("APPLICATION/SERVICE or APPLICATION/SERVICE@CHANNEL.", valueName: "target"))
    var target: String

    @OptionGroup var store: StoreOptions

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
        let store = try store.open(checkIntegrity: false, mustExist: true)
        let prefix = target.contains("@") ? target : target + "@"
        var rows = try await store.desiredStates(prefix: prefix)
        if target.contains("@") { rows = rows.filter { $0.instance == target } }
        guard !rows.isEmpty else {
            throw ValidationError("no desired state for \(target) (has it been released? `keelson release \(target.split(separator: "@")[0]) --version V`)")
        }
        let decode = { (json: String) in (try? JSONDecoder().decode(JSONValue.self, from: Data(json.utf8))) ?? .null }
        let entries = rows.map {
            Entry(instance: $0.instance, digest: $0.digest, version: $0.version, parameters: decode($0.parameters),
                  position: $0.position, configDigest: $0.configDigest, document: decode($0.document))
        }
        switch output {
        case .json: print(try Formatting.json(entries))
        case .yaml:
            let encoder = YAMLEncoder()
            encoder.options.sortKeys = true
            print(try encoder.encode(entries), terminator: "")
        case .table:
            print(TextTable.render(
                headers: ["INSTANCE", "VERSION", "DIGEST", "POSITION", "RECORDED"],
                rows: rows.map { [$0.instance, $0.version, String($0.digest.prefix(19)) + "…", String($0.position), Formatting.time($0.recordedAtMilliseconds)] }))
        }
    }
}
