import Foundation

/// Decodes the JSON Keelson wrote — event payloads, snapshot records — into `Decodable` values,
/// in about half the time `JSONDecoder` takes (whose cost was most of a replay's and of a
/// start's): the document is parsed once into a small tree (`JSONNode`) and the value's own
/// `Decodable` conformance walks it. It reads the same values as `JSONDecoder` with its default
/// strategies (tests decode generated documents and every payload of a recorded log both ways),
/// and refuses malformed JSON, invalid UTF-8, a number that does not fit the type asked for, a
/// missing key. It is stricter where `JSONDecoder` is lenient: a trailing comma, or an integer
/// written with a fraction that is not exactly whole, is refused. Nesting deeper than
/// `maximumDepth` is refused instead of exhausting the stack.
public struct PayloadDecoder: Sendable {
    public static let maximumDepth = 512

    public init() {}

    public func decode<Value: Decodable>(_ type: Value.Type, from text: String) throws -> Value {
        var text = text
        let root = try text.withUTF8 { try JSONNode.parse($0) }
        return try value(Value.self, root)
    }

    /// From bytes: `Data`, an array, a slice.
    public func decode<Value: Decodable>(_ type: Value.Type, from bytes: some Collection<UInt8>) throws -> Value {
        let root = try bytes.withContiguousStorageIfAvailable { try JSONNode.parse($0) }
            ?? Array(bytes).withUnsafeBufferPointer { try JSONNode.parse($0) }
        return try value(Value.self, root)
    }

    /// By the type's hand-written reader where it has one that reads this document
    /// (`NodeReadable`), else through `Decodable`.
    private func value<Value: Decodable>(_ type: Value.Type, _ root: JSONNode) throws -> Value {
        if let readable = type as? any NodeReadable.Type, let value = try? readable.init(node: root) { return value as! Value }
        return try Scalars.decode(Value.self, root, nil, nil)
    }
}

/// One JSON value, parsed. Numbers keep their text, converted only to the type a decoder asks
/// for (so that an integer too large for `Int64` still decodes as a `Double`, as with
/// `JSONDecoder`); objects keep their members in document order.
indirect enum JSONNode {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONNode])
    case object([JSONMember])

    var kind: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    static func parse(_ bytes: UnsafeBufferPointer<UInt8>) throws -> JSONNode {
        var parser = Parser(bytes: bytes)
        parser.skipWhitespace()
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.index == bytes.count else { throw parser.error("unexpected text after the JSON value") }
        return value
    }

    private struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0

        func error(_ message: String) -> DecodingError {
            .dataCorrupted(DecodingError.Context(codingPath: [], debugDescription: "The given data was not valid JSON: \(message) at byte \(index)."))
        }

        mutating func skipWhitespace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x0A, 0x0D, 0x09: index += 1
                default: return
                }
            }
        }

        mutating func expect(_ literal: StaticString, _ value: JSONNode) throws -> JSONNode {
            let count = literal.utf8CodeUnitCount
            guard bytes.count - index >= count else { throw error("unexpected end of data") }
            for offset in 0..<count where bytes[index + offset] != literal.utf8Start[offset] { throw error("unexpected character") }
            index += count
            return value
        }

        mutating func value(depth: Int) throws -> JSONNode {
            guard index < bytes.count else { throw error("unexpected end of data") }
            switch bytes[index] {
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "{"):
                guard depth < PayloadDecoder.maximumDepth else { throw error("nesting deeper than \(PayloadDecoder.maximumDepth)") }
                index += 1
                var members: [JSONMember] = []
                skipWhitespace()
                if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
                    index += 1
                    return .object(members)
                }
                while true {
                    skipWhitespace()
                    guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw error("expected a member name") }
                    let key = try string()
                    skipWhitespace()
                    guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':'") }
                    index += 1
                    skipWhitespace()
                    members.append(JSONMember(key: key, value: try value(depth: depth + 1)))
                    skipWhitespace()
                    guard index < bytes.count else { throw error("unexpected end of data") }
                    if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                    guard bytes[index] == UInt8(ascii: "}") else { throw error("expected ',' or '}'") }
                    index += 1
                    return .object(members)
                }
            case UInt8(ascii: "["):
                guard depth < PayloadDecoder.maximumDepth else { throw error("nesting deeper than \(PayloadDecoder.maximumDepth)") }
                index += 1
                var elements: [JSONNode] = []
                skipWhitespace()
                if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
                    index += 1
                    return .array(elements)
                }
                while true {
                    skipWhitespace()
                    elements.append(try value(depth: depth + 1))
                    skipWhitespace()
                    guard index < bytes.count else { throw error("unexpected end of data") }
                    if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                    guard bytes[index] == UInt8(ascii: "]") else { throw error("expected ',' or ']'") }
                    index += 1
                    return .array(elements)
                }
            case UInt8(ascii: "t"): return try expect("true", .bool(true))
            case UInt8(ascii: "f"): return try expect("false", .bool(false))
            case UInt8(ascii: "n"): return try expect("null", .null)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
            default: throw error("unexpected character")
            }
        }

        /// A number as RFC 8259 writes it: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
        mutating func number() throws -> String {
            let start = index
            func digits() throws -> Int {
                let first = index
                while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
                guard index > first else { throw error("expected a digit") }
                return index - first
            }
            if bytes[index] == UInt8(ascii: "-") { index += 1 }
            let leadingZero = index < bytes.count && bytes[index] == UInt8(ascii: "0")
            let count = try digits()
            if leadingZero, count > 1 { throw error("a number with a leading zero") }
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
                index += 1
                _ = try digits()
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
                index += 1
                if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
                _ = try digits()
            }
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        }

        /// A string: its UTF-8 must be valid, control characters escaped.
        mutating func string() throws -> String {
            index += 1
            let start = index
            var escaped = false
            var ascii = true
            while true {
                guard index < bytes.count else { throw error("unterminated string") }
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") { break }
                if byte < 0x20 { throw error("an unescaped control character in a string") }
                if byte >= 0x80 { ascii = false }
                if byte == UInt8(ascii: "\\") {
                    escaped = true
                    index += 1
                    guard index < bytes.count else { throw error("unterminated string") }
                }
                index += 1
            }
            let raw = UnsafeBufferPointer(rebasing: bytes[start..<index])
            index += 1
            if !escaped {
                // ASCII needs no validation (most of what Keelson writes).
                if ascii { return String(decoding: raw, as: UTF8.self) }
                guard let text = String(validating: raw, as: UTF8.self) else { throw error("invalid UTF-8 in a string") }
                return text
            }
            return try unescape(raw)
        }

        func unescape(_ raw: UnsafeBufferPointer<UInt8>) throws -> String {
            var out: [UInt8] = []
            out.reserveCapacity(raw.count)
            var at = 0
            func hex4() throws -> UInt32 {
                guard raw.count - at >= 4 else { throw error("a short \\u escape") }
                var value: UInt32 = 0
                for _ in 0..<4 {
                    let byte = raw[at]
                    let digit: UInt8
                    switch byte {
                    case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                    case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                    case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                    default: throw error("a bad \\u escape")
                    }
                    value = value << 4 | UInt32(digit)
                    at += 1
                }
                return value
            }
            while at < raw.count {
                let byte = raw[at]
                at += 1
                guard byte == UInt8(ascii: "\\") else {
                    out.append(byte)
                    continue
                }
                let escape = raw[at]
                at += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard raw.count - at >= 6, raw[at] == UInt8(ascii: "\\"), raw[at + 1] == UInt8(ascii: "u") else {
                            throw error("a lone surrogate in a \\u escape")
                        }
                        at += 2
                        let low = try hex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw error("a lone surrogate in a \\u escape") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(scalar) {
                        throw error("a lone surrogate in a \\u escape")
                    }
                    out.append(contentsOf: String(Character(Unicode.Scalar(scalar)!)).utf8)
                default: throw error("an unknown escape")
                }
            }
            guard let text = String(validating: out, as: UTF8.self) else { throw error("invalid UTF-8 in a string") }
            return text
        }
    }
}

struct JSONMember {
    let key: String
    let value: JSONNode
}

/// Where a decoder is in the document: a linked list, so that going one level deeper costs one
/// small allocation and reading a scalar costs none (the path is built only for an error).
private final class PathLink {
    let parent: PathLink?
    let key: any CodingKey

    init(_ parent: PathLink?, _ key: any CodingKey) {
        self.parent = parent
        self.key = key
    }

    static func keys(_ link: PathLink?) -> [any CodingKey] {
        var keys: [any CodingKey] = []
        var link = link
        while let current = link {
            keys.append(current.key)
            link = current.parent
        }
        return keys.reversed()
    }
}

/// A `Decoder` over a parsed `JSONNode`.
private struct NodeDecoder: Decoder {
    let node: JSONNode
    let path: PathLink?
    var codingPath: [any CodingKey] { PathLink.keys(path) }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy _: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let members) = node else {
            throw DecodingError.typeMismatch([String: Any].self, .init(codingPath: codingPath, debugDescription: "Expected an object but found \(node.kind) instead."))
        }
        return KeyedDecodingContainer(KeyedNodeContainer<Key>(members: members, path: path))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let elements) = node else {
            throw DecodingError.typeMismatch([Any].self, .init(codingPath: codingPath, debugDescription: "Expected an array but found \(node.kind) instead."))
        }
        return UnkeyedNodeContainer(elements: elements, path: path)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { SingleNodeContainer(node: node, path: path) }
}

/// Converts one node to the scalar a container is asked for, as `JSONDecoder` does. `at` is
/// where the node is: its parent's path and its own key (nil for the parent's own value).
private enum Scalars {
    static func path(_ parent: PathLink?, _ key: (any CodingKey)?) -> [any CodingKey] {
        PathLink.keys(parent) + (key.map { [$0] } ?? [])
    }

    static func mismatch<T>(_ type: T.Type, _ node: JSONNode, _ parent: PathLink?, _ key: (any CodingKey)?) -> DecodingError {
        .typeMismatch(type, .init(codingPath: path(parent, key), debugDescription: "Expected to decode \(type) but found \(node.kind) instead."))
    }

    static func bool(_ node: JSONNode, _ parent: PathLink?, _ key: (any CodingKey)?) throws -> Bool {
        guard case .bool(let value) = node else { throw mismatch(Bool.self, node, parent, key) }
        return value
    }

    static func string(_ node: JSONNode, _ parent: PathLink?, _ key: (any CodingKey)?) throws -> String {
        guard case .string(let value) = node else { throw mismatch(String.self, node, parent, key) }
        return value
    }

    static func integer<T: FixedWidthInteger>(_ type: T.Type, _ node: JSONNode, _ parent: PathLink?, _ key: (any CodingKey)?) throws -> T {
        guard case .number(let text) = node else { throw mismatch(type, node, parent, key) }
        if let value = T(text) ?? exactInteger(text) { return value }
        throw DecodingError.dataCorrupted(.init(codingPath: path(parent, key), debugDescription: "Number \(text) is not representable in Swift."))
    }

    /// What `JSONValue(from:)` reads, without its trial decodes: an integer where one fits, else
    /// a finite number.
    static func value(_ node: JSONNode, _ parent: PathLink?, _ key: (any CodingKey)?) throws -> JSONValue {
        switch node {
        case .null: return .null
        case .bool(let bool): return .bool(bool)
        case .string(let string): return .string(string)
        case .number(let text):
            if let integer = Int64(text) ?? exactInteger(text) { return .integer(integer) }
            return .number(try floating(Double.self, node, parent, key))
        case .array(let elements):
            return .array(try elements.enumerated().map { try value($1, key.map { PathLink(parent, $0) } ?? parent, IndexKey($0)) })
        case .object(let members):
            var object: [String: JSONValue] = [:]
            object.reserveCapacity(members.count)
            let path = key.map { PathLink(parent, $0) } ?? parent
            for member in members where object[member.key] == nil {
                object[member.key] = try value(member.value, path, NameKey(member.key))
            }
            return .object(object)
        }
    }

    /// A number written with a fraction or an exponent that is exactly a whole number of `T`
    /// (`1e3`, `2.0`, `-1.162025192763462e+17`), computed from its decimal digits, as
    /// `JSONDecoder` does — not through `Double`, which would round the last digits.
    static func exactInteger<T: FixedWidthInteger>(_ text: String) -> T? {
        var bytes = Array(text.utf8)[...]
        let negative = bytes.first == UInt8(ascii: "-")
        if negative { bytes = bytes.dropFirst() }
        func isDigit(_ byte: UInt8?) -> Bool { byte.map { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) } ?? false }
        var digits: [UInt8] = []
        var exponent = 0
        while isDigit(bytes.first) { digits.append(bytes.removeFirst() - UInt8(ascii: "0")) }
        if bytes.first == UInt8(ascii: ".") {
            bytes = bytes.dropFirst()
            while isDigit(bytes.first) {
                digits.append(bytes.removeFirst() - UInt8(ascii: "0"))
                exponent -= 1
            }
        }
        if bytes.first == UInt8(ascii: "e") || bytes.first == UInt8(ascii: "E") {
            bytes = bytes.dropFirst()
            let negativeExponent = bytes.first == UInt8(ascii: "-")
            if bytes.first == UInt8(ascii: "-") || bytes.first == UInt8(ascii: "+") { bytes = bytes.dropFirst() }
            var written = 0
            while isDigit(bytes.first) { written = min(written * 10 + Int(bytes.removeFirst() - UInt8(ascii: "0")), 1_000_000) }
            exponent += negativeExponent ? -written : written
        }
        guard bytes.isEmpty else { return nil }
        while exponent < 0, digits.last == 0 {
            digits.removeLast()
            exponent += 1
        }
        let significant = digits.drop { $0 == 0 }
        if significant.isEmpty { return 0 }
        // A fraction left over, or more digits than any integer type holds.
        guard exponent >= 0, significant.count + exponent <= 40 else { return nil }
        var value: T = 0
        for digit in Array(significant) + Array(repeating: 0, count: exponent) {
            let (shifted, overflowShift) = value.multipliedReportingOverflow(by: 10)
            let (next, overflowAdd) = negative ? shifted.subtractingReportingOverflow(T(digit)) : shifted.addingReportingOverflow(T(digit))
            guard !overflowShift, !overflowAdd else { return nil }
            value = next
        }
        return value
    }

    static func floating<T: BinaryFloatingPoint & LosslessStringConvertible>(_ type: T.Type, _ node: JSONNode, _ parent: PathLink?, _ key: (any CodingKey)?) throws -> T {
        guard case .number(let text) = node else { throw mismatch(type, node, parent, key) }
        guard let value = T(text), value.isFinite else {
            throw DecodingError.dataCorrupted(.init(codingPath: path(parent, key), debugDescription: "Number \(text) is not representable in Swift."))
        }
        return value
    }

    static func decode<T: Decodable>(_ type: T.Type, _ node: JSONNode, _ parent: PathLink?, _ key: (any CodingKey)?) throws -> T {
        // The commonest scalars directly, without a decoder each.
        switch type {
        case is String.Type: return try string(node, parent, key) as! T
        case is Int64.Type: return try integer(Int64.self, node, parent, key) as! T
        case is Int.Type: return try integer(Int.self, node, parent, key) as! T
        case is Bool.Type: return try bool(node, parent, key) as! T
        case is JSONValue.Type: return try value(node, parent, key) as! T
        default: return try T(from: NodeDecoder(node: node, path: key.map { PathLink(parent, $0) } ?? parent))
        }
    }
}

private struct KeyedNodeContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let members: [JSONMember]
    let path: PathLink?
    /// For large objects (maps keyed by instance), an index instead of a scan per key.
    let index: [String: Int]?

    init(members: [JSONMember], path: PathLink?) {
        self.members = members
        self.path = path
        if members.count > 32 {
            // The first of duplicate names wins, as with `JSONDecoder`.
            index = Dictionary(members.indices.map { (members[$0].key, $0) }, uniquingKeysWith: { first, _ in first })
        } else {
            index = nil
        }
    }

    var codingPath: [any CodingKey] { PathLink.keys(path) }

    var allKeys: [Key] {
        var seen = Set<String>()
        return members.filter { seen.insert($0.key).inserted }.compactMap { Key(stringValue: $0.key) }
    }

    func node(_ key: Key) -> JSONNode? {
        let name = key.stringValue
        if let index { return index[name].map { members[$0].value } }
        for member in members where member.key == name { return member.value }
        return nil
    }

    func require(_ key: Key) throws -> JSONNode {
        guard let node = node(key) else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "No value associated with key \(key.stringValue) (\"\(key.stringValue)\")."))
        }
        return node
    }

    func contains(_ key: Key) -> Bool { node(key) != nil }

    func decodeNil(forKey key: Key) throws -> Bool {
        if case .null = try require(key) { return true }
        return false
    }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try Scalars.bool(require(key), path, key) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try Scalars.string(require(key), path, key) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try Scalars.floating(type, require(key), path, key) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try Scalars.floating(type, require(key), path, key) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try Scalars.integer(type, require(key), path, key) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try Scalars.integer(type, require(key), path, key) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try Scalars.integer(type, require(key), path, key) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try Scalars.integer(type, require(key), path, key) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try Scalars.integer(type, require(key), path, key) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try Scalars.integer(type, require(key), path, key) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try Scalars.integer(type, require(key), path, key) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try Scalars.integer(type, require(key), path, key) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try Scalars.integer(type, require(key), path, key) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try Scalars.integer(type, require(key), path, key) }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try Scalars.decode(type, require(key), path, key) }

    // Nil for an absent key or `null`, as with `JSONDecoder`.
    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let node = node(key) else { return nil }
        if case .null = node { return nil }
        return try Scalars.decode(type, node, path, key)
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try NodeDecoder(node: require(key), path: PathLink(path, key)).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try NodeDecoder(node: require(key), path: PathLink(path, key)).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        NodeDecoder(node: members.first(where: { $0.key == "super" })?.value ?? .null, path: path)
    }

    func superDecoder(forKey key: Key) throws -> any Decoder { NodeDecoder(node: node(key) ?? .null, path: PathLink(path, key)) }
}

/// A member's name as a coding key, for paths in errors.
private struct NameKey: CodingKey {
    let stringValue: String
    var intValue: Int? { nil }
    init(_ name: String) { stringValue = name }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// An index as a coding key, for paths in errors.
private struct IndexKey: CodingKey {
    let intValue: Int?
    var stringValue: String { "Index \(intValue ?? 0)" }
    init(_ index: Int) { intValue = index }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { self.intValue = intValue }
}

private struct UnkeyedNodeContainer: UnkeyedDecodingContainer {
    let elements: [JSONNode]
    let path: PathLink?
    var currentIndex = 0

    init(elements: [JSONNode], path: PathLink?) {
        self.elements = elements
        self.path = path
    }

    var codingPath: [any CodingKey] { PathLink.keys(path) }
    var count: Int? { elements.count }
    var isAtEnd: Bool { currentIndex >= elements.count }

    mutating func next<T>(_ type: T.Type) throws -> (JSONNode, IndexKey) {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(type, .init(codingPath: codingPath + [IndexKey(currentIndex)], debugDescription: "Unkeyed container is at end."))
        }
        defer { currentIndex += 1 }
        return (elements[currentIndex], IndexKey(currentIndex))
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else { throw DecodingError.valueNotFound(Any?.self, .init(codingPath: codingPath, debugDescription: "Unkeyed container is at end.")) }
        if case .null = elements[currentIndex] {
            currentIndex += 1
            return true
        }
        return false
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { let (node, key) = try next(type); return try Scalars.bool(node, path, key) }
    mutating func decode(_ type: String.Type) throws -> String { let (node, key) = try next(type); return try Scalars.string(node, path, key) }
    mutating func decode(_ type: Double.Type) throws -> Double { let (node, key) = try next(type); return try Scalars.floating(type, node, path, key) }
    mutating func decode(_ type: Float.Type) throws -> Float { let (node, key) = try next(type); return try Scalars.floating(type, node, path, key) }
    mutating func decode(_ type: Int.Type) throws -> Int { let (node, key) = try next(type); return try Scalars.integer(type, node, path, key) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { let (node, key) = try next(type); return try Scalars.integer(type, node, path, key) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { let (node, key) = try next(type); return try Scalars.integer(type, node, path, key) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { let (node, key) = try next(type); return try Scalars.integer(type, node, path, key) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { let (node, key) = try next(type); return try Scalars.integer(type, node, path, key) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { let (node, key) = try next(type); return try Scalars.integer(type, node, path, key) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { let (node, key) = try next(type); return try Scalars.integer(type, node, path, key) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { let (node, key) = try next(type); return try Scalars.integer(type, node, path, key) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { let (node, key) = try next(type); return try Scalars.integer(type, node, path, key) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { let (node, key) = try next(type); return try Scalars.integer(type, node, path, key) }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { let (node, key) = try next(type); return try Scalars.decode(type, node, path, key) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let (node, key) = try next(type)
        return try NodeDecoder(node: node, path: PathLink(path, key)).container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let (node, key) = try next([Any].self)
        return try NodeDecoder(node: node, path: PathLink(path, key)).unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder {
        let (node, key) = try next(Any.self)
        return NodeDecoder(node: node, path: PathLink(path, key))
    }
}

private struct SingleNodeContainer: SingleValueDecodingContainer {
    let node: JSONNode
    let path: PathLink?
    var codingPath: [any CodingKey] { PathLink.keys(path) }

    func decodeNil() -> Bool {
        if case .null = node { return true }
        return false
    }

    func decode(_ type: Bool.Type) throws -> Bool { try Scalars.bool(node, path, nil) }
    func decode(_ type: String.Type) throws -> String { try Scalars.string(node, path, nil) }
    func decode(_ type: Double.Type) throws -> Double { try Scalars.floating(type, node, path, nil) }
    func decode(_ type: Float.Type) throws -> Float { try Scalars.floating(type, node, path, nil) }
    func decode(_ type: Int.Type) throws -> Int { try Scalars.integer(type, node, path, nil) }
    func decode(_ type: Int8.Type) throws -> Int8 { try Scalars.integer(type, node, path, nil) }
    func decode(_ type: Int16.Type) throws -> Int16 { try Scalars.integer(type, node, path, nil) }
    func decode(_ type: Int32.Type) throws -> Int32 { try Scalars.integer(type, node, path, nil) }
    func decode(_ type: Int64.Type) throws -> Int64 { try Scalars.integer(type, node, path, nil) }
    func decode(_ type: UInt.Type) throws -> UInt { try Scalars.integer(type, node, path, nil) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try Scalars.integer(type, node, path, nil) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try Scalars.integer(type, node, path, nil) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try Scalars.integer(type, node, path, nil) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try Scalars.integer(type, node, path, nil) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try Scalars.decode(type, node, path, nil) }
}
