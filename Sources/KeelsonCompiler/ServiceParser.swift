import KeelsonCore
import Foundation
import Yams

/// Reads `Service` documents. Each release channel of the service's application gets its own
/// instance: the document's body with `perReleaseChannel` overrides merged in (a channel group's
/// name applies to every channel it generates, an exact channel name after it), read by the same
/// code — so an override is checked exactly like the base, at its own line.
enum ServiceParser {
    /// Fields that belong to the document, not to an instance.
    static let documentFields = ["kind", "name", "application", "parameters", "perReleaseChannel"]

    static func parse(
        _ document: ConfigDocument, name: String, sink: DiagnosticSink, intent: Intent,
        channelGroups: [String: [String: [String]]], files: ConfigFiles, access: FileAccess
    ) -> ServiceIntent? {
        let prefix = "Service \(IntentParser.shown(name)) ›"
        guard let fields = FieldReader(document.node, file: document.file, path: prefix, sink: sink) else { return nil }
        _ = fields.node("kind")
        _ = fields.node("name")
        let parameters = (fields.list("parameters") ?? []).compactMap { node, path in
            FieldReader(node, file: document.file, path: path, sink: sink).flatMap(parseParameter)
        }
        var seen: Set<String> = []
        for parameter in parameters where !seen.insert(parameter.name).inserted {
            fields.report(nil, "parameters", "duplicate parameter '\(parameter.name)'")
        }
        let overrides = fields.mapping("perReleaseChannel")
        guard let applicationName = fields.string("application", required: true) else { return nil }
        guard let application = intent.applications.first(where: { $0.name == applicationName.value }) else {
            let hint = suggestion(for: applicationName.value, among: intent.applications.map(\.name))
                .map { " (did you mean '\($0)'?)" } ?? ""
            fields.report(applicationName.mark, "application", "unknown application '\(applicationName.value)'\(hint)")
            return nil
        }

        // Which override keys apply to which channel: group names first, then exact names.
        let groups = channelGroups[application.name] ?? [:]
        var overrideNodes: [String: Node] = [:]
        if let overrides {
            for key in overrides.keys {
                guard let node = overrides.node(key) else { continue }
                if application.channels.contains(where: { $0.name == key }) || groups[key] != nil {
                    // An override is merged field by field: anything but a mapping would replace
                    // the whole service.
                    guard case .mapping = node else {
                        overrides.report(node.mark, key, "expected a mapping of instance fields, found \(describe(node))")
                        continue
                    }
                    overrideNodes[key] = node
                } else {
                    let names = application.channels.map(\.name) + groups.keys.sorted()
                    let hint = suggestion(for: key, among: names).map { " (did you mean '\($0)'?)" } ?? ""
                    overrides.report(overrides.markOfKey(key), key, "unknown release channel '\(key)' of application \(application.name)\(hint)")
                }
            }
        }

        var instances: [ServiceInstanceIntent] = []
        for channel in application.channels {
            var node = document.node
            if let group = groups.first(where: { $0.value.contains(channel.name) })?.key, let override = overrideNodes[group] {
                node = merge(node, override)
            }
            if let override = overrideNodes[channel.name] { node = merge(node, override) }
            guard let runtime = intent.runtimes.first(where: { $0.name == channel.runtime }) else { continue }
            guard let body = FieldReader(node, file: document.file, path: prefix, sink: sink) else { continue }
            for field in documentFields { _ = body.node(field) }
            // Templates are checked here, per channel, against the names that channel offers;
            // release values are not known yet, so parameters stand in as placeholders.
            body.templateValues = TemplateContext.values(
                application: application, service: name, channel: channel, runtime: runtime,
                parameters: Dictionary(parameters.map { ($0.name, "") }, uniquingKeysWith: { first, _ in first }),
                version: "", replicas: 1)
            body.templateChannel = channel.name
            let place = FilePlace(configFile: document.file, files: files, access: access)
            if let instance = parseInstance(body, channel: channel, runtime: runtime, place: place) {
                instances.append(instance)
            }
            body.finish()
        }
        sink.flushTemplateProblems(channels: application.channels.count)
        return ServiceIntent(application: application.name, name: name, parameters: parameters, instances: instances)
    }

    private static func parseParameter(_ fields: FieldReader) -> ParameterIntent? {
        defer { fields.finish() }
        let name = fields.string("name", required: true)
        let typeText = fields.string("type")
        let required = fields.bool("required")?.value ?? false
        let defaultValue = fields.string("default")
        let pattern = fields.string("pattern")
        _ = fields.string("description")
        guard let name else { return nil }
        if let problem = ParameterIntent.nameProblem(name.value) {
            fields.report(name.mark, "name", problem)
            return nil
        }
        var type = ParameterIntent.Kind.string
        if let typeText {
            guard let parsed = ParameterIntent.Kind(rawValue: typeText.value) else {
                let all = ParameterIntent.Kind.allCases.map(\.rawValue)
                let hint = suggestion(for: typeText.value, among: all).map { " (did you mean '\($0)'?)" } ?? ""
                fields.report(typeText.mark, "type", "unknown parameter type '\(typeText.value)'\(hint); expected one of \(all.joined(separator: ", "))")
                return nil
            }
            type = parsed
        }
        if let pattern, (try? NSRegularExpression(pattern: pattern.value)) == nil {
            fields.report(pattern.mark, "pattern", "not a valid regular expression: \"\(pattern.value)\"")
            return nil
        }
        let parameter = ParameterIntent(
            name: name.value, type: type, required: required, defaultValue: defaultValue?.value, pattern: pattern?.value)
        if let defaultValue, let problem = ParameterCheck.problem(with: defaultValue.value, for: parameter) {
            fields.report(defaultValue.mark, "default", problem)
            return nil
        }
        return parameter
    }

    private static func parseInstance(
        _ fields: FieldReader, channel: ReleaseChannelIntent, runtime: RuntimeIntent, place: FilePlace
    ) -> ServiceInstanceIntent? {
        let replicas = fields.int("replicas", range: ServiceInstanceIntent.replicaRange)?.value ?? 1
        let deadline = fields.duration("progressDeadline", minimum: 1)?.value ?? 600
        let autoRollback = fields.bool("autoRollback")?.value ?? true
        let env = fields.stringMap("env") ?? [:]
        let healthCheck = fields.mapping("healthCheck").flatMap(parseHealthCheck)
        let runFields = fields.mapping("run", required: runtime.type != .simulated)
        var runs: [RuntimeIntent.Kind: RunIntent] = [:]
        if let runFields {
            for kind in RuntimeIntent.Kind.allCases {
                guard let entry = runFields.mapping(kind.rawValue) else { continue }
                if let run = parseRun(kind, entry, place: place) { runs[kind] = run }
            }
            runFields.finish()
        }
        let run: RunIntent
        if let found = runs[runtime.type] {
            run = found
        } else if runtime.type == .simulated {
            run = .simulated
        } else {
            if let runFields, !runFields.has(runtime.type.rawValue) {
                runFields.report(runFields.mark, nil,
                    "release channel '\(channel.name)' runs on runtime '\(runtime.name)' (type \(runtime.type.rawValue)), but there is no 'run.\(runtime.type.rawValue)'")
            }
            return nil
        }
        return ServiceInstanceIntent(
            channel: channel.name, runtime: runtime.name, run: run, replicas: replicas, healthCheck: healthCheck,
            progressDeadlineSeconds: deadline, autoRollback: autoRollback, env: channel.env.merging(env) { $1 })
    }

    private static func parseRun(_ kind: RuntimeIntent.Kind, _ fields: FieldReader, place: FilePlace) -> RunIntent? {
        let file = place.configFile
        defer { fields.finish() }
        switch kind {
        case .local:
            // Every field is read before any `guard`, so that none is mistaken for an unknown one.
            let command = fields.string("command", required: true)
            let args = (fields.stringList("args") ?? []).map(\.value)
            let env = fields.stringMap("env") ?? [:]
            let workingDirectory = ManifestFiles.directory(fields.string("workingDirectory")?.value, relativeTo: file)
            guard let command else { return nil }
            return .local(command: command.value, args: args, env: env, workingDirectory: workingDirectory)
        case .custom:
            let fetch = fields.mapping("fetch", required: true).flatMap { parseProgram($0, file: file) }
            let apply = fields.mapping("apply", required: true).flatMap { parseProgram($0, file: file) }
            guard let fetch, let apply else { return nil }
            return .custom(fetch: fetch, apply: apply)
        case .kubernetes:
            let namespace = fields.string("namespace")?.value
            guard let path = fields.string("manifests", required: true) else { return nil }
            guard let manifests = ManifestFiles.kubernetes(path.value, at: place, report: { fields.report(path.mark, "manifests", $0) })
            else { return nil }
            return .kubernetes(manifests: manifests, namespace: namespace)
        case .ecs:
            let cluster = fields.string("cluster")?.value
            let service = fields.stringMap("service") ?? [:]
            guard let path = fields.string("taskDefinition", required: true) else { return nil }
            guard let resolved = ManifestFiles.ecsTaskDefinition(path.value, at: place, report: { fields.report(path.mark, "taskDefinition", $0) })
            else { return nil }
            return .ecs(taskDefinition: resolved, cluster: cluster, service: service)
        case .simulated:
            return .simulated
        }
    }

    private static func parseProgram(_ fields: FieldReader, file: String) -> ProgramIntent? {
        defer { fields.finish() }
        let command = fields.string("command", required: true)
        let args = (fields.stringList("args") ?? []).map(\.value)
        let env = fields.stringMap("env") ?? [:]
        let timeout = fields.duration("timeout", minimum: 1)?.value ?? 60
        let workingDirectory = ManifestFiles.directory(fields.string("workingDirectory")?.value, relativeTo: file)
        var retryable: [Int] = []
        if let codes = fields.list("retryableExitCodes") {
            for (node, path) in codes {
                if let problem = YAMLTags.problem(node) {
                    fields.report(node.mark, nil, "\(path): \(problem)")
                    continue
                }
                guard case .scalar = node, let code = node.int, (1...255).contains(code) else {
                    fields.report(node.mark, nil, "\(path): an exit code is a whole number from 1 to 255, not '\(node.string ?? "a \(node)")'")
                    continue
                }
                retryable.append(code)
            }
        }
        var attempts = 3, backoff = 1, maxBackoff = 30
        if let retry = fields.mapping("retry") {
            defer { retry.finish() }
            attempts = retry.int("attempts", range: 1...100)?.value ?? attempts
            backoff = retry.duration("backoff")?.value ?? backoff
            maxBackoff = retry.duration("maxBackoff")?.value ?? max(maxBackoff, backoff)
        }
        guard let command else { return nil }
        // A relative path to a program is relative to the config file, like manifests.
        let resolved = command.value.contains("/") && !command.value.hasPrefix("/") && !Template.isTemplated(command.value)
            ? ManifestFiles.resolve(command.value, relativeTo: file) : command.value
        return ProgramIntent(
            command: resolved, args: args, env: env, timeoutSeconds: timeout, workingDirectory: workingDirectory,
            retryableExitCodes: retryable, retryAttempts: attempts, retryBackoffSeconds: backoff,
            retryMaxBackoffSeconds: maxBackoff)
    }

    private static func parseHealthCheck(_ fields: FieldReader) -> HealthCheckIntent? {
        defer { fields.finish() }
        let interval = fields.duration("interval", minimum: 1)?.value ?? 5
        let timeout = fields.duration("timeout", minimum: 1)?.value ?? 2
        let healthy = fields.int("healthyThreshold", range: 1...100)?.value ?? 1
        let unhealthy = fields.int("unhealthyThreshold", range: 1...100)?.value ?? 3
        var probes: [HealthCheckIntent.Probe] = []
        if let http = fields.mapping("http") {
            defer { http.finish() }
            let path = http.string("path", required: true)
            let port = checkedPort(http)
            if let path { probes.append(.http(path: path.value, port: port)) }
        }
        if let tcp = fields.mapping("tcp") {
            defer { tcp.finish() }
            probes.append(.tcp(port: checkedPort(tcp)))
        }
        if let exec = fields.mapping("exec") {
            defer { exec.finish() }
            let command = exec.string("command", required: true)
            let args = (exec.stringList("args") ?? []).map(\.value)
            if let command { probes.append(.exec(command: command.value, args: args)) }
        }
        guard probes.count == 1 else {
            fields.report(fields.mark, nil, probes.isEmpty
                ? "a health check needs one of 'http', 'tcp' or 'exec'" : "a health check takes only one of 'http', 'tcp' or 'exec'")
            return nil
        }
        return HealthCheckIntent(
            probe: probes[0], intervalSeconds: interval, timeoutSeconds: timeout, healthyThreshold: healthy,
            unhealthyThreshold: unhealthy)
    }

    /// A probe's port: 1 to 65535, checked here unless it is a template (then the compiler checks
    /// the rendered value, per instance).
    private static func checkedPort(_ fields: FieldReader) -> String? {
        guard let port = fields.string("port") else { return nil }
        if Template.isTemplated(port.value) { return port.value }
        switch BoundedInput.port(port.value) {
        case .success(let number): return String(number)
        case .failure(let problem):
            fields.report(port.mark, "port", problem.message)
            return nil
        }
    }

    /// `override` laid over `base`: mappings merge key by key (recursively), anything else replaces.
    static func merge(_ base: Node, _ override: Node) -> Node {
        guard case .mapping(let baseMapping) = base, case .mapping(let overrideMapping) = override else { return override }
        // By key, once: a linear merge, however many fields either side has.
        var replacements: [String: (key: Node, value: Node)] = [:]
        for (key, value) in overrideMapping where replacements[key.string ?? ""] == nil { replacements[key.string ?? ""] = (key, value) }
        var pairs: [(Node, Node)] = []
        var overridden: Set<String> = []
        for (key, value) in baseMapping {
            if let replacement = replacements[key.string ?? ""] {
                pairs.append((replacement.key, merge(value, replacement.value)))
                overridden.insert(key.string ?? "")
            } else {
                pairs.append((key, value))
            }
        }
        for (key, value) in overrideMapping where !overridden.contains(key.string ?? "") {
            pairs.append((key, value))
        }
        return .mapping(Node.Mapping(pairs, baseMapping.tag, baseMapping.style, baseMapping.mark))
    }
}

/// Checks a parameter value against its type and pattern.
public enum ParameterCheck {
    /// A message saying what is wrong with `value`, or `nil` when it is acceptable.
    public static func problem(with value: String, for parameter: ParameterIntent) -> String? {
        switch parameter.type {
        case .string: break
        case .int:
            if Int(value) == nil { return "expected a whole number for parameter '\(parameter.name)', found \"\(value)\"" }
        case .bool:
            if !["true", "false"].contains(value) { return "expected true or false for parameter '\(parameter.name)', found \"\(value)\"" }
        case .duration:
            if DurationText.seconds(value) == nil { return "expected a duration for parameter '\(parameter.name)', found \"\(value)\"" }
        case .image:
            if value.isEmpty || value.contains(where: \.isWhitespace) || value.hasPrefix(":") || value.hasSuffix(":") {
                return "expected a container image reference (e.g. registry.example.com/shop/web:1.4.2) for parameter '\(parameter.name)', found \"\(value)\""
            }
        }
        if let pattern = parameter.pattern, let regex = try? NSRegularExpression(pattern: "^(?:\(pattern))$"),
            regex.firstMatch(in: value, range: NSRange(value.startIndex..., in: value)) == nil
        {
            return "parameter '\(parameter.name)' must match /\(pattern)/, found \"\(value)\""
        }
        return nil
    }
}
