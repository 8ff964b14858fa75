import Foundation
import KeelsonCore

/// What is wrong with a request body, at a field: `files[0].path`, `dryRun`, or the body itself.
struct BodyProblem: Error, Sendable, Hashable, CustomStringConvertible {
    var path: String
    var message: String
    var description: String { path.isEmpty ? message : "\(path): \(message)" }
}

/// Decodes a JSON request body into a `Decodable` type strictly: a field the type does not read is
/// refused (a typo such as `dryrun` must not silently apply for real), and so is `null` anywhere
/// (leaving a field out is how to leave it out; `null` is never taken for `false`).
///
/// The fields a type knows are the ones its `init(from:)` asks for — its `CodingKeys` — recorded
/// while it decodes, so no list of field names is kept by hand beside the types. A type that asks
/// for every key (`[String: String]`) accepts any key.
enum StrictBodyDecoder {
    static func decode<Value: Decodable>(_ type: Value.Type, from data: Data) throws(BodyProblem) -> Value {
        let tree: JSONValue
        do {
            tree = try JSONDecoder().decode(JSONValue.self, from: data)
        } catch {
            throw BodyProblem(path: "", message: "malformed JSON body: \(Self.describe(error))")
        }
        let reads = KeyReads()
        let value: Value
        do {
            value = try Value(from: StrictDecoder(value: tree, codingPath: [], reads: reads))
        } catch let problem as BodyProblem {
            throw problem
        } catch let error as DecodingError {
            throw Self.problem(error)
        } catch {
            throw BodyProblem(path: "", message: "\(error)")
        }
        if let unknown = reads.firstUnknown() {
            let path = StrictDecoder.render(unknown.path)
            throw BodyProblem(
                path: "", message: "unknown field '\(path.isEmpty ? "" : path + ".")\(BoundedInput.printable(unknown.key, limit: 80))' in the body"
                    + " (known\(path.isEmpty ? "" : " in \(path)"): \(unknown.known.joined(separator: ", ")))")
        }
        return value
    }

    /// The words of a JSON parse error (Foundation's debug description), without the type names.
    static func describe(_ error: any Error) -> String {
        if case DecodingError.dataCorrupted(let context) = error {
            let underlying = (context.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String
            return BoundedInput.printable(underlying ?? context.debugDescription, limit: 200)
        }
        return "not JSON"
    }

    /// A `DecodingError` thrown by a type's own `init(from:)` (a custom check), at its field.
    static func problem(_ error: DecodingError) -> BodyProblem {
        switch error {
        case .keyNotFound(let key, let context):
            return BodyProblem(path: StrictDecoder.render(context.codingPath + [key]), message: "required, missing")
        case .typeMismatch(let type, let context):
            return BodyProblem(path: StrictDecoder.render(context.codingPath), message: "expected \(type)")
        case .valueNotFound(let type, let context):
            return BodyProblem(path: StrictDecoder.render(context.codingPath), message: "expected \(type), found null")
        case .dataCorrupted(let context):
            // The types' own messages quote what they were given (`BoundedInput.quoted`).
            return BodyProblem(path: StrictDecoder.render(context.codingPath), message: String(context.debugDescription.prefix(300)))
        @unknown default:
            return BodyProblem(path: "", message: "\(error)")
        }
    }
}

/// Which keys each JSON object of the body had, and which of them the type asked for.
private final class KeyReads {
    final class Object {
        let path: [any CodingKey]
        let keys: Set<String>
        var asked: Set<String> = []
        var askedForAll = false
        init(path: [any CodingKey], keys: Set<String>) {
            self.path = path
            self.keys = keys
        }
    }

    private var objects: [Object] = []

    func record(_ object: Object) { objects.append(object) }

    /// The first key (by position in the body, then by name) that no decoder asked for.
    func firstUnknown() -> (path: [any CodingKey], key: String, known: [String])? {
        for object in objects where !object.askedForAll {
            if let key = object.keys.subtracting(object.asked).sorted().first {
                return (object.path, key, object.asked.sorted())
            }
        }
        return nil
    }
}

/// A `Decoder` over a parsed JSON tree that refuses `null`, converts numbers only when exact, and
/// records the keys each keyed container is asked for.
private struct StrictDecoder: Decoder {
    let value: JSONValue
    let codingPath: [any CodingKey]
    let reads: KeyReads
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let object) = value else { throw mismatch("an object", codingPath) }
        let record = KeyReads.Object(path: codingPath, keys: Set(object.keys))
        reads.record(record)
        return KeyedDecodingContainer(Keyed<Key>(object: object, record: record, codingPath: codingPath, reads: reads))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let array) = value else { throw mismatch("an array", codingPath) }
        return Unkeyed(array: array, codingPath: codingPath, reads: reads)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        Single(value: value, codingPath: codingPath, reads: reads)
    }

    func mismatch(_ expected: String, _ path: [any CodingKey]) -> BodyProblem {
        BodyProblem(path: Self.render(path), message: "expected \(expected), found \(Self.kind(of: value))")
    }

    static func render(_ path: [any CodingKey]) -> String {
        var text = ""
        for key in path {
            if let index = key.intValue {
                text += "[\(index)]"
            } else {
                text += (text.isEmpty ? "" : ".") + BoundedInput.printable(key.stringValue, limit: 80)
            }
        }
        return text
    }

    static func kind(of value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool(let bool): "\(bool)"
        case .integer, .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    /// `null` where a value is needed: the field must be left out instead.
    static func null(_ path: [any CodingKey]) -> BodyProblem {
        BodyProblem(path: render(path), message: "null is not accepted; leave the field out to leave it unset")
    }

    // MARK: scalars

    static func bool(_ value: JSONValue, _ path: [any CodingKey]) throws -> Bool {
        switch value {
        case .bool(let bool): return bool
        case .null: throw null(path)
        default: throw BodyProblem(path: render(path), message: "expected true or false, found \(kind(of: value))")
        }
    }

    static func string(_ value: JSONValue, _ path: [any CodingKey]) throws -> String {
        switch value {
        case .string(let string): return string
        case .null: throw null(path)
        default: throw BodyProblem(path: render(path), message: "expected a string, found \(kind(of: value))")
        }
    }

    static func integer<T: FixedWidthInteger>(_ value: JSONValue, _ path: [any CodingKey]) throws -> T {
        let converted: T?
        switch value {
        case .integer(let integer): converted = T(exactly: integer)
        case .number(let number):
            // A whole number that did not fit in an Int64 arrives as the nearest Double, and one
            // just below Int64.min rounds to exactly -2⁶³: only numbers strictly inside the range
            // are taken, so that no out-of-range number passes for a bound.
            let bound: Double = T.isSigned ? 0x1p63 : 0x1p64
            converted = number.isFinite && number > -0x1p63 && number < bound ? T(exactly: number) : nil
        case .null: throw null(path)
        default: throw BodyProblem(path: render(path), message: "expected a whole number, found \(kind(of: value))")
        }
        guard let converted else {
            throw BodyProblem(path: render(path), message: "expected a whole number from \(T.min) to \(T.max)")
        }
        return converted
    }

    static func floating<T: BinaryFloatingPoint>(_ value: JSONValue, _ path: [any CodingKey]) throws -> T {
        switch value {
        case .integer(let integer): return T(integer)
        case .number(let number) where number.isFinite: return T(number)
        case .null: throw null(path)
        default: throw BodyProblem(path: render(path), message: "expected a number, found \(kind(of: value))")
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, _ value: JSONValue, _ path: [any CodingKey], _ reads: KeyReads) throws -> T {
        if case .null = value { throw null(path) }
        switch type {
        case is Bool.Type: return try bool(value, path) as! T
        case is String.Type: return try string(value, path) as! T
        case is Int.Type: return try integer(value, path) as Int as! T
        case is Int64.Type: return try integer(value, path) as Int64 as! T
        case is Int32.Type: return try integer(value, path) as Int32 as! T
        case is UInt.Type: return try integer(value, path) as UInt as! T
        case is UInt64.Type: return try integer(value, path) as UInt64 as! T
        case is Double.Type: return try floating(value, path) as Double as! T
        case is Float.Type: return try floating(value, path) as Float as! T
        default: return try T(from: StrictDecoder(value: value, codingPath: path, reads: reads))
        }
    }

    // MARK: containers

    struct Keyed<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let object: [String: JSONValue]
        let record: KeyReads.Object
        let codingPath: [any CodingKey]
        let reads: KeyReads

        var allKeys: [Key] {
            record.askedForAll = true
            return object.keys.sorted().compactMap { Key(stringValue: $0) }
        }

        func contains(_ key: Key) -> Bool {
            record.asked.insert(key.stringValue)
            return object[key.stringValue] != nil
        }

        private func value(_ key: Key) throws -> JSONValue {
            record.asked.insert(key.stringValue)
            guard let value = object[key.stringValue] else {
                throw BodyProblem(path: render(codingPath + [key]), message: "required, missing")
            }
            return value
        }

        func decodeNil(forKey key: Key) throws -> Bool {
            // Asked only by optional fields: a `null` there is refused, not taken as "absent".
            if case .null = try value(key) { throw null(codingPath + [key]) }
            return false
        }

        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
            try StrictDecoder.decode(type, try value(key), codingPath + [key], reads)
        }

        private func decode<T: Decodable>(_ type: T.Type, forKey key: Key, generic: Void) throws -> T {
            try StrictDecoder.decode(type, try value(key), codingPath + [key], reads)
        }

        func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try decode(type as Bool.Type, forKey: key, generic: ()) }
        func decode(_ type: String.Type, forKey key: Key) throws -> String { try decode(type as String.Type, forKey: key, generic: ()) }
        func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try decode(type as Double.Type, forKey: key, generic: ()) }
        func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try decode(type as Float.Type, forKey: key, generic: ()) }
        func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try decode(type as Int.Type, forKey: key, generic: ()) }
        func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try decode(type as Int8.Type, forKey: key, generic: ()) }
        func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try decode(type as Int16.Type, forKey: key, generic: ()) }
        func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try decode(type as Int32.Type, forKey: key, generic: ()) }
        func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try decode(type as Int64.Type, forKey: key, generic: ()) }
        func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try decode(type as UInt.Type, forKey: key, generic: ()) }
        func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try decode(type as UInt8.Type, forKey: key, generic: ()) }
        func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try decode(type as UInt16.Type, forKey: key, generic: ()) }
        func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try decode(type as UInt32.Type, forKey: key, generic: ()) }
        func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try decode(type as UInt64.Type, forKey: key, generic: ()) }

        func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
            record.asked.insert(key.stringValue)
            guard let value = object[key.stringValue] else { return nil }
            return try StrictDecoder.decode(type, value, codingPath + [key], reads)
        }

        func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
            try StrictDecoder(value: try value(key), codingPath: codingPath + [key], reads: reads).container(keyedBy: type)
        }

        func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
            try StrictDecoder(value: try value(key), codingPath: codingPath + [key], reads: reads).unkeyedContainer()
        }

        func superDecoder() throws -> any Decoder {
            StrictDecoder(value: .object(object), codingPath: codingPath, reads: reads)
        }

        func superDecoder(forKey key: Key) throws -> any Decoder {
            StrictDecoder(value: try value(key), codingPath: codingPath + [key], reads: reads)
        }
    }

    struct Index: CodingKey {
        var intValue: Int?
        var stringValue: String { "\(intValue ?? 0)" }
        init(_ index: Int) { intValue = index }
        init?(stringValue: String) { nil }
        init?(intValue: Int) { self.intValue = intValue }
    }

    struct Unkeyed: UnkeyedDecodingContainer {
        let array: [JSONValue]
        let codingPath: [any CodingKey]
        let reads: KeyReads
        var currentIndex = 0

        init(array: [JSONValue], codingPath: [any CodingKey], reads: KeyReads) {
            self.array = array
            self.codingPath = codingPath
            self.reads = reads
        }

        var count: Int? { array.count }
        var isAtEnd: Bool { currentIndex >= array.count }

        private mutating func next() throws -> (JSONValue, [any CodingKey]) {
            let path = codingPath + [Index(currentIndex)]
            guard !isAtEnd else { throw BodyProblem(path: render(path), message: "required, missing") }
            defer { currentIndex += 1 }
            return (array[currentIndex], path)
        }

        mutating func decodeNil() throws -> Bool {
            guard !isAtEnd else { return false }
            if case .null = array[currentIndex] { throw null(codingPath + [Index(currentIndex)]) }
            return false
        }

        mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try decodeValue(type) }

        private mutating func decodeValue<T: Decodable>(_ type: T.Type) throws -> T {
            let (value, path) = try next()
            return try StrictDecoder.decode(type, value, path, reads)
        }

        mutating func decode(_ type: Bool.Type) throws -> Bool { try decodeValue(type) }
        mutating func decode(_ type: String.Type) throws -> String { try decodeValue(type) }
        mutating func decode(_ type: Double.Type) throws -> Double { try decodeValue(type) }
        mutating func decode(_ type: Float.Type) throws -> Float { try decodeValue(type) }
        mutating func decode(_ type: Int.Type) throws -> Int { try decodeValue(type) }
        mutating func decode(_ type: Int8.Type) throws -> Int8 { try decodeValue(type) }
        mutating func decode(_ type: Int16.Type) throws -> Int16 { try decodeValue(type) }
        mutating func decode(_ type: Int32.Type) throws -> Int32 { try decodeValue(type) }
        mutating func decode(_ type: Int64.Type) throws -> Int64 { try decodeValue(type) }
        mutating func decode(_ type: UInt.Type) throws -> UInt { try decodeValue(type) }
        mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try decodeValue(type) }
        mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try decodeValue(type) }
        mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try decodeValue(type) }
        mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try decodeValue(type) }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
            let (value, path) = try next()
            return try StrictDecoder(value: value, codingPath: path, reads: reads).container(keyedBy: type)
        }

        mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
            let (value, path) = try next()
            return try StrictDecoder(value: value, codingPath: path, reads: reads).unkeyedContainer()
        }

        mutating func superDecoder() throws -> any Decoder {
            let (value, path) = try next()
            return StrictDecoder(value: value, codingPath: path, reads: reads)
        }
    }

    struct Single: SingleValueDecodingContainer {
        let value: JSONValue
        let codingPath: [any CodingKey]
        let reads: KeyReads

        func decodeNil() -> Bool { false }  // a `null` then fails in `decode`, naming the field
        func decode(_ type: Bool.Type) throws -> Bool { try bool(value, codingPath) }
        func decode(_ type: String.Type) throws -> String { try string(value, codingPath) }
        func decode(_ type: Double.Type) throws -> Double { try floating(value, codingPath) }
        func decode(_ type: Float.Type) throws -> Float { try floating(value, codingPath) }
        func decode(_ type: Int.Type) throws -> Int { try integer(value, codingPath) }
        func decode(_ type: Int8.Type) throws -> Int8 { try integer(value, codingPath) }
        func decode(_ type: Int16.Type) throws -> Int16 { try integer(value, codingPath) }
        func decode(_ type: Int32.Type) throws -> Int32 { try integer(value, codingPath) }
        func decode(_ type: Int64.Type) throws -> Int64 { try integer(value, codingPath) }
        func decode(_ type: UInt.Type) throws -> UInt { try integer(value, codingPath) }
        func decode(_ type: UInt8.Type) throws -> UInt8 { try integer(value, codingPath) }
        func decode(_ type: UInt16.Type) throws -> UInt16 { try integer(value, codingPath) }
        func decode(_ type: UInt32.Type) throws -> UInt32 { try integer(value, codingPath) }
        func decode(_ type: UInt64.Type) throws -> UInt64 { try integer(value, codingPath) }
        func decode<T: Decodable>(_ type: T.Type) throws -> T { try StrictDecoder.decode(type, value, codingPath, reads) }
    }
}
