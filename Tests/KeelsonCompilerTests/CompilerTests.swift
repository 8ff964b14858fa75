import Foundation
import KeelsonCore
import Testing
@testable import KeelsonCompiler

func readDisk(_ path: String) -> String? {
    FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
}

func object(_ json: String) throws -> [String: Any] {
    try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
}

@Suite("Compiling desired states")
struct CompilerTests {
    static let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

    func shopIntent() throws -> Intent {
        try IntentParser.parse(ConfigSource.load(path: ExampleTests.folder).documents).get()
    }

    @Test("examples/shop compiles to the checked-in documents and digests (written by another process)")
    func goldenShop() throws {
        let release = ReleaseRequest(application: "shop", service: "web", version: "1.4.2")
        let compiled = try Compiler.compile(try shopIntent(), release: release, readFile: readDisk).get()
        #expect(compiled.map(\.instance) == ["shop/web@staging", "shop/web@canary", "shop/web@prod-eu", "shop/web@prod-us"])
        // The local working directory is the config's folder, an absolute path here: written as
        // <examples> (and digests of documents holding it left out) so the file fits any checkout.
        let folder = ExampleTests.folder
        let lines = compiled.map {
            $0.document.contains(folder) ? "\($0.instance) (digest depends on the checkout's path)\n\($0.document.replacingOccurrences(of: folder, with: "<examples>"))\n"
                : "\($0.instance) \($0.digest)\n\($0.document)\n"
        }.joined()
        let file = Self.golden.appendingPathComponent("shop-web-1.4.2.txt")
        if ProcessInfo.processInfo.environment["KEELSON_UPDATE_GOLDEN"] == "1" {
            try lines.write(to: file, atomically: true, encoding: .utf8)
        }
        // Swift's hash seed differs per process, so a Dictionary order leaking into the output
        // would make this differ from the file written by an earlier run.
        #expect(lines == (try String(contentsOf: file, encoding: .utf8)))
        let prodEU = try object(compiled[2].document)
        #expect(prodEU["replicas"] as? Int == 4)
        #expect((prodEU["env"] as? [String: String])?["GREETING"] == nil)
        #expect(((prodEU["run"] as? [String: Any])?["simulated"]) != nil)
    }

    @Test("same input, same digest; a different release, a different digest")
    func deterministic() throws {
        let intent = try shopIntent()
        let release = ReleaseRequest(application: "shop", service: "web", version: "1.4.2")
        let first = try Compiler.compile(intent, release: release, readFile: readDisk).get()
        let again = try Compiler.compile(try shopIntent(), release: release, readFile: readDisk).get()
        #expect(first == again)
        var next = release
        next.version = "1.4.3"
        let other = try Compiler.compile(intent, release: next, readFile: readDisk).get()
        #expect(zip(first, other).allSatisfy { $0.digest != $1.digest })
    }

    @Test("release parameters are checked: unknown, missing, failing the pattern")
    func parameters() throws {
        let intent = try shopIntent()
        func problems(_ release: ReleaseRequest) -> [String] {
            guard case .failure(let errors) = Compiler.compile(intent, release: release, readFile: readDisk) else { return [] }
            return errors.diagnostics.map(\.description)
        }
        #expect(problems(ReleaseRequest(application: "shop", service: "web", version: "latest")) == [
            "release: parameters.version: parameter 'version' must match /[0-9]+\\.[0-9]+\\.[0-9]+(-[a-z0-9.]+)?/, found \"latest\"",
        ])
        #expect(problems(ReleaseRequest(application: "shop", service: "web", version: "1.0.0", parameters: ["verison": "x"])) == [
            "release: parameters.verison: unknown parameter 'verison' of shop/web (did you mean 'version'?)",
        ])
        #expect(problems(ReleaseRequest(application: "shop", service: "wbe", version: "1.0.0")) == [
            "release: unknown service 'shop/wbe' (did you mean 'shop/web'?)",
        ])
    }

    static let brownfield = """
        kind: Runtime
        name: cluster-eu
        type: kubernetes
        labels: {region: eu}
        ---
        kind: Runtime
        name: fargate
        type: ecs
        ---
        kind: Application
        name: shop
        channels:
          - name: staging
            runtime: cluster-eu
          - name: prod
            runtime: cluster-eu
            after: staging
          - name: prod-ecs
            runtime: fargate
            after: staging
            constants: {cpu: "1024", memory: "2048", registry: registry.eu.example.com}
          - name: prod-ecs-us
            runtime: fargate
            after: staging
            constants: {cpu: "512", memory: "1024", registry: registry.us.example.com}
        ---
        kind: Service
        name: web
        application: shop
        parameters: [{name: version, required: true}]
        replicas: 1
        run:
          kubernetes:
            manifests: templated/web.yaml
            namespace: "shop-{{channel.name}}"
          ecs:
            taskDefinition: templated/task.json
            cluster: shop-prod
            service: {desiredCount: "{{instance.replicas}}", launchType: FARGATE}
        perReleaseChannel:
          prod: {replicas: 5}
          prod-ecs: {replicas: 2}
        """

    @Test("brownfield: a multi-document Kubernetes manifest per channel, an ECS task definition, as written plus labels")
    func brownfield() throws {
        let parsed = ConfigSource.parse(Self.brownfield, file: ServiceTests.fixtures + "/shop.yaml")
        let intent = try IntentParser.parse(parsed.documents).get()
        let compiled = try Compiler.compile(
            intent, release: ReleaseRequest(application: "shop", service: "web", version: "2.0.1"), readFile: readDisk).get()
        #expect(compiled.map(\.instance) == ["shop/web@staging", "shop/web@prod", "shop/web@prod-ecs", "shop/web@prod-ecs-us"])

        for (index, (namespace, replicas)) in [("shop-staging", 1), ("shop-prod", 5)].enumerated() {
            let run = try #require(try object(compiled[index].document)["run"] as? [String: Any])
            let kubernetes = try #require(run["kubernetes"] as? [String: Any])
            let objects = try #require(kubernetes["objects"] as? [[String: Any]])
            #expect(objects.map { $0["kind"] as? String } == ["Deployment", "Service", "ConfigMap"])
            let deployment = objects[0]
            let metadata = try #require(deployment["metadata"] as? [String: Any])
            #expect(metadata["namespace"] as? String == namespace)
            let labels = try #require(metadata["labels"] as? [String: String])
            #expect(labels == [
                "team": "storefront", "app.kubernetes.io/managed-by": "keelson", "keelson.dev/application": "shop",
                "keelson.dev/service": "web", "keelson.dev/channel": index == 0 ? "staging" : "prod",
            ])
            let spec = try #require(deployment["spec"] as? [String: Any])
            #expect(spec["replicas"] as? Int == replicas)
            // Selectors are left exactly as written: changing them would orphan running pods.
            #expect((spec["selector"] as? [String: Any])?["matchLabels"] as? [String: String] == ["app": "web"])
            let containers = ((spec["template"] as? [String: Any])?["spec"] as? [String: Any])?["containers"] as? [[String: Any]]
            #expect(containers?.first?["image"] as? String == "registry.example.com/shop/web:2.0.1")
            let configMap = objects[2]
            #expect((configMap["data"] as? [String: String]) == ["CHANNEL": index == 0 ? "staging" : "prod", "RETRIES": "3"])
        }

        let ecs = try #require((try object(compiled[2].document)["run"] as? [String: Any])?["ecs"] as? [String: Any])
        let task = try #require(ecs["taskDefinition"] as? [String: Any])
        #expect(task["cpu"] as? String == "1024")
        #expect(task["memory"] as? String == "2048")
        #expect(task["networkMode"] as? String == "awsvpc")
        #expect((task["containerDefinitions"] as? [[String: Any]])?.first?["image"] as? String == "registry.eu.example.com/shop/web:2.0.1")
        let tags = try #require(task["tags"] as? [[String: String]])
        #expect(tags.first == ["key": "team", "value": "storefront"])
        #expect(tags.contains(["key": "keelson.dev/channel", "value": "prod-ecs"]))
        #expect(ecs["service"] as? [String: String] == ["desiredCount": "2", "launchType": "FARGATE"])
        // The other ECS channel: its own image registry, CPU and memory.
        let us = try #require(((try object(compiled[3].document)["run"] as? [String: Any])?["ecs"] as? [String: Any])?["taskDefinition"] as? [String: Any])
        #expect(us["cpu"] as? String == "512")
        #expect(us["memory"] as? String == "1024")
        #expect((us["containerDefinitions"] as? [[String: Any]])?.first?["image"] as? String == "registry.us.example.com/shop/web:2.0.1")
    }

    @Test("a template in a manifest that names a missing variable is reported at the manifest's line")
    func manifestTemplateError() throws {
        let broken = Self.brownfield.replacingOccurrences(
            of: "constants: {cpu: \"1024\", memory: \"2048\", registry: registry.eu.example.com}",
            with: "constants: {cpu: \"1024\", registry: registry.eu.example.com}")
        let parsed = ConfigSource.parse(broken, file: ServiceTests.fixtures + "/shop.yaml")
        let intent = try IntentParser.parse(parsed.documents).get()
        let result = Compiler.compile(
            intent, release: ReleaseRequest(application: "shop", service: "web", version: "2.0.1"), readFile: readDisk)
        guard case .failure(let errors) = result else {
            Issue.record("expected a failure")
            return
        }
        #expect(errors.diagnostics.map { $0.description.replacingOccurrences(of: ServiceTests.fixtures + "/", with: "") } == [
            "templated/task.json:4:1: (for shop/web@prod-ecs): template variable 'constants.memory' does not exist",
        ])
    }
}
