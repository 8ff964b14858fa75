import Foundation
import KeelsonCore
import KubeTestServer
import Testing

/// `examples/kubernetes` driven through the `keelson` binary against the test API server (a fake:
/// no Kubernetes API server can be installed on these machines), with credentials from
/// `KUBECONFIG` as a user's shell would give them.
@Suite("keelson on the Kubernetes runtime (test API server)", .serialized)
struct KubernetesCLITests {
    static let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("examples/kubernetes").path

    @Test("runtime check says what it found; runtime apply deploys the example; get current shows the Deployment")
    func checkApplyObserve() async throws {
        let server = try await KubeTestServer.start(token: "cli-token", tickEvery: nil)
        defer { Task { await server.stop() } }
        let cli = CLI()
        defer { try? FileManager.default.removeItem(at: cli.directory) }
        try FileManager.default.copyItem(atPath: Self.example, toPath: cli.directory.appendingPathComponent("kubernetes").path)
        let kubeconfig = cli.directory.appendingPathComponent("kubeconfig").path
        try server.kubeconfig(namespace: "shop-staging").write(toFile: kubeconfig, atomically: true, encoding: .utf8)
        let environment = ["KUBECONFIG": kubeconfig]
        #expect(try await cli.run(["apply", "-f", "kubernetes", "--db", cli.db]).status == 0)

        // The namespace the manifests name does not exist yet: the check says so and fails.
        let missing = try await cli.run(["runtime", "check", "cluster", "--db", cli.db], environment: environment)
        #expect(missing.status == 1, "\(missing.stdout)\(missing.stderr)")
        #expect(missing.stdout.contains("runtime cluster (kubernetes)"))
        #expect(missing.stdout.contains("✓ credentials: kubeconfig \(kubeconfig), context test"), "\(missing.stdout)")
        #expect(missing.stdout.contains("✓ reachable:") && missing.stdout.contains("v1.31"), "\(missing.stdout)")
        #expect(missing.stdout.contains("✗ namespace: namespaces shop-prod, shop-staging do not exist"), "each channel's: \(missing.stdout)")

        await server.cluster.createNamespace("shop-staging")
        let prodMissing = try await cli.run(["runtime", "check", "cluster", "--db", cli.db], environment: environment)
        #expect(prodMissing.stdout.contains("✗ namespace: namespace shop-prod does not exist"), "\(prodMissing.stdout)")
        await server.cluster.createNamespace("shop-prod")
        await server.cluster.deny("patch deployments")
        let denied = try await cli.run(["runtime", "check", "cluster", "--db", cli.db], environment: environment)
        #expect(denied.status == 1 && denied.stdout.contains("✗ permitted Deployment: may not patch deployments in shop-prod"), "\(denied.stdout)")
        await server.cluster.allowAll()
        let check = try await cli.run(["runtime", "check", "cluster", "-o", "json", "--db", cli.db], environment: environment)
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(check.stdout.utf8)) as? [String: Any]
        let checks = report?["checks"] as? [[String: Any]] ?? []
        let names = checks.compactMap { $0["name"] as? String }
        #expect(names.contains("permitted Deployment") && names.contains("permitted Service"), "\(names)")
        #expect(checks.allSatisfy { $0["passed"] as? Bool == true }, "\(checks)")

        // Without the right token, the server refuses, and the check says so.
        try server.kubeconfig(namespace: "shop-staging").replacingOccurrences(of: "cli-token", with: "wrong")
            .write(toFile: kubeconfig, atomically: true, encoding: .utf8)
        let refused = try await cli.run(["runtime", "check", "cluster", "--db", cli.db], environment: environment)
        #expect(refused.status == 1 && refused.stdout.contains("✗ authenticated"), "\(refused.stdout)")
        try server.kubeconfig(namespace: "shop-staging").write(toFile: kubeconfig, atomically: true, encoding: .utf8)

        #expect(try await cli.run(["release", "shop/web", "--version", "1.0.0", "--db", cli.db]).status == 0)
        let applied = try await cli.run(["runtime", "apply", "shop/web@staging", "--db", cli.db], environment: environment)
        #expect(applied.status == 0, "\(applied.stdout)\(applied.stderr)")
        #expect(applied.stdout.contains("created Deployment shop-staging/web"), "\(applied.stdout)")
        let live = await server.cluster.object("deployments", namespace: "shop-staging", name: "web")
        #expect(Self.value(live, "metadata", "annotations", "keelson.dev/release") == .string("1.0.0"))
        #expect(Self.value(live, "metadata", "labels", "keelson.dev/instance") == .string("shop.web.staging"))

        await server.cluster.tick()
        await server.cluster.tick()
        let current = try await cli.run(["get", "current", "shop/web@staging", "--refresh", "-o", "json", "--db", cli.db], environment: environment)
        #expect(current.status == 0, "\(current.stdout)\(current.stderr)")
        #expect(current.stdout.contains("Deployment shop-staging/web") && current.stdout.contains("\"healthy\""), "\(current.stdout)")
    }

    static func value(_ object: JSONValue?, _ keys: String...) -> JSONValue? {
        var value = object
        for key in keys {
            guard case .object(let fields)? = value else { return nil }
            value = fields[key]
        }
        return value
    }
}
