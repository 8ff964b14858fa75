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
        if let problem = unclosedTag(in: text) { throw .syntax(problem) }
        let template: MustacheTemplate
        do {
            // TEXT: config values are not HTML, so nothing may be escaped.
            template = try MustacheTemplate(string: contentType + text)
        } catch let error as MustacheTemplate.ParserError {
            throw .syntax(describe(error))
        } catch {
            throw .syntax("the template cannot be read")
        }
        cache.withLock { cache in
            if cache.count > 50_000 { cache.removeAll() }  // a bound for long-running processes
            cache[text] = template
        }
        return template
    }

    private static let contentType = "{{% CONTENT_TYPE: TEXT}}"

    /// Where a text is: "character 7" of a one-line value, "line 3, character 7" of a longer text.
    static func place(line: Int, character: Int, in text: String) -> String {
        text.contains("\n") ? "line \(line), character \(character)" : "character \(character)"
    }

    /// A `{{` (or `{{{`) with no `}}` (`}}}`) after it, in words with its place.
    static func unclosedTag(in text: String) -> String? {
        var line = 1, character = 1
        var index = text.startIndex
        while index < text.endIndex {
            if text[index...].hasPrefix("{{") {
                let triple = text[index...].hasPrefix("{{{")
                let opener = triple ? "{{{" : "{{"
                let closer = triple ? "}}}" : "}}"
                let rest = text[text.index(index, offsetBy: opener.count)...]
                guard let close = rest.range(of: closer) else {
                    return "'\(opener)' at \(place(line: line, character: character, in: text)) is never closed with '\(closer)'"
                }
                let name = rest[..<close.lowerBound]
                if name.contains("\n") {
                    return "'\(opener)' at \(place(line: line, character: character, in: text)) is closed only on a later line; a tag is on one line"
                }
                character += opener.count + name.count + closer.count
                index = close.upperBound
                continue
            }
            if text[index] == "\n" || text[index] == "\r\n" {
                line += 1
                character = 1
            } else {
                character += 1
            }
            index = text.index(after: index)
        }
        return nil
    }

    /// A Mustache parser error in words, at its place in `text` (without the content-type prefix).
    private static func describe(_ error: MustacheTemplate.ParserError) -> String {
        let context = error.context
        let character = context.lineNumber == 1 ? max(1, context.columnNumber - contentType.count) : context.columnNumber
        let what: String
        switch error.error {
        case MustacheTemplate.Error.unfinishedName: what = "a tag that is not a name such as {{parameters.version}}"
        case MustacheTemplate.Error.sectionCloseNameIncorrect, MustacheTemplate.Error.expectedSectionEnd:
            what = "a section that is not closed properly (sections are not supported in config)"
        case MustacheTemplate.Error.invalidSetDelimiter: what = "a delimiter change (not supported in config)"
        case MustacheTemplate.Error.invalidConfigVariableSyntax, MustacheTemplate.Error.unrecognisedConfigVariable:
            what = "a {{% … }} setting (not supported in config)"
        default: what = "text the template reader cannot read"
        }
        return "\(what) near line \(context.lineNumber), character \(character)"
            .replacingOccurrences(of: "near line 1, character", with: "near character")
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
