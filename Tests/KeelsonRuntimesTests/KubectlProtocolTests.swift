import Foundation
import KeelsonCore
import KubeTestServer
import Testing
@testable import KeelsonRuntimes

/// The test API server must speak the real protocol: the real `kubectl` drives it, and what
/// Keelson's client sends is the kind of request kubectl sends. Skipped, saying so, where
/// kubectl is not installed. (The test API server serves no OpenAPI documents, so kubectl's
/// client-side schema validation is turned off with `--validate=false`.)
@Suite("The test API server speaks kubectl's protocol")
struct KubectlProtocolTests {
    static let kubectl = ["/usr/bin/kubectl", "/usr/local/bin/kubectl"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Runs kubectl with the kubeconfig, answering its exit status and output.
    static func run(_ arguments: [String], kubeconfig: String, input: String? = nil) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: kubectl!)
        process.arguments = arguments + ["--kubeconfig", kubeconfig]
        process.environment = ["HOME": FileManager.default.temporaryDirectory.path, "PATH": "/usr/bin:/bin"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        let stdin = Pipe()
        process.standardInput = stdin
        try process.run()
        if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        try stdin.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    static let manifest = """
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: web
          namespace: default
          labels: {app: web}
        spec:
          replicas: 2
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec:
              containers:
                - {name: web, image: "nginx:1.0"}
        """

    @Test("kubectl apply --server-side, get -o json, scale and delete work against it; Keelson's apply is the request kubectl sends", .enabled(if: kubectl != nil, "kubectl is not installed: the protocol check is skipped"))
    func kubectlDrivesIt() async throws {
        let server = try await KubeTestServer.start(tickEvery: nil)
        defer { Task { await server.stop() } }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-kubectl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let kubeconfig = folder.appendingPathComponent("kubeconfig").path
        try server.kubeconfig().write(toFile: kubeconfig, atomically: true, encoding: .utf8)

        let applied = try Self.run(["apply", "--server-side", "--validate=false", "-f", "-"], kubeconfig: kubeconfig, input: Self.manifest)
        #expect(applied.status == 0 && applied.output.contains("deployment.apps/web serverside-applied"), "\(applied.output)")
        let kubectlApply = try #require(await server.cluster.requests.last { $0.line.hasPrefix("PATCH") }, "kubectl sent no PATCH")

        let got = try Self.run(["get", "deployment", "web", "-o", "json"], kubeconfig: kubeconfig)
        #expect(got.status == 0, "\(got.output)")
        let object = try JSONDecoder().decode(JSONValue.self, from: Data(got.output.utf8))
        #expect(object.field("spec", "replicas") == .integer(2) && object.field("metadata", "labels", "app") == .string("web"))

        let listed = try Self.run(["get", "deployments", "-l", "app=web", "-o", "name"], kubeconfig: kubeconfig)
        #expect(listed.status == 0 && listed.output.contains("deployment.apps/web"), "\(listed.output)")

        // Keelson's server-side apply of the same object: the same content type and parameters.
        let client = try KubeClient(try KubeConfigLoader.connection(kubeconfig: kubeconfig, context: nil, namespace: nil, environment: ["HOME": "/nonexistent"]))
        let resource = try await client.resource(apiVersion: "apps/v1", kind: "Deployment")
        var mine = try JSONDecoder().decode(JSONValue.self, from: Data(#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"default"},"spec":{"replicas":2}}"#.utf8))
        mine.set(["metadata", "labels", "app"], .string("web"))
        _ = try await client.apply(mine, resource: resource, namespace: "default", name: "web", fieldManager: "keelson", force: true)
        let keelsonApply = try #require(await server.cluster.requests.last { $0.line.hasPrefix("PATCH") })
        #expect(keelsonApply.contentType == kubectlApply.contentType, "kubectl: \(kubectlApply.contentType ?? "-"), keelson: \(keelsonApply.contentType ?? "-")")
        let path = { (line: String) in line.split(separator: "?").first.map(String.init) }
        #expect(path(keelsonApply.line) == path(kubectlApply.line), "kubectl: \(kubectlApply.line), keelson: \(keelsonApply.line)")
        for parameter in ["fieldManager=", "force="] {
            #expect(kubectlApply.line.contains(parameter) || parameter == "force=", "kubectl: \(kubectlApply.line)")
            #expect(keelsonApply.line.contains(parameter), "keelson: \(keelsonApply.line)")
        }

        // kubectl scale takes spec.replicas as its own manager: a conflict for an apply without force.
        let scaled = try Self.run(["scale", "deployment", "web", "--replicas", "4"], kubeconfig: kubeconfig)
        #expect(scaled.status == 0, "\(scaled.output)")
        let conflicting = try Self.run(["apply", "--server-side", "--validate=false", "-f", "-"], kubeconfig: kubeconfig, input: Self.manifest)
        #expect(conflicting.status != 0 && conflicting.output.contains("conflict"), "\(conflicting.output)")

        let deleted = try Self.run(["delete", "deployment", "web"], kubeconfig: kubeconfig)
        #expect(deleted.status == 0 && deleted.output.contains("deleted"), "\(deleted.output)")
        #expect(await server.cluster.object("deployments", namespace: "default", name: "web") == nil)
    }
}
