import Foundation
import KeelsonCore
import KubeTestServer
import Testing
@testable import KeelsonRuntimes

/// Every body Keelson sends to the API and every object the test API server answers with is
/// valid against the official Kubernetes JSON schemas (PyPI `kubernetes-validate`, strict, for
/// the version the test API server claims). Skipped, saying so, where the tool is not installed.
@Suite("Kubernetes objects against the official schemas")
struct KubeSchemaTests {
    /// `kubernetes-validate` on PATH.
    static let validator: String? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/kubernetes-validate" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    @Test("what Keelson sends and what the test API server answers are valid Kubernetes 1.31 objects",
          .enabled(if: validator != nil, "kubernetes-validate is not installed (pip install kubernetes-validate): the schema check is skipped"))
    func schemas() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-schemas-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try await KubeTestServer.start(tickEvery: nil)
        defer { Task { await server.stop() } }

        // A whole life: apply, roll out, fetch (with its dry runs), a hand scale and a forced
        // apply over it, a pruning apply, check, remove.
        let runtime = try KubernetesRuntimeTests.runtime(server, force: true, directory: directory)
        let state = try KubernetesRuntimeTests.state("1.0.0")
        #expect(try await runtime.apply(state, idempotencyKey: "a", timeout: KubernetesRuntimeTests.ample).succeeded)
        await server.cluster.tick()
        _ = try await runtime.fetch(KubernetesRuntimeTests.instance, desired: state)
        _ = await server.cluster.patch(
            FakeCluster.kinds.first { $0.resource == "deployments" }!, namespace: "default", name: "web", subresource: "scale",
            body: .object(["spec": .object(["replicas": .integer(3)])]), manager: "kubectl", dryRun: false)
        #expect(try await runtime.apply(state, idempotencyKey: "b", timeout: KubernetesRuntimeTests.ample).succeeded)
        let next = try KubernetesRuntimeTests.state("1.1.0", objects: [KubernetesRuntimeTests.service])
        #expect(try await runtime.apply(next, idempotencyKey: "c", timeout: KubernetesRuntimeTests.ample).succeeded)
        await server.cluster.tick()
        _ = try await runtime.fetch(KubernetesRuntimeTests.instance, desired: next)
        _ = await runtime.check()
        #expect(try await runtime.remove(KubernetesRuntimeTests.instance, desired: next, timeout: KubernetesRuntimeTests.ample).succeeded)

        var documents: [(what: String, value: JSONValue)] = []
        for request in await server.cluster.requests where request.line.hasPrefix("PATCH") || request.line.hasPrefix("POST") {
            var body = try JSONDecoder().decode(JSONValue.self, from: Data(request.body.utf8))
            // The validator names what it checks by metadata.name; an access review has none.
            if body.field("kind") == .string("SelfSubjectAccessReview") { body.set(["metadata", "name"], .string("review")) }
            documents.append(("sent: \(request.line)", body))
        }
        for object in await server.cluster.objectsAnswered() { documents.append(("answered", object)) }
        #expect(documents.count > 20, "a whole life sends and answers more than that")
        #expect(documents.contains { $0.what.hasPrefix("sent: PATCH") } && documents.contains { $0.what == "answered" })

        var files: [String: String] = [:]
        for (index, document) in documents.enumerated() {
            let path = directory.appendingPathComponent("\(index).json").path
            try CanonicalJSON.data(document.value).write(to: URL(fileURLWithPath: path))
            files[path] = document.what
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.validator!)
        process.arguments = ["--strict", "--kubernetes-version", "1.31.0", "--quiet", "--no-warn"] + files.keys.sorted()
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        #expect(process.terminationStatus == 0, "\(String(text.prefix(3000)))")
    }
}
