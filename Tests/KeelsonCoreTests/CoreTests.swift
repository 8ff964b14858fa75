import Foundation
import KeelsonCore
import Testing

@Suite("Core vocabulary")
struct CoreTests {
    @Test("expected versions", arguments: [
        (ExpectedVersion.any, Int64(0), true), (.any, 5, true),
        (.noStream, 0, true), (.noStream, 1, false),
        (.exact(3), 3, true), (.exact(3), 2, false), (.exact(3), 4, false),
    ])
    func expectedVersion(expected: ExpectedVersion, current: Int64, satisfied: Bool) {
        #expect(expected.isSatisfied(byCurrentVersion: current) == satisfied)
    }

    @Test("canonical JSON sorts keys, so equal values give equal bytes")
    func canonicalJSON() throws {
        let value: [String: [String: Int]] = ["zeta": ["b": 2, "a": 1], "alpha": [:]]
        #expect(try CanonicalJSON.string(value) == #"{"alpha":{},"zeta":{"a":1,"b":2}}"#)
    }

    @Test("the stream catalogue fold counts versions, positions, times and types")
    func streamCatalogue() {
        func event(_ position: Int64, _ stream: StreamID, _ version: Int64, _ type: String) -> RecordedEvent {
            RecordedEvent(position: position, streamID: stream, version: version, type: type, schemaVersion: 1,
                          payload: "{}", recordedAtMilliseconds: position * 1000)
        }
        var state: [StreamID: StreamSummary] = [:]
        StreamCatalogue().fold([
            event(1, "a", 1, "X"), event(2, "b", 1, "Y"), event(3, "a", 2, "Y"), event(4, "a", 3, "X"),
        ], into: &state)
        #expect(state["a"] == StreamSummary(
            streamID: "a", version: 3, firstPosition: 1, lastPosition: 4, firstRecordedAtMilliseconds: 1000,
            lastRecordedAtMilliseconds: 4000, eventCount: 3, eventCountsByType: ["X": 2, "Y": 1]))
        #expect(state["b"]?.eventCount == 1)
        #expect(state.count == 2)
    }

    @Test("milliseconds round-trip through Date")
    func milliseconds() {
        let milliseconds: Int64 = 1_795_734_310_203
        #expect(Date(millisecondsSince1970: milliseconds).millisecondsSince1970 == milliseconds)
    }
}

@Suite("Path arithmetic without Foundation's NSString")
struct FilePathsTests {
    @Test("parent and last component, as NSString answers them, for the inputs NSString traps on too",
          arguments: [
            ("a/b", "a", "b"), ("/x", "/", "x"), ("/", "/", "/"), ("abc", "", "abc"), ("0", "", "0"), ("x/", "", "x"),
            (".", "", "."), ("/x/y/", "/x", "y"), ("a//b", "a", "b"), ("", "", ""), ("//", "/", "/"),
          ])
    func parts(_ path: String, _ parent: String, _ last: String) {
        #expect(FilePaths.parent(path) == parent)
        #expect(FilePaths.lastComponent(path) == last)
    }

    @Test("join, standardized and normalized")
    func joinAndNormalize() {
        #expect(FilePaths.join("/a", "b") == "/a/b")
        #expect(FilePaths.join("/a/", "/b") == "/a/b")
        #expect(FilePaths.join("", "b") == "b")
        #expect(FilePaths.standardized("b/../c/./d", from: "/a") == "/a/c/d")
        #expect(FilePaths.standardized("/../../x") == "/x")
        #expect(FilePaths.normalized("k8s/") == "k8s")
        #expect(FilePaths.normalized("./a/../b") == "b")
        #expect(FilePaths.normalized("../a") == "../a")
        #expect(FilePaths.normalized("") == ".")
        #expect(FilePaths.normalized("/a/./b/") == "/a/b")
    }
}
