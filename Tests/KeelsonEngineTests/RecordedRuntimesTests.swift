import Foundation
import KeelsonCompiler
import KeelsonCore
@testable import KeelsonRuntimes
import KeelsonService
import KeelsonStore
import KeelsonTestSupport
import Testing
@testable import KeelsonEngine

#if canImport(Glibc)
import Glibc
#endif

/// The runtimes as the engine will use them: built from config by the factory, every fetch and
/// apply recorded, and the current-state projection rebuilding identically afterwards.
@Suite("Runtimes from config, recorded", .serialized)
struct RecordedRuntimesTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    func store() throws -> (EventStore, URL) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-recorded-\(UUID().uuidString)")
        let store = try EventStore(
            path: directory.appendingPathComponent("k.db").path, configuration: StoreConfiguration(durability: .normal))
        return (store, directory)
    }

    func shop() throws -> Intent {
        var intent = try IntentParser.parse(ConfigSource.load(path: Self.repository.appendingPathComponent("examples/shop").path).documents).get()
        // Its own ports, away from other tests and from a demo running on this machine.
        let local = try #require(intent.runtimes.firstIndex { $0.name == "local" })
        intent.runtimes[local].settings["ports"] = "19300-19319"
        intent.runtimes[local].settings["stopGracePeriod"] = "3"
        return intent
    }

    func desired(_ intent: Intent, version: String, channel: String) throws -> DesiredState {
        let compiled = try Compiler.compile(
            intent, release: ReleaseRequest(application: "shop", service: "web", version: version), readFile: { try? String(contentsOfFile: $0, encoding: .utf8) }
        ).get()
        let state = try #require(compiled.first { $0.instance == "shop/web@\(channel)" })
        let document = try CompiledDocument.decode(state.document)
        return DesiredState(
            instance: ServiceInstanceID(state.instance)!, digest: state.digest, version: version, document: state.document,
            replicas: document.replicas)
    }

    @Test("examples/shop's web runs for real on the local runtime; applies, fetches and drift are in the log; the projection rebuilds identically")
    func localEndToEnd() async throws {
        let (store, directory) = try store()
        defer { try? FileManager.default.removeItem(at: directory) }
        let intent = try shop()
        let factory = RuntimeFactory(stateRoot: directory.appendingPathComponent("state").path)
        let runtime = factory.make(try #require(intent.runtimes.first { $0.name == "local" }), in: intent)
        let recorder = RuntimeRecorder(runtime: runtime, store: store, actor: "test")
        let staging = ServiceInstanceID("shop/web@staging")!
        defer { Task { _ = try? await runtime.remove(staging, desired: nil, timeout: .seconds(10)) } }

        let v1 = try desired(intent, version: "1.0.0", channel: "staging")
        #expect(v1.document.contains("\"workingDirectory\":\"\(Self.repository.path)/examples/shop\""))
        let applied = try await recorder.apply(v1, idempotencyKey: "i-1", timeout: .seconds(60))
        #expect(applied.succeeded, "\(applied.error ?? "")")
        let healthy = try await recorder.fetch(staging, desired: v1)
        #expect(healthy.isHealthy)
        #expect(healthy.versions == ["1.0.0"])
        try await recorder.fetch(staging, desired: v1)   // the same: a StateUnchanged

        let bad = try desired(intent, version: "1.1.0-bad", channel: "staging")
        let failed = try await recorder.apply(bad, idempotencyKey: "i-2", timeout: .seconds(60))
        #expect(!failed.succeeded)

        // Kill the remaining replica from outside: the next fetch sees it.
        let pidFile = directory.appendingPathComponent("state/local/shop/web@staging/replicas/r1.json")
        let record = try JSONDecoder().decode(LocalProcessRuntime.ReplicaRecord.self, from: Data(contentsOf: pidFile))
        kill(-record.pid, SIGKILL)
        for _ in 0..<100 where ProcessTable.startTime(of: record.pid) != nil { try await Task.sleep(for: .milliseconds(20)) }
        let drifted = try await recorder.fetch(staging, desired: bad)
        #expect(drifted.objects.contains { $0.name == "r1" && $0.drifted && $0.health == .unhealthy })

        let events = try await store.stream(StreamID("instance:\(staging)"))
        #expect(events.map(\.type) == [
            "ApplyStarted", "ApplySucceeded", "StateFetched", "StateUnchanged", "ApplyStarted", "ApplyFailed", "StateFetched",
        ])
        let failure = try JSONDecoder().decode(ApplyFinished.self, from: Data(events[5].payload.utf8))
        #expect(failure.result.error?.contains("failed its health check") == true)
        #expect(failure.result.output.contains("deliberately broken"))
        #expect(failure.result.durationMilliseconds > 0)
        let current = try #require(try await store.currentStates(prefix: "shop/web@staging").first)
        #expect(!current.healthy)
        #expect(current.fetchedPosition == events[6].position)
        #expect(try await store.verifyProjections().isClean)
        _ = try await store.rebuildProjections()
        #expect(try await store.currentStates(prefix: "shop/web@staging").first == current)
        #expect(try await runtime.remove(staging, desired: nil, timeout: .seconds(10)).succeeded)
    }

    @Test("custom programs through the recorder: a failed apply and a garbage fetch are recorded with what was wrong")
    func customRecorded() async throws {
        let (store, directory) = try store()
        defer { try? FileManager.default.removeItem(at: directory) }
        let fixtures = Self.repository.appendingPathComponent("Tests/KeelsonRuntimesTests/Fixtures/custom").path
        let yaml = """
            kind: Runtime
            name: vms
            type: custom
            ---
            kind: Application
            name: billing
            channels:
              - name: prod
                runtime: vms
            ---
            kind: Service
            name: api
            application: billing
            run:
              custom:
                fetch: {command: \(fixtures)/garbage.sh, timeout: 5s}
                apply: {command: \(fixtures)/fail.sh, timeout: 5s, retryableExitCodes: [75], retry: {attempts: 2, backoff: 1s}}
            """
        let file = directory.appendingPathComponent("billing.yaml")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try yaml.write(to: file, atomically: true, encoding: .utf8)
        let intent = try IntentParser.parse(ConfigSource.load(path: file.path).documents).get()
        let compiled = try #require(try Compiler.compile(
            intent, release: ReleaseRequest(application: "billing", service: "api", version: "3.0.0"), readFile: { _ in nil }).get().first)
        let state = DesiredState(
            instance: ServiceInstanceID(compiled.instance)!, digest: compiled.digest, version: "3.0.0", document: compiled.document, replicas: 1)
        let runtime = RuntimeFactory(stateRoot: directory.path).make(intent.runtimes[0], in: intent)
        #expect(await runtime.check().allSatisfy(\.passed))
        let recorder = RuntimeRecorder(runtime: runtime, store: store, actor: "test")

        let result = try await recorder.apply(state, idempotencyKey: "k", timeout: .seconds(30))
        #expect(result.error == "\(fixtures)/fail.sh exited with code 2: error: disk full on vm-1")
        await #expect(throws: FetchError.self) { try await recorder.fetch(state.instance, desired: state) }

        let events = try await store.stream(StreamID("instance:billing/api@prod"))
        #expect(events.map(\.type) == ["ApplyStarted", "ApplyFailed", "FetchFailed"])
        let fetchFailed = try events[2].decode(FetchFailed.self)
        #expect(fetchFailed.error.contains("garbage.sh printed output that is not a Keelson observation: not valid JSON"))
        #expect(try await store.verifyProjections().isClean)
    }

    /// The event log of a run: types and payloads, in order.
    func simulatedLog(seed: UInt64) async throws -> [String] {
        let (store, directory) = try store()
        defer { try? FileManager.default.removeItem(at: directory) }
        let now = MutableDate()
        var settings = SimulationSettings()
        settings.seed = seed
        settings.applyFailureRate = 0.2
        settings.applyHangRate = 0.1
        settings.fetchErrorRate = 0.1
        settings.unhealthyVersions = ["2.0.0"]
        let runtime = SimulatedRuntime(name: "sim", settings: settings, clock: { now.value })
        let recorder = RuntimeRecorder(runtime: runtime, store: store, actor: "test")
        for round in 0..<3 {
            for index in 0..<20 {
                let instance = ServiceInstanceID(application: "app", service: "svc-\(index)", channel: "prod")
                let version = ["1.0.0", "2.0.0", "1.1.0"][round]
                let state = DesiredState(instance: instance, digest: "sha256:\(version)", version: version, document: "{}", replicas: 2)
                _ = try await recorder.apply(state, idempotencyKey: "\(round)-\(index)", timeout: .seconds(30))
                _ = try? await recorder.fetch(instance, desired: state)
            }
            now.advance(10)
            for index in 0..<20 {
                _ = try? await recorder.fetch(ServiceInstanceID(application: "app", service: "svc-\(index)", channel: "prod"))
            }
        }
        return try await store.events(EventFilter()).map { "\($0.streamID.rawValue) \($0.type) \($0.payload)" }
    }

    @Test("simulated: the same seed gives the identical event log; another seed another one; faults appear as configured")
    func simulatedDeterminism() async throws {
        let first = try await simulatedLog(seed: 7)
        let second = try await simulatedLog(seed: 7)
        let other = try await simulatedLog(seed: 8)
        #expect(first == second)
        #expect(first != other)
        #expect(first.count > 150)
        #expect(first.contains { $0.contains("ApplyFailed") && $0.contains("simulated apply failure") })
        #expect(first.contains { $0.contains("ApplyFailed") && $0.contains("apply timed out after 30s") })
        #expect(first.contains { $0.contains("FetchFailed") && $0.contains("simulated fetch error") })
        #expect(first.contains { $0.contains("StateFetched") && $0.contains("version 2.0.0 never becomes healthy") })
    }
}

/// A stepped clock read as a value (see `SteppedClock`).
final class MutableDate: @unchecked Sendable {
    private let clock = SteppedClock(start: Date(timeIntervalSince1970: 1_795_000_000))
    var value: Date { clock.now }
    func advance(_ seconds: TimeInterval) { clock.advance(seconds) }
}
