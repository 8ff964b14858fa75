import ArgumentParser
import Foundation
import KeelsonStore

/// Options every command that opens the database shares.
struct StoreOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The Keelson database file (env KEELSON_DB; default .keelson/keelson.db). Created if missing.",
            valueName: "path"))
    var db: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Commit durability: full (fsync every commit; survives power loss) or normal (survives a crash of keelson, may lose the last commits on power loss). Env KEELSON_DURABILITY.",
            valueName: "full|normal"))
    var durability: DurabilityArgument?

    var path: String {
        db ?? ProcessInfo.processInfo.environment["KEELSON_DB"] ?? ".keelson/keelson.db"
    }

    /// Opens the store. Commands that only read pass `checkIntegrity: false`: `PRAGMA quick_check`
    /// reads the whole file (about 0.9 s per million events here), too slow for a quick query;
    /// commands that write, and `db check`, keep it.
    ///
    /// Commands that only read or check pass `mustExist: true`, so that a mistyped path is an error
    /// rather than a new, empty database.
    func open(checkIntegrity: Bool = true, mustExist: Bool = false) throws -> EventStore {
        if mustExist && !FileManager.default.fileExists(atPath: path) {
            throw ValidationError(
                "no Keelson database at \(path) (give --db PATH or set KEELSON_DB; `keelson demo` creates one)")
        }
        var configuration = StoreConfiguration()
        configuration.checkIntegrityOnOpen = checkIntegrity
        if let durability {
            configuration.durability = durability.value
        } else if let fromEnvironment = ProcessInfo.processInfo.environment["KEELSON_DURABILITY"] {
            guard let parsed = DurabilityArgument(argument: fromEnvironment) else {
                throw ValidationError("KEELSON_DURABILITY must be full or normal, not '\(fromEnvironment)'")
            }
            configuration.durability = parsed.value
        }
        return try EventStore(path: path, configuration: configuration)
    }
}

struct DurabilityArgument: ExpressibleByArgument {
    var value: Durability

    init?(argument: String) {
        guard let value = Durability(rawValue: argument.uppercased()) else { return nil }
        self.value = value
    }

    static var allValueStrings: [String] { ["full", "normal"] }
}

/// `-o table|json|yaml`.
struct OutputOptions: ParsableArguments {
    @Option(name: [.short, .long], help: "Output format: table (for people), json or yaml (for scripts).")
    var output: OutputFormat = .table
}
