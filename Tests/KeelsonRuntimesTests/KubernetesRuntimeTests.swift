import Foundation
import KeelsonCore
import KubeTestServer
import Testing
@testable import KeelsonRuntimes

/// The Kubernetes runtime against the test API server (a fake: no Kubernetes API server can be
/// installed on these machines).
@Suite("Kubernetes runtime, against the test API server")
struct KubernetesRuntimeTests {
    static let instance = ServiceInstanceID("shop/web@staging")!

    static func deployment(image: String, replicas: Int64 = 2) -> JSONValue {
        .object([
            "apiVersion": .string("apps/v1"), "kind": .string("Deployment"),
            "metadata": .object(["name": .string("web"), "labels": .object(["app": .string("web")])]),
            "spec": .object([
                "replicas": .integer(replicas),
                "selector": .object(["matchLabels": .object(["app": .string("web")])]),
                "template": .object([
                    "metadata": .object(["labels": .object(["app": .string("web")])]),
                    "spec": .object(["containers": .array([.object(["name": .string("web"), "image": .string(image)])])]),
                ]),
            ]),
        ])
    }

    static let service: JSONValue = .object([
        "apiVersion": .string("v1"), "kind": .string("Service"), "metadata": .object(["name": .string("web")]),
        "spec": .object(["selector": .object(["app": .string("web")]), "ports": .array([.object(["port": .integer(80)])])]),
    ])

    static let configMap: JSONValue = .object([
        "apiVersion": .string("v1"), "kind": .string("ConfigMap"), "metadata": .object(["name": .string("web-config")]),
        "data": .object(["greeting": .string("hello")]),
    ])

    static func state(_ version: String, image: String? = nil, objects extra: [JSONValue] = [service, configMap]) throws -> DesiredState {
        let document: JSONValue = .object([
            "apiVersion": .string("keelson.dev/v1"), "instance": .string(instance.description),
            "run": .object(["kubernetes": .object(["objects": .array([deployment(image: image ?? "nginx:\(version)")] + extra)])]),
        ])
        return DesiredState(
            instance: instance, digest: "sha256:\(version)", version: version, document: try CanonicalJSON.string(document), replicas: 2)
    }

    static func runtime(_ server: KubeTestServer, force: Bool = false, directory: URL) throws -> KubernetesRuntime {
        let path = directory.appendingPathComponent("kubeconfig-\(UUID().uuidString)").path
        try server.kubeconfig().write(toFile: path, atomically: true, encoding: .utf8)
        var settings = KubernetesSettings()
        settings.kubeconfig = path
        settings.forceConflicts = force
        return KubernetesRuntime(name: "cluster", settings: settings, environment: ["HOME": "/nonexistent"])
    }

    static func folder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-k8s-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// The time an apply that should succeed gets: ample, since the whole suite runs at once on
    /// two cores and an apply's requests then wait for the CPU (a test of timeouts sets its own).
    static let ample: Duration = .seconds(120)

    @Test("apply with labels and annotations, rollout observed by fetch, drift reported, conflicts named, forced, pruning, a bad image, remove")
    func lifecycle() async throws {
        let directory = try Self.folder()
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try await KubeTestServer.start(tickEvery: nil)
        defer { Task { await server.stop() } }
        let runtime = try Self.runtime(server, directory: directory)
        let cluster = server.cluster

        // Before the first apply: nothing there, all of it missing.
        let before = try await runtime.fetch(Self.instance, desired: try Self.state("1.0.0"))
        #expect(before.objects.count == 3 && before.objects.allSatisfy { $0.message == "missing" && $0.drifted } && !before.isHealthy)

        let applied = try await runtime.apply(try Self.state("1.0.0"), idempotencyKey: "k1", timeout: Self.ample)
        #expect(applied.succeeded, "\(applied)")
        #expect(applied.output.contains("created Deployment default/web") && applied.output.contains("created ConfigMap default/web-config"), "\(applied.output)")
        let live = try #require(await cluster.object("deployments", namespace: "default", name: "web"))
        #expect(live.path(["metadata", "labels", "keelson.dev/instance"]) == .string("shop.web.staging"))
        #expect(live.path(["metadata", "labels", "keelson.dev/managed-by"]) == .string("keelson"))
        #expect(live.path(["metadata", "labels", "app"]) == .string("web"), "the manifest's own labels are kept")
        #expect(live.path(["metadata", "annotations", "keelson.dev/release"]) == .string("1.0.0"))
        #expect(live.path(["metadata", "annotations", "keelson.dev/digest"]) == .string("sha256:1.0.0"))
        #expect(await cluster.managers("deployments", namespace: "default", name: "web").keys.sorted() == ["keelson"])

        // Accepted, not yet rolled out; the controller moves it on, and the fetch sees it healthy.
        let rolling = try await runtime.fetch(Self.instance, desired: try Self.state("1.0.0"))
        let deployment = try #require(rolling.objects.first { $0.name == "Deployment default/web" })
        #expect(deployment.health == .unknown && deployment.message?.contains("observed") == true && !deployment.drifted, "\(deployment)")
        await cluster.tick()
        let rolled = try await runtime.fetch(Self.instance, desired: try Self.state("1.0.0"))
        #expect(rolled.isHealthy && rolled.versions == ["1.0.0"] && rolled.objects.allSatisfy { !$0.drifted }, "\(rolled)")

        // Someone scales it by hand: drift, named.
        let deployments = FakeCluster.kinds.first { $0.resource == "deployments" }!
        _ = await cluster.patch(deployments, namespace: "default", name: "web", subresource: "scale",
                                body: .object(["spec": .object(["replicas": .integer(5)])]), manager: "kubectl", dryRun: false)
        await cluster.tick()
        let drifted = try await runtime.fetch(Self.instance, desired: try Self.state("1.0.0"))
        let scaled = try #require(drifted.objects.first { $0.name == "Deployment default/web" })
        #expect(scaled.drifted && scaled.message?.contains(".spec.replicas") == true, "\(scaled)")

        // Applying over it conflicts with kubectl's field, named; with forceConflicts it is taken back.
        let conflicted = try await runtime.apply(try Self.state("1.0.0"), idempotencyKey: "k2", timeout: Self.ample)
        #expect(!conflicted.succeeded && conflicted.error?.contains(".spec.replicas") == true && conflicted.error?.contains("forceConflicts") == true, "\(conflicted)")
        let forcing = try Self.runtime(server, force: true, directory: directory)
        let healed = try await forcing.apply(try Self.state("1.0.0"), idempotencyKey: "k3", timeout: Self.ample)
        #expect(healed.succeeded, "\(healed)")
        #expect(await cluster.object("deployments", namespace: "default", name: "web")?.path(["spec", "replicas"]) == .integer(2))

        // The ConfigMap leaves the manifests: pruned; objects not Keelson's, or another instance's, stay.
        _ = await cluster.apply(
            FakeCluster.kinds.first { $0.resource == "configmaps" }!, namespace: "default", name: "someone-elses",
            body: .object(["apiVersion": .string("v1"), "kind": .string("ConfigMap"), "metadata": .object(["name": .string("someone-elses")])]),
            manager: "kubectl", force: false, dryRun: false)
        _ = await cluster.apply(
            FakeCluster.kinds.first { $0.resource == "configmaps" }!, namespace: "default", name: "prod-config",
            body: .object(["apiVersion": .string("v1"), "kind": .string("ConfigMap"), "metadata": .object([
                "name": .string("prod-config"),
                "labels": .object(["keelson.dev/instance": .string("shop.web.prod"), "keelson.dev/managed-by": .string("keelson")]),
            ])]),
            manager: "keelson", force: false, dryRun: false)
        let pruned = try await forcing.apply(try Self.state("1.1.0", objects: [Self.service]), idempotencyKey: "k4", timeout: Self.ample)
        #expect(pruned.succeeded && pruned.output.contains("pruned ConfigMap default/web-config"), "\(pruned)")
        #expect(await cluster.object("configmaps", namespace: "default", name: "web-config") == nil)
        #expect(await cluster.object("configmaps", namespace: "default", name: "someone-elses") != nil)
        #expect(await cluster.object("configmaps", namespace: "default", name: "prod-config") != nil)

        // A release whose image never becomes ready: unhealthy once the Deployment's deadline passes.
        let bad = try Self.state("2.0.0-bad")
        #expect(try await forcing.apply(bad, idempotencyKey: "k5", timeout: Self.ample).succeeded)
        for _ in 0..<5 { await cluster.tick() }
        let failing = try await forcing.fetch(Self.instance, desired: bad)
        let stuck = try #require(failing.objects.first { $0.name == "Deployment default/web" })
        #expect(stuck.health == .unhealthy && stuck.message?.contains("progress deadline exceeded") == true && stuck.version == "2.0.0-bad", "\(stuck)")

        // Remove: every object of the instance, nothing else.
        let removed = try await forcing.remove(Self.instance, desired: bad, timeout: Self.ample)
        #expect(removed.succeeded && removed.output.contains("pruned Deployment default/web") && removed.output.contains("pruned Service default/web"), "\(removed)")
        #expect(await cluster.object("deployments", namespace: "default", name: "web") == nil)
        #expect(await cluster.object("configmaps", namespace: "default", name: "prod-config") != nil)
    }

    @Test("adoption: objects another tool created are reported as they are, then taken over by apply without being deleted")
    func adoption() async throws {
        let directory = try Self.folder()
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try await KubeTestServer.start(tickEvery: nil)
        defer { Task { await server.stop() } }
        let deployments = FakeCluster.kinds.first { $0.resource == "deployments" }!
        var existing = Self.deployment(image: "nginx:0.9")
        existing.setField(["metadata", "namespace"], .string("default"))
        _ = await server.cluster.apply(deployments, namespace: "default", name: "web", body: existing, manager: "helm", force: false, dryRun: false)
        await server.cluster.tick()
        let uid = await server.cluster.object("deployments", namespace: "default", name: "web")?.path(["metadata", "uid"])

        let runtime = try Self.runtime(server, force: true, directory: directory)
        let seen = try await runtime.fetch(Self.instance, desired: try Self.state("1.0.0", objects: []))
        #expect(seen.versions == ["0.9"] && seen.objects.first?.health == .healthy && seen.objects.first?.drifted == true, "\(seen)")
        let applied = try await runtime.apply(try Self.state("1.0.0", objects: []), idempotencyKey: "a", timeout: Self.ample)
        #expect(applied.succeeded && applied.output.contains("configured Deployment default/web"), "\(applied)")
        let taken = await server.cluster.object("deployments", namespace: "default", name: "web")
        #expect(taken?.path(["metadata", "uid"]) == uid, "the same object, not a new one")
        #expect(taken?.path(["metadata", "annotations", "keelson.dev/release"]) == .string("1.0.0"))
    }

    @Test("runtime check: credentials, reachable with the server version, namespace, permissions per kind; a bad kubeconfig is said")
    func check() async throws {
        let directory = try Self.folder()
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try await KubeTestServer.start(tickEvery: nil)
        defer { Task { await server.stop() } }
        await server.cluster.deny("delete deployments")
        var runtime = try Self.runtime(server, directory: directory)
        let checks = await runtime.check()
        #expect(checks.first { $0.name == "reachable" }?.detail.contains("v1.31") == true, "\(checks)")
        #expect(checks.first { $0.name == "namespace" }?.passed == true)
        let deployments = try #require(checks.first { $0.name == "permitted Deployment" })
        #expect(!deployments.passed && deployments.detail.contains("may not delete"), "\(deployments)")
        #expect(checks.first { $0.name == "permitted Service" }?.passed == true)

        var settings = runtime.settings
        settings.namespace = "nowhere"
        runtime = KubernetesRuntime(name: "cluster", settings: settings, environment: ["HOME": "/nonexistent"])
        #expect(await runtime.check().first { $0.name == "namespace" }?.passed == false)

        settings.kubeconfig = directory.appendingPathComponent("absent").path
        let broken = KubernetesRuntime(name: "cluster", settings: settings, environment: ["HOME": "/nonexistent"])
        let said = await broken.check()
        #expect(said.count == 1 && !said[0].passed && said[0].detail.contains("no such file"), "\(said)")
        await #expect(throws: FetchError.self) { try await broken.fetch(Self.instance, desired: try Self.state("1.0.0")) }
        #expect(try await broken.apply(try Self.state("1.0.0"), idempotencyKey: "x", timeout: .seconds(5)).succeeded == false)
    }

    @Test("an apply or remove that outlasts its timeout fails, saying so and what it did, and leaves nothing running")
    func timeout() async throws {
        let directory = try Self.folder()
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try await KubeTestServer.start(tickEvery: nil)
        defer { Task { await server.stop() } }
        let runtime = try Self.runtime(server, directory: directory)
        // ConfigMaps answer only after two minutes: the Deployment and the Service are applied
        // (the deadline leaves room for a loaded machine), the ConfigMap's apply is still
        // waiting when the deadline passes.
        await server.cluster.setAnswerDelay(.seconds(120), forPathsContaining: "/configmaps")
        let clock = ContinuousClock()
        let started = clock.now
        let applied = try await runtime.apply(try Self.state("1.0.0"), idempotencyKey: "a", timeout: .seconds(10))
        #expect(clock.now - started < .seconds(30), "the deadline, not the request's own timeout")
        #expect(!applied.succeeded && applied.error == "apply timed out after 10s", "\(applied)")
        // What was done is said. On a loaded machine the deadline may pass before the ConfigMap's
        // turn; once the ConfigMap was asked for, the Deployment and the Service were applied.
        let done = ["created Deployment default/web", "created Service default/web"]
        if await server.cluster.requests.contains(where: { $0.line.hasPrefix("PATCH") && $0.line.contains("/configmaps/") }) {
            #expect(applied.output == done.joined(separator: "\n"), "what was done is said: \(applied.output)")
        } else {
            #expect(done.prefix(applied.output.split(separator: "\n").count).joined(separator: "\n") == applied.output, "\(applied.output)")
        }
        // Nothing of the abandoned apply goes on: no request follows it (no pruning after all).
        let received = await server.cluster.receivedCount
        try await Task.sleep(for: .milliseconds(500))
        #expect(await server.cluster.receivedCount == received)

        // Remove lists the instance's objects kind by kind (apps/v1 before v1, ConfigMap before
        // Service): ConfigMaps are again too slow.
        let before = await server.cluster.receivedCount
        let removed = try await runtime.remove(Self.instance, desired: try Self.state("1.0.0"), timeout: .seconds(5))
        #expect(!removed.succeeded && removed.error == "remove timed out after 5s", "\(removed)")
        let asked = await server.cluster.requests.suffix(await server.cluster.receivedCount - before)
        if asked.contains(where: { $0.line.hasPrefix("GET") && $0.line.contains("/configmaps") }) {
            #expect(removed.output == "pruned Deployment default/web", "\(removed.output)")
        } else {
            #expect(removed.output.isEmpty || removed.output == "pruned Deployment default/web", "\(removed.output)")
        }
        if applied.output.contains("created Service") {
            #expect(await server.cluster.object("services", namespace: "default", name: "web") != nil, "listed after ConfigMaps")
        }

        // Once the server answers at once again, the same apply completes.
        await server.cluster.setAnswerDelay(.zero)
        let again = try await runtime.apply(try Self.state("1.0.0"), idempotencyKey: "a", timeout: Self.ample)
        #expect(again.succeeded && again.output.contains("created ConfigMap default/web-config"), "\(again)")
    }

    @Test("a settled object is not dry-run again until it or its desired state changes; a hand edit is still seen at once")
    func driftAskedOnlyOnChange() async throws {
        let directory = try Self.folder()
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try await KubeTestServer.start(tickEvery: nil)
        defer { Task { await server.stop() } }
        let cluster = server.cluster
        let runtime = try Self.runtime(server, directory: directory)
        let state = try Self.state("1.0.0", objects: [])
        #expect(try await runtime.apply(state, idempotencyKey: "a", timeout: Self.ample).succeeded)
        for _ in 0..<3 { await cluster.tick() }
        func dryRuns() async -> Int { await cluster.requests.filter { $0.line.contains("dryRun=All") }.count }

        let first = try await runtime.fetch(Self.instance, desired: state)
        #expect(first.objects.first?.health == .healthy && first.objects.first?.drifted == false, "\(first)")
        let asked = await dryRuns()
        #expect(asked >= 1)
        let second = try await runtime.fetch(Self.instance, desired: state)
        let askedAgain = await dryRuns()
        #expect(second == first && askedAgain == asked, "nothing moved: the same answer, not asked again")

        // kubectl scale: a write, a new resourceVersion; the drift is seen at the next fetch.
        let deployments = FakeCluster.kinds.first { $0.resource == "deployments" }!
        _ = await cluster.patch(
            deployments, namespace: "default", name: "web", subresource: "scale", body: .object(["spec": .object(["replicas": .integer(4)])]),
            manager: "kubectl", dryRun: false)
        let edited = try await runtime.fetch(Self.instance, desired: state)
        #expect(edited.objects.first?.drifted == true && edited.objects.first?.message?.contains(".spec.replicas") == true, "\(edited)")
        #expect(await dryRuns() == asked + 1)

        // Another desired state for the same live object is asked about too.
        let other = try Self.state("1.0.1", objects: [])
        _ = try await runtime.fetch(Self.instance, desired: other)
        #expect(await dryRuns() == asked + 2)
    }

    @Test("instance label values fit Kubernetes: short ids as they are, long ones cut with a digest, distinct")
    func labels() {
        #expect(KubernetesRuntime.labelValue(ServiceInstanceID("shop/web@prod")!) == "shop.web.prod")
        let long = String(repeating: "a", count: 60)
        let one = KubernetesRuntime.labelValue(ServiceInstanceID("\(long)/web@prod")!)
        let two = KubernetesRuntime.labelValue(ServiceInstanceID("\(long)/web@prod2")!)
        #expect(one.utf8.count <= 63 && two.utf8.count <= 63 && one != two)
        #expect(one.first!.isLetter && one.last!.isHexDigit)
    }
}

extension JSONValue {
    mutating func setField(_ keys: [String], _ value: JSONValue) { set(keys, value) }
}
