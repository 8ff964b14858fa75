import Foundation
import KeelsonCompiler
import KeelsonCore
@testable import KeelsonRuntimes
import KeelsonService
import KeelsonStore
import KeelsonTestSupport
import KubeTestServer
import Testing
@testable import KeelsonEngine

/// The engine driving the Kubernetes runtime end to end, against the test API server (a fake:
/// no Kubernetes API server can be installed on these machines): ordinary manifests released
/// through two channels in two namespaces, a bad image rolled back by itself, drift healed.
@Suite("Engine on the Kubernetes runtime (test API server)", .serialized)
struct KubernetesScenarioTests {
    static let deployment = """
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: web
        spec:
          replicas: 2
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec:
              containers:
                - name: web
                  image: registry.example/shop/web:{{release.version}}
                  ports: [{containerPort: 8080}]
        """
    static let service = """
        apiVersion: v1
        kind: Service
        metadata:
          name: web
        spec:
          selector: {app: web}
          ports: [{port: 80, targetPort: 8080}]
        """

    static let configMap = """
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: web-settings
        data:
          greeting: hello
        """

    static func config(kubeconfig: String, forceConflicts: Bool = true) -> String {
        """
        kind: Runtime
        name: cluster
        type: kubernetes
        settings: {kubeconfig: "\(kubeconfig)", forceConflicts: \(forceConflicts), fetchIntervalConverging: 5s, fetchIntervalStable: 30s}
        ---
        kind: Application
        name: shop
        channels:
          - name: staging
            runtime: cluster
            constants: {namespace: shop-staging}
            rules: {watch: 1m}
          - name: prod
            runtime: cluster
            after: [staging]
            constants: {namespace: shop-prod}
            rules: {watch: 1m}
        ---
        kind: Service
        name: web
        application: shop
        parameters:
          - {name: version, required: true}
        run:
          kubernetes:
            manifests: k8s/
            namespace: "{{constants.namespace}}"
        progressDeadline: 2m
        """
    }

    struct Setup {
        let scenario: Scenario
        let server: KubeTestServer

        /// Runs the worker for `seconds` of its clock in steps of `tick`, the cluster's
        /// controller moving one step per tick.
        func run(for seconds: Int, tick: Int = 5) async throws {
            for _ in 0..<(seconds / tick) {
                try await scenario.worker.step()
                await scenario.worker.waitForApplies()
                await server.cluster.tick()
                try await scenario.worker.step()
                scenario.clock.advance(TimeInterval(tick))
            }
        }

        func deployment(_ namespace: String) async -> JSONValue? {
            await server.cluster.object("deployments", namespace: namespace, name: "web")
        }
    }

    static func setUp(forceConflicts: Bool = true, withConfigMap: Bool = false) async throws -> Setup {
        let server = try await KubeTestServer.start(tickEvery: nil)
        for namespace in ["shop-staging", "shop-prod"] { await server.cluster.createNamespace(namespace) }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-k8s-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("k8s"), withIntermediateDirectories: true)
        let kubeconfig = folder.appendingPathComponent("kubeconfig").path
        try server.kubeconfig().write(toFile: kubeconfig, atomically: true, encoding: .utf8)
        try deployment.write(to: folder.appendingPathComponent("k8s/deployment.yaml"), atomically: true, encoding: .utf8)
        try service.write(to: folder.appendingPathComponent("k8s/service.yaml"), atomically: true, encoding: .utf8)
        if withConfigMap { try configMap.write(to: folder.appendingPathComponent("k8s/settings.yaml"), atomically: true, encoding: .utf8) }
        try config(kubeconfig: kubeconfig, forceConflicts: forceConflicts).write(to: folder.appendingPathComponent("shop.yaml"), atomically: true, encoding: .utf8)
        let scenario = try await Scenario.make(configFolder: folder)
        return Setup(scenario: scenario, server: server)
    }

    @Test("a release moves through staging and prod on the cluster; a bad image is rolled back by itself; a hand-scaled Deployment is healed")
    func rollout() async throws {
        let setup = try await Self.setUp()
        defer { Task { await setup.server.stop() } }
        let scenario = setup.scenario

        try await scenario.release("1.0.0")
        try await setup.run(for: 300)
        #expect(await scenario.status("staging") == "converged 1.0.0")
        #expect(await scenario.status("prod") == "converged 1.0.0")
        for namespace in ["shop-staging", "shop-prod"] {
            let live = await setup.deployment(namespace)
            #expect(live?.field("metadata", "annotations", "keelson.dev/release") == .string("1.0.0"), "\(namespace)")
            #expect(live?.field("spec", "template", "spec", "containers")?.list?.first?.field("image") == .string("registry.example/shop/web:1.0.0"))
            #expect(await setup.server.cluster.object("services", namespace: namespace, name: "web") != nil)
        }

        // 2.0.0-bad never becomes ready: its progress deadline passes, staging rolls back to
        // 1.0.0 by itself, prod never receives it.
        try await scenario.release("2.0.0-bad")
        try await setup.run(for: 400)
        let stagingStatus = await scenario.status("staging")
        #expect(stagingStatus.hasSuffix(" 1.0.0") && !stagingStatus.hasPrefix("failed"), "\(stagingStatus)")
        let staging = await setup.deployment("shop-staging")
        #expect(staging?.field("spec", "template", "spec", "containers")?.list?.first?.field("image") == .string("registry.example/shop/web:1.0.0"), "re-applied from the log")
        #expect(await setup.deployment("shop-prod")?.field("metadata", "annotations", "keelson.dev/release") == .string("1.0.0"))
        let marked = try await scenario.store.events(EventFilter(types: [ReleaseMarkedBad.eventType]))
        let badVersion = try marked.first?.decode(ReleaseMarkedBad.self).version
        #expect(marked.count == 1 && badVersion == "2.0.0-bad")

        // Someone scales prod by hand: the fetch sees drift, the engine applies 1.0.0 again.
        let deployments = FakeCluster.kinds.first { $0.resource == "deployments" }!
        _ = await setup.server.cluster.patch(
            deployments, namespace: "shop-prod", name: "web", subresource: "scale", body: .object(["spec": .object(["replicas": .integer(7)])]),
            manager: "kubectl", dryRun: false)
        try await setup.run(for: 120)
        #expect(await setup.deployment("shop-prod")?.field("spec", "replicas") == .integer(2), "healed")
        let prodStatus = await scenario.status("prod")
        // (Healing drift on the last good release while a bad one is held back is recorded as a
        // rollback to it.)
        let lastWords = try await scenario.decisions("prod").suffix(4).map(\.words)
        #expect(prodStatus.hasSuffix(" 1.0.0") && !prodStatus.hasPrefix("failed"), "\(prodStatus): \(lastWords)")
        #expect(lastWords.contains { $0.contains("drift") }, "\(lastWords)")

        let replay = try await Replay.run(store: scenario.store)
        #expect(replay.differences.isEmpty, "\(replay.differences.prefix(3))")
    }
}

extension KubernetesScenarioTests {
    @Test("a manifest dropped from the folder is pruned at the next release, and nothing else; without forceConflicts a hand edit's fields stop the re-apply, named")
    func pruneAndConflict() async throws {
        let setup = try await Self.setUp(forceConflicts: false, withConfigMap: true)
        defer { Task { await setup.server.stop() } }
        let scenario = setup.scenario
        let cluster = setup.server.cluster
        let configMaps = FakeCluster.kinds.first { $0.resource == "configmaps" }!
        // Someone else's ConfigMap beside Keelson's: never Keelson's to delete.
        let theirs: JSONValue = .object([
            "apiVersion": .string("v1"), "kind": .string("ConfigMap"),
            "metadata": .object(["name": .string("web-notes"), "namespace": .string("shop-staging"), "labels": .object(["app": .string("web")])]),
        ])
        _ = await cluster.apply(configMaps, namespace: "shop-staging", name: "web-notes", body: theirs, manager: "kubectl", force: false, dryRun: false)

        try await scenario.release("1.0.0")
        try await setup.run(for: 300)
        #expect(await scenario.status("prod") == "converged 1.0.0")
        #expect(await cluster.object("configmaps", namespace: "shop-prod", name: "web-settings") != nil)

        // The ConfigMap leaves the manifests: the next release's apply prunes it, and says so.
        try FileManager.default.removeItem(at: scenario.directory.appendingPathComponent("k8s/settings.yaml"))
        _ = try await DesiredStateRecorder(store: scenario.store, actor: "alice").apply(path: scenario.directory.path, dryRun: false)
        try await scenario.release("1.1.0")
        try await setup.run(for: 300)
        #expect(await scenario.status("prod") == "converged 1.1.0")
        for namespace in ["shop-staging", "shop-prod"] {
            #expect(await cluster.object("configmaps", namespace: namespace, name: "web-settings") == nil, "\(namespace)")
            let kept = await (setup.deployment(namespace), cluster.object("services", namespace: namespace, name: "web"))
            #expect(kept.0 != nil && kept.1 != nil, "\(namespace)")
        }
        #expect(await cluster.object("configmaps", namespace: "shop-staging", name: "web-notes") != nil, "not Keelson's")
        let outputs = try await scenario.store.events(EventFilter(types: [ApplyFinished.succeededType]))
            .map { try JSONDecoder().decode(ApplyFinished.self, from: Data($0.payload.utf8)).result.output }
        #expect(outputs.contains { $0.contains("pruned ConfigMap shop-staging/web-settings") }, "\(outputs)")

        // Someone scales prod by hand: kubectl now owns .spec.replicas. Keelson sees the drift,
        // and its re-apply fails with the field and the manager named (forceConflicts is off).
        let deployments = FakeCluster.kinds.first { $0.resource == "deployments" }!
        _ = await cluster.patch(
            deployments, namespace: "shop-prod", name: "web", subresource: "scale", body: .object(["spec": .object(["replicas": .integer(5)])]),
            manager: "kubectl", dryRun: false)
        try await setup.run(for: 60)
        let failures = try await scenario.store.events(EventFilter(types: [ApplyFinished.failedType]))
            .map { try JSONDecoder().decode(ApplyFinished.self, from: Data($0.payload.utf8)) }.filter { $0.instance.channel == "prod" }
        let error = failures.last?.result.error ?? ""
        #expect(error.contains("Deployment shop-prod/web") && error.contains("kubectl") && error.contains(".spec.replicas"), "\(error)")
        #expect(error.contains("set forceConflicts: true on runtime cluster"), "\(error)")
        #expect(await setup.deployment("shop-prod")?.field("spec", "replicas") == .integer(5), "their change is not overwritten")
        let replay = try await Replay.run(store: scenario.store)
        #expect(replay.differences.isEmpty, "\(replay.differences.prefix(3))")
    }
}

extension Scenario {
    /// A scenario whose config is the folder's `shop.yaml` (with whatever files it names beside it).
    static func make(configFolder folder: URL) async throws -> Scenario {
        let clock = FakeClock()
        var configuration = StoreConfiguration(durability: .normal)
        configuration.clock = { clock.now }
        let store = try EventStore(path: folder.appendingPathComponent("k.db").path, configuration: configuration)
        let report = try await DesiredStateRecorder(store: store, actor: "test").apply(path: folder.path, dryRun: false)
        _ = report
        var settings = Worker.Settings(name: "worker:test", stateRoot: folder.appendingPathComponent("state").path)
        settings.clock = { clock.now }
        return Scenario(store: store, clock: clock, worker: Worker(store: store, settings: settings, declarations: ConfigRuntimes()), directory: folder)
    }
}
