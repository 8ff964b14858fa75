import Foundation
import KeelsonCore
import Testing
@testable import KeelsonCompiler

@Suite("examples/shop")
struct ExampleTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("examples/shop").path

    @Test("validates, and expands prod into one channel per region")
    func shop() throws {
        let loaded = ConfigSource.load(path: Self.folder)
        #expect(loaded.diagnostics.isEmpty)
        #expect(loaded.files.map { URL(fileURLWithPath: $0.name).lastPathComponent } == ["platform.yaml", "shop.yaml", "web.yaml", "worker.yaml"])
        let intent = try IntentParser.parse(loaded.documents).get()
        #expect(intent.runtimes.map(\.name) == ["local", "sim-eu", "sim-us"])
        let shop = try #require(intent.applications.first)
        #expect(shop.channels.map(\.name) == ["staging", "canary", "prod-eu", "prod-us"])
        #expect(shop.channels.map(\.after) == [[], ["staging"], ["canary"], ["canary"]])
        let prod = shop.channels[2].rules
        #expect(prod.approvals == 1)
        #expect(prod.soakSeconds == 120)
        #expect(prod.windows.isEmpty && prod.freezes.isEmpty, "left out so that `keelson up` reaches prod at any hour")
        #expect(shop.maxConverging == 2)
        #expect(intent.services.map(\.name) == ["web", "worker"])
        let web = intent.services[0]
        #expect(web.instances.map(\.replicas) == [1, 1, 4, 3])
        #expect(web.instances.map(\.runtime) == ["local", "local", "sim-eu", "sim-us"])
        #expect(web.instances[3].run == .simulated)
    }

    @Test("parsing is deterministic: the same files give the same intent")
    func deterministic() throws {
        let first = try IntentParser.parse(ConfigSource.load(path: Self.folder).documents).get()
        let second = try IntentParser.parse(ConfigSource.load(path: Self.folder).documents).get()
        #expect(first == second)
    }
}

@Suite("examples/kubernetes")
struct KubernetesExampleTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("examples/kubernetes").path

    @Test("validates: the manifests beside the config are the service's, not config; the runtime's settings are read")
    func kubernetes() throws {
        let loaded = ConfigSource.load(path: Self.folder)
        #expect(loaded.diagnostics.isEmpty, "\(loaded.diagnostics)")
        #expect(loaded.files.map { URL(fileURLWithPath: $0.name).lastPathComponent } == ["keelson.yaml"])
        let intent = try IntentParser.parse(loaded, files: DiskFiles()).get()
        #expect(intent.runtimes.first?.type == .kubernetes && intent.runtimes.first?.settings["forceConflicts"] == "true")
        let web = try #require(intent.services.first)
        guard case .kubernetes(let manifests, let namespace)? = web.instances.first?.run else {
            Issue.record("not a Kubernetes service")
            return
        }
        #expect(manifests.map { URL(fileURLWithPath: $0).lastPathComponent } == ["deployment.yaml", "service.yaml"])
        #expect(namespace == "{{constants.namespace}}")
    }
}

