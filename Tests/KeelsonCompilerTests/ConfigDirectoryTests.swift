import Foundation
import KeelsonCore
import Testing
@testable import KeelsonCompiler

/// A config directory as teams lay it out: Keelson's files beside the Kubernetes manifests its
/// services name (and other tools' YAML), none of which is read as config.
@Suite("Config directories that hold manifests")
struct ConfigDirectoryTests {
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
                  image: nginx:{{release.version}}
        """
    static let service = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports: [{port: 80}]\n"

    static func config(manifests: String, extra: String = "") -> String {
        """
        kind: Runtime
        name: cluster
        type: kubernetes
        ---
        kind: Application
        name: shop
        channels:
          - {name: staging, runtime: cluster}
        ---
        kind: Service
        name: web
        application: shop
        parameters:
          - {name: version, required: true}
        run:
          kubernetes: {manifests: \(manifests)}
        \(extra)
        """
    }

    /// `root/keelson.yaml` and `root/k8s/{deploy,service}.yaml`, plus `files`.
    static func folder(manifests: String, files: [String: String] = [:]) throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-dir-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("k8s"), withIntermediateDirectories: true)
        var all = files
        all["keelson.yaml"] = all["keelson.yaml"] ?? config(manifests: manifests)
        all["k8s/deploy.yaml"] = deployment
        all["k8s/service.yaml"] = service
        for (path, text) in all {
            let url = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        return root
    }

    /// The problems of reading the folder (from the disk, and from the texts read, as a server or
    /// the log holds them), and the service's manifests.
    static func read(_ root: URL) -> (problems: [String], manifests: [String], recorded: [String]) {
        let disk = DiskFiles()
        let loaded = ConfigSource.load(path: root.path, from: disk)
        var problems = loaded.diagnostics
        var manifests: [String] = []
        switch IntentParser.parse(loaded, files: disk) {
        case .failure(let errors): problems += errors.diagnostics
        case .success(let intent):
            if case .kubernetes(let files, _)? = intent.services.first?.instances.first?.run { manifests = files.map { FilePaths.lastComponent($0) } }
        }
        // Read back from what was read: the config as a release compiles it.
        let recorded = RecordedFiles(disk.read)
        let again = ConfigSource.load(path: root.path, from: recorded, allowing: nil)
        var recordedProblems = again.diagnostics
        if case .failure(let errors) = IntentParser.parse(again, files: recorded) { recordedProblems += errors.diagnostics }
        return (ConfigErrors(problems).diagnostics.map(\.description), manifests,
                ConfigErrors(recordedProblems).diagnostics.map(\.description))
    }

    @Test("manifests: k8s/, k8s and ./k8s name the folder beside the config, which is not read as config", arguments: ["k8s/", "k8s", "./k8s", "k8s//"])
    func manifestFolder(path: String) throws {
        let root = try Self.folder(manifests: path)
        defer { try? FileManager.default.removeItem(at: root) }
        let read = Self.read(root)
        #expect(read.problems.isEmpty, "\(read.problems)")
        #expect(read.manifests == ["deploy.yaml", "service.yaml"])
        #expect(read.recorded.isEmpty, "read back from the log: \(read.recorded)")
    }

    @Test("a manifest file named alone: the other Kubernetes file beside it is another tool's, skipped, not reported")
    func manifestFile() throws {
        let root = try Self.folder(manifests: "k8s/deploy.yaml")
        defer { try? FileManager.default.removeItem(at: root) }
        let read = Self.read(root)
        #expect(read.problems.isEmpty, "\(read.problems)")
        #expect(read.manifests == ["deploy.yaml"])
    }

    @Test("a Kubernetes document inside a Keelson file is skipped; a document that is neither is still an error at its line")
    func foreignDocuments() throws {
        let mixed = Self.config(manifests: "k8s/deploy.yaml", extra: "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\n")
        var root = try Self.folder(manifests: "", files: ["keelson.yaml": mixed])
        var read = Self.read(root)
        #expect(read.problems.isEmpty, "\(read.problems)")
        try? FileManager.default.removeItem(at: root)

        // A file of values (no kind, no apiVersion) is not silently taken for someone else's.
        root = try Self.folder(manifests: "k8s", files: ["values.yaml": "replicas: 3\n"])
        defer { try? FileManager.default.removeItem(at: root) }
        read = Self.read(root)
        #expect(read.problems.count == 1 && read.problems[0].contains("values.yaml:1:1") && read.problems[0].contains("'kind'"), "\(read.problems)")
    }

    @Test("a folder of manifests that is not valid YAML is reported as a manifest problem, once, not as config")
    func brokenManifest() throws {
        let root = try Self.folder(manifests: "k8s", files: ["k8s/broken.yaml": "apiVersion: v1\nkind: [unclosed\n"])
        defer { try? FileManager.default.removeItem(at: root) }
        let read = Self.read(root)
        #expect(read.problems.count == 1 && read.problems[0].contains("manifest") && read.problems[0].contains("broken.yaml"), "\(read.problems)")
    }
}
