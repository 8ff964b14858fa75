import Crypto
import Foundation
import KeelsonCore
import Yams

/// A release of one service: the version and parameter values to compile it with.
public struct ReleaseRequest: Sendable, Hashable, Codable {
    public var application: String
    public var service: String
    public var version: String
    public var parameters: [String: String]

    public init(application: String, service: String, version: String, parameters: [String: String] = [:]) {
        self.application = application
        self.service = service
        self.version = version
        self.parameters = parameters
    }
}

/// What one service instance should run: a canonical JSON document and its SHA-256 digest.
public struct CompiledDesiredState: Sendable, Hashable, Codable {
    /// `application/service@channel`.
    public var instance: String
    /// Canonical JSON (sorted keys, no insignificant whitespace): same input, same bytes.
    public var document: String
    /// `sha256:` and the hex digest of `document`'s UTF-8 bytes.
    public var digest: String
}

/// Intent + release → one compiled desired state per release channel of the service. Pure: the
/// same intent, release and file contents give the same bytes in any process.
public enum Compiler {
    /// The schema of compiled documents; bump it when their shape changes.
    public static let documentVersion = "keelson.dev/v1"

    public static func compile(
        _ intent: Intent, release: ReleaseRequest, readFile: @escaping (String) -> String?
    ) -> Result<[CompiledDesiredState], ConfigErrors> {
        let target = "\(release.application)/\(release.service)"
        guard let application = intent.applications.first(where: { $0.name == release.application }),
            let service = intent.services.first(where: { $0.application == release.application && $0.name == release.service })
        else {
            let known = intent.services.map { "\($0.application)/\($0.name)" }
            let hint = suggestion(for: target, among: known).map { " (did you mean '\($0)'?)" } ?? ""
            return .failure(ConfigErrors([releaseProblem("", "unknown service '\(target)'\(hint)")]))
        }
        var problems: [ConfigDiagnostic] = []
        let parameters = resolveParameters(service, release: release, problems: &problems)
        guard problems.isEmpty else { return .failure(ConfigErrors(problems)) }

        var compiled: [CompiledDesiredState] = []
        for instance in service.instances {
            guard let channel = application.channels.first(where: { $0.name == instance.channel }),
                let runtime = intent.runtimes.first(where: { $0.name == instance.runtime })
            else { continue }
            let values = TemplateContext.values(
                application: application, service: service.name, channel: channel, runtime: runtime,
                parameters: parameters, version: release.version, replicas: instance.replicas)
            var renderer = Renderer(values: values, instance: "\(target)@\(channel.name)", readFile: readFile)
            let document = renderer.document(
                instance: instance, application: application.name, service: service.name, runtime: runtime,
                release: release, parameters: parameters)
            problems += renderer.problems
            guard renderer.problems.isEmpty else { continue }
            guard let json = try? CanonicalJSON.string(document) else {
                problems.append(.escaped(file: "\(target)@\(channel.name)", line: 0, column: 0, path: "", message: "the compiled document cannot be written as JSON"))
                continue
            }
            compiled.append(CompiledDesiredState(
                instance: "\(target)@\(channel.name)", document: json, digest: "sha256:" + sha256Hex(json)))
        }
        return problems.isEmpty ? .success(compiled) : .failure(ConfigErrors(problems))
    }

    /// Release values with defaults filled in (`version` defaults to the release version),
    /// checked against each parameter's type and pattern.
    static func resolveParameters(
        _ service: ServiceIntent, release: ReleaseRequest, problems: inout [ConfigDiagnostic]
    ) -> [String: String] {
        var values: [String: String] = [:]
        let declared = service.parameters.map(\.name)
        for name in release.parameters.keys.sorted() where !declared.contains(name) {
            let hint = suggestion(for: name, among: declared).map { " (did you mean '\($0)'?)" } ?? ""
            problems.append(releaseProblem("parameters.\(name)", "unknown parameter '\(name)' of \(release.application)/\(release.service)\(hint)"))
        }
        for parameter in service.parameters {
            let value = release.parameters[parameter.name]
                ?? (parameter.name == "version" ? release.version : nil)
                ?? parameter.defaultValue
            guard let value else {
                problems.append(releaseProblem(
                    "parameters.\(parameter.name)",
                    "parameter '\(parameter.name)' has no value: give it with --param \(parameter.name)=VALUE"
                        + (parameter.required ? "" : " or give it a default")))
                continue
            }
            if let problem = ParameterCheck.problem(with: value, for: parameter) {
                problems.append(releaseProblem("parameters.\(parameter.name)", problem))
                continue
            }
            values[parameter.name] = value
        }
        return values
    }

    /// An application's channel order and rules as the engine reads them.
    public static func policy(_ application: ApplicationIntent) -> ApplicationPolicy {
        ApplicationPolicy(
            application: application.name, maxConverging: application.maxConverging,
            channels: application.channels.map { channel in
                let rules = channel.rules
                return ChannelPolicy(
                    name: channel.name, after: channel.after, soakSeconds: rules.soakSeconds, approvals: rules.approvals,
                    windows: rules.windows.map {
                        WindowPolicy(days: $0.days, startMinute: $0.startMinute, endMinute: $0.endMinute, timeZone: $0.timeZone)
                    },
                    freezes: rules.freezes.map { FreezePolicy(from: $0.from, until: $0.until, reason: $0.reason) },
                    alertGates: rules.alertGates, maxConverging: rules.maxConverging, watchSeconds: rules.watchSeconds)
            })
    }

    /// The hex SHA-256 of `text`'s UTF-8 bytes.
    public static func sha256Hex(_ text: String) -> String {
        SHA256.hash(data: Data(text.utf8)).lowercaseHex
    }

    static func releaseProblem(_ path: String, _ message: String) -> ConfigDiagnostic {
        .escaped(file: "release", line: 0, column: 0, path: path, message: message)
    }
}

/// Renders one instance's intent into its document, collecting problems.
private struct Renderer {
    let values: [String: TemplateValue]
    let instance: String
    let readFile: (String) -> String?
    var problems: [ConfigDiagnostic] = []

    mutating func text(_ text: String, _ path: String) -> JSONValue {
        do {
            return .string(try Template.render(text, with: values))
        } catch {
            problems.append(ConfigDiagnostic.escaped(file: instance, line: 0, column: 0, path: path, message: error.description))
            return .string(text)
        }
    }

    mutating func strings(_ list: [String], _ path: String) -> JSONValue {
        .array(list.enumerated().map { text($1, "\(path)[\($0)]") })
    }

    mutating func map(_ map: [String: String], _ path: String) -> JSONValue {
        .object(Dictionary(uniqueKeysWithValues: map.keys.sorted().map { ($0, text(map[$0]!, "\(path).\($0)")) }))
    }

    mutating func document(
        instance intent: ServiceInstanceIntent, application: String, service: String, runtime: RuntimeIntent,
        release: ReleaseRequest, parameters: [String: String]
    ) -> JSONValue {
        var document: [String: JSONValue] = [
            "apiVersion": .string(Compiler.documentVersion),
            "instance": .string(instance),
            "application": .string(application),
            "service": .string(service),
            "channel": .string(intent.channel),
            "runtime": .object(["name": .string(runtime.name), "type": .string(runtime.type.rawValue)]),
            "release": .object([
                "version": .string(release.version),
                "parameters": .object(parameters.mapValues(JSONValue.string)),
            ]),
            "replicas": .integer(Int64(intent.replicas)),
            "progressDeadlineSeconds": .integer(Int64(intent.progressDeadlineSeconds)),
            "autoRollback": .bool(intent.autoRollback),
            "env": map(intent.env, "env"),
            "run": run(intent.run),
        ]
        if let check = intent.healthCheck { document["healthCheck"] = healthCheck(check) }
        return .object(document)
    }

    mutating func program(_ program: ProgramIntent, _ path: String) -> JSONValue {
        .object([
            "command": text(program.command, "\(path).command"), "args": strings(program.args, "\(path).args"),
            "env": map(program.env, "\(path).env"), "timeoutSeconds": .integer(Int64(program.timeoutSeconds)),
            "workingDirectory": .string(program.workingDirectory),
            "retryableExitCodes": .array(program.retryableExitCodes.map { .integer(Int64($0)) }),
            "retry": .object([
                "attempts": .integer(Int64(program.retryAttempts)),
                "baseSeconds": .integer(Int64(program.retryBackoffSeconds)),
                "maxSeconds": .integer(Int64(program.retryMaxBackoffSeconds)),
            ]),
        ])
    }

    mutating func run(_ run: RunIntent) -> JSONValue {
        switch run {
        case .local(let command, let args, let env, let workingDirectory):
            var local: [String: JSONValue] = [
                "command": text(command, "run.local.command"), "args": strings(args, "run.local.args"),
                "env": map(env, "run.local.env"),
            ]
            if let workingDirectory { local["workingDirectory"] = text(workingDirectory, "run.local.workingDirectory") }
            return .object(["local": .object(local)])
        case .custom(let fetch, let apply):
            return .object(["custom": .object(["fetch": program(fetch, "run.custom.fetch"), "apply": program(apply, "run.custom.apply")])])
        case .kubernetes(let manifests, let namespace):
            let renderedNamespace = namespace.map { text($0, "run.kubernetes.namespace") }
            var objects: [JSONValue] = []
            for file in manifests {
                objects += kubernetesObjects(file, namespace: renderedNamespace)
            }
            var kubernetes: [String: JSONValue] = ["objects": .array(objects)]
            if let renderedNamespace { kubernetes["namespace"] = renderedNamespace }
            return .object(["kubernetes": .object(kubernetes)])
        case .ecs(let taskDefinition, let cluster, let serviceSettings):
            var ecs: [String: JSONValue] = [
                "taskDefinition": ecsTaskDefinition(taskDefinition), "service": map(serviceSettings, "run.ecs.service"),
            ]
            if let cluster { ecs["cluster"] = text(cluster, "run.ecs.cluster") }
            return .object(["ecs": .object(ecs)])
        case .simulated:
            return .object(["simulated": .object([:])])
        }
    }

    mutating func healthCheck(_ check: HealthCheckIntent) -> JSONValue {
        var probe: [String: JSONValue]
        switch check.probe {
        case .http(let path, let port):
            probe = ["http": .object(["path": text(path, "healthCheck.http.path")].merging(
                port.map { ["port": self.port($0, "healthCheck.http.port")] } ?? [:]) { $1 })]
        case .tcp(let port):
            probe = ["tcp": .object(port.map { ["port": self.port($0, "healthCheck.tcp.port")] } ?? [:])]
        case .exec(let command, let args):
            probe = ["exec": .object(["command": text(command, "healthCheck.exec.command"), "args": strings(args, "healthCheck.exec.args")])]
        }
        probe["intervalSeconds"] = .integer(Int64(check.intervalSeconds))
        probe["timeoutSeconds"] = .integer(Int64(check.timeoutSeconds))
        probe["healthyThreshold"] = .integer(Int64(check.healthyThreshold))
        probe["unhealthyThreshold"] = .integer(Int64(check.unhealthyThreshold))
        return .object(probe)
    }

    /// A probe's port, rendered (a templated port is checked here, once its value is known).
    mutating func port(_ port: String, _ path: String) -> JSONValue {
        let rendered = text(port, path)
        guard case .string(let value) = rendered, case .failure(let problem) = BoundedInput.port(value) else { return rendered }
        problems.append(.escaped(file: instance, line: 0, column: 0, path: path, message: problem.message))
        return rendered
    }

    /// The file's text with templates rendered, or nil (with a problem naming the file and line).
    mutating func renderedFile(_ file: String) -> String? {
        guard let source = readFile(file) else {
            problems.append(.escaped(file: file, line: 0, column: 0, path: "", message: "cannot read the file"))
            return nil
        }
        do {
            return try Template.render(source, with: values)
        } catch {
            // Point at the first line holding a template tag that fails on its own.
            var line = 0
            for (index, text) in source.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
            where Template.isTemplated(String(text)) {
                if (try? Template.render(String(text), with: values)) == nil { line = index + 1; break }
            }
            problems.append(.escaped(
                file: file, line: line, column: line > 0 ? 1 : 0, path: "(for \(instance))", message: error.description))
            return nil
        }
    }

    /// The manifest's documents as written, with only Keelson's labels (and the namespace, where
    /// an object has none) added.
    mutating func kubernetesObjects(_ file: String, namespace: JSONValue?) -> [JSONValue] {
        guard let text = renderedFile(file) else { return [] }
        let parsed = ConfigSource.parse(text, file: file)
        problems += parsed.diagnostics
        return parsed.documents.compactMap { document in
            guard case .object(var object) = JSONValue(yaml: document.node) else {
                problems.append(ConfigDiagnostic(
                    file: file, line: document.node.mark?.line ?? 0, column: document.node.mark?.column ?? 0, path: "",
                    message: "a Kubernetes manifest document must be a mapping"))
                return nil
            }
            guard case .object(var metadata) = object["metadata"] ?? .object([:]) else { return .object(object) }
            var labels: [String: JSONValue] = [:]
            if case .object(let existing) = metadata["labels"] ?? .object([:]) { labels = existing }
            for (key, value) in identity { labels[key] = .string(value) }
            metadata["labels"] = .object(labels)
            if let namespace, metadata["namespace"] == nil, !clusterScoped.contains(object["kind"]?.stringValue ?? "") {
                metadata["namespace"] = namespace
            }
            object["metadata"] = .object(metadata)
            return .object(object)
        }
    }

    /// The task definition as written, with Keelson's identity added to its tags.
    mutating func ecsTaskDefinition(_ file: String) -> JSONValue {
        guard let text = renderedFile(file) else { return .null }
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)), case .object(var object) = value else {
            problems.append(ConfigDiagnostic(file: file, line: 0, column: 0, path: "", message: "not a JSON object after templating"))
            return .null
        }
        var tags: [JSONValue] = []
        if case .array(let existing) = object["tags"] ?? .array([]) { tags = existing }
        for (key, value) in identity.sorted(by: { $0.key < $1.key }) {
            tags.append(.object(["key": .string(key), "value": .string(value)]))
        }
        object["tags"] = .array(tags)
        return .object(object)
    }

    /// Keelson's identifying labels/tags (valid Kubernetes label values).
    var identity: [String: String] {
        let parts = instance.split(separator: "@", maxSplits: 1)
        let names = parts[0].split(separator: "/")
        return [
            "app.kubernetes.io/managed-by": "keelson",
            "keelson.dev/application": String(names[0]),
            "keelson.dev/service": String(names[1]),
            "keelson.dev/channel": String(parts[1]),
        ]
    }

    let clusterScoped: Set<String> = [
        "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "PersistentVolume",
        "StorageClass", "PriorityClass", "IngressClass", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
    ]
}

extension JSONValue {
    /// A YAML node as JSON, keeping YAML's types: plain scalars become numbers, booleans and null
    /// where YAML reads them so; quoted scalars stay strings.
    init(yaml node: Node) {
        switch node {
        case .scalar(let scalar):
            if scalar.style != .plain { self = .string(scalar.string); return }
            if let int = node.int { self = .integer(Int64(int)) }
            else if let bool = node.bool { self = .bool(bool) }
            else if node.null != nil { self = .null }
            // Infinity and NaN have no JSON form: they stay the text they were written as.
            else if let double = node.float, double.isFinite, scalar.string.contains(where: { $0.isNumber }) { self = .number(double) }
            else { self = .string(scalar.string) }
        case .mapping(let mapping):
            var object: [String: JSONValue] = [:]
            for (key, value) in mapping { object[key.string ?? "\(key)"] = JSONValue(yaml: value) }
            self = .object(object)
        case .sequence(let sequence):
            self = .array(sequence.map(JSONValue.init(yaml:)))
        case .alias:
            self = .null
        }
    }

    var stringValue: String? {
        if case .string(let string) = self { return string }
        return nil
    }
}
