import Foundation
import KeelsonCore
import Synchronization
import Testing
@testable import KeelsonRuntimes

final class TestClock: Sendable {
    private let now = Mutex(Date(timeIntervalSince1970: 1_795_000_000))
    func read() -> Date { now.withLock { $0 } }
    func advance(_ seconds: TimeInterval) { now.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

func desired(_ instance: String, _ version: String, replicas: Int = 2) -> DesiredState {
    DesiredState(instance: ServiceInstanceID(instance)!, digest: "sha256:\(version)", version: version, document: "{}", replicas: replicas)
}

@Suite("Simulated runtime")
struct SimulatedRuntimeTests {
    @Test("an applied version starts, then becomes healthy after its time to healthy")
    func lifecycle() async throws {
        let clock = TestClock()
        var settings = SimulationSettings()
        settings.applyLatency = .seconds(1)
        settings.timeToHealthy = .seconds(5)
        let runtime = SimulatedRuntime(name: "sim", settings: settings, clock: { clock.read() })
        let web = ServiceInstanceID("shop/web@staging")!
        #expect(try await runtime.fetch(web, desired: nil).objects.isEmpty)
        let result = try await runtime.apply(desired("shop/web@staging", "1.0.0"), idempotencyKey: "k1", timeout: .seconds(30))
        #expect(result.succeeded)
        #expect(result.durationMilliseconds == 1000)
        let starting = try await runtime.fetch(web, desired: nil)
        #expect(starting.objects.first?.health == .unknown)
        #expect(!starting.isHealthy)
        clock.advance(6)
        let healthy = try await runtime.fetch(web, desired: nil)
        #expect(healthy.isHealthy)
        #expect(healthy.versions == ["1.0.0"])
        #expect(healthy.objects.first?.readyReplicas == 2)
    }

    @Test("a bad version never becomes healthy; re-issuing an apply with the same key does nothing")
    func badVersionAndIdempotency() async throws {
        let clock = TestClock()
        var settings = SimulationSettings()
        settings.unhealthyVersions = ["1.0.1-bad"]
        let runtime = SimulatedRuntime(name: "sim", settings: settings, clock: { clock.read() })
        let web = ServiceInstanceID("shop/web@prod")!
        _ = try await runtime.apply(desired("shop/web@prod", "1.0.1-bad"), idempotencyKey: "k7", timeout: .seconds(30))
        clock.advance(60)
        #expect(try await runtime.fetch(web, desired: nil).objects.first?.health == .unhealthy)
        let again = try await runtime.apply(desired("shop/web@prod", "1.0.1-bad"), idempotencyKey: "k7", timeout: .seconds(30))
        #expect(again.output.contains("already applied"))
        #expect(try await runtime.fetch(web, desired: nil).objects.first?.health == .unhealthy)
    }

    /// A scripted run: applies and fetches over many instances, with faults.
    func script(seed: UInt64) async -> [String] {
        let clock = TestClock()
        var settings = SimulationSettings()
        settings.seed = seed
        settings.applyFailureRate = 0.2
        settings.applyHangRate = 0.1
        settings.fetchErrorRate = 0.1
        let runtime = SimulatedRuntime(name: "sim", settings: settings, clock: { clock.read() })
        var log: [String] = []
        for round in 0..<5 {
            for index in 0..<20 {
                let instance = "app/svc-\(index)@c\(round % 2)"
                let result = try! await runtime.apply(desired(instance, "1.\(round).0"), idempotencyKey: "k\(round)-\(index)", timeout: .seconds(10))
                log.append("\(instance) apply \(result.succeeded) \(result.error ?? "")")
                clock.advance(3)
                do {
                    let observation = try await runtime.fetch(ServiceInstanceID(instance)!)
                    log.append("\(instance) fetch \(observation.objects.map { "\($0.version ?? "-") \($0.health)" })")
                } catch {
                    log.append("\(instance) fetch error \(error)")
                }
            }
        }
        return log
    }

    @Test("the same seed gives the same results; another seed, others")
    func deterministic() async {
        let first = await script(seed: 42)
        #expect(await script(seed: 42) == first)
        #expect(await script(seed: 43) != first)
        // The faults are there at roughly the configured rates.
        let failures = first.filter { $0.contains("apply false") }.count
        #expect(failures > 10 && failures < 50, "\(failures) of 100 applies failed")
        #expect(first.contains { $0.contains("timed out") })
        #expect(first.contains { $0.contains("fetch error") })
    }

    @Test("holds 10,000 instances")
    func many() async throws {
        let clock = TestClock()
        let runtime = SimulatedRuntime(name: "sim", clock: { clock.read() })
        for index in 0..<10_000 {
            _ = try await runtime.apply(desired("big/svc-\(index)@prod", "1.0.0"), idempotencyKey: "k\(index)", timeout: .seconds(10))
        }
        #expect(await runtime.count == 10_000)
        clock.advance(10)
        #expect(try await runtime.fetch(ServiceInstanceID("big/svc-9999@prod")!).isHealthy)
    }

    @Test("instance ids parse and print as app/service@channel")
    func instanceIDs() {
        #expect(ServiceInstanceID("shop/web@prod-eu")?.channel == "prod-eu")
        #expect(ServiceInstanceID("shop/web@prod-eu")?.description == "shop/web@prod-eu")
        #expect(ServiceInstanceID("shop@prod") == nil)
        #expect(ServiceInstanceID("shop/web") == nil)
    }
}
