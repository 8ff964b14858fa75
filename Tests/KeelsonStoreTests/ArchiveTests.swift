import Foundation
import GRDB
import KeelsonCore
import KeelsonTestSupport
import Testing
@testable import KeelsonStore

@Suite("Archives: closed history moved out of the live file, read through, restored")
struct ArchiveTests {
    /// A store holding the random history of the row-history tests (instance events over a few
    /// instances, every projection fed) and some plain notes.
    static func filledStore(in directory: TemporaryDirectory, clock: ManualClock = ManualClock()) async throws -> EventStore {
        let store = try makeStore(directory, clock: clock)
        _ = try await RowHistoryTests.randomHistory(seed: 21, into: store, clock: clock)
        try await store.append((0..<30).map { note("n\($0)") }, to: "notes")
        return store
    }

    /// Everything a reader can ask of the log and its projections.
    static func everything(_ store: EventStore, upTo last: Int64) async throws -> [String] {
        let events = try await store.events(EventFilter(upToPosition: last))
        return [
            "\(events.map { "\($0.position) \($0.streamID) \($0.version) \($0.type) \($0.payload) \($0.recordedAtMilliseconds)" })",
            "\(try await store.streamCatalogue())",
            "\(try await store.instanceStatuses(atPosition: last / 2))",
            "\(try await store.rows(of: DesiredStateProjection.self, atPosition: last / 3))",
            "\(try await store.events(EventFilter(stream: "notes", fromVersion: 5)).map(\.position))",
            "\(try await store.events(EventFilter(types: [StateFetched.eventType])).map(\.position))",
            "\(try await store.version(of: "notes"))",
        ]
    }

    @Test("after archiving, every read gives what it gave before; check is clean; restore brings the file back")
    func roundTrip() async throws {
        let directory = TemporaryDirectory()
        let store = try await Self.filledStore(in: directory)
        let last = try await store.lastPosition()
        let before = try await Self.everything(store, upTo: last)

        let first = try await store.archive(upTo: last / 2, to: directory.path("a1.db"), actor: "test")
        #expect(first.firstPosition == 1 && first.lastPosition == last / 2 && first.events == last / 2)
        let second = try await store.archive(upTo: last + 100, to: directory.path("a2.db"), actor: "test")
        // Never the latest event (here the first HistoryArchived): positions keep counting from it.
        #expect(second.firstPosition == last / 2 + 1 && second.lastPosition == last)
        #expect(second.previousDigest == first.digest)
        #expect(try await store.archives() == [first, second])

        // The log gained the two HistoryArchived events; everything before them reads as it did.
        let archived = try await store.events(EventFilter(types: [HistoryArchived.eventType]))
        #expect(archived.map(\.position) == [last + 1, last + 2])
        #expect(try archived[1].decode(HistoryArchived.self).digest == second.digest)
        let after = try await Self.everything(store, upTo: last)
        #expect(after[0] == before[0])
        #expect(after[2...] == before[2...])
        // Pages across the segments: the first of the log, the last of it, one that spans a boundary.
        #expect(try await store.events(EventFilter(limit: 3)).map(\.position) == [1, 2, 3])
        #expect(try await store.events(EventFilter(limit: 4, latest: true)).map(\.position) == [last - 1, last, last + 1, last + 2])
        #expect(try await store.events(EventFilter(afterPosition: last / 2 - 2, limit: 4)).map(\.position) == Array((last / 2 - 1)...(last / 2 + 2)))
        let live = try await store.pool.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM main.events")! }
        #expect(live == 2, "the two HistoryArchived are all the live file holds")

        // Appends continue every stream's versions, archived or not.
        try await store.append([note("more")], to: "notes", expecting: .exact(30))
        await #expect(throws: StoreError.self) { try await store.append([note("stale")], to: "notes", expecting: .exact(30)) }
        #expect(try await store.verifyProjections().isClean)
        #expect(try await store.archiveProblems().isEmpty)
        let rows = try await store.instanceStatuses()
        try await store.rebuildProjections()
        #expect(try await store.instanceStatuses() == rows)

        // A second store on the same file reads through the archives too.
        let other = try EventStore(path: store.path, configuration: store.configuration)
        #expect(try await other.events(EventFilter(upToPosition: last)).count == Int(last))

        // The archives come back latest first.
        await #expect { try await store.restore(from: directory.path("a1.db"), actor: "test") } throws: {
            "\($0)".contains("restore the latest archive first")
        }
        try await store.restore(from: directory.path("a2.db"), actor: "test")
        try await store.restore(from: directory.path("a1.db"), actor: "test")
        #expect(try await store.archives().isEmpty)
        let restored = try await store.events(EventFilter(upToPosition: last))
        #expect("\(restored.map { "\($0.position) \($0.streamID) \($0.version) \($0.type) \($0.payload) \($0.recordedAtMilliseconds)" })" == before[0])
        #expect(try await store.pool.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM main.events")! } == Int(last) + 5)
        #expect(try await store.archiveProblems().isEmpty)
        #expect(try await store.verifyProjections().isClean)
    }

    @Test("a changed, swapped or missing archive is found; restore refuses a changed one and changes nothing")
    func tampering() async throws {
        let directory = TemporaryDirectory()
        let store = try await Self.filledStore(in: directory)
        let last = try await store.lastPosition()
        let archive = try await store.archive(upTo: last - 10, to: directory.path("a1.db"), actor: "test")

        // One payload changed in the archive file (behind the store's back).
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: archive.path)
        let raw = try DatabaseQueue(path: archive.path)
        try await raw.write { db in
            try db.execute(sql: "UPDATE events SET payload = ? WHERE position = 5", arguments: [try PayloadCompression.deflate(#"{"forged":true}"#)])
        }
        try raw.close()
        let problems = try await store.archiveProblems()
        #expect(problems.count == 1 && problems[0].problem.contains("hash to"), "\(problems)")
        await #expect { try await store.restore(from: archive.path, actor: "test") } throws: { "\($0)".contains("does not hold what was archived") }
        #expect(try await store.archives() == [archive])

        // Missing: opening says which file, and which positions it holds.
        try FileManager.default.moveItem(atPath: archive.path, toPath: directory.path("moved.db"))
        #expect { _ = try EventStore(path: store.path, configuration: store.configuration) } throws: { error in
            "\(error)".contains(archive.path) && "\(error)".contains("1–\(last - 10)")
        }
    }

    @Test("refusals: an existing file, nothing to archive, a worker's lease")
    func refusals() async throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        let store = try await Self.filledStore(in: directory, clock: clock)
        #expect(FileManager.default.createFile(atPath: directory.path("taken.db"), contents: Data("x".utf8)))
        await #expect { try await store.archive(upTo: 10, to: directory.path("taken.db"), actor: nil) } throws: { "\($0)".contains("already exists") }
        #expect(try String(contentsOfFile: directory.path("taken.db"), encoding: .utf8) == "x")
        await #expect { try await store.archive(upTo: 0, to: directory.path("none.db"), actor: nil) } throws: { "\($0)".contains("nothing to archive") }
        #expect(!FileManager.default.fileExists(atPath: directory.path("none.db")))

        let now = clock.read().millisecondsSince1970
        _ = try await store.acquireLeases(["instance:shop/web@prod"], owner: "worker:a", nowMilliseconds: now, expiresAtMilliseconds: now + 60_000)
        await #expect { try await store.archive(upTo: 10, to: directory.path("a.db"), actor: nil) } throws: { "\($0)".contains("lease") }
        #expect(!FileManager.default.fileExists(atPath: directory.path("a.db")))
        let forced = try await store.archive(upTo: 10, to: directory.path("a.db"), actor: nil, force: true)
        #expect(forced.lastPosition == 10)
        await #expect { try await store.archive(upTo: 5, to: directory.path("b.db"), actor: nil, force: true) } throws: { "\($0)".contains("the live file starts at 11") }
    }

    @Test("payload compression: round trips, and a damaged blob is an error, not a crash",
          arguments: ["", "{}", #"{"instance":"shop/web@prod","digest":"sha256:00"}"#, "é∂🚀 × 5,000"])
    func compression(sample: String) throws {
        let text = sample.hasSuffix("× 5,000") ? String(repeating: "é∂🚀 ", count: 5_000) : sample
        let packed = try PayloadCompression.deflate(text)
        #expect(try PayloadCompression.inflate(packed) == text)
        #expect(throws: PayloadCompression.Failure.self) { try PayloadCompression.inflate(packed.prefix(3)) }
        var lying = packed
        lying[3] = 0x7f  // claims far more bytes than any payload
        #expect(throws: PayloadCompression.Failure.self) { try PayloadCompression.inflate(lying) }
        if packed.count > 6 {
            #expect(throws: PayloadCompression.Failure.self) { try PayloadCompression.inflate(packed.prefix(packed.count - 2)) }
        }
    }
}
