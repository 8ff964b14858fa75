import KeelsonCore
import Mustache
import Synchronization

/// The values a template can use, as a tree of names. Documented in docs/config.md.
public indirect enum TemplateValue: Sendable, Hashable {
    case text(String)
    case scope([String: TemplateValue])
}

/// Mustache templates in config values, strict: a variable that does not exist is an error, not
/// an empty string. Only variables (`{{a.b}}`, `{{{a.b}}}`) are allowed — sections and partials
/// have no use in a config value and would hide a missing name.
public enum Template {
    public enum Problem: Error, Hashable, CustomStringConvertible {
        case syntax(String)
        case unsupported(String)
        case missing([String], available: [String])

        public var description: String {
            switch self {
            case .syntax(let detail): "template syntax error: \(detail)"
            case .unsupported(let tag): "template tag '\(tag)' is not supported in config (only {{variables}})"
            case .missing(let names, let available):
                names.map { name in
                    let hint = suggestion(for: name, among: available).map { " (did you mean '\($0)'?)" } ?? ""
                    return "template variable '\(name)' does not exist\(hint)"
                }.joined(separator: "; ")
            }
        }
    }

    /// Whether `text` contains template tags at all (most values do not).
    public static func isTemplated(_ text: String) -> Bool {
        var previousBrace = false
        for byte in text.utf8 {
            let brace = byte == UInt8(ascii: "{")
            if brace && previousBrace { return true }
            previousBrace = brace
        }
        return false
    }

    public static func render(_ text: String, with values: [String: TemplateValue]) throws(Problem) -> String {
        guard isTemplated(text) else { return text }
        let template = try parsed(text)
        let recorder = MissRecorder()
        let rendered = template.render(Scope(path: "", values: values, recorder: recorder))
        if !recorder.misses.isEmpty {
            throw .missing(recorder.misses, available: leafNames(values, prefix: ""))
        }
        return rendered
    }

    /// Parsed templates by text: the same values recur in every channel and in many services.
    private static let cache = Mutex<[String: MustacheTemplate]>([:])

    private static func parsed(_ text: String) throws(Problem) -> MustacheTemplate {
        if let template = cache.withLock({ $0[text] }) { return template }
        // One pass for tags that are not plain variables ({{#…, {{^…, {{>…, …).
        let bytes = Array(text.utf8)
        for index in bytes.indices.dropLast(2) where bytes[index] == UInt8(ascii: "{") && bytes[index + 1] == UInt8(ascii: "{") {
            let next = bytes[index + 2]
            if "#^></$=".utf8.contains(next) {
                throw .unsupported("{{" + String(UnicodeScalar(next)) + "…}}")
            }
        }
        let template: MustacheTemplate
        do {
            // TEXT: config values are not HTML, so nothing may be escaped.
            template = try MustacheTemplate(string: "{{% CONTENT_TYPE: TEXT}}" + text)
        } catch {
            throw .syntax("\(error)")
        }
        cache.withLock { cache in
            if cache.count > 50_000 { cache.removeAll() }  // a bound for long-running processes
            cache[text] = template
        }
        return template
    }

    /// Every variable name available, dotted and sorted (`channel.name`, `parameters.version`…).
    static func leafNames(_ values: [String: TemplateValue], prefix: String) -> [String] {
        values.keys.sorted().flatMap { key -> [String] in
            switch values[key]! {
            case .text: [prefix + key]
            case .scope(let inner): leafNames(inner, prefix: prefix + key + ".")
            }
        }
    }

    private final class MissRecorder {
        var misses: [String] = []
    }

    /// One level of the value tree; records every name looked up that is not there.
    private final class Scope: MustacheParent, CustomStringConvertible {
        let path: String
        let values: [String: TemplateValue]
        let recorder: MissRecorder

        init(path: String, values: [String: TemplateValue], recorder: MissRecorder) {
            self.path = path
            self.values = values
            self.recorder = recorder
        }

        func child(named name: String) -> Any? {
            switch values[name] {
            case .text(let text): return text
            case .scope(let inner): return Scope(path: path + name + ".", values: inner, recorder: recorder)
            case nil:
                if !recorder.misses.contains(path + name) { recorder.misses.append(path + name) }
                return nil
            }
        }

        // `{{parameters}}` on a scope: not a value.
        var description: String { "" }
    }
}
