import KeelsonCore
import Foundation
import Yams

/// YAML text → documents, bounded: whatever the text, parsing ends with documents or with
/// diagnostics at the file's line and column — never a trap, never unbounded work.
///
/// Aliases are what could make it unbounded: Yams shares an anchored node wherever an alias names
/// it, so a "billion laughs" text is small in memory, but anything walking it (Yams' own check of
/// duplicate keys hashes every key, the compiler reads every field) would visit it expanded. So a
/// text with aliases is first parsed with every `*` made inert, and the size and depth the
/// aliases would expand it to are counted on that tree (each anchor once); only a text within
/// ``maxNodes`` and ``maxDepth`` is then parsed with its aliases.
enum YAMLDocuments {
    /// The most values (scalars, mappings, lists) a file may expand to through its aliases.
    static let maxNodes = 500_000
    /// The deepest nesting of mappings and lists a file may reach, aliases expanded.
    static let maxDepth = 128

    /// Stands in for `*` in the first parse: a private-use character that YAML reads as an
    /// ordinary scalar character, one character wide like `*`, so that lines and columns agree.
    private static let inert: Character = "\u{E000}"

    /// The stack of the thread YAML is composed on. Yams composes nested nodes recursively, as
    /// deep as libyaml lets a text nest (1000 levels): more than the smallest stack a thread may
    /// have (512 KiB), so composing never runs on the caller's thread.
    static let stackSize = 16 * 1024 * 1024

    static func parse(_ text: String, file: String) -> (documents: [ConfigDocument], diagnostics: [ConfigDiagnostic]) {
        final class Result: @unchecked Sendable {
            // Written by the composing thread before it signals, read after the wait.
            var value: (documents: [ConfigDocument], diagnostics: [ConfigDiagnostic]) = ([], [])
            let done = DispatchSemaphore(value: 0)
        }
        let result = Result()
        let thread = Thread {
            result.value = parseOnThisThread(text, file: file)
            result.done.signal()
        }
        thread.stackSize = stackSize
        thread.start()
        result.done.wait()
        return result.value
    }

    private static func parseOnThisThread(_ text: String, file: String) -> (documents: [ConfigDocument], diagnostics: [ConfigDiagnostic]) {
        if text.utf8.contains(UInt8(ascii: "*")) {
            // By scalar: a `*` never hides in a grapheme with what follows it.
            var scalars = String.UnicodeScalarView()
            scalars.append(contentsOf: text.unicodeScalars.lazy.map { $0 == "*" ? "\u{E000}" : $0 })
            let inert = String(scalars)
            if case .problem(var diagnostic) = compose(inert, file: file, measure: true) {
                diagnostic.message = diagnostic.message.replacingOccurrences(of: String(Self.inert), with: "*")
                return ([], [diagnostic])
            }
        }
        switch compose(text, file: file, measure: !text.utf8.contains(UInt8(ascii: "*"))) {
        case .documents(let documents): return (documents, [])
        case .problem(let diagnostic): return ([], [diagnostic])
        }
    }

    private enum Composed {
        case documents([ConfigDocument])
        case problem(ConfigDiagnostic)
    }

    /// Every document of `text`; with `measure`, refused when it expands beyond the bounds.
    private static func compose(_ text: String, file: String, measure: Bool) -> Composed {
        do {
            // Parser.nextRoot rather than compose_all, whose sequence swallows errors. UTF-8
            // always (Yams' default can be changed by an environment variable).
            let parser = try Parser(yaml: text, encoding: .utf8)
            var documents: [ConfigDocument] = []
            var size = Size()
            while let node = try parser.nextRoot() {
                if measure {
                    // While the parser lives, so do its anchors (nodes hold them weakly).
                    size.add(node)
                    if let problem = size.problem(file: file) { return .problem(problem) }
                }
                documents.append(ConfigDocument(file: file, index: documents.count + 1, node: node))
            }
            return .documents(documents)
        } catch let error as YamlError {
            return .problem(diagnostic(error, text: text, file: file))
        } catch {
            return .problem(.escaped(file: file, line: 1, column: 1, path: "", message: "YAML error: \(error)"))
        }
    }

    /// The size and depth of documents with aliases expanded (aliases appear as inert scalars).
    private struct Size {
        var nodes = 0
        var deepest = 0
        var firstTooDeep: Mark?
        var firstTooLarge: Mark?
        /// By anchor name: the expanded size and depth of the node it names.
        var anchors: [String: (nodes: Int, depth: Int)] = [:]

        mutating func add(_ node: Node) {
            let (count, depth) = measure(node, level: 1)
            nodes = nodes.addingReportingOverflow(count).overflow ? Int.max : nodes + count
            if nodes > YAMLDocuments.maxNodes, firstTooLarge == nil { firstTooLarge = node.mark }
            deepest = max(deepest, depth)
        }

        /// The node's expanded size (saturated just past the bound) and depth.
        mutating func measure(_ node: Node, level: Int) -> (Int, Int) {
            if level > YAMLDocuments.maxDepth, firstTooDeep == nil { firstTooDeep = node.mark }
            var result: (Int, Int)
            switch node {
            case .scalar(let scalar):
                if scalar.style == .plain, scalar.string.first == YAMLDocuments.inert,
                    let named = anchors[String(scalar.string.dropFirst())]
                {
                    result = named
                    if level - 1 + named.depth > YAMLDocuments.maxDepth, firstTooDeep == nil { firstTooDeep = node.mark }
                } else {
                    result = (1, 1)
                }
            case .mapping(let mapping):
                result = (1, 1)
                for (key, value) in mapping {
                    for child in [key, value] { result = combine(result, measure(child, level: level + 1)) }
                    if result.0 > YAMLDocuments.maxNodes { break }
                }
            case .sequence(let sequence):
                result = (1, 1)
                for child in sequence {
                    result = combine(result, measure(child, level: level + 1))
                    if result.0 > YAMLDocuments.maxNodes { break }
                }
            case .alias:
                result = (1, 1)
            }
            if let anchor = node.anchor { anchors[anchor.rawValue] = result }
            return result
        }

        private func combine(_ parent: (Int, Int), _ child: (Int, Int)) -> (Int, Int) {
            (min(parent.0 + child.0, YAMLDocuments.maxNodes + 1), max(parent.1, child.1 + 1))
        }

        func problem(file: String) -> ConfigDiagnostic? {
            if nodes > YAMLDocuments.maxNodes {
                return .escaped(
                    file: file, line: firstTooLarge?.line ?? 1, column: firstTooLarge?.column ?? 1, path: "",
                    message: "this document expands to more than \(YAMLDocuments.maxNodes) values (through its aliases, if it has any); "
                        + "Keelson refuses it rather than expanding it")
            }
            if let mark = firstTooDeep {
                return .escaped(
                    file: file, line: mark.line, column: mark.column, path: "",
                    message: "mappings and lists are nested more than \(YAMLDocuments.maxDepth) deep here (aliases expanded)")
            }
            return nil
        }
    }

    /// A Yams error as a diagnostic at its line and column, in words.
    static func diagnostic(_ error: YamlError, text: String, file: String) -> ConfigDiagnostic {
        switch error {
        case .reader(let problem, let offset, let value, _):
            let (line, column) = offset.map { position(ofCharacter: $0, in: text) } ?? (1, 1)
            var message = "YAML cannot read the text: \(problem)"
            if value >= 0, let scalar = Unicode.Scalar(UInt32(value)) {
                let code = "U+" + String(format: "%04X", scalar.value)
                message = scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
                    ? "the control character \(code) is not allowed in YAML text; inside a double-quoted string write it escaped (\"\\u\(String(format: "%04X", scalar.value))\")"
                    : "YAML cannot read the text: \(problem) (\(code))"
            }
            return .escaped(file: file, line: line, column: column, path: "", message: message)
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let detail = context.map { "\(problem) \($0.text)" } ?? problem
            return .escaped(file: file, line: mark.line, column: mark.column, path: "", message: "YAML syntax error: \(detail)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            let names = duplicates.sorted().map { BoundedInput.quoted($0) }.joined(separator: ", ")
            return .escaped(
                file: file, line: context.mark.line, column: context.mark.column, path: "",
                message: "the field \(names) appears more than once in the same mapping")
        case .memory:
            return .escaped(file: file, line: 1, column: 1, path: "", message: "YAML ran out of memory reading this file")
        case .dataCouldNotBeDecoded(let encoding):
            return .escaped(file: file, line: 1, column: 1, path: "", message: "the text is not \(encoding) text")
        case .no, .writer, .emitter, .representer:
            // Writing errors: not raised while reading, but named rather than lost.
            return .escaped(file: file, line: 1, column: 1, path: "", message: "YAML error: \(error)")
        }
    }

    /// The 1-based line and column (in Unicode scalars, as libyaml counts) of the character at
    /// `offset` (in characters, as Yams reports reader errors).
    static func position(ofCharacter offset: Int, in text: String) -> (Int, Int) {
        var line = 1, column = 1
        for (index, character) in text.enumerated() {
            if index >= offset { break }
            if character == "\n" || character == "\r\n" || character == "\r" {
                line += 1
                column = 1
            } else {
                column += character.unicodeScalars.count
            }
        }
        return (line, column)
    }
}
