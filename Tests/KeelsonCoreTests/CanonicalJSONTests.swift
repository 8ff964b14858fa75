import Foundation
import KeelsonCore
import Testing

/// `JSONValue.canonicalBytes()` must write exactly what `JSONEncoder` writes (sorted keys,
/// unescaped slashes): recorded digests depend on those bytes.
@Suite("Canonical JSON")
struct CanonicalJSONTests {
    static func encoder(_ value: JSONValue) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// A small deterministic generator (no randomness from the system: the same cases every run).
    struct Generator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state >> 11
        }
        mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }

        static let pieces: [String] = [
            "", "a", "A", "_", "z", "10", "9", "a10", "a9", "é", "e\u{301}", "😀", "\u{E000}", "\u{FF5E}", "/", "\\", "\"",
            "\n", "\t", "\r", "\u{08}", "\u{0C}", "\u{01}", "\u{1F}", "\u{7F}", "\u{2028}", "{}", "[1,2]", "null", " ", "ß",
        ]

        mutating func string() -> String {
            (0..<below(4)).map { _ in Self.pieces[below(Self.pieces.count)] }.joined()
        }

        mutating func double() -> Double {
            switch below(6) {
            case 0: return Double(below(1_000_000)) / 1_000
            case 1: return Double(Int64(bitPattern: next() << 11) >> 11)
            case 2: return [0.1, 1e21, 1e-7, -0.0, 3.0, 1e16, 1e15, .leastNonzeroMagnitude, .greatestFiniteMagnitude, -2.5e-300][below(10)]
            case 3:
                let any = Double(bitPattern: next() << 11 | next() & 0x7FF)
                return any.isFinite ? any : 1.5
            default: return Double(below(200)) - 100
            }
        }

        mutating func value(depth: Int = 0) -> JSONValue {
            switch below(depth > 3 ? 5 : 7) {
            case 0: return .null
            case 1: return .bool(below(2) == 0)
            case 2: return .integer([Int64.min, Int64.max, 0, -1, Int64(below(100_000))][below(5)])
            case 3: let number = double(); return .number(number.isFinite ? number : 0)
            case 4: return .string(string())
            case 5: return .array((0..<below(5)).map { _ in value(depth: depth + 1) })
            default:
                var object: [String: JSONValue] = [:]
                for _ in 0..<below(6) { object[string()] = value(depth: depth + 1) }
                return .object(object)
            }
        }
    }

    @Test("5,000 generated values (odd keys, escapes, numbers at the edges) are written as JSONEncoder writes them")
    func sameBytesAsTheEncoder() throws {
        var generator = Generator(state: 20261130)
        for _ in 0..<5_000 {
            let value = generator.value()
            let fast = String(decoding: try value.canonicalBytes(), as: UTF8.self)
            #expect(fast == (try Self.encoder(value)), "for \(value)")
            #expect(try CanonicalJSON.string(value) == fast)
        }
    }

    @Test("payloads that write their JSON directly write exactly what the encoder writes")
    func representableTypes() throws {
        var generator = Generator(state: 7)
        let id = ServiceInstanceID("shop/web@prod-eu")!
        for _ in 0..<2_000 {
            let objects = (0..<generator.below(4)).map { _ in
                ObservedObject(
                    name: generator.string(), version: generator.below(3) == 0 ? nil : generator.string(),
                    desiredReplicas: [0, 1, 3, Int.max, Int.min, -1][generator.below(6)], readyReplicas: generator.below(10),
                    health: [Health.healthy, .unhealthy, .unknown][generator.below(3)],
                    message: generator.below(2) == 0 ? nil : generator.string(), drifted: generator.below(2) == 0)
            }
            let observation = Observation(objects: objects)
            let fetched = StateFetched(instance: id, runtime: generator.string(), observation: observation, digest: generator.string())
            let optional: () -> Int64? = { [nil, 0, 1, Int64.max, Int64.min][Int(generator.next() % 5)] }
            let unchanged = StateUnchanged(
                instance: id, sameAs: Int64(generator.below(1_000_000)), fetches: optional().map { Int(truncatingIfNeeded: $0) },
                firstMilliseconds: optional(), lastMilliseconds: optional())
            #expect(try CanonicalJSON.string(observation) == String(decoding: try CanonicalJSON.encoded(observation), as: UTF8.self))
            #expect(try CanonicalJSON.string(fetched) == String(decoding: try CanonicalJSON.encoded(fetched), as: UTF8.self))
            #expect(try CanonicalJSON.string(unchanged) == String(decoding: try CanonicalJSON.encoded(unchanged), as: UTF8.self))
            if let object = objects.first {
                #expect(try CanonicalJSON.string(object) == String(decoding: try CanonicalJSON.encoded(object), as: UTF8.self))
            }
        }
    }

    @Test("a number that is not finite is refused, as the encoder refuses it")
    func notFinite() {
        for number in [Double.nan, .infinity, -.infinity] {
            #expect(throws: EncodingError.self) { try JSONValue.array([.number(number)]).canonicalBytes() }
        }
    }

    struct Nested: Codable, Equatable {
        enum Kind: Codable, Equatable { case plain, with(name: String, count: Int?), list([Int?]) }
        var text: String
        var optional: String?
        var kinds: [Kind]
        var byNumber: [Int: String]
        var bySet: Set<String>
        var double: Double
        var date: Date
        var empty: [String: [Int]]
    }

    struct Special: Codable {
        var float: Float
        var data: Data
        var url: URL
        var big: UInt64
    }

    @Test("any Encodable value is written as JSONEncoder writes it (the types it writes its own way through it)")
    func encodableValues() throws {
        var generator = Generator(state: 99)
        for _ in 0..<1_000 {
            let value = Nested(
                text: generator.string(), optional: generator.below(2) == 0 ? nil : generator.string(),
                kinds: [.plain, .with(name: generator.string(), count: generator.below(2) == 0 ? nil : generator.below(9)), .list([1, nil, 3])],
                byNumber: [generator.below(100): generator.string(), -1: ""], bySet: ["b", "a", generator.string()],
                double: generator.double(), date: Date(timeIntervalSince1970: Double(generator.below(1_000_000_000))), empty: ["x": []])
            #expect(try CanonicalJSON.data(value) == CanonicalJSON.encoded(value))
        }
        let special = Special(float: 0.1, data: Data([0, 1, 255]), url: URL(string: "https://example.com/a?b=1")!, big: .max)
        #expect(try CanonicalJSON.data(special) == CanonicalJSON.encoded(special))
        #expect(try CanonicalJSON.string([Special]()) == "[]")
        #expect(throws: EncodingError.self) { try CanonicalJSON.data(["n": Double.nan]) }
    }
}

@Suite("Instance ids")
struct InstanceIDOrderTests {
    @Test("ids sort as their descriptions do: separators, prefixes, hyphens, case and non-ASCII names included")
    func orderIsTheDescriptions() {
        let names = ["a", "a-b", "ab", "a0", "A", "b", "é", "e\u{301}", "z9", "a_", "prod", "prod-eu", "😀"]
        var ids: [ServiceInstanceID] = []
        for application in names.prefix(7) {
            for service in ["web", "web-2", "w", names[ids.count % names.count]] {
                for channel in ["prod", "prod-eu", "c1", names[(ids.count * 7) % names.count]] {
                    ids.append(ServiceInstanceID(application: application, service: service, channel: channel))
                }
            }
        }
        for left in ids {
            for right in ids {
                #expect((left < right) == (left.description < right.description), "\(left) < \(right)")
            }
        }
        #expect(ids.sorted().map(\.description) == ids.map(\.description).sorted())
        #expect(ids.reversed().sortedByDescription() == ids.sorted())
        #expect(Set(ids).sortedByDescription() == Set(ids).sorted())
    }
}
