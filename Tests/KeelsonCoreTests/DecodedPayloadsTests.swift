import Foundation
import Synchronization
import Testing
@testable import KeelsonCore

/// Counts how often it is decoded.
private struct Counted: Decodable, Sendable {
    static let decodes = Mutex(0)
    var value: Int

    init(from decoder: any Decoder) throws {
        Self.decodes.withLock { $0 += 1 }
        value = try decoder.container(keyedBy: CodingKeys.self).decode(Int.self, forKey: .value)
    }

    enum CodingKeys: String, CodingKey { case value }
}

@Suite("Payloads decoded once per fold")
struct DecodedPayloadsTests {
    static func event(_ payload: String) -> RecordedEvent {
        RecordedEvent(
            position: 1, streamID: "s", version: 1, type: "Counted", schemaVersion: 1, payload: payload, recordedAtMilliseconds: 0)
    }

    @Test("with a cache, each payload type is decoded once — failures too; without one, every time")
    func once() throws {
        let plain = Self.event(#"{"value": 7}"#)
        let start = Counted.decodes.withLock { $0 }
        #expect(try plain.decodePayload(as: Counted.self).value == 7)
        #expect(try plain.decodePayload(as: Counted.self).value == 7)
        #expect(Counted.decodes.withLock { $0 } - start == 2)

        let cached = plain.cachingDecodes()
        let copy = cached  // copies share the cache
        #expect(try cached.decodePayload(as: Counted.self).value == 7)
        #expect(try copy.decodePayload(as: Counted.self).value == 7)
        #expect(Counted.decodes.withLock { $0 } - start == 3)
        #expect(cached == plain, "the cache is not part of the event")

        let broken = Self.event(#"{"other": 1}"#).cachingDecodes()
        #expect(throws: DecodingError.self) { try broken.decodePayload(as: Counted.self) }
        #expect(throws: DecodingError.self) { try broken.decodePayload(as: Counted.self) }
        #expect(Counted.decodes.withLock { $0 } - start == 4, "a failure is remembered too")

        let encoded = try JSONEncoder().encode(cached)
        #expect(!String(decoding: encoded, as: UTF8.self).contains("decoded"))
    }
}

@Suite("Snapshot lines")
struct SnapshotLinesTests {
    @Test("a stored snapshot is split into the lines Data.split finds, empty ones kept")
    func sameAsSplit() {
        let cases = ["", "\n", "a", "a\n", "\na", "a\nb", "a\n\nb\n", "\n\n\n", "{\"x\":\"é\"}\n{}\n😀"]
        for text in cases {
            let data = Data(text.utf8)
            let expected = data.split(separator: 0x0A, omittingEmptySubsequences: false).map { Data($0) }
            #expect(EngineSnapshot.lines(of: data) == expected, "\(text.debugDescription)")
        }
    }
}
