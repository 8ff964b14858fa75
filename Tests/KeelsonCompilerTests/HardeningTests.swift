import Foundation
import KeelsonCore
import Testing
@testable import KeelsonCompiler

/// A platform, an application `shop` with one simulated channel, and then `body`.
func shopWith(_ body: String) -> String {
    platform + "---\nkind: Application\nname: shop\nchannels:\n  - {name: staging, runtime: eu}\n---\n" + body
}

/// A service `web` of `shop` with `fields` (YAML lines) after its name and application.
func webWith(_ fields: String) -> String {
    shopWith("kind: Service\nname: web\napplication: shop\n" + fields)
}

/// `shop.yaml:LINE:COLUMN` of the `occurrence`-th appearance of `needle` in `yaml` (1-based).
func place(of needle: String, in yaml: String, occurrence: Int = 1) -> String {
    var range = yaml.startIndex..<yaml.startIndex
    for _ in 0..<occurrence { range = yaml.range(of: needle, range: range.upperBound..<yaml.endIndex)! }
    let before = yaml[..<range.lowerBound]
    let line = before.filter { $0 == "\n" }.count + 1
    let column = before.count - (before.lastIndex(of: "\n").map { before.distance(from: before.startIndex, to: $0) + 1 } ?? 0) + 1
    return "shop.yaml:\(line):\(column)"
}

/// One config with one problem: where it is and what is said.
struct Hardening: Sendable, CustomStringConvertible {
    var name: String
    var yaml: String
    /// Text at the place the problem is reported (its first occurrence, or `occurrence`).
    var at: String
    var occurrence = 1
    /// The field path and message after the place.
    var says: String
    var description: String { name }
}

func nameProblem(_ name: String, _ kind: Names.Kind) -> String { Names.problem(name, kind: kind)! }

let long500 = String(repeating: "a", count: 500)

let hardeningCases: [Hardening] = [
    // Names: one grammar, at file:line:column.
    Hardening(name: "service 'my web'", yaml: shopWith("kind: Service\nname: my web\napplication: shop\n"),
              at: "my web", says: "Service my web › name: " + nameProblem("my web", .service)),
    Hardening(name: "service 'we/b'", yaml: shopWith("kind: Service\nname: we/b\napplication: shop\n"),
              at: "we/b", says: "Service we/b › name: " + nameProblem("we/b", .service)),
    Hardening(name: "service 'web@x'", yaml: shopWith("kind: Service\nname: web@x\napplication: shop\n"),
              at: "web@x", says: "Service web@x › name: " + nameProblem("web@x", .service)),
    Hardening(name: "service with an empty name", yaml: shopWith("kind: Service\nname: \"\"\napplication: shop\n"),
              at: "\"\"\napp", says: "Service  › name: " + nameProblem("", .service)),
    Hardening(name: "service of 500 characters", yaml: shopWith("kind: Service\nname: \(long500)\napplication: shop\n"),
              at: long500, says: "Service \(String(repeating: "a", count: 63))… › name: " + nameProblem(long500, .service)),
    Hardening(name: "service with control characters", yaml: shopWith("kind: Service\nname: \"w\\a\\eb\"\napplication: shop\n"),
              at: "\"w\\a", says: "Service w\\u{7}\\u{1B}b › name: " + nameProblem("w\u{7}\u{1B}b", .service)),
    Hardening(name: "application 'sh/op'", yaml: platform + "---\nkind: Application\nname: sh/op\nchannels:\n  - {name: staging, runtime: eu}\n",
              at: "sh/op", says: "Application sh/op › name: " + nameProblem("sh/op", .application)),
    Hardening(name: "application 'shop@x'", yaml: platform + "---\nkind: Application\nname: shop@x\nchannels:\n  - {name: staging, runtime: eu}\n",
              at: "shop@x", says: "Application shop@x › name: " + nameProblem("shop@x", .application)),
    Hardening(name: "runtime 'sim us/@'", yaml: "kind: Runtime\nname: sim us/@\ntype: simulated\n",
              at: "sim us/@", says: "Runtime sim us/@ › name: " + nameProblem("sim us/@", .runtime)),
    Hardening(name: "release channel 'Staging'", yaml: platform + "---\nkind: Application\nname: shop\nchannels:\n  - {name: Staging, runtime: eu}\n",
              at: "Staging", says: "Application shop › channels[0].name: " + nameProblem("Staging", .channel)),
    Hardening(name: "a generated channel name that does not fit (label value 'EU')",
              yaml: "kind: Runtime\nname: eu\ntype: simulated\nlabels: {region: EU, env: prod}\n---\nkind: Application\nname: shop\nchannels:\n  - name: prod\n    runtimeSelector: {matchLabels: {env: prod}, channelNameLabel: region}\n",
              at: "region}", says: "Application shop › channels[0].runtimeSelector.channelNameLabel: runtime 'eu' labels 'region' with \"EU\", which names the release channel \"prod-EU\": " + nameProblem("prod-EU", .channel)),
    Hardening(name: "parameter 'image-tag'", yaml: webWith("parameters:\n  - {name: image-tag}\n"),
              at: "image-tag", says: "Service web › parameters[0].name: " + ParameterIntent.nameProblem("image-tag")!),
    Hardening(name: "parameter '1st'", yaml: webWith("parameters:\n  - {name: 1st}\n"),
              at: "1st", says: "Service web › parameters[0].name: " + ParameterIntent.nameProblem("1st")!),

    // Ranges, at file:line:column.
    Hardening(name: "health-check port 70000", yaml: webWith("healthCheck:\n  http: {path: /, port: 70000}\n"),
              at: "70000", says: "Service web › healthCheck.http.port: expected a port from 1 to 65535, found \"70000\""),
    Hardening(name: "TCP health-check port 0", yaml: webWith("healthCheck:\n  tcp: {port: 0}\n"),
              at: "0}", says: "Service web › healthCheck.tcp.port: expected a port from 1 to 65535, found \"0\""),
    Hardening(name: "replicas: -1", yaml: webWith("replicas: -1\n"),
              at: "-1", says: "Service web › replicas: expected a whole number from 0 to 10000, found -1"),
    Hardening(name: "replicas: 10^12", yaml: webWith("replicas: 1000000000000\n"),
              at: "1000000000000", says: "Service web › replicas: expected a whole number from 0 to 10000, found 1000000000000"),
    Hardening(name: "replicas too large for Int", yaml: webWith("replicas: 99999999999999999999999999\n"),
              at: "9999", says: "Service web › replicas: expected a whole number from 0 to 10000, found 99999999999999999999999999"),
    Hardening(name: "replicas: 10^12 written as 10^12", yaml: webWith("replicas: 10^12\n"),
              at: "10^12", says: "Service web › replicas: expected a whole number from 0 to 10000, found the string \"10^12\""),
    Hardening(name: "progressDeadline: 0s", yaml: webWith("progressDeadline: 0s\n"),
              at: "0s", says: "Service web › progressDeadline: expected a duration of at least 1s, found \"0s\""),
    Hardening(name: "health-check interval 0s", yaml: webWith("healthCheck:\n  tcp: {}\n  interval: 0s\n"),
              at: "0s", says: "Service web › healthCheck.interval: expected a duration of at least 1s, found \"0s\""),
    Hardening(name: "health-check timeout 0m", yaml: webWith("healthCheck:\n  tcp: {}\n  timeout: 0m\n"),
              at: "0m", says: "Service web › healthCheck.timeout: expected a duration of at least 1s, found \"0m\""),
    Hardening(name: "fetch interval 0s", yaml: "kind: Runtime\nname: a\ntype: simulated\nsettings: {fetchIntervalStable: 0s}\n",
              at: "0s", says: "Runtime a › settings.fetchIntervalStable: expected a duration of at least 1s, found \"0s\""),
    Hardening(name: "program timeout 0s",
              yaml: "kind: Runtime\nname: c\ntype: custom\n---\nkind: Application\nname: shop\nchannels:\n  - {name: staging, runtime: c}\n---\nkind: Service\nname: web\napplication: shop\nrun:\n  custom:\n    fetch: {command: /bin/true, timeout: 0s}\n    apply: {command: /bin/true}\n",
              at: "0s", says: "Service web › run.custom.fetch.timeout: expected a duration of at least 1s, found \"0s\""),
    Hardening(name: "soak: 9223372036854775807d (used to trap)", yaml: platform + "---\nkind: Application\nname: shop\nchannels:\n  - {name: staging, runtime: eu, rules: {soak: 9223372036854775807d}}\n",
              at: "9223372036854775807d", says: "Application shop › channels[0].rules.soak: \"9223372036854775807d\" is longer than the longest duration accepted, 365d"),
    Hardening(name: "soak: 9223372036854775807m (used to trap)", yaml: platform + "---\nkind: Application\nname: shop\nchannels:\n  - {name: staging, runtime: eu, rules: {soak: 9223372036854775807m}}\n",
              at: "9223372036854775807m", says: "Application shop › channels[0].rules.soak: \"9223372036854775807m\" is longer than the longest duration accepted, 365d"),
    Hardening(name: "soak: 1d9223372036854775807s (used to trap)", yaml: platform + "---\nkind: Application\nname: shop\nchannels:\n  - {name: staging, runtime: eu, rules: {soak: 1d9223372036854775807s}}\n",
              at: "1d9223372036854775807s", says: "Application shop › channels[0].rules.soak: \"1d9223372036854775807s\" is longer than the longest duration accepted, 365d"),
    Hardening(name: "soak: 9999999999999d (used to crash the worker)", yaml: platform + "---\nkind: Application\nname: shop\nchannels:\n  - {name: staging, runtime: eu, rules: {soak: 9999999999999d}}\n",
              at: "9999999999999d", says: "Application shop › channels[0].rules.soak: \"9999999999999d\" is longer than the longest duration accepted, 365d"),
    Hardening(name: "watch: 9999999999999d (used to crash the worker)", yaml: platform + "---\nkind: Application\nname: shop\nchannels:\n  - {name: staging, runtime: eu, rules: {watch: 9999999999999d}}\n",
              at: "9999999999999d", says: "Application shop › channels[0].rules.watch: \"9999999999999d\" is longer than the longest duration accepted, 365d"),
    Hardening(name: "progressDeadline: 9999999999999d (used to crash the worker)", yaml: webWith("progressDeadline: 9999999999999d\n"),
              at: "9999999999999d", says: "Service web › progressDeadline: \"9999999999999d\" is longer than the longest duration accepted, 365d"),

    // Bytes and tags.
    Hardening(name: "a !!binary value where a string is expected", yaml: webWith("env: {TOKEN: !!binary aGVsbG8=}\n"),
              at: "!!binary", says: "Service web › env.TOKEN: the YAML tag \"!!binary\" is not accepted in config: a value is a string, a number, a boolean, a list or a mapping (write the value without the tag)"),
    Hardening(name: "a !!binary name", yaml: "kind: Runtime\nname: !!binary c2lt\ntype: simulated\n",
              at: "!!binary", says: "name: the YAML tag \"!!binary\" is not accepted in config: a value is a string, a number, a boolean, a list or a mapping (write the value without the tag)"),
    Hardening(name: "a local tag on a mapping", yaml: webWith("healthCheck: !probe\n  tcp: {}\n"),
              at: "!probe", says: "Service web › healthCheck: the YAML tag \"!probe\" is not accepted in config: a value is a string, a number, a boolean, a list or a mapping (write the value without the tag)"),
    Hardening(name: "a !!timestamp in a list of strings", yaml: webWith("run:\n  local: {command: x, args: [!!timestamp 2001-12-14]}\n"),
              at: "!!timestamp", says: "Service web › run.local.args[0]: the YAML tag \"!!timestamp\" is not accepted in config: a value is a string, a number, a boolean, a list or a mapping (write the value without the tag)"),
    Hardening(name: "a NUL byte", yaml: "kind: Runtime\nname: a\u{0}b\ntype: simulated\n",
              at: "\u{0}", says: "the control character U+0000 is not allowed in YAML text; inside a double-quoted string write it escaped (\"\\u0000\")"),
    Hardening(name: "an ESC byte", yaml: "kind: Runtime\nname: local\ntype: simulated\nlabels: {a: \"x\"}\n# \u{1B}[31m red\n",
              at: "\u{1B}", says: "the control character U+001B is not allowed in YAML text; inside a double-quoted string write it escaped (\"\\u001B\")"),
    Hardening(name: "binary garbage", yaml: "kind: Runtime\nname: local\n\u{1}\u{2}\u{3}\u{7F}\u{80}\n",
              at: "\u{1}", says: "the control character U+0001 is not allowed in YAML text; inside a double-quoted string write it escaped (\"\\u0001\")"),

    // Templates, in words.
    Hardening(name: "an unclosed {{", yaml: webWith("env: {GREETING: \"hello {{service.name\"}\n"),
              at: "\"hello", says: "Service web › env.GREETING: template syntax error: '{{' at character 7 is never closed with '}}'"),
    Hardening(name: "a {{ closed on a later line", yaml: webWith("env:\n  GREETING: |\n    hello {{service.name\n    }}\n"),
              at: "|", says: "Service web › env.GREETING: template syntax error: '{{' at line 1, character 7 is closed only on a later line; a tag is on one line"),
]

@Suite("Hostile config: names, ranges, bytes and templates, each at file:line:column")
struct HardeningTests {
    @Test(arguments: hardeningCases)
    func located(_ hardening: Hardening) {
        let problems = diagnostics(hardening.yaml)
        let expected = "\(place(of: hardening.at, in: hardening.yaml, occurrence: hardening.occurrence)): \(hardening.says)"
        #expect(problems.contains(expected), "\(problems)")
        // Nothing reaches a terminal raw.
        for problem in problems {
            #expect(!problem.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }, "\(problem)")
        }
    }

    @Test("the shop example passes all of these checks")
    func exampleStillValid() throws {
        let loaded = ConfigSource.load(path: ExampleTests.folder)
        #expect(loaded.diagnostics.isEmpty)
        _ = try IntentParser.parse(loaded, files: DiskFiles()).get()
    }

    @Test("a templated port is checked once rendered, per instance")
    func templatedPort() throws {
        let yaml = platform + """
            ---
            kind: Application
            name: shop
            channels:
              - {name: staging, runtime: eu, constants: {port: "70000"}}
            ---
            kind: Service
            name: web
            application: shop
            healthCheck:
              http: {path: /, port: "{{constants.port}}"}

            """
        let intent = try IntentParser.parse(ConfigSource.parse(yaml, file: "shop.yaml").documents).get()
        let result = Compiler.compile(intent, release: ReleaseRequest(application: "shop", service: "web", version: "1.0.0"), readFile: { _ in nil })
        guard case .failure(let errors) = result else {
            Issue.record("a port of 70000 compiled")
            return
        }
        #expect(errors.diagnostics.map(\.description) == [
            "shop/web@staging: healthCheck.http.port: expected a port from 1 to 65535, found \"70000\"",
        ])
    }

    @Test("`keelson schema` bounds what the parser bounds")
    func schemaMaximums() throws {
        let schema = try #require(try JSONSerialization.jsonObject(with: Data(CanonicalJSON.string(ConfigSchema.document).utf8)) as? [String: Any])
        let definitions = try #require(schema["$defs"] as? [String: Any])
        func property(_ definition: String, _ path: [String]) -> [String: Any]? {
            var node = definitions[definition] as? [String: Any]
            for key in path { node = (node?["properties"] as? [String: Any])?[key] as? [String: Any] }
            return node
        }
        let service = try #require(definitions["Service"] as? [String: Any])
        let replicas = try #require((service["properties"] as? [String: Any])?["replicas"] as? [String: Any])
        #expect(replicas["minimum"] as? Int == 0 && replicas["maximum"] as? Int == 10_000)
        let health = try #require(property("Service", ["healthCheck"]))
        let http = try #require((health["properties"] as? [String: Any])?["http"] as? [String: Any])
        let port = try #require((http["properties"] as? [String: Any])?["port"] as? [String: Any])
        let integer = try #require((port["oneOf"] as? [[String: Any]])?.first)
        #expect(integer["minimum"] as? Int == 1 && integer["maximum"] as? Int == 65_535)
        #expect(property("Rules", ["approval", "approvers"])?["maximum"] as? Int == 100)
        #expect(property("Application", ["maxConverging"])?["maximum"] as? Int == 10_000)
        #expect(property("Channel", ["name"])?["maxLength"] as? Int == 63)
        #expect(property("Rules", ["soak"])?["maxLength"] as? Int == 64)
    }

    @Test("a file that is not UTF-8 is an error at the line and column of its first bad byte, not silently U+FFFD")
    func notUTF8() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-utf8-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("platform.yaml")
        try Data("kind: Runtime\nname: local\ntype: simulated\nlabels: {a: b\u{E9}".utf8 + [0xFF, 0xFE] + Array("}\n".utf8)).write(to: file)
        let loaded = ConfigSource.load(path: folder.path)
        #expect(loaded.documents.isEmpty)
        #expect(loaded.diagnostics.map(\.description) == [
            "\(file.path):4:15: the file is not UTF-8 text: byte 0xFF cannot start or continue a character here",
        ])
    }

    @Test("a config file that is not a regular file is refused, not read (a FIFO would block)")
    func notRegular() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-fifo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let fifo = folder.appendingPathComponent("pipe.yaml").path
        #expect(mkfifo(fifo, 0o600) == 0)
        let loaded = ConfigSource.load(path: fifo)
        #expect(loaded.diagnostics.map(\.description) == ["\(fifo): not a regular file"])
    }

    @Test("every Yams error is a located diagnostic", arguments: [
        ("kind: Runtime\nname: [unclosed\n", "shop.yaml:3:1"),
        ("a: *nowhere\n", "shop.yaml:1:4"),
        ("a: 1\na: 2\n", "shop.yaml:1:1"),
        ("\t- x\n", "shop.yaml:1:1"),
        ("a: \"\\q\"\n", "shop.yaml:1:5"),
    ])
    func yamsErrorsLocated(_ text: String, _ at: String) {
        let parsed = ConfigSource.parse(text, file: "shop.yaml")
        #expect(parsed.documents.isEmpty)
        #expect(parsed.diagnostics.count == 1)
        #expect(parsed.diagnostics.first?.description.hasPrefix(at + ":") == true, "\(parsed.diagnostics)")
        #expect(parsed.diagnostics.allSatisfy { $0.line > 0 })
    }
}
