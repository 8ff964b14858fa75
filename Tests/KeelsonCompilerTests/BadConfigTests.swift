@testable import KeelsonCompiler
import KeelsonCore
import Testing

/// A valid platform config the bad cases start from.
let platform = """
    kind: Runtime
    name: local
    type: local
    ---
    kind: Runtime
    name: eu
    type: simulated
    labels: {region: eu, env: prod}
    ---
    kind: Runtime
    name: us
    type: simulated
    labels: {region: us, env: prod}

    """

func diagnostics(_ yaml: String) -> [String] {
    let parsed = ConfigSource.parse(yaml, file: "shop.yaml")
    if !parsed.diagnostics.isEmpty { return parsed.diagnostics.map(\.description) }
    switch IntentParser.parse(parsed.documents) {
    case .success: return []
    case .failure(let errors): return errors.diagnostics.map(\.description)
    }
}

struct BadConfig: Sendable, CustomStringConvertible {
    var name: String
    var yaml: String
    var expected: [String]
    var description: String { name }
}

/// An application document after the platform; its first line is line 16 of the file.
func application(_ body: String) -> String { platform + "---\n" + body }

let badConfigs: [BadConfig] = [
    BadConfig(name: "YAML syntax error", yaml: "kind: Runtime\nname: [unclosed\n", expected: [
        "shop.yaml:3:1: YAML syntax error: did not find expected ',' or ']' while parsing a flow sequence",
    ]),
    BadConfig(name: "document is not a mapping", yaml: "- just\n- a list\n", expected: [
        "shop.yaml:1:1: expected a mapping of fields, found a list",
    ]),
    BadConfig(name: "missing kind", yaml: "name: local\ntype: local\n", expected: [
        "shop.yaml:1:1: missing required field 'kind'",
    ]),
    BadConfig(name: "unknown kind with suggestion", yaml: "kind: Runtim\nname: local\n", expected: [
        "shop.yaml:1:7: kind: unknown kind 'Runtim' (did you mean 'Runtime'?); expected one of Runtime, Application, Service",
    ]),
    BadConfig(name: "missing name", yaml: "kind: Runtime\ntype: local\n", expected: [
        "shop.yaml:1:1: missing required field 'name'",
    ]),
    BadConfig(name: "unknown runtime type", yaml: "kind: Runtime\nname: a\ntype: kubernetis\n", expected: [
        "shop.yaml:3:7: Runtime a › type: unknown runtime type 'kubernetis' (did you mean 'kubernetes'?); expected one of local, custom, kubernetes, ecs, simulated",
    ]),
    BadConfig(name: "unknown field with suggestion", yaml: "kind: Runtime\nname: a\ntype: local\nlabel: {x: y}\n", expected: [
        "shop.yaml:4:1: Runtime a ›: unknown field 'label' (did you mean 'labels'?)",
    ]),
    BadConfig(name: "local runtime settings: unknown, bad range, bad duration", yaml: "kind: Runtime\nname: a\ntype: local\nsettings:\n  port: 8000-8100\n  ports: 9000\n  stopGracePeriod: soon\n", expected: [
        "shop.yaml:5:3: Runtime a › settings: unknown field 'port' (did you mean 'ports'?)",
        "shop.yaml:6:10: Runtime a › settings.ports: expected a port range such as 18000-18999 (ports 1024 to 65535), found \"9000\"",
        "shop.yaml:7:20: Runtime a › settings.stopGracePeriod: expected a duration such as 30s, 10m, 1h30m or 2d, found \"soon\"",
    ]),
    BadConfig(name: "simulated runtime settings: a rate above 1", yaml: "kind: Runtime\nname: a\ntype: simulated\nsettings: {applyFailureRate: 1.5, seed: -1}\n", expected: [
        "shop.yaml:4:30: Runtime a › settings.applyFailureRate: expected a probability from 0 to 1, found \"1.5\"",
        "shop.yaml:4:41: Runtime a › settings.seed: expected a whole number from 0 to 4294967295, found -1",
    ]),
    BadConfig(name: "custom runtimes have no settings", yaml: "kind: Runtime\nname: a\ntype: custom\nsettings: {fetch: ./f.sh, fetchIntervalStable: 5m}\n", expected: [
        "shop.yaml:4:12: Runtime a › settings.fetch: a custom runtime has no settings: each service names its programs under run.custom",
    ]),
    BadConfig(name: "kubernetes runtime settings: unknown, empty, a bad namespace, not a boolean", yaml: "kind: Runtime\nname: a\ntype: kubernetes\nsettings: {kubeconfg: x, context: '', namespace: Shop_1, forceConflicts: maybe}\n", expected: [
        "shop.yaml:4:12: Runtime a › settings: unknown field 'kubeconfg' (did you mean 'kubeconfig'?)",
        "shop.yaml:4:35: Runtime a › settings.context: empty",
        "shop.yaml:4:50: Runtime a › settings.namespace: a namespace is 1 to 63 lower-case letters, digits and '-', starting and ending with a letter or digit; found \"Shop_1\"",
        "shop.yaml:4:74: Runtime a › settings.forceConflicts: expected true or false, found the string \"maybe\"",
    ]),
    BadConfig(name: "labels of the wrong type", yaml: "kind: Runtime\nname: a\ntype: local\nlabels: [eu]\n", expected: [
        "shop.yaml:4:9: Runtime a › labels: expected a mapping of names to values, found a list",
    ]),
    BadConfig(name: "duplicate runtime", yaml: platform + "---\nkind: Runtime\nname: eu\ntype: local\n", expected: [
        "shop.yaml:16:7: Runtime eu › name: duplicate runtime 'eu' (first defined at shop.yaml:6)",
    ]),
    BadConfig(name: "application without channels", yaml: application("kind: Application\nname: shop\n"), expected: [
        "shop.yaml:15:1: Application shop ›: missing required field 'channels'",
    ]),
    BadConfig(name: "channels not a list", yaml: application("kind: Application\nname: shop\nchannels: staging\n"), expected: [
        "shop.yaml:17:11: Application shop › channels: expected a list, found the string \"staging\"",
    ]),
    BadConfig(name: "unknown runtime reference", yaml: application("""
        kind: Application
        name: shop
        channels:
          - name: staging
            runtime: locl
        """), expected: [
        "shop.yaml:19:14: Application shop › channels[0].runtime: unknown runtime 'locl' (did you mean 'local'?)",
    ]),
    BadConfig(name: "channel without runtime", yaml: application("""
        kind: Application
        name: shop
        channels:
          - name: staging
        """), expected: [
        "shop.yaml:18:5: Application shop › channels[0]: missing required field 'runtime' (or 'runtimeSelector')",
    ]),
    BadConfig(name: "runtime and selector together", yaml: application("""
        kind: Application
        name: shop
        channels:
          - name: prod
            runtime: eu
            runtimeSelector: {matchLabels: {env: prod}, channelNameLabel: region}
        """), expected: [
        "shop.yaml:18:5: Application shop › channels[0]: give either 'runtime' or 'runtimeSelector', not both",
    ]),
    BadConfig(name: "selector matching nothing", yaml: application("""
        kind: Application
        name: shop
        channels:
          - name: prod
            runtimeSelector: {matchLabels: {env: qa}, channelNameLabel: region}
        """), expected: [
        "shop.yaml:19:22: Application shop › channels[0].runtimeSelector.matchLabels: no runtime has the labels {env: qa}",
    ]),
    BadConfig(name: "selector name label missing on a runtime", yaml: application("""
        kind: Application
        name: shop
        channels:
          - name: prod
            runtimeSelector: {matchLabels: {env: prod}, channelNameLabel: zone}
        """), expected: [
        "shop.yaml:19:67: Application shop › channels[0].runtimeSelector.channelNameLabel: runtime 'eu' has no label 'zone'",
        "shop.yaml:19:67: Application shop › channels[0].runtimeSelector.channelNameLabel: runtime 'us' has no label 'zone'",
    ]),
    BadConfig(name: "duplicate channel", yaml: application("""
        kind: Application
        name: shop
        channels:
          - name: staging
            runtime: local
          - name: staging
            runtime: local
        """), expected: [
        "shop.yaml:20:11: Application shop › channels[1].name: duplicate release channel 'staging'",
    ]),
    BadConfig(name: "invalid channel name", yaml: application("""
        kind: Application
        name: shop
        channels:
          - name: Prod EU
            runtime: local
        """), expected: [
        "shop.yaml:18:11: Application shop › channels[0].name: a release channel name is 1 to 63 lower-case letters, digits and '-', starting and ending with a letter or digit; found \"Prod EU\"",
    ]),
    BadConfig(name: "after an unknown channel", yaml: application("""
        kind: Application
        name: shop
        channels:
          - name: staging
            runtime: local
          - name: prod
            runtime: local
            after: [stagign]
        """), expected: [
        "shop.yaml:22:13: Application shop › channels[1].after: unknown release channel 'stagign' (did you mean 'staging'?)",
    ]),
    BadConfig(name: "cycle in channel ordering", yaml: application("""
        kind: Application
        name: shop
        channels:
          - name: a
            runtime: local
            after: c
          - name: b
            runtime: local
            after: a
          - name: c
            runtime: local
            after: b
        """), expected: [
        "shop.yaml:15:1: Application shop › channels: release channels are ordered in a cycle: a → c → b → a",
    ]),
    BadConfig(name: "invalid duration", yaml: application("""
        kind: Application
        name: shop
        channels:
          - name: staging
            runtime: local
            rules: {soak: ten minutes}
        """), expected: [
        "shop.yaml:20:19: Application shop › channels[0].rules.soak: expected a duration such as 30s, 10m, 1h30m or 2d, found \"ten minutes\"",
    ]),
    BadConfig(name: "unknown rule with suggestion", yaml: application("""
        kind: Application
        name: shop
        channels:
          - name: staging
            runtime: local
            rules:
              soke: 10m
        """), expected: [
        "shop.yaml:21:7: Application shop › channels[0].rules: unknown field 'soke' (did you mean 'soak'?)",
    ]),
    BadConfig(name: "approvers out of range", yaml: application("""
        kind: Application
        name: shop
        channels:
          - name: prod
            runtime: local
            rules: {approval: {approvers: 0}}
        """), expected: [
        "shop.yaml:20:35: Application shop › channels[0].rules.approval.approvers: expected a whole number from 1 to 100, found 0",
    ]),
    BadConfig(name: "maxConverging not a number", yaml: application("""
        kind: Application
        name: shop
        maxConverging: many
        channels:
          - name: staging
            runtime: local
        """), expected: [
        "shop.yaml:17:16: Application shop › maxConverging: expected a whole number from 1 to 10000, found the string \"many\"",
    ]),
    BadConfig(name: "bad time window", yaml: application("""
        kind: Application
        name: shop
        channels:
          - name: prod
            runtime: local
            rules:
              windows:
                - days: [mon, funday]
                  hours: "9-17"
                  timeZone: Europe/Berlinn
        """), expected: [
        "shop.yaml:22:23: Application shop › channels[0].rules.windows[0].days: expected a day of the week (mon, tue, wed, thu, fri, sat, sun), found \"funday\"",
        "shop.yaml:23:18: Application shop › channels[0].rules.windows[0].hours: expected a time range such as \"09:00-17:00\", found \"9-17\"",
        "shop.yaml:24:21: Application shop › channels[0].rules.windows[0].timeZone: unknown IANA time zone \"Europe/Berlinn\" (e.g. Europe/Berlin, America/New_York, UTC)",
    ]),
    BadConfig(name: "freeze ending before it starts", yaml: application("""
        kind: Application
        name: shop
        channels:
          - name: prod
            runtime: local
            rules:
              freezes:
                - {from: 2026-12-20T00:00:00Z, until: 2026-12-01T00:00:00Z}
        """), expected: [
        "shop.yaml:22:47: Application shop › channels[0].rules.freezes[0].until: the freeze ends before it starts",
    ]),
    BadConfig(name: "alert gate without labels", yaml: application("""
        kind: Application
        name: shop
        channels:
          - name: prod
            runtime: local
            rules:
              alertGates:
                - {severity: critical}
        """), expected: [
        "shop.yaml:22:11: Application shop › channels[0].rules.alertGates[0]: missing required field 'matchLabels'",
        "shop.yaml:22:12: Application shop › channels[0].rules.alertGates[0]: unknown field 'severity'; known fields: matchLabels",
    ]),
    BadConfig(name: "duplicate field", yaml: "kind: Runtime\nname: a\ntype: local\ntype: ecs\n", expected: [
        "shop.yaml:3:1: the field \"type\" appears more than once in the same mapping",
    ]),
    BadConfig(name: "several problems reported together, sorted", yaml: application("""
        kind: Application
        name: shop
        channels:
          - name: staging
            runtime: nowhere
          - name: prod
            runtime: local
            after: [qa]
            rules: {soak: 5x}
        """), expected: [
        "shop.yaml:19:14: Application shop › channels[0].runtime: unknown runtime 'nowhere'",
        "shop.yaml:22:13: Application shop › channels[1].after: unknown release channel 'qa'",
        "shop.yaml:23:19: Application shop › channels[1].rules.soak: expected a duration such as 30s, 10m, 1h30m or 2d, found \"5x\"",
    ]),
]

@Suite("Bad configs give exact messages at exact places")
struct BadConfigTests {
    @Test(arguments: badConfigs)
    func badConfig(_ config: BadConfig) {
        #expect(diagnostics(config.yaml) == config.expected)
    }

    @Test("a runtime selector over three region-labelled runtimes yields three channels")
    func channelGroup() throws {
        let yaml = (["eu", "us", "ap"].map { "kind: Runtime\nname: k8s-\($0)\ntype: kubernetes\nlabels: {region: \($0), env: prod}\n" }
            + ["kind: Runtime\nname: k8s-qa\ntype: kubernetes\nlabels: {region: qa, env: test}\n",
               "kind: Application\nname: shop\nchannels:\n  - name: prod\n    runtimeSelector: {matchLabels: {env: prod}, channelNameLabel: region}\n"])
            .joined(separator: "---\n")
        let intent = try IntentParser.parse(ConfigSource.parse(yaml, file: "group.yaml").documents).get()
        let channels = intent.applications[0].channels
        #expect(channels.map(\.name) == ["prod-ap", "prod-eu", "prod-us"])
        #expect(channels.map(\.runtime) == ["k8s-ap", "k8s-eu", "k8s-us"])
    }

    @Test("the base platform and a full application are valid")
    func valid() throws {
        let yaml = application("""
            kind: Application
            name: shop
            maxConverging: 2
            channels:
              - name: staging
                runtime: local
              - name: canary
                runtime: local
                after: [staging]
                rules: {soak: 10m}
              - name: prod
                runtimeSelector: {matchLabels: {env: prod}, channelNameLabel: region}
                after: canary
                rules:
                  soak: 1h30m
                  approval: {approvers: 2}
                  windows: [{days: [mon, fri], hours: "09:00-17:30", timeZone: Europe/Berlin}]
                  freezes: [{from: 2026-12-20T00:00:00Z, until: 2027-01-04T00:00:00Z, reason: holidays}]
                  alertGates: [{matchLabels: {severity: critical}}]
            """)
        #expect(diagnostics(yaml) == [])
        let parsed = ConfigSource.parse(yaml, file: "shop.yaml")
        let intent = try IntentParser.parse(parsed.documents).get()
        let channels = intent.applications[0].channels
        #expect(channels.map(\.name) == ["staging", "canary", "prod-eu", "prod-us"])
        #expect(channels.map(\.runtime) == ["local", "local", "eu", "us"])
        let prod = channels[2].rules
        #expect(prod.soakSeconds == 5400)
        #expect(prod.approvals == 2)
        #expect(prod.windows == [TimeWindow(days: ["mon", "fri"], startMinute: 540, endMinute: 1050, timeZone: "Europe/Berlin")])
        #expect(prod.freezes.first?.reason == "holidays")
        #expect(prod.alertGates == [["severity": "critical"]])
    }
}
