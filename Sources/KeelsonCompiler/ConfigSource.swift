import KeelsonCore
import Foundation
import Yams

/// One YAML document of a config file, with where it came from.
public struct ConfigDocument: @unchecked Sendable {
    // Yams' Node is an immutable value tree; it is only read after parsing.
    public var file: String
    /// 1-based index of the document within its file.
    public var index: Int
    public var node: Node
}

/// Reads config files: a single file, or every `.yaml`/`.yml` file under a directory (sorted, so
/// that the order never depends on the file system).
public enum ConfigSource {
    /// The largest config, manifest or task-definition file read: 8 MiB.
    public static let maxFileBytes = 8 * 1024 * 1024

    public struct Loaded: @unchecked Sendable {
        public var documents: [ConfigDocument]
        /// The source text of every file read, by the name used in diagnostics.
        public var files: [(name: String, text: String)]
        public var diagnostics: [ConfigDiagnostic]
        /// Which files the config may read besides these (manifests, task definitions).
        public var access: FileAccess = .anywhere
    }

    /// - Parameters:
    ///   - allowing: directories besides the config directory that files may be read from; nil:
    ///     any file (for a config read back from the log, checked when it was applied).
    public static func load(path: String, from source: ConfigFiles = DiskFiles(), allowing: [String]? = []) -> Loaded {
        var loaded = Loaded(documents: [], files: [], diagnostics: [])
        guard let isDirectory = source.isDirectory(path) else {
            loaded.diagnostics.append(.escaped(file: path, line: 0, column: 0, path: "", message: "no such file or directory"))
            return loaded
        }
        loaded.access = allowing.map { FileAccess.within(configPath: path, allowing: $0, files: source) } ?? .anywhere
        var files: [String] = [path]
        if isDirectory {
            files = source.entries(of: path)
                .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }
                .sorted()
                .map { path.hasSuffix("/") ? path + $0 : path + "/" + $0 }
            if files.isEmpty {
                loaded.diagnostics.append(.escaped(
                    file: path, line: 0, column: 0, path: "", message: "the directory holds no .yaml or .yml file"))
            }
        }
        for file in files {
            // A folder named like a config file, or a link out of the config directory.
            if isDirectory, source.isDirectory(file) == true { continue }
            if isDirectory, let problem = loaded.access.problem(reading: file, files: source) {
                loaded.diagnostics.append(.escaped(file: file, line: 0, column: 0, path: "", message: problem))
                continue
            }
            let text: String
            switch source.text(of: file) {
            case .success(let read): text = read
            case .failure(let problem):
                loaded.diagnostics.append(.escaped(file: file, line: problem.line, column: problem.column, path: "", message: problem.message))
                continue
            }
            loaded.files.append((file, text))
            let parsed = parse(text, file: file)
            loaded.documents += parsed.documents
            loaded.diagnostics += parsed.diagnostics
        }
        return loaded
    }

    /// Splits `text` into YAML documents; a problem becomes a diagnostic at its place.
    public static func parse(_ text: String, file: String) -> (documents: [ConfigDocument], diagnostics: [ConfigDiagnostic]) {
        YAMLDocuments.parse(text, file: file)
    }
}
