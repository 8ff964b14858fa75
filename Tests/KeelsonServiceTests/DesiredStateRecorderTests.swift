import Foundation
import KeelsonCompiler
import KeelsonCore
import KeelsonService
import KeelsonStore
import KeelsonTestSupport
import Testing
@testable import KeelsonEngine

/// What `keelson apply` and `keelson release` record: refusing a config that orphans released
/// instances (or pruning them, loudly), and answering with the position of their own events.
@Suite("Recording config and releases")
struct DesiredStateRecorderTests {
    static let platform = ShopConfig.platform
    static let web = ShopConfig.web
    static let api = ShopConfig.api

    /// A store in a fresh folder, and a config folder beside it.
    struct Setup {
        let directory: URL
        let store: EventStore
        let recorder: DesiredStateRecorder
        var config: String { directory.appendingPathComponent("config").path }

        init() throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-recorder-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory.appendingPathComponent("config"), withIntermediateDirectories: true)
            store = try EventStore(path: directory.appendingPathComponent("k.db").path, configuration: StoreConfiguration(durability: .normal))
            recorder = DesiredStateRecorder(store: store, actor: "test")
        }

        /// Replaces the config folder's files with `files` (name → text).
        func write(_ files: [String: String]) throws {
            let folder = directory.appendingPathComponent("config")
            for name in try FileManager.default.contentsOfDirectory(atPath: folder.path) {
                try FileManager.default.removeItem(at: folder.appendingPathComponent(name))
            }
            for (name, text) in files { try text.write(to: folder.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        }

        /// The platform and both services applied, web released at 1.0.0.
        func released() async throws {
            try write(["platform.yaml": DesiredStateRecorderTests.platform, "web.yaml": DesiredStateRecorderTests.web, "api.yaml": DesiredStateRecorderTests.api])
            _ = try await recorder.apply(path: config, options: .init())
            _ = try await recorder.release(ReleaseRequest(application: "shop", service: "web", version: "1.0.0"), dryRun: false)
        }
    }

    @Test("a config that drops a released service, or holds no document at all, is refused: the instances listed, nothing recorded", arguments: [
        ["platform.yaml": platform, "api.yaml": api],
        ["empty.yaml": "# nothing here\n"],
        ["platform.yaml": platform, "web.yaml": web.replacingOccurrences(of: "name: web", with: "name: www")],
    ])
    func refusesOrphans(_ files: [String: String]) async throws {
        let setup = try Setup()
        defer { try? FileManager.default.removeItem(at: setup.directory) }
        try await setup.released()
        let before = try await setup.store.lastPosition()
        try setup.write(files)
        await #expect {
            _ = try await setup.recorder.apply(path: setup.config, options: .init())
        } throws: { error in
            guard case DesiredStateRecorder.Failure.wouldOrphan(let removed) = error else { return false }
            return removed.map(\.instance) == ["shop/web@prod", "shop/web@staging"] && removed.allSatisfy { $0.version == "1.0.0" }
                && "\(error)".contains("--prune")
        }
        #expect(try await setup.store.lastPosition() == before)
        #expect(try await setup.store.desiredStates().count == 2)
    }

    @Test("a dry run lists what would be removed and records nothing")
    func dryRunLists() async throws {
        let setup = try Setup()
        defer { try? FileManager.default.removeItem(at: setup.directory) }
        try await setup.released()
        let before = try await setup.store.lastPosition()
        try setup.write(["platform.yaml": Self.platform, "api.yaml": Self.api])
        let outcome = try await setup.recorder.apply(path: setup.config, options: .init(dryRun: true))
        #expect(outcome.removed.map(\.instance) == ["shop/web@prod", "shop/web@staging"])
        #expect(outcome.position == 0)
        #expect(try await setup.store.lastPosition() == before)
    }

    @Test("with prune: the config and one InstanceRemoved per orphan, in one append; the projections and the engine forget the instance")
    func pruneRemoves() async throws {
        let setup = try Setup()
        defer { try? FileManager.default.removeItem(at: setup.directory) }
        try await setup.released()
        try setup.write(["platform.yaml": Self.platform, "api.yaml": Self.api])
        let outcome = try await setup.recorder.apply(path: setup.config, options: .init(prune: true))
        let config = try #require(outcome.configApplied)

        let removed = try await setup.store.events(EventFilter(types: [InstanceRemoved.eventType]))
        #expect(removed.map(\.streamID.rawValue) == ["instance:shop/web@prod", "instance:shop/web@staging"])
        let payload = try removed[0].decode(InstanceRemoved.self)
        #expect(payload == InstanceRemoved(instance: "shop/web@prod", version: "1.0.0", configDigest: config.digest))
        // One transaction: the config and the removals share their commit, and the answer is the last of them.
        let applied = try #require(try await setup.store.events(EventFilter(stream: "config", types: [ConfigApplied.eventType])).last)
        #expect(removed.allSatisfy { $0.recordedAtMilliseconds == applied.recordedAtMilliseconds && $0.position > applied.position })
        #expect(outcome.position == removed.last?.position)

        #expect(try await setup.store.desiredStates().isEmpty)
        let statuses = try await setup.store.instanceStatuses(prefix: "shop/web@")
        #expect(statuses.map(\.status) == ["removed", "removed"])
        #expect(statuses.allSatisfy { $0.desiredVersion == nil && $0.reason.hasPrefix("removed from config") })

        let state = try await setup.store.engineState()
        let staging = ServiceInstanceID("shop/web@staging")!
        #expect(state.instances[staging]?.desired == nil)
        let view = try #require(state.view(of: staging))
        let decision = Engine.decide(view, nowMilliseconds: 1_900_000_000_000)
        #expect(decision.status == .idle)
        #expect(decision.reason == .removedFromConfig)
        #expect(decision.actions.isEmpty)

        let timeline = try await setup.store.timeline(TimelineQuery(application: "shop", service: "web"))
        #expect(timeline.contains { $0.line.hasPrefix("removed from config") && $0.channel == "staging" })

        // Applying the same config again: nothing left to remove, nothing refused.
        let again = try await setup.recorder.apply(path: setup.config, options: .init())
        #expect(again.removed.isEmpty && again.position == 0)
    }

    @Test("a never-released instance is still 'no release yet' (the removal case changes nothing else)")
    func neverReleasedIsNotRemoved() throws {
        let record = InstanceRecord(instance: ServiceInstanceID("shop/api@staging")!)
        let view = InstanceView(record: record, policy: ChannelPolicy(name: "staging"))
        #expect(Engine.decide(view, nowMilliseconds: 0).reason == .noRelease)
    }

    @Test("releases and applies answer the position of their own last event while another writer appends")
    func ownPosition() async throws {
        let setup = try Setup()
        defer { try? FileManager.default.removeItem(at: setup.directory) }
        try await setup.released()
        let store = setup.store
        let noise = Task {
            var count = 0
            while !Task.isCancelled {
                _ = try? await store.append([NewEvent(type: "Noise")], to: "noise")
                count += 1
            }
            return count
        }
        var answers: [(version: String, position: Int64)] = []
        for index in 0..<30 {
            let version = "2.0.\(index)"
            let outcome = try await setup.recorder.release(ReleaseRequest(application: "shop", service: "web", version: version), dryRun: false)
            answers.append((version, outcome.position))
        }
        noise.cancel()
        #expect(await noise.value > 0)
        for answer in answers {
            // The event at the answered position is this release's own last one.
            let event = try #require(try await store.events(EventFilter(afterPosition: answer.position - 1, limit: 1)).first)
            #expect(event.position == answer.position)
            #expect(event.type == DesiredStateCompiled.eventType, "position \(answer.position) is a \(event.type)")
            #expect((try? event.decode(DesiredStateCompiled.self))?.version == answer.version)
            // And nothing of this release comes after it.
            let later = try await store.events(EventFilter(afterPosition: answer.position, types: [DesiredStateCompiled.eventType, ReleaseRequested.eventType]))
            #expect(!later.contains { ($0.payload.contains("\"\(answer.version)\"")) })
        }
    }
}
