import KeelsonCore
import Foundation
import Yams

/// YAML text → documents, bounded: whatever the text, parsing ends with documents or with a
/// problem at its line and column — never a trap, never unbounded work. Config files, manifests
/// and kubeconfig files are all read through it.
///
/// Aliases are what could make it unbounded: Yams shares an anchored node wherever an alias names
/// it, so a "billion laughs" text is small in memory, but anything walking it (Yams' own check of
/// duplicate keys hashes every key, the compiler reads every field) would visit it expanded. So a
/// text with aliases is first parsed with every `*` made inert, and the size and depth the
/// aliases would expand it to are counted on that tree (each anchor once); only a text within
/// ``maxNodes`` and ``maxDepth`` is then parsed with its aliases.
public enum BoundedYAML {
    /// The most values (scalars, mappings, lists) a file may expand to through its aliases.
    public static let maxNodes = 500_000
    /// The deepest nesting of mappings and lists a file may reach, aliases expanded.
    public static let maxDepth = 128

    /// Stands in for `*` in the first parse: a private-use character that YAML reads as an
    /// ordinary scalar character, one character wide like `*`, so that lines and columns agree.
    private static let inert: Character = "\u{E000}"

    /// The stack of the thread YAML is composed on. Yams composes nested nodes recursively, as
    /// deep as libyaml lets a text nest (1000 levels): more than the smallest stack a thread may
    /// have (512 KiB), so composing never runs on the caller's thread.
    static let stackSize = 16 * 1024 * 1024

    /// Every document of `text`, or the first problem found.
    public static func documents(_ text: String) -> Result<[Node], YAMLProblem> {
        onLargeStack { parseOnThisThread(text) }
    }

    private static let largeStackKey = "keelson.largeStack"

    /// Runs `body` on a thread with a ``stackSize`` stack: this one when it is such a thread
    /// already, else a new one (waited for).
    public static func onLargeStack<Value>(_ body: @escaping () -> Value) -> Value {
        if Thread.current.threadDictionary[largeStackKey] != nil { return body() }
        let box = HandOver<Value>()
        // The caller waits for the thread: `body` runs while the caller's state is alive.
        nonisolated(unsafe) let body = body
        let thread = Thread {
            Thread.current.threadDictionary[largeStackKey] = true
            box.value = body()
            box.done.signal()
        }
        thread.stackSize = stackSize
        thread.start()
        box.done.wait()
        return box.value!
    }

    private static func parseOnThisThread(_ text: String) -> Result<[Node], YAMLProblem> {
        if let problem = NestingScan.problem(in: text) { return .failure(problem) }
        if text.utf8.contains(UInt8(ascii: "*")) {
            // By scalar: a `*` never hides in a grapheme with what follows it.
            var scalars = String.UnicodeScalarView()
            scalars.append(contentsOf: text.unicodeScalars.lazy.map { $0 == "*" ? "\u{E000}" : $0 })
            let inert = String(scalars)
            if case .failure(var problem) = compose(inert, measure: true) {
                problem.message = problem.message.replacingOccurrences(of: String(Self.inert), with: "*")
                return .failure(problem)
            }
        }
        return compose(text, measure: !text.utf8.contains(UInt8(ascii: "*")))
    }

    /// Every document of `text`; with `measure`, refused when it expands beyond the bounds.
    private static func compose(_ text: String, measure: Bool) -> Result<[Node], YAMLProblem> {
        do {
            // Parser.nextRoot rather than compose_all, whose sequence swallows errors. UTF-8
            // always (Yams' default can be changed by an environment variable).
            let parser = try Parser(yaml: text, encoding: .utf8)
            var documents: [Node] = []
            var size = Size()
            while let node = try parser.nextRoot() {
                if measure {
                    // While the parser lives, so do its anchors (nodes hold them weakly).
                    size.add(node)
                    if let problem = size.problem() { return .failure(problem) }
                }
                documents.append(node)
            }
            return .success(documents)
        } catch let error as YamlError {
            return .failure(problem(error, text: text))
        } catch {
            return .failure(YAMLProblem(line: 1, column: 1, message: "YAML error: \(error)"))
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
            if nodes > BoundedYAML.maxNodes, firstTooLarge == nil { firstTooLarge = node.mark }
            deepest = max(deepest, depth)
        }

        /// The node's expanded size (saturated just past the bound) and depth.
        mutating func measure(_ node: Node, level: Int) -> (Int, Int) {
            if level > BoundedYAML.maxDepth, firstTooDeep == nil { firstTooDeep = node.mark }
            var result: (Int, Int)
            switch node {
            case .scalar(let scalar):
                if scalar.style == .plain, scalar.string.first == BoundedYAML.inert,
                    let named = anchors[String(scalar.string.dropFirst())]
                {
                    result = named
                    if level - 1 + named.depth > BoundedYAML.maxDepth, firstTooDeep == nil { firstTooDeep = node.mark }
                } else {
                    result = (1, 1)
                }
            case .mapping(let mapping):
                result = (1, 1)
                for (key, value) in mapping {
                    for child in [key, value] { result = combine(result, measure(child, level: level + 1)) }
                    if result.0 > BoundedYAML.maxNodes { break }
                }
            case .sequence(let sequence):
                result = (1, 1)
                for child in sequence {
                    result = combine(result, measure(child, level: level + 1))
                    if result.0 > BoundedYAML.maxNodes { break }
                }
            case .alias:
                result = (1, 1)
            }
            if let anchor = node.anchor { anchors[anchor.rawValue] = result }
            return result
        }

        private func combine(_ parent: (Int, Int), _ child: (Int, Int)) -> (Int, Int) {
            (min(parent.0 + child.0, BoundedYAML.maxNodes + 1), max(parent.1, child.1 + 1))
        }

        func problem() -> YAMLProblem? {
            if nodes > BoundedYAML.maxNodes {
                return YAMLProblem(
                    line: firstTooLarge?.line ?? 1, column: firstTooLarge?.column ?? 1,
                    message: "this document expands to more than \(BoundedYAML.maxNodes) values (through its aliases, if it has any); "
                        + "Keelson refuses it rather than expanding it")
            }
            if let mark = firstTooDeep {
                return YAMLProblem(
                    line: mark.line, column: mark.column,
                    message: "mappings and lists are nested more than \(BoundedYAML.maxDepth) deep here (aliases expanded)")
            }
            return nil
        }
    }

    /// A Yams error as a problem at its line and column, in words.
    static func problem(_ error: YamlError, text: String) -> YAMLProblem {
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
            return YAMLProblem(line: line, column: column, message: message)
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let detail = context.map { "\(problem) \($0.text)" } ?? problem
            return YAMLProblem(line: mark.line, column: mark.column, message: "YAML syntax error: \(detail)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            let names = duplicates.sorted().map { BoundedInput.quoted($0) }.joined(separator: ", ")
            return YAMLProblem(
                line: context.mark.line, column: context.mark.column,
                message: "the field \(names) appears more than once in the same mapping")
        case .memory:
            return YAMLProblem(line: 1, column: 1, message: "YAML ran out of memory reading this file")
        case .dataCouldNotBeDecoded(let encoding):
            return YAMLProblem(line: 1, column: 1, message: "the text is not \(encoding) text")
        case .no, .writer, .emitter, .representer:
            // Writing errors: not raised while reading, but named rather than lost.
            return YAMLProblem(line: 1, column: 1, message: "YAML error: \(error)")
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

/// What is wrong with a YAML text, and where (1-based line and column).
public struct YAMLProblem: Error, Sendable, Hashable, CustomStringConvertible {
    public var line: Int
    public var column: Int
    public var message: String

    public var description: String { "\(line):\(column): \(message)" }
}

/// A value one thread hands another: written before `done` is signalled, read after the wait.
private final class HandOver<Value>: @unchecked Sendable {
    var value: Value?
    let done = DispatchSemaphore(value: 0)
}

/// Keys that are collections, bounded before YAML composes the text: Yams hashes every key of every
/// mapping to find duplicates, so keys nested N deep cost N² — 999 levels (libyaml's own limit)
/// took seconds, and a file may hold many. Keys nest through flow collections (a mapping inside a
/// flow mapping is a key) and through explicit keys (`? `). A light scan (quotes, comments and
/// block scalars skipped) refuses a text whose flow collections nest deeper than ``maxDepth``, or
/// with more than ``maxExplicitKeys`` explicit keys, where the bound is passed.
enum NestingScan {
    static let maxDepth = 64
    static let maxExplicitKeys = 64

    static func problem(in text: String) -> YAMLProblem? {
        var depth = 0
        var explicitKeys = 0
        var inDouble = false, inSingle = false
        /// Lines more indented than this are a block scalar's content (`key: |`).
        var blockScalarIndent: Int?
        var lineNumber = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let bytes = Array(line.utf8)
            let indent = bytes.prefix { $0 == UInt8(ascii: " ") }.count
            if let parent = blockScalarIndent, !inDouble, !inSingle {
                if bytes.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") }) || indent > parent { continue }
                blockScalarIndent = nil
            }
            var column = 0
            var index = 0
            var previous: UInt8 = UInt8(ascii: " ")
            while index < bytes.count {
                let byte = bytes[index]
                // Columns count characters, as YAML errors do: continuation bytes add none.
                if byte & 0xC0 != 0x80 { column += 1 }
                defer { previous = byte; index += 1 }
                if inDouble {
                    if byte == UInt8(ascii: "\\") { index += 1 } else if byte == UInt8(ascii: "\"") { inDouble = false }
                    continue
                }
                if inSingle {
                    if byte == UInt8(ascii: "'") {
                        if index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "'") { index += 1 } else { inSingle = false }
                    }
                    continue
                }
                let tokenStart = [UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "["), UInt8(ascii: "{"), UInt8(ascii: ",")].contains(previous)
                switch byte {
                case UInt8(ascii: "#") where tokenStart:
                    index = bytes.count  // a comment: the rest of the line
                case UInt8(ascii: "\"") where tokenStart: inDouble = true
                case UInt8(ascii: "'") where tokenStart: inSingle = true
                case UInt8(ascii: "["), UInt8(ascii: "{"):
                    guard depth > 0 || tokenStart else { break }
                    depth += 1
                    if depth > maxDepth {
                        return YAMLProblem(
                            line: lineNumber, column: column,
                            message: "flow collections ([…] and {…}) are nested more than \(maxDepth) deep here")
                    }
                case UInt8(ascii: "]"), UInt8(ascii: "}"):
                    if depth > 0 { depth -= 1 }
                case UInt8(ascii: "?") where tokenStart && (index + 1 == bytes.count || [UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r")].contains(bytes[index + 1])):
                    explicitKeys += 1
                    if explicitKeys > maxExplicitKeys {
                        return YAMLProblem(
                            line: lineNumber, column: column,
                            message: "more than \(maxExplicitKeys) explicit keys ('? ') in one file; nothing Keelson reads needs them")
                    }
                case UInt8(ascii: "|") where tokenStart && depth == 0, UInt8(ascii: ">") where tokenStart && depth == 0:
                    // A block scalar when only indicators (and a comment) follow on the line.
                    let rest = bytes[(index + 1)...].prefix { $0 != UInt8(ascii: "#") }
                    if rest.allSatisfy({ [UInt8(ascii: " "), UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "\r")].contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) {
                        blockScalarIndent = indent
                        index = bytes.count
                    }
                default:
                    break
                }
            }
        }
        return nil
    }
}
