import KeelsonCore
import Yams

/// Collects diagnostics while a config is read, so that one run reports every problem at once.
final class DiagnosticSink {
    private(set) var diagnostics: [ConfigDiagnostic] = []

    func add(_ file: String, _ mark: Mark?, _ path: String, _ message: String) {
        diagnostics.append(.escaped(file: file, line: mark?.line ?? 0, column: mark?.column ?? 0, path: path, message: message))
    }

    /// Template problems by place, with the release channels they occur in: a service's fields
    /// are checked once per channel, and a name may exist in some channels and not in others.
    private var templateProblems: [ConfigDiagnostic: [String]] = [:]

    func addTemplateProblem(_ file: String, _ mark: Mark?, _ path: String, _ message: String, channel: String) {
        let diagnostic = ConfigDiagnostic.escaped(
            file: file, line: mark?.line ?? 0, column: mark?.column ?? 0, path: path, message: message)
        if !(templateProblems[diagnostic]?.contains(channel) ?? false) { templateProblems[diagnostic, default: []].append(channel) }
    }

    /// Reports the template problems collected for a service of `channels` channels: naming the
    /// channels when the problem is not in all of them.
    func flushTemplateProblems(channels: Int) {
        for (diagnostic, inChannels) in templateProblems {
            var reported = diagnostic
            if inChannels.count < channels {
                reported.message += " (in release channel\(inChannels.count == 1 ? "" : "s") \(inChannels.joined(separator: ", ")))"
            }
            diagnostics.append(reported)
        }
        templateProblems = [:]
    }
}

extension ConfigDiagnostic {
    /// A diagnostic whose texts can be printed safely: control characters in the file name, the
    /// field path and the message (which quote values from the config) are escaped, so that no
    /// raw byte of a config reaches a terminal.
    static func escaped(file: String, line: Int, column: Int, path: String, message: String) -> ConfigDiagnostic {
        ConfigDiagnostic(
            file: Escaping.controlCharacters(file), line: line, column: column, path: Escaping.controlCharacters(path),
            message: Escaping.controlCharacters(message))
    }
}

enum Escaping {
    /// `text` with control characters (C0, DEL, C1, line and paragraph separators, U+FFFD) written
    /// as `\u{1B}`, `\n`… — quotes and backslashes left as they are, unlike
    /// ``BoundedInput/printable(_:limit:)``, since a message may quote on purpose.
    static func controlCharacters(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var result = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            default:
                if needsEscape(scalar) {
                    result += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result
    }

    static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || (0x2028...0x2029).contains(scalar.value)
            || scalar.value == 0xFFFD
    }
}

/// How a YAML node is described in messages: "a string", "a list", …
func describe(_ node: Node) -> String {
    switch node {
    case .scalar(let scalar):
        if scalar.style == .plain {
            if scalar.string == "" || scalar.string == "~" || scalar.string == "null" { return "nothing (null)" }
            if Int(scalar.string) != nil { return "the number \(scalar.string)" }
            if ["true", "false", "yes", "no"].contains(scalar.string.lowercased()) { return "the boolean \(scalar.string)" }
        }
        // Quoted: escaped and cut, so that no value reaches a terminal raw or at any length.
        return "the string \(BoundedInput.quoted(scalar.string))"
    case .mapping: return "a mapping"
    case .sequence: return "a list"
    case .alias: return "an alias"
    }
}

/// The closest candidate to `word` by edit distance, if it is close enough to be a likely typo.
public func suggestion(for word: String, among candidates: [String]) -> String? {
    // A typo of a field or a name is short; comparing a long text would only cost time.
    guard word.utf8.count <= 64 else { return nil }
    // And a bounded number of candidates, each of bounded length.
    let scored = candidates.lazy.filter { $0.utf8.count <= 64 }.prefix(1_000).map { ($0, editDistance(word.lowercased(), $0.lowercased())) }
    guard let best = scored.min(by: { ($0.1, $0.0) < ($1.1, $1.0) }) else { return nil }
    let allowed = word.count <= 3 ? 1 : word.count <= 6 ? 2 : 3
    return best.1 <= allowed ? best.0 : nil
}

func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    for i in 1...a.count {
        var current = [i] + Array(repeating: 0, count: b.count)
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return previous[b.count]
}
