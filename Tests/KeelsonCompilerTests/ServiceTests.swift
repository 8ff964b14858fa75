import Foundation
import KeelsonCore
import Testing
@testable import KeelsonCompiler

/// Parses `yaml` as if it were the file `Fixtures/services.yaml` (so relative manifest paths
/// resolve against the fixtures folder).
func parseServices(_ yaml: String) -> Result<Intent, ConfigErrors> {
    let file = ServiceTests.fixtures + "/services.yaml"
    let parsed = ConfigSource.parse(platform + "---\n" + shopApplication + "---\n" + yaml, file: file)
    if !parsed.diagnostics.isEmpty { return .failure(ConfigErrors(parsed.diagnostics)) }
    return IntentParser.parse(parsed.documents)
}

/// Messages without the fixtures folder, for readable expectations.
func serviceProblems(_ yaml: String) -> [String] {
    guard case .failure(let errors) = parseServices(yaml) else { return [] }
    return errors.diagnostics.map { $0.description.replacingOccurrences(of: ServiceTests.fixtures + "/", with: "") }
}

let shopApplication = """
    kind: Application
    name: shop
    channels:
      - name: staging
        runtime: local
      - name: prod
        runtimeSelector: {matchLabels: {env: prod}, channelNameLabel: region}
        after: staging
        env: {TIER: prod}

    """

@Suite("Service documents")
struct ServiceTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path

    @Test("one instance per channel, with group and channel overrides merged in that order")
    func overrides() throws {
        let intent = try parseServices("""
            kind: Service
            name: web
            application: shop
            parameters:
              - {name: version, required: true, pattern: '[0-9]+\\.[0-9]+\\.[0-9]+'}
              - {name: workers, type: int, default: "4"}
            replicas: 1
            env: {LOG: info}
            run:
              local: {command: python3, args: [web.py]}
            healthCheck:
              http: {path: /healthz, port: "8080"}
            perReleaseChannel:
              prod:
                replicas: 3
                healthCheck: {interval: 10s}
              prod-eu:
                replicas: 5
            """).get()
        let web = try #require(intent.services.first)
        #expect(web.parameters.map(\.name) == ["version", "workers"])
        #expect(web.instances.map(\.channel) == ["staging", "prod-eu", "prod-us"])
        #expect(web.instances.map(\.replicas) == [1, 5, 3])
        // No workingDirectory: the folder of the file that declares the service.
        #expect(web.instances.map(\.run) == [.local(command: "python3", args: ["web.py"], env: [:], workingDirectory: Self.fixtures), .simulated, .simulated])
        #expect(web.instances[1].healthCheck?.intervalSeconds == 10)
        #expect(web.instances[1].healthCheck?.probe == .http(path: "/healthz", port: "8080"))
        #expect(web.instances[0].healthCheck?.intervalSeconds == 5)
        #expect(web.instances[2].env == ["TIER": "prod", "LOG": "info"])
    }

    @Test("brownfield: Kubernetes manifests and an ECS task definition are found and checked")
    func brownfield() throws {
        let platformWithK8s = """
            kind: Runtime
            name: cluster
            type: kubernetes
            ---
            kind: Runtime
            name: fargate
            type: ecs
            ---
            kind: Application
            name: store
            channels:
              - {name: staging, runtime: cluster}
              - {name: prod, runtime: fargate, after: staging}
            ---
            kind: Service
            name: web
            application: store
            run:
              kubernetes: {manifests: k8s, namespace: "store-{{channel.name}}"}
              ecs: {taskDefinition: task.json, cluster: prod, service: {desiredCount: "2"}}
            """
        let parsed = ConfigSource.parse(platformWithK8s, file: Self.fixtures + "/store.yaml")
        let intent = try IntentParser.parse(parsed.documents).get()
        let web = try #require(intent.services.first)
        #expect(web.instances.map(\.run) == [
            .kubernetes(manifests: [Self.fixtures + "/k8s/web.yaml"], namespace: "store-{{channel.name}}"),
            .ecs(taskDefinition: Self.fixtures + "/task.json", cluster: "prod", service: ["desiredCount": "2"]),
        ])
    }

    static let cases: [BadConfig] = [
        BadConfig(name: "unknown application", yaml: "kind: Service\nname: web\napplication: shp\n", expected: [
            "services.yaml:27:14: Service web › application: unknown application 'shp' (did you mean 'shop'?)",
        ]),
        BadConfig(name: "no run for the channel's runtime type", yaml: "kind: Service\nname: web\napplication: shop\nrun: {}\n", expected: [
            "services.yaml:28:6: Service web › run: release channel 'staging' runs on runtime 'local' (type local), but there is no 'run.local'",
        ]),
        BadConfig(name: "missing run", yaml: "kind: Service\nname: web\napplication: shop\n", expected: [
            "services.yaml:25:1: Service web ›: missing required field 'run'",
        ]),
        BadConfig(name: "unknown runtime type under run", yaml: "kind: Service\nname: web\napplication: shop\nrun:\n  locl: {command: x}\n", expected: [
            "services.yaml:29:3: Service web › run: release channel 'staging' runs on runtime 'local' (type local), but there is no 'run.local'",
            "services.yaml:29:3: Service web › run: unknown field 'locl' (did you mean 'local'?)",
        ]),
        BadConfig(name: "local without command", yaml: "kind: Service\nname: web\napplication: shop\nrun:\n  local: {args: [a]}\n", expected: [
            "services.yaml:29:10: Service web › run.local: missing required field 'command'",
        ]),
        BadConfig(name: "unknown perReleaseChannel channel", yaml: "kind: Service\nname: web\napplication: shop\nrun: {local: {command: x}}\nperReleaseChannel:\n  prd: {replicas: 2}\n", expected: [
            "services.yaml:30:3: Service web › perReleaseChannel.prd: unknown release channel 'prd' of application shop (did you mean 'prod'?)",
        ]),
        BadConfig(name: "override with a wrong type is reported at the override", yaml: "kind: Service\nname: web\napplication: shop\nrun: {local: {command: x}}\nperReleaseChannel:\n  prod-us: {replicas: lots}\n", expected: [
            "services.yaml:30:23: Service web › replicas: expected a whole number from 0 to 10000, found the string \"lots\"",
        ]),
        BadConfig(name: "unknown field in an override", yaml: "kind: Service\nname: web\napplication: shop\nrun: {local: {command: x}}\nperReleaseChannel:\n  staging: {replica: 2}\n", expected: [
            "services.yaml:30:13: Service web ›: unknown field 'replica' (did you mean 'replicas'?)",
        ]),
        BadConfig(name: "parameter default failing its pattern", yaml: "kind: Service\nname: web\napplication: shop\nparameters:\n  - {name: version, pattern: '[0-9]+', default: latest}\nrun: {local: {command: x}}\n", expected: [
            "services.yaml:29:49: Service web › parameters[0].default: parameter 'version' must match /[0-9]+/, found \"latest\"",
        ]),
        BadConfig(name: "parameter with an invalid pattern", yaml: "kind: Service\nname: web\napplication: shop\nparameters:\n  - {name: version, pattern: '[0-9'}\nrun: {local: {command: x}}\n", expected: [
            "services.yaml:29:30: Service web › parameters[0].pattern: not a valid regular expression: \"[0-9\"",
        ]),
        BadConfig(name: "parameter of an unknown type", yaml: "kind: Service\nname: web\napplication: shop\nparameters:\n  - {name: n, type: integer}\nrun: {local: {command: x}}\n", expected: [
            "services.yaml:29:21: Service web › parameters[0].type: unknown parameter type 'integer'; expected one of string, int, bool, image, duration",
        ]),
        BadConfig(name: "int parameter with a non-number default", yaml: "kind: Service\nname: web\napplication: shop\nparameters:\n  - {name: n, type: int, default: four}\nrun: {local: {command: x}}\n", expected: [
            "services.yaml:29:35: Service web › parameters[0].default: expected a whole number for parameter 'n', found \"four\"",
        ]),
        BadConfig(name: "health check with two probes", yaml: "kind: Service\nname: web\napplication: shop\nrun: {local: {command: x}}\nhealthCheck:\n  http: {path: /}\n  tcp: {port: '80'}\n", expected: [
            "services.yaml:30:3: Service web › healthCheck: a health check takes only one of 'http', 'tcp' or 'exec'",
        ]),
        BadConfig(name: "template variable that does not exist", yaml: "kind: Service\nname: web\napplication: shop\nparameters: [{name: version}]\nrun:\n  local: {command: x, args: [\"--v={{parameters.vrsion}}\"]}\n", expected: [
            "services.yaml:30:30: Service web › run.local.args[0]: template variable 'parameters.vrsion' does not exist (did you mean 'parameters.version'?)",
        ]),
        BadConfig(name: "template variable missing in one channel only", yaml: "kind: Service\nname: web\napplication: shop\nrun:\n  local: {command: \"x-{{runtime.labels.region}}\"}\n", expected: [
            "services.yaml:29:20: Service web › run.local.command: template variable 'runtime.labels.region' does not exist (in release channel staging)",
        ]),
        BadConfig(name: "health check without a probe", yaml: "kind: Service\nname: web\napplication: shop\nrun: {local: {command: x}}\nhealthCheck: {interval: 5s}\n", expected: [
            "services.yaml:29:14: Service web › healthCheck: a health check needs one of 'http', 'tcp' or 'exec'",
        ]),
    ]

    @Test(arguments: cases)
    func badService(_ config: BadConfig) {
        #expect(serviceProblems(config.yaml) == config.expected)
    }

    @Test("missing or broken brownfield files are reported at the field that names them")
    func brokenFiles() {
        let yaml = { (run: String) in
            """
            kind: Runtime
            name: cluster
            type: \(run == "ecs" ? "ecs" : "kubernetes")
            ---
            kind: Application
            name: store
            channels: [{name: staging, runtime: cluster}]
            ---
            kind: Service
            name: web
            application: store
            run:
            """
        }
        func problems(_ text: String) -> [String] {
            let parsed = ConfigSource.parse(text, file: Self.fixtures + "/store.yaml")
            guard case .failure(let errors) = IntentParser.parse(parsed.documents) else { return [] }
            return errors.diagnostics.map { $0.description.replacingOccurrences(of: Self.fixtures + "/", with: "") }
        }
        #expect(problems(yaml("k8s") + "\n  kubernetes: {manifests: nowhere}\n") == [
            "store.yaml:13:27: Service web › run.kubernetes.manifests: no manifest file or folder at \"nowhere\"",
        ])
        let broken = problems(yaml("k8s") + "\n  kubernetes: {manifests: broken.yaml}\n")
        #expect(broken.count == 1)
        #expect(broken.first?.hasPrefix("store.yaml:13:27: Service web › run.kubernetes.manifests: manifest \"broken.yaml\" is not valid YAML: line 4") == true)
        let badJSON = problems(yaml("ecs") + "\n  ecs: {taskDefinition: broken.json}\n")
        #expect(badJSON.count == 1)
        #expect(badJSON.first?.hasPrefix("store.yaml:13:25: Service web › run.ecs.taskDefinition: task definition \"broken.json\" is not valid JSON") == true)
        #expect(problems(yaml("ecs") + "\n  ecs: {taskDefinition: missing.json}\n") == [
            "store.yaml:13:25: Service web › run.ecs.taskDefinition: no task definition file at \"missing.json\"",
        ])
    }
}
