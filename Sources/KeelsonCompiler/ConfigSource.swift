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
    public struct Loaded: @unchecked Sendable {
        public var documents: [ConfigDocument]
        /// The source text of every file read, by the name used in diagnostics.
        public var files: [(name: String, text: String)]
        public var diagnostics: [ConfigDiagnostic]
    }

    public static func load(path: String, from source: ConfigFiles = DiskFiles()) -> Loaded {
        var loaded = Loaded(documents: [], files: [], diagnostics: [])
        guard let isDirectory = source.isDirectory(path) else {
            loaded.diagnostics.append(ConfigDiagnostic(
                file: path, line: 0, column: 0, path: "", message: "no such file or directory"))
            return loaded
        }
        var files: [String] = [path]
        if isDirectory {
            files = source.entries(of: path)
                .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }
                .sorted()
                .map { path.hasSuffix("/") ? path + $0 : path + "/" + $0 }
            if files.isEmpty {
                loaded.diagnostics.append(ConfigDiagnostic(
                    file: path, line: 0, column: 0, path: "", message: "the directory holds no .yaml or .yml file"))
            }
        }
        for file in files {
            guard let text = source.contents(of: file) else {
                loaded.diagnostics.append(ConfigDiagnostic(file: file, line: 0, column: 0, path: "", message: "cannot read the file"))
                continue
            }
            loaded.files.append((file, text))
            let parsed = parse(text, file: file)
            loaded.documents += parsed.documents
            loaded.diagnostics += parsed.diagnostics
        }
        return loaded
    }

    /// Splits `text` into YAML documents; a syntax error becomes a diagnostic at its place.
    public static func parse(_ text: String, file: String) -> (documents: [ConfigDocument], diagnostics: [ConfigDiagnostic]) {
        do {
            // Parser.nextRoot rather than compose_all, whose sequence swallows errors.
            let parser = try Parser(yaml: text)
            var documents: [ConfigDocument] = []
            while let node = try parser.nextRoot() {
                documents.append(ConfigDocument(file: file, index: documents.count + 1, node: node))
            }
            return (documents, [])
        } catch let error as YamlError {
            return ([], [syntaxDiagnostic(error, file: file)])
        } catch {
            return ([], [ConfigDiagnostic(file: file, line: 0, column: 0, path: "", message: "\(error)")])
        }
    }

    private static func syntaxDiagnostic(_ error: YamlError, file: String) -> ConfigDiagnostic {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            let detail = context.map { "\(problem) \($0.text)" } ?? problem
            return ConfigDiagnostic(
                file: file, line: mark.line, column: mark.column, path: "", message: "YAML syntax error: \(detail)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            let names = duplicates.sorted().map { "'\($0)'" }.joined(separator: ", ")
            return ConfigDiagnostic(
                file: file, line: context.mark.line, column: context.mark.column, path: "",
                message: "the field \(names) appears more than once in the same mapping")
        default:
            return ConfigDiagnostic(file: file, line: 0, column: 0, path: "", message: "YAML error: \(error)")
        }
    }
}
