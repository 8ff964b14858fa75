import Foundation

/// JSON with sorted keys and no insignificant whitespace: the same value always gives the same
/// bytes, in any process. Use it for anything that is digested, compared or replayed.
public enum CanonicalJSON {
    public static func data<Value: Encodable>(_ value: Value) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }

    public static func string<Value: Encodable>(_ value: Value) throws -> String {
        String(decoding: try data(value), as: UTF8.self)
    }
}
