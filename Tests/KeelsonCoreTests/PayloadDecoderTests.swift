import Foundation
import KeelsonCore
import Testing

/// `PayloadDecoder` must read exactly what `JSONDecoder` reads (recorded payloads are decoded by
/// it in folds, replay and snapshots), and refuse what it refuses.
@Suite("Payload decoder")
struct PayloadDecoderTests {
    static func both<Value: Decodable & Equatable>(_ type: Value.Type, _ text: String) -> (fast: Result<Value, any Error>, foundation: Result<Value, any Error>) {
        (Result { try PayloadDecoder().decode(type, from: text) }, Result { try JSONDecoder().decode(type, from: Data(text.utf8)) })
    }

    @Test("5,000 generated JSON values (escapes, odd keys, numbers at the edges) read back as JSONDecoder reads them")
    func generatedValues() throws {
        var generator = CanonicalJSONTests.Generator(state: 20261201)
        for _ in 0..<5_000 {
            let text = String(decoding: try generator.value().canonicalBytes(), as: UTF8.self)
            let (fast, foundation) = Self.both(JSONValue.self, text)
            #expect(try fast.get() == foundation.get(), "for \(text)")
        }
    }

    @Test("Keelson's payloads, written by the encoder, read back equal through both decoders")
    func payloads() throws {
        let id = ServiceInstanceID("shop/web@prod-eu")!
        let decision = Decision(
            status: .converging, version: "1.2.3", reason: .applying(version: "1.2.3", superseded: nil),
            actions: [.apply(version: "1.2.3", digest: "sha256:ab", rollback: false), .markBad(version: "1.2.2", reason: "ünïcode \"quoted\" \n")],
            wakeAtMilliseconds: 1_796_000_000_000)
        let made = DecisionMade(instance: id, viewPosition: 81_943, nowMilliseconds: 1_796_074_779_495, engineVersion: 3, decision: decision)
        let text = try CanonicalJSON.string(made)
        let (fast, foundation) = Self.both(DecisionMade.self, text)
        #expect(try fast.get() == foundation.get())
        #expect(try fast.get() == made)

        let unchanged = StateUnchanged(instance: id, sameAs: 12, fetches: 40, firstMilliseconds: 1, lastMilliseconds: 2)
        #expect(try PayloadDecoder().decode(StateUnchanged.self, from: CanonicalJSON.string(unchanged)) == unchanged)
        let fetched = StateFetched(
            instance: id, runtime: "sim",
            observation: Observation(objects: [ObservedObject(name: "web", version: "1", desiredReplicas: 3, readyReplicas: 2, health: .unhealthy, message: "😀", drifted: true)]),
            digest: "sha256:00")
        #expect(try PayloadDecoder().decode(StateFetched.self, from: CanonicalJSON.string(fetched)) == fetched)
    }

    /// (`JSONDecoder` also reads `[1,]` and `{"a":1,}`; the store never holds them: SQLite's
    /// `json_valid` refuses them at append.)
    @Test("malformed and hostile documents are refused, with no trap", arguments: [
        "[1,]", "{\"a\":1,}",
        "", " ", "{", "}", "[", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "'a'", "01", "-", "1.", ".5", "1e", "1e+",
        "+1", "--1", "nul", "tru", "[1 2]", "\"\\x\"", "\"\\u12\"", "\"\\u12G4\"", "\"unterminated", "\"a\u{01}b\"",
        "\"\\uD800\"", "\"\\uDC00\"", "\"\\uD800\\u0041\"", "1 2", "{} {}", "[]]", "NaN", "Infinity", "[1,2", "{\"a\":}",
        "\u{FEFF}", "/* c */ 1",
    ])
    func refused(_ text: String) {
        let (fast, foundation) = Self.both(JSONValue.self, text)
        if case .success(let value) = foundation, !text.contains(",]"), !text.contains(",}") {
            Issue.record("JSONDecoder read \(value) from \(text.debugDescription)")
        }
        if case .success(let value) = fast { Issue.record("PayloadDecoder read \(value) from \(text.debugDescription)") }
    }

    @Test("invalid UTF-8 in a string is refused")
    func invalidUTF8() {
        for bytes: [UInt8] in [[0x22, 0xFF, 0x22], [0x22, 0xC3, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22], [0x22, 0x5C, 0x6E, 0xFF, 0x22]] {
            #expect(throws: DecodingError.self) { try PayloadDecoder().decode(JSONValue.self, from: bytes) }
            #expect(throws: (any Error).self) { try JSONDecoder().decode(JSONValue.self, from: Data(bytes)) }
        }
    }

    @Test("nesting far deeper than any payload is refused with an error instead of exhausting the stack")
    func deepNesting() throws {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: DecodingError.self) { try PayloadDecoder().decode(JSONValue.self, from: deep) }
        // The deepest allowed reads, on a task's own (small) stack.
        let deepest = String(repeating: "[", count: PayloadDecoder.maximumDepth) + String(repeating: "]", count: PayloadDecoder.maximumDepth)
        var value = try PayloadDecoder().decode(JSONValue.self, from: deepest)
        var depth = 1
        while case .array(let elements) = value, let first = elements.first {
            value = first
            depth += 1
        }
        #expect(depth == PayloadDecoder.maximumDepth)
        let fine = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(try PayloadDecoder().decode(JSONValue.self, from: fine) == JSONDecoder().decode(JSONValue.self, from: Data(fine.utf8)))
    }

    struct Numbers: Codable, Equatable {
        var int: Int
        var int64: Int64
        var uint8: UInt8?
        var double: Double
    }

    @Test("numbers convert to the type asked for as JSONDecoder converts them", arguments: [
        #"{"int":1,"int64":-9223372036854775808,"double":1}"#,
        #"{"int":1e3,"int64":2.0,"double":-0.0}"#,
        #"{"int":1.5,"int64":1,"double":1}"#,
        #"{"int":1,"int64":9223372036854775808,"double":1}"#,
        #"{"int":1,"int64":1,"double":1e400}"#,
        #"{"int":1,"int64":1,"uint8":256,"double":1}"#,
        #"{"int":1,"int64":1,"uint8":-1,"double":1}"#,
        #"{"int":1,"int64":1,"uint8":null,"double":2.5e-3}"#,
        #"{"int":"1","int64":1,"double":1}"#,
        #"{"int64":1,"double":1}"#,
        #"{"int":1,"int64":1,"double":1,"int":2}"#,
        #"{"int":-1.162025192763462e+17,"int64":123456789012345678e1,"double":1}"#,
        #"{"int":1e19,"int64":1,"double":1}"#,
        #"{"int":0.0e5,"int64":-0,"double":1}"#,
        #"{"int":10e-1,"int64":1500e-3,"double":1}"#,
        #"{"int":1,"int64":1e999999999999,"double":1}"#,
    ])
    func numbers(_ text: String) {
        let (fast, foundation) = Self.both(Numbers.self, text)
        switch (fast, foundation) {
        case (.success(let left), .success(let right)): #expect(left == right, "for \(text)")
        case (.failure, .failure): break
        default: Issue.record("for \(text): PayloadDecoder \(fast), JSONDecoder \(foundation)")
        }
    }

    @Test("an error names where in the payload it is")
    func errorPath() {
        let text = #"{"decision":{"actions":[{"apply":{"digest":"d","rollback":"no","version":"1"}}],"reason":"x","status":"idle"},"engineVersion":3,"instance":"a/b@c","nowMilliseconds":1,"viewPosition":1}"#
        do {
            _ = try PayloadDecoder().decode(DecisionMade.self, from: text)
            Issue.record("decoded")
        } catch let DecodingError.typeMismatch(_, context) {
            #expect(context.codingPath.map(\.stringValue) == ["decision", "actions", "Index 0", "apply", "rollback"])
        } catch {
            Issue.record("\(error)")
        }
    }
}
