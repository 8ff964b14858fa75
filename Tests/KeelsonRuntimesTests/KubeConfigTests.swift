import Foundation
import KeelsonCore
import KubeTestServer
import Testing
@testable import KeelsonRuntimes

/// Kubeconfig files and credentials, read as kubectl reads them.
@Suite("Kubernetes credentials: kubeconfig, exec plugins, in-cluster")
struct KubeConfigTests {
    /// A folder of files for one test.
    struct Folder {
        let url: URL
        init() throws {
            url = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-kubeconfig-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        }

        @discardableResult
        func write(_ name: String, _ text: String, executable: Bool = false) throws -> String {
            let path = url.appendingPathComponent(name).path
            try FileManager.default.createDirectory(atPath: FilePaths.parent(path), withIntermediateDirectories: true)
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            if executable { try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path) }
            return path
        }

        func remove() { try? FileManager.default.removeItem(at: url) }
    }

    static func load(_ path: String, context: String? = nil, namespace: String? = nil) throws -> KubeConnection {
        try KubeConfigLoader.connection(kubeconfig: path, context: context, namespace: namespace, environment: ["HOME": "/nonexistent"])
    }

    /// The problem a kubeconfig has, as it is said.
    static func problem(_ path: String, context: String? = nil) -> String {
        do {
            _ = try load(path, context: context)
            return "no problem"
        } catch {
            return "\(error)"
        }
    }

    @Test("token, client certificate (files relative to the kubeconfig), CA data, context and namespace choices")
    func contexts() throws {
        let folder = try Folder()
        defer { folder.remove() }
        try folder.write("certs/client.crt", "CERT")
        try folder.write("certs/client.key", "KEY")
        let path = try folder.write("config", """
            apiVersion: v1
            kind: Config
            current-context: dev
            clusters:
              - name: dev-cluster
                cluster:
                  server: https://dev.example:6443/
                  certificate-authority-data: \(Data("CA".utf8).base64EncodedString())
              - name: prod-cluster
                cluster: {server: "https://prod.example:443", insecure-skip-tls-verify: true}
            users:
              - name: dev-user
                user: {token: abc123}
              - name: prod-user
                user: {client-certificate: certs/client.crt, client-key: certs/client.key}
            contexts:
              - name: dev
                context: {cluster: dev-cluster, user: dev-user, namespace: shop}
              - name: prod
                context: {cluster: prod-cluster, user: prod-user}
            """)
        let dev = try Self.load(path)
        #expect(dev.server == "https://dev.example:6443" && dev.namespace == "shop" && dev.authentication == .token("abc123"))
        #expect(dev.certificateAuthority == Array("CA".utf8) && !dev.insecureSkipTLSVerify)
        #expect(dev.source.contains("context dev"))
        let prod = try Self.load(path, context: "prod", namespace: "payments")
        #expect(prod.server == "https://prod.example:443" && prod.namespace == "payments" && prod.insecureSkipTLSVerify)
        #expect(prod.clientCertificate == Array("CERT".utf8) && prod.clientKey == Array("KEY".utf8))
        #expect(try Self.load(path, context: "prod").namespace == "default")
    }

    @Test("KUBECONFIG lists files: merged, the first to set a value wins, a missing entry skipped")
    func merged() throws {
        let folder = try Folder()
        defer { folder.remove() }
        let first = try folder.write("a", "current-context: b-context\nusers:\n  - {name: u, user: {token: from-a}}\n")
        let second = try folder.write("b", """
            current-context: ignored
            clusters: [{name: c, cluster: {server: "http://127.0.0.1:8080"}}]
            users: [{name: u, user: {token: from-b}}]
            contexts: [{name: b-context, context: {cluster: c, user: u}}]
            """)
        let connection = try KubeConfigLoader.connection(
            kubeconfig: nil, context: nil, namespace: nil, environment: ["KUBECONFIG": "\(first):/nonexistent/x:\(second)", "HOME": "/nonexistent"])
        #expect(connection.server == "http://127.0.0.1:8080" && connection.authentication == .token("from-a"))
    }

    /// Ten levels of ten aliases each (10¹⁰ values expanded), used as a mapping key.
    static let laughs: String = {
        let names = (0..<10).map { "l\($0)" }
        var text = "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n"
        for level in 1..<10 {
            text += "\(names[level]): &\(names[level]) [" + Array(repeating: "*\(names[level - 1])", count: 10).joined(separator: ", ") + "]\n"
        }
        return text + "? *l9\n: x\n"
    }()

    @Test("malformed kubeconfigs: each problem at its file and line, naming the field")
    func malformed() throws {
        let folder = try Folder()
        defer { folder.remove() }
        let cases: [(String, String, String)] = [
            ("yaml", "clusters: [\n  {name: x\n", "not valid YAML"),
            ("kind", "kind: Pod\n", ":1: kind: expected Config"),
            ("nocontext", "clusters: []\n", "no current-context is set"),
            ("unknown", "current-context: nope\ncontexts:\n  - {name: dev, context: {cluster: c}}\n", "no context named \"nope\" (known: dev)"),
            ("nocluster", "current-context: dev\ncontexts:\n  - name: dev\n    context: {cluster: gone}\n", ":4: context \"dev\" names cluster \"gone\""),
            ("server", "current-context: d\nclusters:\n  - name: c\n    cluster: {server: ftp://x}\ncontexts: [{name: d, context: {cluster: c}}]\n",
             ":4: clusters[c].cluster.server: expected an https:// (or http://) URL"),
            ("base64", "current-context: d\nclusters:\n  - name: c\n    cluster:\n      server: https://x\n      certificate-authority-data: '%%%'\ncontexts: [{name: d, context: {cluster: c}}]\n",
             ":6: clusters[c].cluster.certificate-authority-data: not base64"),
            ("keyless", "current-context: d\nclusters: [{name: c, cluster: {server: https://x}}]\nusers:\n  - name: u\n    user: {client-certificate-data: \(Data("C".utf8).base64EncodedString())}\ncontexts: [{name: d, context: {cluster: c, user: u}}]\n",
             "needs its key"),
            ("provider", "current-context: d\nclusters: [{name: c, cluster: {server: https://x}}]\nusers:\n  - name: u\n    user:\n      auth-provider: {name: gcp}\ncontexts: [{name: d, context: {cluster: c, user: u}}]\n",
             "auth-provider plugins were removed"),
            ("list", "clusters: {a: b}\n", ":1: clusters: expected a list"),
            ("missingfile", "current-context: d\nclusters: [{name: c, cluster: {server: https://x, certificate-authority: nowhere.crt}}]\ncontexts: [{name: d, context: {cluster: c}}]\n",
             "no such file"),
            ("exec", "current-context: d\nclusters: [{name: c, cluster: {server: https://x}}]\nusers:\n  - name: u\n    user:\n      exec: {apiVersion: client.authentication.k8s.io/v1alpha1, command: x}\ncontexts: [{name: d, context: {cluster: c, user: u}}]\n",
             ":6: users[u].user.exec.apiVersion: expected one of"),
            // Hostile YAML is refused where it stands, in bounded time: aliases that would expand
            // to billions of values (as keys, which YAML would hash expanded), and deep nesting.
            ("laughs", Self.laughs, "expands to more than 500000 values"),
            ("deep", String(repeating: "[", count: 5_000) + String(repeating: "]", count: 5_000) + "\n", ":1: not valid YAML: flow collections"),
            ("nested", "clusters:\n" + String(repeating: "- ", count: 600) + "x\n", "nested more than 128 deep"),
        ]
        for (name, text, expected) in cases {
            let path = try folder.write(name, text)
            let problem = Self.problem(path)
            #expect(problem.hasPrefix(path) && problem.contains(expected), "\(name): \(problem)")
        }
        #expect(Self.problem(folder.url.appendingPathComponent("absent").path).contains("no such file"))
        let none = Result { try KubeConfigLoader.connection(kubeconfig: nil, context: nil, namespace: nil, environment: ["HOME": "/nonexistent"]) }
        #expect((try? none.get()) == nil)
    }

    @Test("in a pod: the service account's token file, CA bundle and namespace")
    func inCluster() throws {
        let folder = try Folder()
        defer { folder.remove() }
        try folder.write("token", "sa-token\n")
        try folder.write("ca.crt", "CA")
        try folder.write("namespace", "shop\n")
        let connection = try KubeConfigLoader.connection(
            kubeconfig: nil, context: nil, namespace: nil,
            environment: ["HOME": "/nonexistent", "KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"],
            serviceAccountDirectory: folder.url.path)
        #expect(connection.server == "https://10.0.0.1:443" && connection.namespace == "shop")
        #expect(connection.authentication == .tokenFile(folder.url.appendingPathComponent("token").path) && connection.certificateAuthority == Array("CA".utf8))
    }

    /// An exec plugin that counts its runs and prints a token valid for `seconds`.
    static func plugin(_ folder: Folder, seconds: Int, apiVersion: String = "client.authentication.k8s.io/v1", token: String = "exec-token") throws -> String {
        try folder.write("plugin.sh", """
            #!/bin/sh
            echo run >> "\(folder.url.path)/runs"
            case "$KUBERNETES_EXEC_INFO" in *'"interactive":false'*) ;; *) echo "no exec info" >&2; exit 3;; esac
            expiry=$(date -u -d "+\(seconds) seconds" +%Y-%m-%dT%H:%M:%SZ)
            printf '{"apiVersion":"\(apiVersion)","kind":"ExecCredential","status":{"token":"%s","expirationTimestamp":"%s"}}' "$1" "$expiry"
            """, executable: true)
    }

    static func runs(_ folder: Folder) -> Int {
        ((try? String(contentsOf: folder.url.appendingPathComponent("runs"), encoding: .utf8)) ?? "").split(separator: "\n").count
    }

    @Test("an exec plugin's token is used, kept until it nearly expires, fetched again after; bad output and failures are said")
    func execPlugin() async throws {
        let folder = try Folder()
        defer { folder.remove() }
        let script = try Self.plugin(folder, seconds: 3600)
        let config = ExecCredentialConfig(
            apiVersion: "client.authentication.k8s.io/v1", command: script, args: ["exec-token"], env: [:], directory: folder.url.path, installHint: nil)
        let credentials = ExecCredentials(config)
        #expect(try await credentials.credential().token == "exec-token")
        #expect(try await credentials.credential().token == "exec-token")
        #expect(Self.runs(folder) == 1, "kept until it expires")
        await credentials.invalidate()
        _ = try await credentials.credential()
        #expect(Self.runs(folder) == 2, "asked again once refused")

        // A token about to expire is fetched again at each use.
        let short = try Self.plugin(folder, seconds: 5)
        let soon = ExecCredentials(ExecCredentialConfig(apiVersion: config.apiVersion, command: short, args: ["t"], env: [:], directory: folder.url.path, installHint: nil))
        _ = try await soon.credential()
        _ = try await soon.credential()
        #expect(Self.runs(folder) == 4)

        // Through a kubeconfig, against the test API server that wants that token.
        let server = try await KubeTestServer.start(token: "exec-token", tickEvery: nil)
        defer { Task { await server.stop() } }
        let kubeconfig = try folder.write("config", """
            current-context: d
            clusters: [{name: c, cluster: {server: "\(server.url)"}}]
            users:
              - name: u
                user:
                  exec:
                    apiVersion: client.authentication.k8s.io/v1
                    command: ./plugin.sh
                    args: [exec-token]
                    env: [{name: EXTRA, value: "1"}]
            contexts: [{name: d, context: {cluster: c, user: u}}]
            """)
        let client = try KubeClient(try Self.load(kubeconfig))
        #expect(try await client.serverVersion().hasPrefix("v1.31"))

        // Failures say what the plugin did.
        let wrong = try Self.plugin(folder, seconds: 60, apiVersion: "client.authentication.k8s.io/v1beta1")
        await #expect { try await ExecCredentials(ExecCredentialConfig(apiVersion: config.apiVersion, command: wrong, args: ["x"], env: [:], directory: folder.url.path, installHint: nil)).credential() } throws: { error in
            "\(error)".contains("answered apiVersion")
        }
        let failing = try folder.write("fail.sh", "#!/bin/sh\necho 'token expired, run login' >&2\nexit 2\n", executable: true)
        await #expect { try await ExecCredentials(ExecCredentialConfig(apiVersion: config.apiVersion, command: failing, args: [], env: [:], directory: folder.url.path, installHint: nil)).credential() } throws: { error in
            "\(error)".contains("exited with code 2") && "\(error)".contains("run login")
        }
        let garbage = try folder.write("garbage.sh", "#!/bin/sh\necho hello\n", executable: true)
        await #expect { try await ExecCredentials(ExecCredentialConfig(apiVersion: config.apiVersion, command: garbage, args: [], env: [:], directory: folder.url.path, installHint: nil)).credential() } throws: { error in
            "\(error)".contains("printed no ExecCredential JSON")
        }
        await #expect { try await ExecCredentials(ExecCredentialConfig(apiVersion: config.apiVersion, command: "keelson-no-such-plugin", args: [], env: [:], directory: folder.url.path, installHint: "install it with brew")).credential() } throws: { error in
            "\(error)".contains("could not be run") && "\(error)".contains("install it with brew")
        }
    }

    @Test("TLS: a CA bundle and client certificate that parse make a client; ones that do not are an error at once")
    func tls() throws {
        let folder = try Folder()
        defer { folder.remove() }
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        openssl.arguments = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=keelson-test", "-days", "1",
                             "-keyout", folder.url.appendingPathComponent("key.pem").path, "-out", folder.url.appendingPathComponent("cert.pem").path]
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        openssl.waitUntilExit()
        try #require(openssl.terminationStatus == 0, "openssl could not make a certificate")
        let certificate = try Array(Data(contentsOf: folder.url.appendingPathComponent("cert.pem")))
        let key = try Array(Data(contentsOf: folder.url.appendingPathComponent("key.pem")))
        var connection = KubeConnection(server: "https://127.0.0.1:6443", source: "test")
        connection.certificateAuthority = certificate
        connection.clientCertificate = certificate
        connection.clientKey = key
        _ = try KubeClient(connection)
        connection.clientKey = Array("not a key".utf8)
        #expect(throws: KubeTransportError.self) { try KubeClient(connection) }
    }
}
