import Foundation

/// Turns an `Encodable` value into the `JSONValue` tree `JSONEncoder` would write, so that
/// `CanonicalJSON` writes it directly (`JSONValue.canonicalBytes()`): the same bytes, without
/// `JSONEncoder`'s own tree and writer — every event Keelson records and every snapshot record is
/// encoded this way. The
/// few types `JSONEncoder` writes in its own way (`Data`, `URL`, `Decimal`, `Float`, an unsigned
/// integer beyond `Int64`) are not converted: `tree(of:)` throws `Unsupported` for a value holding
/// one, and `CanonicalJSON` falls back to `JSONEncoder`. A test compares both on every payload of
/// a recorded log.
enum ValueTreeEncoder {
    struct Unsupported: Error {}

    static func tree<Value: Encodable>(of value: Value) throws -> JSONValue {
        try box(value).resolved()
    }

    static func box<Value: Encodable>(_ value: Value) throws -> Box {
        switch value {
        case let string as String: return Box(.string(string))
        case let integer as Int: return Box(.integer(Int64(integer)))
        case let integer as Int64: return Box(.integer(integer))
        case let bool as Bool: return Box(.bool(bool))
        case let number as Double: return Box(.number(number))
        case let json as JSONValue: return Box(json)
        case is Data, is URL, is Decimal, is Float: throw Unsupported()
        default:
            let box = Box()
            try value.encode(to: TreeEncoder(box: box))
            return box
        }
    }

    /// One value being encoded: a scalar, or the members or elements its containers add.
    final class Box {
        var value: JSONValue?
        var members: [String: Box]?
        var elements: [Box]?

        init(_ value: JSONValue? = nil) { self.value = value }

        func resolved() -> JSONValue {
            if let members { return .object(members.mapValues { $0.resolved() }) }
            if let elements { return .array(elements.map { $0.resolved() }) }
            // A value that encoded nothing: `JSONEncoder` writes an empty object.
            return value ?? .object([:])
        }
    }

    static func integer<T: BinaryInteger>(_ value: T) throws -> JSONValue {
        guard let integer = Int64(exactly: value) else { throw Unsupported() }
        return .integer(integer)
    }
}

private struct TreeEncoder: Encoder {
    let box: ValueTreeEncoder.Box
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy _: Key.Type) -> KeyedEncodingContainer<Key> {
        if box.members == nil { box.members = [:] }
        return KeyedEncodingContainer(KeyedTreeContainer<Key>(box: box))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if box.elements == nil { box.elements = [] }
        return UnkeyedTreeContainer(box: box)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { SingleTreeContainer(box: box) }
}

private struct KeyedTreeContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let box: ValueTreeEncoder.Box
    var codingPath: [any CodingKey] { [] }

    func set(_ value: JSONValue, _ key: Key) { box.members![key.stringValue] = ValueTreeEncoder.Box(value) }

    mutating func encodeNil(forKey key: Key) throws { set(.null, key) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { set(.bool(value), key) }
    mutating func encode(_ value: String, forKey key: Key) throws { set(.string(value), key) }
    mutating func encode(_ value: Double, forKey key: Key) throws { set(.number(value), key) }
    mutating func encode(_ value: Float, forKey key: Key) throws { throw ValueTreeEncoder.Unsupported() }
    mutating func encode(_ value: Int, forKey key: Key) throws { set(try ValueTreeEncoder.integer(value), key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { set(try ValueTreeEncoder.integer(value), key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { set(try ValueTreeEncoder.integer(value), key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { set(try ValueTreeEncoder.integer(value), key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { set(try ValueTreeEncoder.integer(value), key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { set(try ValueTreeEncoder.integer(value), key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { set(try ValueTreeEncoder.integer(value), key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { set(try ValueTreeEncoder.integer(value), key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { set(try ValueTreeEncoder.integer(value), key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { set(try ValueTreeEncoder.integer(value), key) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        box.members![key.stringValue] = try ValueTreeEncoder.box(value)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let nested = ValueTreeEncoder.Box()
        box.members![key.stringValue] = nested
        return TreeEncoder(box: nested).container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let nested = ValueTreeEncoder.Box()
        box.members![key.stringValue] = nested
        return TreeEncoder(box: nested).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder {
        let nested = ValueTreeEncoder.Box()
        box.members!["super"] = nested
        return TreeEncoder(box: nested)
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        let nested = ValueTreeEncoder.Box()
        box.members![key.stringValue] = nested
        return TreeEncoder(box: nested)
    }
}

private struct UnkeyedTreeContainer: UnkeyedEncodingContainer {
    let box: ValueTreeEncoder.Box
    var codingPath: [any CodingKey] { [] }
    var count: Int { box.elements!.count }

    func add(_ value: JSONValue) { box.elements!.append(ValueTreeEncoder.Box(value)) }

    mutating func encodeNil() throws { add(.null) }
    mutating func encode(_ value: Bool) throws { add(.bool(value)) }
    mutating func encode(_ value: String) throws { add(.string(value)) }
    mutating func encode(_ value: Double) throws { add(.number(value)) }
    mutating func encode(_ value: Float) throws { throw ValueTreeEncoder.Unsupported() }
    mutating func encode(_ value: Int) throws { add(try ValueTreeEncoder.integer(value)) }
    mutating func encode(_ value: Int8) throws { add(try ValueTreeEncoder.integer(value)) }
    mutating func encode(_ value: Int16) throws { add(try ValueTreeEncoder.integer(value)) }
    mutating func encode(_ value: Int32) throws { add(try ValueTreeEncoder.integer(value)) }
    mutating func encode(_ value: Int64) throws { add(try ValueTreeEncoder.integer(value)) }
    mutating func encode(_ value: UInt) throws { add(try ValueTreeEncoder.integer(value)) }
    mutating func encode(_ value: UInt8) throws { add(try ValueTreeEncoder.integer(value)) }
    mutating func encode(_ value: UInt16) throws { add(try ValueTreeEncoder.integer(value)) }
    mutating func encode(_ value: UInt32) throws { add(try ValueTreeEncoder.integer(value)) }
    mutating func encode(_ value: UInt64) throws { add(try ValueTreeEncoder.integer(value)) }
    mutating func encode<T: Encodable>(_ value: T) throws { box.elements!.append(try ValueTreeEncoder.box(value)) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let nested = ValueTreeEncoder.Box()
        box.elements!.append(nested)
        return TreeEncoder(box: nested).container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let nested = ValueTreeEncoder.Box()
        box.elements!.append(nested)
        return TreeEncoder(box: nested).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder {
        let nested = ValueTreeEncoder.Box()
        box.elements!.append(nested)
        return TreeEncoder(box: nested)
    }
}

private struct SingleTreeContainer: SingleValueEncodingContainer {
    let box: ValueTreeEncoder.Box
    var codingPath: [any CodingKey] { [] }

    mutating func encodeNil() throws { box.value = .null }
    mutating func encode(_ value: Bool) throws { box.value = .bool(value) }
    mutating func encode(_ value: String) throws { box.value = .string(value) }
    mutating func encode(_ value: Double) throws { box.value = .number(value) }
    mutating func encode(_ value: Float) throws { throw ValueTreeEncoder.Unsupported() }
    mutating func encode(_ value: Int) throws { box.value = try ValueTreeEncoder.integer(value) }
    mutating func encode(_ value: Int8) throws { box.value = try ValueTreeEncoder.integer(value) }
    mutating func encode(_ value: Int16) throws { box.value = try ValueTreeEncoder.integer(value) }
    mutating func encode(_ value: Int32) throws { box.value = try ValueTreeEncoder.integer(value) }
    mutating func encode(_ value: Int64) throws { box.value = try ValueTreeEncoder.integer(value) }
    mutating func encode(_ value: UInt) throws { box.value = try ValueTreeEncoder.integer(value) }
    mutating func encode(_ value: UInt8) throws { box.value = try ValueTreeEncoder.integer(value) }
    mutating func encode(_ value: UInt16) throws { box.value = try ValueTreeEncoder.integer(value) }
    mutating func encode(_ value: UInt32) throws { box.value = try ValueTreeEncoder.integer(value) }
    mutating func encode(_ value: UInt64) throws { box.value = try ValueTreeEncoder.integer(value) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        let encoded = try ValueTreeEncoder.box(value)
        box.value = encoded.value
        box.members = encoded.members
        box.elements = encoded.elements
    }
}
