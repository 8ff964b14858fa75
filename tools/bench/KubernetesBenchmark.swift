import Foundation
import KeelsonCompiler
import KeelsonCore
import KeelsonEngine
import KeelsonRuntimes
import KeelsonService
import KeelsonStore
import KeelsonTestSupport
import KubeTestServer

/// Part 13: the Kubernetes runtime at 1,000 instances, one Deployment each, against the test API
/// server (a fake that speaks the Kubernetes API: no real API server can be installed where this
/// runs). A worker releases and converges the fleet through 5 channels (one namespace each), then
/// lives a day of the stable cadence on a stepped clock: every pass fetches every instance — a
/// GET and a server-side dry-run apply of its manifests, the drift check — 16 at a time (the
/// worker's `fetchConcurrency`). The baseline is the least a fetch could be: one plain GET of the
/// Deployment per instance, 16 at a time, from the same client library in the same process.
enum KubernetesBenchmark {
    struct Result {
        var instances: Int
        var passes: Int
        var fetches: Int
        /// The passes of the day: fetches, decisions and recording.
        var dayTime: Duration
        /// The baseline: `baselineGets` plain GETs.
        var baselineGets: Int
        var baselineTime: Duration
        var convergeTime: Duration
        var bytes: Int64
        var events: Int64
        /// Whole observations (`StateFetched`) recorded during the day: none while nothing changes.
        var wholeObservations: Int
        var apiRequests: Int

        var fetchRate: Double { Double(fetches) / dayTime.seconds }
        var baselineRate: Double { Double(baselineGets) / baselineTime.seconds }
        var bytesPerInstanceDay: Double { Double(bytes) / Double(instances) * 1_440 / Double(passes) }
    }

    static let deployment = """
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: "{{service.name}}"
        spec:
          replicas: 2
          selector: {matchLabels: {app: "{{service.name}}"}}
          template:
            metadata: {labels: {app: "{{service.name}}"}}
            spec:
              containers:
                - name: app
                  image: "registry.example/bench/{{service.name}}:{{release.version}}"
                  ports: [{containerPort: 8080}]
        """

    static func config(kubeconfig: String, services: Int) -> String {
        FleetConfig.text(
            application: "fleet", services: services,
            runtime: (
                runtime: "kind: Runtime\nname: cluster\ntype: kubernetes\nsettings: {kubeconfig: \"\(kubeconfig)\"}\n", name: "cluster",
                run: "{kubernetes: {manifests: k8s, namespace: \"{{channel.name}}\"}}"))
    }

    static let baselineRounds = 10

    /// `passes` passes a minute apart (1,440 are a day) after the fleet converged.
    static func run(directory: URL, services: Int, passes: Int) async throws -> Result {
        let server = try await KubeTestServer.start(tickEvery: nil)
        defer { Task { await server.stop() } }
        for channel in FleetConfig.channels { await server.cluster.createNamespace(channel) }
        let folder = directory.appendingPathComponent("kubernetes-config")
        try? FileManager.default.removeItem(at: folder)
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("k8s"), withIntermediateDirectories: true)
        let kubeconfig = folder.appendingPathComponent("kubeconfig").path
        try server.kubeconfig().write(toFile: kubeconfig, atomically: true, encoding: .utf8)
        try deployment.write(to: folder.appendingPathComponent("k8s/deployment.yaml"), atomically: true, encoding: .utf8)
        try config(kubeconfig: kubeconfig, services: services)
            .write(to: folder.appendingPathComponent("fleet.yaml"), atomically: true, encoding: .utf8)

        let clock = SteppedClock()
        let path = directory.appendingPathComponent("kubernetes.db").path
        for file in [path, path + "-wal", path + "-shm"] { try? FileManager.default.removeItem(atPath: file) }
        var configuration = StoreConfiguration(durability: .normal)
        configuration.clock = { clock.now }
        var settings = Worker.Settings(name: "worker:kubernetes", stateRoot: directory.appendingPathComponent("kubernetes-state").path)
        settings.clock = { clock.now }
        settings.leaseDuration = .seconds(3_600)
        let instances = services * FleetConfig.channels.count

        // Released and converged through the 5 channels, the cluster's controller moving a step
        // per pass; then an hour of passes a minute apart, so that every instance is settled.
        var store = try EventStore(path: path, configuration: configuration)
        let recorder = DesiredStateRecorder(store: store, actor: "bench")
        _ = try await recorder.apply(path: folder.path, dryRun: false)
        _ = try await recorder.release(
            (0..<services).map { ReleaseRequest(application: "fleet", service: "svc-\($0)", version: "1.0.0") }, dryRun: false)
        var worker = Worker(store: store, settings: settings, declarations: ConfigRuntimes())
        let wall = ContinuousClock()
        let converging = wall.now
        var converged = 0
        for pass in 0..<600 {
            try await worker.step()
            await worker.waitForApplies()
            await server.cluster.tick()
            clock.advance(1)
            if pass % 10 == 9 {
                converged = try await store.instanceStatuses().filter { $0.status == InstanceStatus.converged.rawValue }.count
                if converged == instances { break }
            }
        }
        let convergeTime = wall.now - converging
        guard converged == instances else {
            throw BenchmarkError(description: "part 13: \(converged) of \(instances) instances converged on the test API server")
        }
        for _ in 0..<60 {
            try await worker.step()
            clock.advance(60)
        }
        await worker.stop()

        // The baseline, in the same process: one GET per Deployment, 16 at a time, 10 rounds.
        let client = try KubeClient(KubeConfigLoader.connection(kubeconfig: kubeconfig, context: nil, namespace: nil))
        let deployments = try await client.resource(apiVersion: "apps/v1", kind: "Deployment")
        let names = FleetConfig.channels.flatMap { channel in (0..<services).map { (channel, "svc-\($0)") } }
        let baselineStarted = wall.now
        for _ in 0..<baselineRounds {
            try await inParallel(names, limit: 16) { namespace, name in
                guard try await client.get(deployments, namespace: namespace, name: name) != nil else {
                    throw BenchmarkError(description: "part 13: deployment \(namespace)/\(name) is missing")
                }
            }
        }
        let baselineTime = wall.now - baselineStarted

        let eventsBefore = try await store.lastPosition()
        try store.close()
        let bytesBefore = Measurements.fileSize(path)
        let requestsBefore = await server.cluster.requestCount

        // The day: a pass a minute, each instance due for its stable fetch at every pass.
        store = try EventStore(path: path, configuration: configuration)
        worker = Worker(store: store, settings: settings, declarations: ConfigRuntimes())
        var dayTime = Duration.zero
        for pass in 0..<passes {
            let began = wall.now
            try await worker.step()
            dayTime += wall.now - began
            clock.advance(60)
            if pass % 60 == 59 { Progress.log("  part 13: \(pass + 1) of \(passes) passes, \(Format.duration(dayTime)) so far") }
        }
        await worker.stop()
        let requests = await server.cluster.requestCount - requestsBefore
        let events = try await store.lastPosition() - eventsBefore
        let whole = try await store.events(EventFilter(afterPosition: eventsBefore, types: [StateFetched.eventType])).count
        try store.close()
        return Result(
            instances: instances, passes: passes, fetches: instances * passes, dayTime: dayTime, baselineGets: names.count * baselineRounds,
            baselineTime: baselineTime, convergeTime: convergeTime, bytes: Measurements.fileSize(path) - bytesBefore,
            events: events, wholeObservations: whole, apiRequests: requests)
    }

    /// Runs `body` on every element, at most `limit` at once.
    static func inParallel<Element: Sendable>(
        _ elements: [Element], limit: Int, _ body: @escaping @Sendable (Element) async throws -> Void
    ) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = elements.makeIterator()
            for _ in 0..<limit {
                guard let element = next.next() else { break }
                group.addTask { try await body(element) }
            }
            while try await group.next() != nil {
                guard let element = next.next() else { continue }
                group.addTask { try await body(element) }
            }
        }
    }
}
