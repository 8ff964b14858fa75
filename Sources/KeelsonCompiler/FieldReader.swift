import KeelsonCore
import Foundation
import Yams

/// Reads the fields of one YAML mapping, recording every problem (wrong type, missing field,
/// unknown field with a "did you mean") in a ``DiagnosticSink`` instead of stopping at the first.
final class FieldReader {
    let file: String
    /// The path of this mapping, e.g. `Application shop › channels[1]`.
    let path: String
    let mark: Mark?
    private let entries: [(key: String, keyMark: Mark?, value: Node)]
    private var read: Set<String> = []
    private let sink: DiagnosticSink
    /// When set, every string read is checked as a template against these values.
    var templateValues: [String: TemplateValue]?
    /// The release channel those values are for, named in template problems.
    var templateChannel = ""

    /// `nil` (with a diagnostic) when `node` is not a mapping.
    init?(_ node: Node, file: String, path: String, sink: DiagnosticSink) {
        self.file = file
        self.path = path
        self.sink = sink
        mark = node.mark
        guard case .mapping(let mapping) = node else {
            sink.add(file, node.mark, path, "expected a mapping of fields, found \(describe(node))")
            return nil
        }
        // Duplicate keys never get here: the YAML parser refuses them. A key that is not a
        // scalar (a list, a mapping) is named by its kind, and so is unknown.
        entries = mapping.map { key, value in
            guard case .scalar(let scalar) = key, YAMLTags.problem(key) == nil else { return ("(\(describe(key)))", key.mark, value) }
            return (scalar.string, key.mark, value)
        }
        if let problem = YAMLTags.problem(node) { sink.add(file, node.mark, path, problem) }
    }

    /// The sink, for readers of nested list items.
    var sinkForChildren: DiagnosticSink { sink }

    func has(_ key: String) -> Bool { entries.contains { $0.key == key } }

    /// The field names, in the order written.
    var keys: [String] { entries.map(\.key) }

    /// Where a field's key was written.
    func markOfKey(_ key: String) -> Mark? { entries.first { $0.key == key }?.keyMark }

    /// The raw node of a field (marked as read).
    func node(_ key: String, required: Bool = false) -> Node? {
        read.insert(key)
        guard let entry = entries.first(where: { $0.key == key }) else {
            if required { sink.add(file, mark, path, "missing required field '\(key)'") }
            return nil
        }
        if case .scalar(let scalar) = entry.value, scalar.style == .plain, ["", "~", "null"].contains(scalar.string),
            !YAMLTags.isExplicit(entry.value)
        {
            if required { sink.add(file, entry.value.mark ?? entry.keyMark, joinPath(path, key), "expected a value, found nothing (null)") }
            return nil
        }
        if let problem = YAMLTags.problem(entry.value) {
            sink.add(file, entry.value.mark ?? entry.keyMark, joinPath(path, key), problem)
            return nil
        }
        return entry.value
    }

    func fieldPath(_ key: String) -> String { joinPath(path, key) }

    func string(_ key: String, required: Bool = false) -> Located<String>? {
        guard let node = node(key, required: required) else { return nil }
        guard case .scalar(let scalar) = node else {
            sink.add(file, node.mark, joinPath(path, key), "expected a string, found \(describe(node))")
            return nil
        }
        checkTemplate(scalar.string, node.mark, joinPath(path, key))
        return Located(scalar.string, node.mark)
    }

    /// Reports a template that would not render with ``templateValues``.
    private func checkTemplate(_ text: String, _ mark: Mark?, _ fieldPath: String) {
        guard let templateValues, Template.isTemplated(text) else { return }
        do {
            _ = try Template.render(text, with: templateValues)
        } catch {
            sink.addTemplateProblem(file, mark, fieldPath, error.description, channel: templateChannel)
        }
    }

    /// A whole number within `range`: every integer field has one, so that nothing inside meets
    /// a count it cannot add to or multiply.
    func int(_ key: String, required: Bool = false, range: ClosedRange<Int>) -> Located<Int>? {
        guard let node = node(key, required: required) else { return nil }
        let expected = "expected a whole number from \(range.lowerBound) to \(range.upperBound)"
        guard case .scalar(let scalar) = node, scalar.style == .plain else {
            sink.add(file, node.mark, joinPath(path, key), "\(expected), found \(describe(node))")
            return nil
        }
        let text = scalar.string
        let digits = text.drop { $0 == "-" || $0 == "+" }
        guard !digits.isEmpty, digits.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
            text.utf8.count - digits.utf8.count <= 1
        else {
            sink.add(file, node.mark, joinPath(path, key), "\(expected), found \(describe(node))")
            return nil
        }
        // Digits too many for Int are out of range too, not "not a number".
        guard let value = Int(text), range.contains(value) else {
            sink.add(file, node.mark, joinPath(path, key), "\(expected), found \(BoundedInput.printable(text, limit: 40))")
            return nil
        }
        return Located(value, node.mark)
    }

    func bool(_ key: String) -> Located<Bool>? {
        guard let node = node(key) else { return nil }
        guard case .scalar(let scalar) = node, scalar.style == .plain,
            let value = ["true": true, "false": false][scalar.string.lowercased()]
        else {
            sink.add(file, node.mark, joinPath(path, key), "expected true or false, found \(describe(node))")
            return nil
        }
        return Located(value, node.mark)
    }

    /// A duration like `90s`, `10m`, `1h30m`, `2d`: at least `minimum` seconds (1 where zero
    /// makes no sense: a deadline, a timeout, an interval), at most ``InputLimits/maxDurationSeconds``.
    func duration(_ key: String, required: Bool = false, minimum: Int = 0) -> Located<Int>? {
        guard let text = string(key, required: required) else { return nil }
        switch BoundedInput.durationSeconds(text.value) {
        case .success(let seconds) where seconds < minimum:
            sink.add(file, text.mark, joinPath(path, key), "expected a duration of at least \(minimum)s, found \(BoundedInput.quoted(text.value))")
            return nil
        case .success(let seconds):
            return Located(seconds, text.mark)
        case .failure(let problem):
            sink.add(file, text.mark, joinPath(path, key), problem.message)
            return nil
        }
    }

    /// A mapping of strings to strings (labels, environment variables, constants).
    func stringMap(_ key: String) -> [String: String]? {
        guard let node = node(key) else { return nil }
        guard case .mapping(let mapping) = node else {
            sink.add(file, node.mark, joinPath(path, key), "expected a mapping of names to values, found \(describe(node))")
            return nil
        }
        var result: [String: String] = [:]
        for (name, value) in mapping {
            let nameText = name.string ?? ""
            if let problem = YAMLTags.problem(name) ?? YAMLTags.problem(value) {
                sink.add(file, value.mark, joinPath(joinPath(path, key), nameText), problem)
                continue
            }
            guard case .scalar = name else {
                sink.add(file, name.mark, joinPath(path, key), "expected a name, found \(describe(name))")
                continue
            }
            guard case .scalar(let scalar) = value else {
                sink.add(file, value.mark, joinPath(joinPath(path, key), nameText), "expected a string value, found \(describe(value))")
                continue
            }
            checkTemplate(scalar.string, value.mark, joinPath(joinPath(path, key), nameText))
            result[nameText] = scalar.string
        }
        return result
    }

    /// A list of strings; a single string is accepted as a list of one.
    func stringList(_ key: String) -> [Located<String>]? {
        guard let node = node(key) else { return nil }
        switch node {
        case .scalar(let scalar):
            checkTemplate(scalar.string, node.mark, joinPath(path, key))
            return [Located(scalar.string, node.mark)]
        case .sequence(let sequence):
            return sequence.enumerated().compactMap { index, item in
                if let problem = YAMLTags.problem(item) {
                    sink.add(file, item.mark, "\(joinPath(path, key))[\(index)]", problem)
                    return nil
                }
                guard case .scalar(let scalar) = item else {
                    sink.add(file, item.mark, "\(joinPath(path, key))[\(index)]", "expected a string, found \(describe(item))")
                    return nil
                }
                checkTemplate(scalar.string, item.mark, "\(joinPath(path, key))[\(index)]")
                return Located(scalar.string, item.mark)
            }
        default:
            sink.add(file, node.mark, joinPath(path, key), "expected a list of strings, found \(describe(node))")
            return nil
        }
    }

    /// The items of a list field, each with its path (`channels[2]`).
    func list(_ key: String, required: Bool = false) -> [(node: Node, path: String)]? {
        guard let node = node(key, required: required) else { return nil }
        guard case .sequence(let sequence) = node else {
            sink.add(file, node.mark, joinPath(path, key), "expected a list, found \(describe(node))")
            return nil
        }
        return sequence.enumerated().map { ($1, "\(joinPath(path, key))[\($0)]") }
    }

    /// A nested mapping field.
    func mapping(_ key: String, required: Bool = false) -> FieldReader? {
        guard let node = node(key, required: required) else { return nil }
        let reader = FieldReader(node, file: file, path: joinPath(path, key), sink: sink)
        reader?.templateValues = templateValues
        reader?.templateChannel = templateChannel
        return reader
    }

    /// Reports every field that was never read as unknown, with a suggestion when one is close.
    func finish() {
        for entry in entries where !read.contains(entry.key) {
            var message = "unknown field '\(entry.key)'"
            if let close = suggestion(for: entry.key, among: Array(read)) {
                message += " (did you mean '\(close)'?)"
            } else {
                message += "; known fields: \(read.sorted().joined(separator: ", "))"
            }
            sink.add(file, entry.keyMark, path, message)
        }
    }

    func report(_ mark: Mark?, _ key: String?, _ message: String) {
        sink.add(file, mark ?? self.mark, key.map { joinPath(path, $0) } ?? path, message)
    }

}

/// A value with the place it was written.
struct Located<Value> {
    var value: Value
    var mark: Mark?

    init(_ value: Value, _ mark: Mark?) {
        self.value = value
        self.mark = mark
    }
}

/// Durations in config files and flags: one or more `<number><unit>` parts, units s, m, h, d; at
/// most ``InputLimits/maxDurationSeconds`` (``BoundedInput/durationSeconds(_:max:weeks:)`` says why
/// a text is refused).
public enum DurationText {
    public static func seconds(_ text: String) -> Int? {
        try? BoundedInput.durationSeconds(text).get()
    }
}

/// `Application shop ›` + `channels` → `Application shop › channels`; `a` + `b` → `a.b`.
func joinPath(_ path: String, _ key: String) -> String {
    path.isEmpty ? key : path.hasSuffix("›") ? "\(path) \(key)" : "\(path).\(key)"
}
