import Foundation
import KeelsonCore
import KeelsonRuntimes
import KeelsonStore
import Synchronization
import Testing
@testable import KeelsonEngine

final class Clock: Sendable {
    private let now = Mutex(Date(timeIntervalSince1970: 1_795_000_000))
    func read() -> Date { now.withLock { $0 } }
    func advance(_ seconds: TimeInterval) { now.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

@Suite("Recording fetches and applies")
struct RuntimeRecorderTests {
    func setUp(_ settings: SimulationSettings = SimulationSettings()) throws -> (RuntimeRecorder, EventStore, Clock, URL) {
        let clock = Clock()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-engine-\(UUID().uuidString)")
        var configuration = StoreConfiguration(durability: .normal)
        configuration.clock = { clock.read() }
        let store = try EventStore(path: directory.appendingPathComponent("k.db").path, configuration: configuration)
        let runtime = SimulatedRuntime(name: "sim", settings: settings, clock: { clock.read() })
        return (RuntimeRecorder(runtime: runtime, store: store, actor: "worker:test"), store, clock, directory)
    }

    let web = ServiceInstanceID("shop/web@prod")!

    @Test("apply and fetch are in the log; an unchanged observation is a small event; the projection rebuilds identically")
    func recorded() async throws {
        let (recorder, store, clock, directory) = try setUp()
        defer { try? FileManager.default.removeItem(at: directory) }
        let state = DesiredState(instance: web, digest: "sha256:abc", version: "1.0.0", document: "{}", replicas: 2)
        let result = try await recorder.apply(state, idempotencyKey: "41", timeout: .seconds(30))
        #expect(result.succeeded)
        try await recorder.fetch(web)          // starting: health unknown
        try await recorder.fetch(web)          // the same
        clock.advance(10)
        try await recorder.fetch(web)          // healthy now
        try await recorder.fetch(web)          // the same

        let events = try await store.stream(StreamID("instance:\(web)"))
        #expect(events.map(\.type) == [
            "ApplyStarted", "ApplySucceeded", "StateFetched", "StateUnchanged", "StateFetched", "StateUnchanged",
        ])
        let unchanged = try events[3].decode(StateUnchanged.self)
        #expect(unchanged.sameAs == events[2].position)
        #expect(events[3].payload.utf8.count < events[2].payload.utf8.count / 2)

        let current = try #require(try await store.currentStates().first)
        #expect(current.instance == "shop/web@prod")
        #expect(current.healthy)
        #expect(current.fetchedPosition == events[4].position)
        #expect(current.lastSeenPosition == events[5].position)
        #expect(try await store.verifyProjections().isClean)
    }

    @Test("an instance whose id is a prefix of another's keeps its own current state")
    func prefixIDs() async throws {
        let (recorder, store, _, directory) = try setUp()
        defer { try? FileManager.default.removeItem(at: directory) }
        let prodEU = ServiceInstanceID("shop/web@prod-eu")!
        for instance in [prodEU, web] {
            let state = DesiredState(instance: instance, digest: "sha256:x", version: "1.0.0", document: "{}", replicas: 1)
            try await recorder.apply(state, idempotencyKey: "k-\(instance)", timeout: .seconds(5))
        }
        try await recorder.fetch(prodEU)
        try await recorder.fetch(web)
        #expect(try await store.stream(StreamID("instance:\(web)")).map(\.type).last == "StateFetched")
        #expect(try await store.currentStates(prefix: "shop/web@prod").map(\.instance) == ["shop/web@prod", "shop/web@prod-eu"])
        #expect(try await store.currentStates(prefix: "shop/web@prod-").map(\.instance) == ["shop/web@prod-eu"])
        #expect(try await store.currentStates(prefix: "shop/api@").isEmpty)
    }

    @Test("failed fetches and applies are recorded with their errors")
    func failures() async throws {
        var settings = SimulationSettings()
        settings.fetchErrorRate = 1
        settings.applyFailureRate = 1
        let (recorder, store, _, directory) = try setUp(settings)
        defer { try? FileManager.default.removeItem(at: directory) }
        let state = DesiredState(instance: web, digest: "sha256:abc", version: "1.0.0", document: "{}", replicas: 1)
        let result = try await recorder.apply(state, idempotencyKey: "7", timeout: .seconds(5))
        #expect(!result.succeeded)
        await #expect(throws: FetchError.self) { try await recorder.fetch(web) }
        let events = try await store.stream(StreamID("instance:\(web)"))
        #expect(events.map(\.type) == ["ApplyStarted", "ApplyFailed", "FetchFailed"])
        let failed = try JSONDecoder().decode(ApplyFinished.self, from: Data(events[1].payload.utf8))
        #expect(failed.result.error == "simulated apply failure")
        #expect(failed.idempotencyKey == "7")
        #expect(try events[2].decode(FetchFailed.self).error.contains("simulated fetch error"))
    }

    @Test("an apply and the fetch after it are recorded together, a failed fetch too; a batch of fetches records each instance's result, in the order asked")
    func applyThenFetchAndBatches() async throws {
        let (recorder, store, clock, directory) = try setUp()
        defer { try? FileManager.default.removeItem(at: directory) }
        let state = DesiredState(instance: web, digest: "sha256:abc", version: "1.0.0", document: "{}", replicas: 1)
        let (result, fetched) = try await recorder.applyThenFetch(state, idempotencyKey: "9", timeout: .seconds(5))
        #expect(result.succeeded)
        #expect((try? fetched.result.get()) != nil)
        #expect(try await store.stream(.instance(web)).map(\.type) == ["ApplyStarted", "ApplySucceeded", "StateFetched"])

        let others = ["shop/web@staging", "shop/api@prod", "shop/api@staging"].map { ServiceInstanceID($0)! }
        for id in others {
            try await recorder.apply(
                DesiredState(instance: id, digest: "sha256:abc", version: "1.0.0", document: "{}", replicas: 1),
                idempotencyKey: "k-\(id)", timeout: .seconds(5))
        }
        clock.advance(10)
        let requests = ([web] + others).map { RuntimeRecorder.FetchRequest(instance: $0, desired: nil) }
        let first = try await recorder.fetch(requests, concurrency: 2)
        #expect(first.map(\.instance) == [web] + others)
        let second = try await recorder.fetch(requests, concurrency: 2)
        #expect(second.allSatisfy { (try? $0.result.get())?.isHealthy == true })
        for id in [web] + others {
            #expect(try await store.stream(.instance(id)).map(\.type).suffix(2) == ["StateFetched", "StateUnchanged"], "\(id)")
        }
        #expect(try await store.verifyProjections().isClean)

        var failing = SimulationSettings()
        failing.fetchErrorRate = 1
        let (broken, brokenStore, _, brokenDirectory) = try setUp(failing)
        defer { try? FileManager.default.removeItem(at: brokenDirectory) }
        let (_, failed) = try await broken.applyThenFetch(state, idempotencyKey: "10", timeout: .seconds(5))
        #expect((try? failed.result.get()) == nil)
        #expect(try await brokenStore.stream(.instance(web)).map(\.type) == ["ApplyStarted", "ApplySucceeded", "FetchFailed"])
    }
}
