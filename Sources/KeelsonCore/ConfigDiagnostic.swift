import Foundation

/// One problem found in the config: where it is, which field, and what is wrong.
public struct ConfigDiagnostic: Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
    /// The file, as the user named it (relative paths stay relative).
    public var file: String
    /// 1-based line and column; 0 when the problem has no single place (a cycle, say).
    public var line: Int
    public var column: Int
    /// The field path, e.g. `Application shop › channels[1].rules.soak`.
    public var path: String
    /// What was found and what was expected.
    public var message: String

    public init(file: String, line: Int, column: Int, path: String, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.path = path
        self.message = message
    }

    public var description: String {
        let location = line > 0 ? "\(file):\(line):\(column)" : file
        return path.isEmpty ? "\(location): \(message)" : "\(location): \(path): \(message)"
    }

    public static func < (lhs: ConfigDiagnostic, rhs: ConfigDiagnostic) -> Bool {
        (lhs.file, lhs.line, lhs.column, lhs.path, lhs.message) < (rhs.file, rhs.line, rhs.column, rhs.path, rhs.message)
    }
}

/// Every problem of one run, sorted by file and line.
public struct ConfigErrors: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [ConfigDiagnostic]

    /// Sorted, and each problem once (a service's base fields are read once per release channel).
    public init(_ diagnostics: [ConfigDiagnostic]) {
        self.diagnostics = Array(Set(diagnostics)).sorted()
    }

    public var description: String {
        let count = diagnostics.count
        return "\(count) problem\(count == 1 ? "" : "s") in the config:\n"
            + diagnostics.map { "  \($0)" }.joined(separator: "\n")
    }
}
