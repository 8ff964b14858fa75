import ArgumentParser
import Foundation
import KeelsonCore
import KeelsonEngine
import KeelsonService
import KeelsonStore

/// Options every command that opens the database shares.
struct StoreOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The Keelson database file (env KEELSON_DB; default .keelson/keelson.db). Only up, serve, apply, demo, token create and events append create it when missing (mode 0600).",
            valueName: "path"),
        transform: StoreOptions.parsePath)
    var db: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Commit durability: full (fsync every commit; survives power loss) or normal (survives a crash of keelson, may lose the last commits on power loss). Env KEELSON_DURABILITY.",
            valueName: "full|normal"))
    var durability: DurabilityArgument?

    static let defaultPath = ".keelson/keelson.db"

    var path: String {
        db ?? Environment.value("KEELSON_DB") ?? Self.defaultPath
    }

    /// A path from the command line or the environment: not empty (SQLite would open a temporary
    /// database), not absurdly long, no control characters.
    @Sendable static func parsePath(_ text: String) throws -> String {
        guard !text.isEmpty, text.utf8.count <= 4096,
              !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
        else {
            throw ValidationError("expected a file path (1 to 4096 bytes, no control characters), found \(BoundedInput.quoted(text))")
        }
        return text
    }

    func validate() throws {
        if let fromEnvironment = Environment.value("KEELSON_DB") {
            do { _ = try Self.parsePath(fromEnvironment) } catch { throw ValidationError("KEELSON_DB: \(error)") }
        }
        _ = try durabilityValue()
    }

    private func durabilityValue() throws -> Durability? {
        if let durability { return durability.value }
        guard let fromEnvironment = Environment.value("KEELSON_DURABILITY") else { return nil }
        guard let parsed = DurabilityArgument(argument: fromEnvironment) else {
            throw ValidationError("KEELSON_DURABILITY must be full or normal, not \(BoundedInput.quoted(fromEnvironment))")
        }
        return parsed.value
    }

    /// How a command uses the database.
    enum Access {
        /// Reads only: the file must exist, and is opened read-only when `readOnly` is asked or
        /// when the file or its folder cannot be written (a copy on a read-only mount, another
        /// user's file). No integrity check by default: `PRAGMA quick_check` reads the whole file
        /// (about 0.9 s per million events), too slow for a quick query.
        case read(readOnly: Bool)
        /// Records events: the file must be writable; `create` makes a new database when missing
        /// (otherwise a mistyped path is an error rather than a new, empty database).
        case write(create: Bool)
    }

    func open(_ access: Access, checkIntegrity: Bool? = nil) throws -> EventStore {
        var configuration = StoreConfiguration()
        configuration.progress = { Progress.say($0) }
        if let durability = try durabilityValue() { configuration.durability = durability }
        switch access {
        case .read(let readOnly):
            try requireExisting()
            configuration.readOnly = readOnly || !Self.isWritable(path)
            configuration.checkIntegrityOnOpen = checkIntegrity ?? false
        case .write(let create):
            if !create { try requireExisting() }
            configuration.checkIntegrityOnOpen = checkIntegrity ?? true
        }
        let store = try EventStore(path: path, configuration: configuration)
        for warning in store.openWarnings {
            FileHandle.standardError.write(Data(TerminalText.escaped("warning: \(warning)\n").utf8))
        }
        return store
    }

    private func requireExisting() throws {
        // lstat-free: a dangling symbolic link is "no database" too.
        if !FileManager.default.fileExists(atPath: path) {
            throw ValidationError(
                "no Keelson database at \(BoundedInput.printable(path, limit: 1000)): give --db PATH or set KEELSON_DB, or create one — `keelson up` starts with the example config, `keelson apply -f DIR` with yours")
        }
    }

    /// Whether this process may write the file and its folder (where SQLite keeps `-wal` and
    /// `-shm`). A read-only mount answers no even to root.
    static func isWritable(_ path: String) -> Bool {
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        return access(path, W_OK) == 0 && access(folder, W_OK) == 0
    }

    /// Where local runtimes keep their state next to this database (`state/`), created mode 0700
    /// when missing: it holds the logs and pid files of the processes they start.
    func stateRoot() -> String {
        let root = RuntimeFactory.stateRoot(forDatabase: path)
        if !FileManager.default.fileExists(atPath: root) {
            try? FileManager.default.createDirectory(
                atPath: root, withIntermediateDirectories: true, attributes: [.posixPermissions: EventStore.folderMode])
        }
        return root
    }
}

/// `--read-only`, for the commands that only read.
struct ReadOnlyOption: ParsableArguments {
    @Flag(help: ArgumentHelp(
        "Open the database without writing anything (automatic when the file or its folder is not writable, e.g. a copy on a read-only mount)."))
    var readOnly = false
}

/// The store options of commands that work on the database file only: they refuse to run when
/// KEELSON_SERVER names a server and no --db says which file, rather than quietly using a local
/// file while the user thinks they talk to the server.
struct FileStoreOptions: ParsableArguments {
    @OptionGroup var store: StoreOptions

    func validate() throws {
        if store.db == nil, let server = Environment.value("KEELSON_SERVER") {
            throw ValidationError(
                "this command works on the database file, not through a server, and KEELSON_SERVER is set (\(BoundedInput.quoted(server))): "
                    + "give the file with --db PATH (run it where the database is), or unset KEELSON_SERVER")
        }
    }

    var path: String { store.path }
    var db: String? { store.db }

    func open(_ access: StoreOptions.Access, checkIntegrity: Bool? = nil) throws -> EventStore {
        try store.open(access, checkIntegrity: checkIntegrity)
    }

    func stateRoot() -> String { store.stateRoot() }
}

/// Environment variables, an empty one counting as unset.
enum Environment {
    static func value(_ name: String) -> String? {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else { return nil }
        return value
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
