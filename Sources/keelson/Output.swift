import ArgumentParser
import Foundation
import Yams
import KeelsonCore

/// Plain-text tables for people.
enum TextTable {
    static func render(headers: [String], rows: [[String]]) -> String {
        var widths = headers.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count {
                widths[index] = max(widths[index], cell.count)
            }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                index == cells.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        return ([line(headers)] + rows.map(line)).joined(separator: "\n")
    }
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table
    case json
    case yaml
}

typealias TableOrJSON = OutputFormat

/// Prints a value as JSON (pretty, sorted keys) or YAML, for scripts.
func printStructured<Value: Encodable>(_ value: Value, _ format: OutputFormat) throws {
    switch format {
    case .yaml: print(try Formatting.yaml(value), terminator: "")
    default: print(try Formatting.json(value))
    }
}

enum Formatting {
    static func time(_ milliseconds: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date(millisecondsSince1970: milliseconds))
    }

    static func truncated(_ text: String, to length: Int) -> String {
        text.count <= length ? text : String(text.prefix(length - 1)) + "…"
    }

    /// A JSON payload in at most about `limit` characters, never cut inside a value: the top-level
    /// fields in order, each `key=value` with short scalars as they are, a long string as its
    /// length, an object or array by its size; the fields that do not fit are counted
    /// (`-o json` shows everything).
    static func payloadSummary(_ payload: String, limit: Int) -> String {
        guard case .object(let object)? = try? JSONDecoder().decode(JSONValue.self, from: Data(payload.utf8)) else {
            return payload.count <= limit ? TerminalText.escaped(payload) : "\(payload.utf8.count) bytes"
        }
        /// Control characters escaped, line breaks too: one table cell stays one line.
        func oneLine(_ text: String) -> String {
            TerminalText.escaped(text.replacingOccurrences(of: "\r", with: "\\r").replacingOccurrences(of: "\n", with: "\\n"))
        }
        func value(_ value: JSONValue) -> String {
            switch value {
            case .string(let text):
                let quoted = oneLine(text)
                return quoted.count <= 40 ? quoted : "<\(text.count) characters>"
            case .bool(let bool): return bool ? "true" : "false"
            case .integer(let integer): return String(integer)
            case .number(let number): return String(number)
            case .array(let array): return array.isEmpty ? "[]" : "[\(array.count) item\(array.count == 1 ? "" : "s")]"
            case .object(let object): return object.isEmpty ? "{}" : "{\(object.count) field\(object.count == 1 ? "" : "s")}"
            case .null: return "null"
            }
        }
        var parts: [String] = []
        var length = 0
        let keys = object.keys.sorted()
        for key in keys {
            let name = oneLine(key)
            let part = "\(name.count <= 40 ? name : "<a \(key.count)-character key>")=\(value(object[key]!))"
            if length + part.count > limit && !parts.isEmpty { break }
            parts.append(part)
            length += part.count + 1
        }
        let rest = keys.count - parts.count
        return parts.joined(separator: " ") + (rest > 0 ? " (+\(rest) more)" : "")
    }

    /// Pretty, sorted-key JSON for `-o json`.
    /// YAML with sorted keys, ending in a newline.
    static func yaml<Value: Encodable>(_ value: Value) throws -> String {
        let encoder = YAMLEncoder()
        encoder.options.sortKeys = true
        return try encoder.encode(value)
    }

    static func json<Value: Encodable>(_ value: Value, pretty: Bool = true) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}

/// An event as `-o json` prints it: the envelope, with the payload as JSON rather than a string.
struct EventJSON: Encodable {
    var event: RecordedEvent

    enum CodingKeys: String, CodingKey {
        case position, stream, version, type, schemaVersion, payload, recordedAt, actor, correlationID, causationPosition
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(event.position, forKey: .position)
        try container.encode(event.streamID, forKey: .stream)
        try container.encode(event.version, forKey: .version)
        try container.encode(event.type, forKey: .type)
        try container.encode(event.schemaVersion, forKey: .schemaVersion)
        try container.encode(RawJSON(text: event.payload), forKey: .payload)
        try container.encode(Formatting.time(event.recordedAtMilliseconds), forKey: .recordedAt)
        try container.encodeIfPresent(event.actor, forKey: .actor)
        try container.encodeIfPresent(event.correlationID, forKey: .correlationID)
        try container.encodeIfPresent(event.causationPosition, forKey: .causationPosition)
    }
}

/// Embeds JSON text as JSON (not as an escaped string).
struct RawJSON: Encodable {
    var text: String

    func encode(to encoder: any Encoder) throws {
        let value = (try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))) ?? .string(text)
        try value.encode(to: encoder)
    }
}

/// Text for a terminal: control characters other than newline and tab escaped (`\u{1B}`), each
/// line cut to a length a person can read.
enum TerminalText {
    static let maxLineLength = 2000

    static func escaped(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            var result = ""
            var count = 0
            for scalar in line.unicodeScalars {
                if count >= maxLineLength {
                    result += "…"
                    break
                }
                if scalar == "\t" {
                    result.unicodeScalars.append(scalar)
                } else if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || (0x2028...0x2029).contains(scalar.value) {
                    result += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
                } else {
                    result.unicodeScalars.append(scalar)
                }
                count += 1
            }
            return result
        }.joined(separator: "\n")
    }
}
