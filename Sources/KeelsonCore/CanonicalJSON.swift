import Foundation

/// JSON with sorted keys and no insignificant whitespace: the same value always gives the same
/// bytes, in any process. Use it for anything that is digested, compared or replayed.
public enum CanonicalJSON {
    public static func data<Value: Encodable>(_ value: Value) throws -> Data {
        Data(try bytes(value))
    }

    public static func string<Value: Encodable>(_ value: Value) throws -> String {
        String(decoding: try bytes(value), as: UTF8.self)
    }

    /// The value's tree written directly — its own (`JSONRepresentable`, or `JSONWritable` for
    /// the shapes it writes by hand) or built through its
    /// `Encodable` conformance (`ValueTreeEncoder`) — or, for the few types `JSONEncoder` writes in
    /// its own way, `JSONEncoder`'s bytes.
    static func bytes<Value: Encodable>(_ value: Value) throws -> [UInt8] {
        if let json = value as? JSONValue { return try json.canonicalBytes() }
        if let known = value as? any JSONRepresentable { return try known.jsonValue.canonicalBytes() }
        if let writable = value as? any JSONWritable, let json = writable.writtenJSON { return try json.canonicalBytes() }
        let tree: JSONValue
        do {
            tree = try ValueTreeEncoder.tree(of: value)
        } catch is ValueTreeEncoder.Unsupported {
            return [UInt8](try encoded(value))
        }
        return try tree.canonicalBytes()
    }

    /// The value through `JSONEncoder` (sorted keys, unescaped slashes), whatever it is: what
    /// every fast path must equal.
    public static func encoded<Value: Encodable>(_ value: Value) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }
}

/// A value that says what JSON it encodes to, so that `CanonicalJSON` writes it directly instead
/// of through `JSONEncoder` (for the payloads written most: fetches). `jsonValue` must be exactly
/// what its `Encodable` conformance encodes — absent optionals left out — and a test compares the
/// two for every conforming type.
public protocol JSONRepresentable: Encodable {
    var jsonValue: JSONValue { get }
}

extension ObservedObject: JSONRepresentable {
    public var jsonValue: JSONValue {
        var object: [String: JSONValue] = [
            "name": .string(name), "desiredReplicas": .integer(Int64(desiredReplicas)),
            "readyReplicas": .integer(Int64(readyReplicas)), "health": .string(health.rawValue), "drifted": .bool(drifted),
        ]
        if let version { object["version"] = .string(version) }
        if let message { object["message"] = .string(message) }
        return .object(object)
    }
}

extension Observation: JSONRepresentable {
    public var jsonValue: JSONValue { .object(["objects": .array(objects.map(\.jsonValue))]) }
}

extension StateFetched: JSONRepresentable {
    public var jsonValue: JSONValue {
        .object([
            "instance": .string(instance.description), "runtime": .string(runtime), "observation": observation.jsonValue,
            "digest": .string(digest),
        ])
    }
}

extension StateUnchanged: JSONRepresentable {
    public var jsonValue: JSONValue {
        var object: [String: JSONValue] = ["instance": .string(instance.description), "sameAs": .integer(sameAs)]
        if let fetches { object["fetches"] = .integer(Int64(fetches)) }
        if let firstMilliseconds { object["firstMilliseconds"] = .integer(firstMilliseconds) }
        if let lastMilliseconds { object["lastMilliseconds"] = .integer(lastMilliseconds) }
        return .object(object)
    }
}

extension JSONValue {
    /// The value as canonical JSON, written directly: byte for byte what `JSONEncoder` writes with
    /// sorted keys and unescaped slashes (keys in UTF-8 byte order; a whole `Double` without
    /// `.0`; control characters escaped), at a fraction of the cost — compiled documents are
    /// written this way, thousands in a release. Throws for a number that is not finite, as the
    /// encoder does.
    public func canonicalBytes() throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        try write(into: &out)
        return out
    }

    private func write(into out: inout [UInt8]) throws {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let bool): out.append(contentsOf: (bool ? "true" : "false").utf8)
        case .integer(let integer): out.append(contentsOf: String(integer).utf8)
        case .number(let number):
            guard number.isFinite else {
                throw EncodingError.invalidValue(number, EncodingError.Context(codingPath: [], debugDescription: "\(number) is not a valid JSON number"))
            }
            var text = number.description
            if text.hasSuffix(".0") { text.removeLast(2) }
            out.append(contentsOf: text.utf8)
        case .string(let string): Self.write(string, into: &out)
        case .array(let array):
            out.append(UInt8(ascii: "["))
            for (index, element) in array.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                try element.write(into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let object):
            out.append(UInt8(ascii: "{"))
            let members = object.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
            for (index, member) in members.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                Self.write(member.key, into: &out)
                out.append(UInt8(ascii: ":"))
                try member.value.write(into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    private static func write(_ string: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x08: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x0C: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0..<0x20:
                out.append(contentsOf: "\\u00".utf8)
                out.append(hexDigits[Int(byte >> 4)])
                out.append(hexDigits[Int(byte & 0x0F)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
