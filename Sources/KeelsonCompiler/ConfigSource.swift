import KeelsonCore
import Foundation
import KeelsonYAML
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
        var read: [(file: String, text: String, documents: [ConfigDocument], diagnostics: [ConfigDiagnostic])] = []
        for file in files {
            // A folder named like a config file, or a link out of the config directory.
            if isDirectory, source.isDirectory(file) == true { continue }
            if isDirectory, let problem = loaded.access.problem(reading: file, files: source) {
                loaded.diagnostics.append(.escaped(file: file, line: 0, column: 0, path: "", message: problem))
                continue
            }
            let text: String
            switch source.text(of: file) {
            case .success(let contents): text = contents
            case .failure(let problem):
                loaded.diagnostics.append(.escaped(file: file, line: problem.line, column: problem.column, path: "", message: problem.message))
                continue
            }
            let parsed = parse(text, file: file)
            read.append((file, text, parsed.documents, parsed.diagnostics))
        }
        // The manifests services name are theirs, not config, even in the config directory (a
        // manifest may not even be YAML before its template is rendered).
        let manifests = isDirectory ? manifestPaths(named: read.flatMap(\.documents)) : []
        for file in read where !manifests.contains(where: { Self.path(file.file, isWithin: $0) }) {
            loaded.files.append((file.file, file.text))
            loaded.documents += file.documents
            loaded.diagnostics += file.diagnostics
        }
        return loaded
    }

    /// The files and folders that services name as Kubernetes manifests (`run.kubernetes.manifests`),
    /// resolved as ``ManifestFiles`` resolves them and normalised.
    static func manifestPaths(named documents: [ConfigDocument]) -> [String] {
        documents.compactMap { document in
            guard document.node["kind"]?.string == "Service",
                  let path = document.node["run"]?["kubernetes"]?["manifests"]?.string, !path.isEmpty
            else { return nil }
            return FilePaths.normalized(ManifestFiles.resolve(path, relativeTo: document.file))
        }
    }

    /// Whether `file` is `path` or lies in the folder `path` (both compared normalised).
    static func path(_ file: String, isWithin path: String) -> Bool {
        let file = FilePaths.normalized(file)
        return file == path || path == "." || file.hasPrefix(path.hasSuffix("/") ? path : path + "/")
    }

    /// Whether a document is another tool's, not Keelson's: a Kubernetes object (or anything with
    /// an `apiVersion`) found among the config files is skipped, not reported.
    static func isForeign(_ document: ConfigDocument) -> Bool {
        document.node["apiVersion"] != nil
    }

    /// Splits `text` into YAML documents; a problem becomes a diagnostic at its place.
    public static func parse(_ text: String, file: String) -> (documents: [ConfigDocument], diagnostics: [ConfigDiagnostic]) {
        switch BoundedYAML.documents(text) {
        case .success(let nodes):
            return (nodes.enumerated().map { ConfigDocument(file: file, index: $0.offset + 1, node: $0.element) }, [])
        case .failure(let problem):
            return ([], [.escaped(file: file, line: problem.line, column: problem.column, path: "", message: problem.message)])
        }
    }
}
