import Foundation
import KeelsonCore
import KubeTestServer
import Testing
@testable import KeelsonRuntimes

/// Keelson's Kubernetes API client against the test API server (a fake: no Kubernetes API server
/// can be installed on these machines).
@Suite("Kubernetes API client, against the test API server")
struct KubeClientTests {
    static func deployment(_ name: String, image: String, replicas: Int64 = 2, labels: [String: String] = ["keelson.dev/instance": "shop.web.staging"]) -> JSONValue {
        .object([
            "apiVersion": .string("apps/v1"), "kind": .string("Deployment"),
            "metadata": .object(["name": .string(name), "namespace": .string("default"), "labels": .object(labels.mapValues(JSONValue.string))]),
            "spec": .object([
                "replicas": .integer(replicas),
                "selector": .object(["matchLabels": .object(["app": .string(name)])]),
                "template": .object([
                    "metadata": .object(["labels": .object(["app": .string(name)])]),
                    "spec": .object(["containers": .array([.object(["name": .string(name), "image": .string(image)])])]),
                ]),
            ]),
        ])
    }

    static func client(_ server: KubeTestServer) throws -> KubeClient {
        var connection = KubeConnection(server: server.url, source: "test API server")
        if let token = server.token { connection.authentication = .token(token) }
        return try KubeClient(connection)
    }

    @Test("discovery, apply, get, list by label, conflicts with another manager named, force, dry run, delete, access review, version")
    func roundTrip() async throws {
        let server = try await KubeTestServer.start(token: "s3cret", tickEvery: nil)
        defer { Task { await server.stop() } }
        let client = try Self.client(server)

        #expect(try await client.serverVersion().hasPrefix("v1.31"))
        let deployments = try await client.resource(apiVersion: "apps/v1", kind: "Deployment")
        #expect(deployments == KubeResource(group: "apps", version: "v1", kind: "Deployment", name: "deployments", namespaced: true))
        #expect(try await client.resource(apiVersion: "v1", kind: "Service").path(namespace: "shop", name: "web") == "/api/v1/namespaces/shop/services/web")
        await #expect(throws: KubeAPIError.self) { try await client.resource(apiVersion: "apps/v1", kind: "Nope") }
        await #expect(throws: KubeAPIError.self) { try await client.resource(apiVersion: "example.com/v9", kind: "Widget") }

        #expect(try await client.get(deployments, namespace: "default", name: "web") == nil)
        let applied = try await client.apply(
            Self.deployment("web", image: "nginx:1.0"), resource: deployments, namespace: "default", name: "web", fieldManager: "keelson", force: false)
        guard case .object(let object) = applied, case .object(let metadata)? = object["metadata"] else { Issue.record("not an object"); return }
        #expect(metadata["generation"] == .integer(1) && metadata["uid"] != nil)
        // What was sent: kubectl's content type and query parameters for a server-side apply.
        let sent = try #require(await server.cluster.requests.last { $0.line.hasPrefix("PATCH") })
        #expect(sent.contentType == "application/apply-patch+yaml" && sent.line.contains("fieldManager=keelson"), "\(sent)")

        _ = try await client.apply(
            Self.deployment("other", image: "nginx:1.0", labels: ["team": "x"]), resource: deployments, namespace: "default", name: "other",
            fieldManager: "keelson", force: false)
        let mine = try await client.list(deployments, namespace: "default", labelSelector: "keelson.dev/instance=shop.web.staging")
        #expect(mine.count == 1)
        if case .object(let item)? = mine.first { #expect(item["kind"] == .string("Deployment") && item["apiVersion"] == .string("apps/v1")) }
        #expect(try await client.list(deployments, namespace: nil, labelSelector: nil).count == 2)

        // Another manager changes replicas; applying a different value conflicts, naming the field.
        _ = await server.cluster.patch(
            FakeCluster.kinds.first { $0.resource == "deployments" }!, namespace: "default", name: "web", subresource: "scale",
            body: .object(["spec": .object(["replicas": .integer(5)])]), manager: "kubectl", dryRun: false)
        do {
            _ = try await client.apply(
                Self.deployment("web", image: "nginx:1.1"), resource: deployments, namespace: "default", name: "web", fieldManager: "keelson", force: false)
            Issue.record("no conflict")
        } catch let error as KubeAPIError {
            #expect(error.code == 409 && error.reason == "Conflict")
            #expect(error.description.contains(".spec.replicas") && error.description.contains("kubectl"), "\(error)")
        }
        // A dry run answers what the apply would make, and changes nothing.
        let dry = try await client.apply(
            Self.deployment("web", image: "nginx:1.1"), resource: deployments, namespace: "default", name: "web", fieldManager: "keelson", force: true,
            dryRun: true)
        #expect(dry.path(["spec", "replicas"]) == .integer(2))
        #expect(try await client.get(deployments, namespace: "default", name: "web")?.path(["spec", "replicas"]) == .integer(5))
        let forced = try await client.apply(
            Self.deployment("web", image: "nginx:1.1"), resource: deployments, namespace: "default", name: "web", fieldManager: "keelson", force: true)
        #expect(forced.path(["spec", "replicas"]) == .integer(2) && forced.path(["metadata", "generation"]) == .integer(3))

        let review = try await client.mayI("delete", deployments, namespace: "default")
        #expect(review.allowed)
        await server.cluster.deny("delete deployments")
        let refused = try await client.mayI("delete", deployments, namespace: "default")
        #expect(!refused.allowed && refused.reason?.contains("denies") == true)

        #expect(try await client.delete(deployments, namespace: "default", name: "web"))
        #expect(try await client.delete(deployments, namespace: "default", name: "web") == false, "already gone")
        #expect(try await client.get(deployments, namespace: "default", name: "web") == nil)
    }

    @Test("a wrong token is a 401 with the server's Status; an unreachable server is a transport error")
    func failures() async throws {
        let server = try await KubeTestServer.start(token: "right", tickEvery: nil)
        defer { Task { await server.stop() } }
        var connection = KubeConnection(server: server.url, source: "test")
        connection.authentication = .token("wrong")
        let client = try KubeClient(connection)
        do {
            _ = try await client.serverVersion()
            Issue.record("accepted a wrong token")
        } catch let error as KubeAPIError {
            #expect(error.code == 401 && error.reason == "Unauthorized", "\(error)")
        }
        let nowhere = try KubeClient(KubeConnection(server: "http://127.0.0.1:1", source: "test"), timeout: .seconds(5))
        await #expect(throws: KubeTransportError.self) { try await nowhere.serverVersion() }
    }

    @Test("a broken or hostile server: text that is not JSON, JSON nested 100,000 deep, an answer that never comes — each an error, in bounded time")
    func hostileAnswers() async throws {
        let server = try await KubeTestServer.start(tickEvery: nil)
        defer { Task { await server.stop() } }
        let client = try KubeClient(KubeConnection(server: server.url, source: "test"))
        let deployments = try await client.resource(apiVersion: "apps/v1", kind: "Deployment")

        await server.cluster.setRawAnswer("<html>502 Bad Gateway</html>\u{1B}[31m", forPathsContaining: "/deployments/a")
        do {
            _ = try await client.get(deployments, namespace: "default", name: "a")
            Issue.record("took text that is not JSON")
        } catch let error as KubeAPIError {
            #expect(error.message.hasPrefix("the answer is not JSON: <html>502 Bad Gateway</html>"), "\(error)")
            #expect(!error.description.contains("\u{1B}"), "control characters are shown escaped: \(error)")
        }

        await server.cluster.setRawAnswer(String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000), forPathsContaining: "/deployments/b")
        await #expect(throws: KubeAPIError.self) { try await client.get(deployments, namespace: "default", name: "b") }

        await server.cluster.setAnswerDelay(.seconds(60), forPathsContaining: "/deployments/c")
        let clock = ContinuousClock()
        let started = clock.now
        let impatient = try KubeClient(KubeConnection(server: server.url, source: "test"), timeout: .seconds(2))
        await #expect(throws: KubeTransportError.self) { try await impatient.get(deployments, namespace: "default", name: "c") }
        #expect(clock.now - started < .seconds(30), "the request's timeout ends the wait")

        // The client is still usable after all of it.
        #expect(try await client.get(deployments, namespace: "default", name: "d") == nil)
    }
}

extension JSONValue {
    func path(_ keys: [String]) -> JSONValue? {
        var value = self
        for key in keys {
            guard case .object(let fields) = value, let next = fields[key] else { return nil }
            value = next
        }
        return value
    }
}
