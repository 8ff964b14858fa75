import Foundation
import KeelsonCore
import Testing
@testable import KeelsonCompiler

/// Files a config reads go into the log whole: only files inside the config directory (after
/// resolving symbolic links), or inside a directory allowed explicitly — on a disk and in what a
/// server is sent alike.
@Suite("Files outside the config directory")
struct FileAccessTests {
    /// `root/config/` (the config directory) and `root/outside/secret.yaml` beside it.
    struct Folders {
        let root: URL
        var config: URL { root.appendingPathComponent("config") }
        var outside: URL { root.appendingPathComponent("outside") }
        static let secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {password: aHVudGVyMg==}\n"

        init() throws {
            // Resolved: the temporary folder may itself be a link.
            let base = URL(fileURLWithPath: DiskFiles().resolvedPath(FileManager.default.temporaryDirectory.path))
            root = base.appendingPathComponent("keelson-access-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: config.appendingPathComponent("k8s"), withIntermediateDirectories: true)
            try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
            try Self.secret.write(to: outside.appendingPathComponent("secret.yaml"), atomically: true, encoding: .utf8)
            // JSON, so that a manifest in the config directory is not also read as a config file.
            try #"{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}}"#
                .write(to: config.appendingPathComponent("k8s/web.json"), atomically: true, encoding: .utf8)
        }

        func service(manifests: String) throws {
            let yaml = """
                kind: Runtime
                name: sim
                type: simulated
                ---
                kind: Application
                name: shop
                channels:
                  - {name: staging, runtime: sim}
                ---
                kind: Service
                name: web
                application: shop
                run:
                  kubernetes: {manifests: \(manifests)}

                """
            try yaml.write(to: config.appendingPathComponent("shop.yaml"), atomically: true, encoding: .utf8)
        }

        func link(_ name: String, to target: URL) throws {
            try FileManager.default.createSymbolicLink(atPath: config.appendingPathComponent(name).path, withDestinationPath: target.path)
        }

        /// The problems of applying the config folder from the disk, and the files it read.
        func fromDisk(allowing: [String] = []) -> (problems: [String], read: [String: String]) {
            let files = DiskFiles()
            let loaded = ConfigSource.load(path: config.path, from: files, allowing: allowing)
            var problems = loaded.diagnostics
            if case .failure(let errors) = IntentParser.parse(loaded, files: files) { problems += errors.diagnostics }
            return (ConfigErrors(problems).diagnostics.map(\.description), files.read)
        }

        /// The same config as a server sees it: the uploaded texts, by path, nothing from a disk.
        func fromUpload(_ uploaded: [String: String], allowing: [String] = []) -> [String] {
            let files = RecordedFiles(uploaded)
            let loaded = ConfigSource.load(path: config.path, from: files, allowing: allowing)
            var problems = loaded.diagnostics
            if case .failure(let errors) = IntentParser.parse(loaded, files: files) { problems += errors.diagnostics }
            return ConfigErrors(problems).diagnostics.map(\.description)
        }
    }

    @Test("manifests: ../../../../etc/passwd is refused, from a disk and from an upload alike, and never read")
    func dotDot() throws {
        let folders = try Folders()
        defer { try? FileManager.default.removeItem(at: folders.root) }
        let climb = String(repeating: "../", count: folders.config.pathComponents.count) + "etc/passwd"
        try folders.service(manifests: climb)
        let disk = folders.fromDisk()
        let expected = "\(folders.config.path)/shop.yaml:14:27: Service web › run.kubernetes.manifests: "
            + "\(BoundedInput.quoted(folders.config.path + "/" + climb)) resolves to \"/etc/passwd\", outside the config directory "
            + "\(BoundedInput.quoted(folders.config.path)); a config may only read files inside it, or inside a directory allowed with "
            + "`keelson apply --allow-files-from DIR`"
        #expect(disk.problems == [expected])
        #expect(!disk.read.keys.contains { $0.hasSuffix("passwd") })
        #expect(!disk.read.values.contains { $0.contains("root:") })
        // A server is sent the config file only, and says the same.
        let uploaded = disk.read.merging(["/etc/passwd": "root:x:0:0::/root:/bin/sh\n"]) { $1 }
        #expect(folders.fromUpload(uploaded) == [expected])
    }

    @Test("a symbolic link inside the config directory that points outside is outside: a manifest, a folder of them, a config file")
    func links() throws {
        let folders = try Folders()
        defer { try? FileManager.default.removeItem(at: folders.root) }
        let secret = folders.outside.appendingPathComponent("secret.yaml")

        try folders.link("k8s/leak.json", to: secret)
        try folders.service(manifests: "k8s/leak.json")
        var disk = folders.fromDisk()
        #expect(disk.problems.count == 1)
        #expect(disk.problems.first?.contains("resolves to \(BoundedInput.quoted(secret.path)), outside the config directory") == true, "\(disk.problems)")
        #expect(!disk.read.values.contains(Folders.secret))

        // The folder k8s/ holds web.json and the link: the link is refused.
        try folders.service(manifests: "k8s/")
        disk = folders.fromDisk()
        #expect(disk.problems.count == 1 && disk.problems[0].contains("leak.json"), "\(disk.problems)")
        #expect(!disk.read.values.contains(Folders.secret))

        // A linked folder of manifests.
        try FileManager.default.removeItem(atPath: folders.config.appendingPathComponent("k8s/leak.json").path)
        try folders.link("shared", to: folders.outside)
        try folders.service(manifests: "shared/secret.yaml")
        disk = folders.fromDisk()
        #expect(disk.problems.count == 1 && disk.problems[0].contains("outside the config directory"), "\(disk.problems)")
        #expect(!disk.read.values.contains(Folders.secret))

        // A config file in the directory that is a link out of it.
        try FileManager.default.removeItem(atPath: folders.config.appendingPathComponent("shared").path)
        try folders.service(manifests: "k8s/web.json")
        try folders.link("extra.yaml", to: secret)
        disk = folders.fromDisk()
        #expect(disk.problems == [
            "\(folders.config.path)/extra.yaml: \(BoundedInput.quoted(folders.config.path + "/extra.yaml")) resolves to \(BoundedInput.quoted(secret.path)), "
                + "outside the config directory \(BoundedInput.quoted(folders.config.path)); a config may only read files inside it, "
                + "or inside a directory allowed with `keelson apply --allow-files-from DIR`",
        ])
        #expect(!disk.read.values.contains(Folders.secret))
    }

    @Test("an allowed directory may be read from, by link or by path, and the upload agrees")
    func allowed() throws {
        let folders = try Folders()
        defer { try? FileManager.default.removeItem(at: folders.root) }
        try folders.service(manifests: "../outside/secret.yaml")
        let disk = folders.fromDisk(allowing: [folders.outside.path])
        #expect(disk.problems.isEmpty, "\(disk.problems)")
        #expect(disk.read[folders.config.path + "/../outside/secret.yaml"] == Folders.secret)
        #expect(folders.fromUpload(disk.read, allowing: [folders.outside.path]).isEmpty)
        // Without the allowance, the same upload is refused.
        #expect(folders.fromUpload(disk.read).count == 1)
    }

    @Test("a server is sent exactly the files the config reads; problems only the disk shows are answered without sending anything")
    func upload() throws {
        let folders = try Folders()
        defer { try? FileManager.default.removeItem(at: folders.root) }
        try folders.service(manifests: "k8s/")
        try "not: [config\n".write(to: folders.root.appendingPathComponent("elsewhere.yaml"), atomically: true, encoding: .utf8)
        let collected = ConfigUpload.collect(source: folders.config.path, allowing: [])
        guard case .files(let files) = collected else {
            Issue.record("a valid config was not uploaded: \(collected)")
            return
        }
        #expect(files.map(\.path) == [folders.config.path + "/k8s/web.json", folders.config.path + "/shop.yaml"])

        try folders.link("k8s/leak.json", to: folders.outside.appendingPathComponent("secret.yaml"))
        guard case .problems(let problems) = ConfigUpload.collect(source: folders.config.path, allowing: []) else {
            Issue.record("a link out of the config directory was uploaded")
            return
        }
        #expect(problems.map(\.message).contains { $0.contains("outside the config directory") })

        try FileManager.default.removeItem(atPath: folders.config.appendingPathComponent("k8s/leak.json").path)
        try Data([0x6B, 0x3A, 0x20, 0xC3, 0x28, 0x0A]).write(to: folders.config.appendingPathComponent("k8s/bad.json"))
        guard case .problems(let bytes) = ConfigUpload.collect(source: folders.config.path, allowing: []) else {
            Issue.record("a file that is not UTF-8 was uploaded")
            return
        }
        #expect(bytes.map(\.message).contains { $0.contains("line 1: the file is not UTF-8 text: byte 0xC3") }, "\(bytes)")
    }

    @Test("programs and working directories are run, not read: they may be anywhere")
    func programs() throws {
        let folders = try Folders()
        defer { try? FileManager.default.removeItem(at: folders.root) }
        let yaml = """
            kind: Runtime
            name: c
            type: custom
            ---
            kind: Application
            name: shop
            channels:
              - {name: staging, runtime: c}
            ---
            kind: Service
            name: web
            application: shop
            run:
              custom:
                fetch: {command: ../outside/fetch.sh, workingDirectory: /tmp}
                apply: {command: /usr/bin/env}

            """
        try yaml.write(to: folders.config.appendingPathComponent("shop.yaml"), atomically: true, encoding: .utf8)
        let disk = folders.fromDisk()
        #expect(disk.problems.isEmpty, "\(disk.problems)")
        #expect(disk.read.count == 1)
    }
}
