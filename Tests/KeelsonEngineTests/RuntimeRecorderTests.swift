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
        let first = try await recorder.fetch(requests, slots: FetchSlots(limit: 2))
        #expect(first.map(\.instance) == [web] + others)
        let second = try await recorder.fetch(requests, slots: FetchSlots(limit: 2))
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

    /// The simulated runtime with something done before each fetch (a test double for a runtime
    /// that takes time to answer; everything else is the simulated runtime's).
    struct HookedFetches: Runtime {
        let inner: SimulatedRuntime
        let beforeFetch: @Sendable (ServiceInstanceID) async throws -> Void
        var name: String { inner.name }

        func fetch(_ instance: ServiceInstanceID, desired: DesiredState?) async throws -> Observation {
            try await beforeFetch(instance)
            return try await inner.fetch(instance, desired: desired)
        }

        func apply(_ state: DesiredState, idempotencyKey: String, timeout: Duration) async throws -> ApplyResult {
            try await inner.apply(state, idempotencyKey: idempotencyKey, timeout: timeout)
        }

        func remove(_ instance: ServiceInstanceID, desired: DesiredState?, timeout: Duration) async throws -> ApplyResult {
            try await inner.remove(instance, desired: desired, timeout: timeout)
        }

        func check() async -> [RuntimeCheck] { await inner.check() }
    }

    @Test("in a batch of fetches, a slow one holds up none but itself: the others are recorded and reported while it runs")
    func slowFetchInABatch() async throws {
        let (plain, store, clock, directory) = try setUp()
        defer { try? FileManager.default.removeItem(at: directory) }
        let ids = ["shop/a@prod", "shop/b@prod", "shop/c@prod", "shop/slow@prod"].map { ServiceInstanceID($0)! }
        let (gate, open) = AsyncStream.makeStream(of: Void.self)
        // The last instance's fetch waits until the test lets it go (a slow fetch program).
        let runtime = HookedFetches(inner: plain.runtime as! SimulatedRuntime) { instance in
            if instance == ids[3] { for await _ in gate { break } }
        }
        let recorder = RuntimeRecorder(runtime: runtime, store: store, actor: "worker:test")
        for id in ids {
            try await recorder.apply(
                DesiredState(instance: id, digest: "sha256:abc", version: "1.0.0", document: "{}", replicas: 1),
                idempotencyKey: "k-\(id)", timeout: .seconds(5))
        }
        clock.advance(10)
        let reported = Mutex<[ServiceInstanceID]>([])
        let batch = Task {
            try await recorder.fetch(ids.map { .init(instance: $0, desired: nil) }, slots: FetchSlots(limit: 4), recorded: { outcomes in
                reported.withLock { $0 += outcomes.map(\.instance) }
            })
        }
        // Bounded: the three fast fetches are reported long before this runs out.
        for _ in 0..<500 where reported.withLock({ $0.count }) < 3 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(Set(reported.withLock { $0 }) == Set(ids[0...2]))
        for id in ids[0...2] { #expect(try await store.stream(.instance(id)).map(\.type).last == "StateFetched") }
        #expect(try await store.stream(.instance(ids[3])).map(\.type).last == "ApplySucceeded")
        open.yield()
        let outcomes = try await batch.value
        #expect(outcomes.map(\.instance) == ids)
        #expect(try await store.stream(.instance(ids[3])).map(\.type).last == "StateFetched")
        #expect(reported.withLock { $0 }.count == 4)
    }

    @Test("two batches of one runtime share its slots: never more fetches at once than the slots allow, and every result is recorded")
    func slotsBoundBatches() async throws {
        let (plain, store, _, directory) = try setUp()
        defer { try? FileManager.default.removeItem(at: directory) }
        // Fetches that take a few milliseconds, counted: how many run at once, at most.
        let counts = Mutex<(now: Int, most: Int)>((0, 0))
        let runtime = HookedFetches(inner: plain.runtime as! SimulatedRuntime) { _ in
            counts.withLock { $0.now += 1; $0.most = max($0.most, $0.now) }
            defer { counts.withLock { $0.now -= 1 } }
            try await Task.sleep(for: .milliseconds(5))
        }
        let recorder = RuntimeRecorder(runtime: runtime, store: store, actor: "worker:test")
        let slots = FetchSlots(limit: 3)
        let ids = (0..<24).map { ServiceInstanceID("shop/s\($0)@prod")! }
        async let first = recorder.fetch(ids[..<12].map { .init(instance: $0, desired: nil) }, slots: slots)
        async let second = recorder.fetch(ids[12...].map { .init(instance: $0, desired: nil) }, slots: slots)
        let outcomes = try await first + second
        #expect(outcomes.map(\.instance) == ids)
        // Fetches do run at once (this is not a sequence that trivially stays under the bound)…
        #expect(counts.withLock { $0.most } >= 2)
        // …and never more than the slots the two batches share.
        #expect(counts.withLock { $0.most } <= 3)
        #expect(try await store.events(EventFilter(types: [FetchFailed.eventType, StateFetched.eventType, StateUnchanged.eventType])).count == 24)
    }
}
