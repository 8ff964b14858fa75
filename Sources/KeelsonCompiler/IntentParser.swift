import KeelsonCore
import Foundation
import Yams

/// Config documents → ``Intent``, checking every field and every reference between documents.
/// All problems of a run are returned together, sorted by file and line.
public enum IntentParser {
    public static let kinds = ["Runtime", "Application", "Service"]
    /// The most release channels an application may have (channel groups expanded).
    public static let maxChannelsPerApplication = 256
    /// The most service instances (each service times its application's channels) a config may
    /// declare: each is read and checked on its own, so this bounds the work of reading a config.
    public static let maxServiceInstances = 100_000

    /// The documents `ConfigSource.load` read, with the files they may read besides (its
    /// ``ConfigSource/Loaded/access``) — what `keelson validate` and `keelson apply` check.
    public static func parse(_ loaded: ConfigSource.Loaded, files: ConfigFiles) -> Result<Intent, ConfigErrors> {
        parse(loaded.documents, files: files, access: loaded.access)
    }

    /// - Parameters:
    ///   - files: where the manifests services name are read (the disk by default).
    ///   - access: which of those files may be read (by default any: for config from the log).
    public static func parse(
        _ documents: [ConfigDocument], files: ConfigFiles = DiskFiles(), access: FileAccess = .anywhere
    ) -> Result<Intent, ConfigErrors> {
        let sink = DiagnosticSink()
        var intent = Intent()
        var runtimeMarks: [String: (String, Mark?)] = [:]
        var applicationReaders: [(FieldReader, String)] = []
        var serviceDocuments: [(ConfigDocument, String, Mark?)] = []

        for document in documents where !ConfigSource.isForeign(document) {
            guard let reader = FieldReader(document.node, file: document.file, path: "", sink: sink) else { continue }
            guard let kind = reader.string("kind", required: true) else { continue }
            guard let name = reader.string("name", required: true) else { continue }
            guard kinds.contains(kind.value) else {
                let hint = suggestion(for: kind.value, among: kinds).map { " (did you mean '\($0)'?)" } ?? ""
                reader.report(kind.mark, "kind", "unknown kind '\(kind.value)'\(hint); expected one of \(kinds.joined(separator: ", "))")
                continue
            }
            let fields = FieldReader(document.node, file: document.file, path: "\(kind.value) \(shown(name.value)) ›", sink: sink)!
            _ = fields.node("kind")
            _ = fields.node("name")
            // A name that does not fit is reported, and the document still read for its other problems.
            let nameKind: Names.Kind = kind.value == "Runtime" ? .runtime : kind.value == "Service" ? .service : .application
            if let problem = Names.problem(name.value, kind: nameKind) { fields.report(name.mark, "name", problem) }
            switch kind.value {
            case "Runtime":
                if let previous = runtimeMarks[name.value] {
                    fields.report(name.mark, "name", "duplicate runtime '\(name.value)' (first defined at \(previous.0):\(previous.1?.line ?? 0))")
                    continue
                }
                runtimeMarks[name.value] = (document.file, name.mark)
                if let runtime = parseRuntime(name.value, fields) { intent.runtimes.append(runtime) }
            case "Service":
                serviceDocuments.append((document, name.value, name.mark))
            default:
                if let previous = applicationReaders.first(where: { $0.1 == name.value }) {
                    fields.report(name.mark, "name", "duplicate application '\(name.value)' (first defined at \(previous.0.file):\(previous.0.mark?.line ?? 0))")
                    continue
                }
                applicationReaders.append((fields, name.value))
            }
        }
        // Applications refer to runtimes, services to applications: each kind is read once the
        // kinds it refers to are known.
        var channelGroups: [String: [String: [String]]] = [:]
        for (fields, name) in applicationReaders {
            if let (application, groups) = parseApplication(name, fields, runtimes: intent.runtimes) {
                intent.applications.append(application)
                channelGroups[name] = groups
            }
        }
        var serviceNames: [String: (String, Mark?)] = [:]
        var instanceCount = 0
        for (document, name, mark) in serviceDocuments {
            if let application = serviceApplication(document, in: intent) {
                instanceCount += application.channels.count
                if instanceCount > maxServiceInstances {
                    sink.add(document.file, mark, "Service \(shown(name)) ›",
                        "the config declares more than \(maxServiceInstances) service instances (each service once per release channel of its application); Keelson reads no further")
                    break
                }
            }
            guard let service = ServiceParser.parse(
                document, name: name, sink: sink, intent: intent, channelGroups: channelGroups, files: files, access: access)
            else { continue }
            let key = "\(service.application)/\(service.name)"
            if let previous = serviceNames[key] {
                sink.add(document.file, mark, "Service \(shown(name)) › name", "duplicate service '\(key)' (first defined at \(previous.0):\(previous.1?.line ?? 0))")
                continue
            }
            serviceNames[key] = (document.file, mark)
            intent.services.append(service)
        }
        intent.services.sort { ($0.application, $0.name) < ($1.application, $1.name) }
        intent.runtimes.sort { $0.name < $1.name }
        intent.applications.sort { $0.name < $1.name }
        return sink.diagnostics.isEmpty ? .success(intent) : .failure(ConfigErrors(sink.diagnostics))
    }

    private static func parseRuntime(_ name: String, _ fields: FieldReader) -> RuntimeIntent? {
        defer { fields.finish() }
        let typeText = fields.string("type", required: true)
        let labels = fields.stringMap("labels") ?? [:]
        guard let typeText else {
            _ = fields.node("settings")
            return nil
        }
        guard let type = RuntimeIntent.Kind(rawValue: typeText.value) else {
            _ = fields.node("settings")
            let all = RuntimeIntent.Kind.allCases.map(\.rawValue)
            let hint = suggestion(for: typeText.value, among: all).map { " (did you mean '\($0)'?)" } ?? ""
            fields.report(typeText.mark, "type", "unknown runtime type '\(typeText.value)'\(hint); expected one of \(all.joined(separator: ", "))")
            return nil
        }
        let settings = fields.mapping("settings").map { parseSettings(type, $0) } ?? [:]
        return RuntimeIntent(name: name, type: type, labels: labels, settings: settings)
    }

    /// A runtime's `settings`, checked against its type and normalised to strings: durations in
    /// seconds, port ranges as `LOW-HIGH`, lists joined by commas. Documented in docs/runtimes.md.
    private static func parseSettings(_ type: RuntimeIntent.Kind, _ fields: FieldReader) -> [String: String] {
        var settings: [String: String] = [:]
        func duration(_ key: String) {
            if let value = fields.duration(key)?.value { settings[key] = "\(value)" }
        }
        func rate(_ key: String) {
            guard let text = fields.string(key) else { return }
            guard let value = Double(text.value), (0...1).contains(value) else {
                fields.report(text.mark, key, "expected a probability from 0 to 1, found \"\(text.value)\"")
                return
            }
            settings[key] = "\(value)"
        }
        // Every runtime: how often instances are fetched while converging and once stable.
        func interval(_ key: String) {
            if let value = fields.duration(key, minimum: 1)?.value { settings[key] = "\(value)" }
        }
        interval("fetchIntervalConverging")
        interval("fetchIntervalStable")
        switch type {
        case .local:
            if let directory = fields.string("stateDirectory")?.value { settings["stateDirectory"] = directory }
            if let ports = fields.string("ports") {
                let bounds = ports.value.split(separator: "-").map { Int($0.trimmingCharacters(in: .whitespaces)) }
                if bounds.count == 2, let low = bounds[0], let high = bounds[1], 1024 <= low, low <= high, high <= 65535 {
                    settings["ports"] = "\(low)-\(high)"
                } else {
                    fields.report(ports.mark, "ports", "expected a port range such as 18000-18999 (ports 1024 to 65535), found \"\(ports.value)\"")
                }
            }
            duration("stopGracePeriod")
            duration("startupGrace")
        case .simulated:
            if let seed = fields.int("seed", range: 0...Int(UInt32.max))?.value { settings["seed"] = "\(seed)" }
            duration("applyLatency")
            duration("timeToHealthy")
            rate("applyFailureRate")
            rate("applyHangRate")
            rate("fetchErrorRate")
            if let versions = fields.stringList("unhealthyVersions") {
                settings["unhealthyVersions"] = versions.map(\.value).joined(separator: ",")
            }
        case .custom:
            for key in fields.keys where !key.hasPrefix("fetchInterval") {
                _ = fields.node(key)
                fields.report(fields.markOfKey(key), key, "a custom runtime has no settings: each service names its programs under run.custom")
            }
        case .kubernetes:
            for key in ["kubeconfig", "context"] {
                if let value = fields.string(key) {
                    if value.value.isEmpty { fields.report(value.mark, key, "empty") } else { settings[key] = value.value }
                }
            }
            if let namespace = fields.string("namespace") {
                if !Names.isValid(namespace.value) {
                    fields.report(namespace.mark, "namespace", "a namespace is 1 to 63 lower-case letters, digits and '-', starting and ending with a letter or digit; found \(BoundedInput.quoted(namespace.value))")
                } else {
                    settings["namespace"] = namespace.value
                }
            }
            if let force = fields.bool("forceConflicts") { settings["forceConflicts"] = force.value ? "true" : "false" }
            duration("requestTimeout")
        case .ecs:
            // Its runtime gives these a schema; until then any string settings are kept.
            for key in fields.keys where settings[key] == nil {
                if let value = fields.string(key)?.value { settings[key] = value }
            }
        }
        fields.finish()
        return settings
    }

    /// The application, and its channel groups (group name → generated channel names).
    private static func parseApplication(
        _ name: String, _ fields: FieldReader, runtimes: [RuntimeIntent]
    ) -> (ApplicationIntent, [String: [String]])? {
        defer { fields.finish() }
        let maxConverging = fields.int("maxConverging", range: 1...10_000)?.value
        guard let items = fields.list("channels", required: true) else { return nil }
        var channels: [ParsedChannel] = []
        for (node, path) in items {
            guard let channel = FieldReader(node, file: fields.file, path: path, sink: fieldsSink(fields)) else { continue }
            channels += parseChannel(channel, runtimes: runtimes)
            if channels.count > maxChannelsPerApplication {
                fields.report(node.mark, "channels", "an application has at most \(maxChannelsPerApplication) release channels (channel groups expanded); this one has more")
                return nil
            }
        }
        // Names are unique, `after` names existing channels, and the order has no cycle.
        var seen: Set<String> = []
        for parsed in channels where !seen.insert(parsed.channel.name).inserted {
            parsed.reader.report(parsed.nameMark, "name", "duplicate release channel '\(parsed.channel.name)'")
        }
        let names = channels.map(\.channel.name)
        for parsed in channels {
            for upstream in parsed.after where !names.contains(upstream.value) {
                let hint = suggestion(for: upstream.value, among: names).map { " (did you mean '\($0)'?)" } ?? ""
                parsed.reader.report(upstream.mark, "after", "unknown release channel '\(upstream.value)'\(hint)")
            }
        }
        if let cycle = findCycle(channels.map(\.channel)) {
            fields.report(fields.mark, "channels", "release channels are ordered in a cycle: \(cycle.joined(separator: " → "))")
        }
        var groups: [String: [String]] = [:]
        for parsed in channels where parsed.group != nil { groups[parsed.group!, default: []].append(parsed.channel.name) }
        return (ApplicationIntent(name: name, channels: channels.map(\.channel), maxConverging: maxConverging), groups)
    }

    /// A channel with the places its name and its `after` entries were written.
    private struct ParsedChannel {
        var channel: ReleaseChannelIntent
        var nameMark: Mark?
        var after: [Located<String>]
        var reader: FieldReader
        /// The group name, for channels a `runtimeSelector` generated.
        var group: String?
    }

    private static func fieldsSink(_ fields: FieldReader) -> DiagnosticSink { fields.sinkForChildren }

    /// One channel, or one per matching runtime for a `runtimeSelector` group.
    private static func parseChannel(_ fields: FieldReader, runtimes: [RuntimeIntent]) -> [ParsedChannel] {
        defer { fields.finish() }
        let name = fields.string("name", required: true)
        let runtime = fields.string("runtime")
        let selector = fields.mapping("runtimeSelector")
        let afterEntries = fields.stringList("after") ?? []
        let after = afterEntries.map(\.value)
        let constants = fields.stringMap("constants") ?? [:]
        let env = fields.stringMap("env") ?? [:]
        let rules = fields.mapping("rules").map(parseRules) ?? Rules()
        guard let name else { return [] }
        if let problem = Names.problem(name.value, kind: .channel) {
            fields.report(name.mark, "name", problem)
            return []
        }

        switch (runtime, selector) {
        case (let runtime?, nil):
            guard runtimes.contains(where: { $0.name == runtime.value }) else {
                let hint = suggestion(for: runtime.value, among: runtimes.map(\.name)).map { " (did you mean '\($0)'?)" } ?? ""
                fields.report(runtime.mark, "runtime", "unknown runtime '\(runtime.value)'\(hint)")
                return []
            }
            let channel = ReleaseChannelIntent(
                name: name.value, runtime: runtime.value, after: after, constants: constants, env: env, rules: rules)
            return [ParsedChannel(channel: channel, nameMark: name.mark, after: afterEntries, reader: fields, group: nil)]
        case (nil, let selector?):
            defer { selector.finish() }
            let matchLabels = selector.stringMap("matchLabels") ?? [:]
            guard let nameLabel = selector.string("channelNameLabel", required: true) else { return [] }
            let matching = runtimes.filter { runtime in matchLabels.allSatisfy { runtime.labels[$0.key] == $0.value } }
                .sorted { $0.name < $1.name }
            if matching.isEmpty {
                selector.report(selector.mark, "matchLabels", "no runtime has the labels \(render(matchLabels))")
            }
            var generated: [ParsedChannel] = []
            for runtime in matching {
                guard let suffix = runtime.labels[nameLabel.value] else {
                    selector.report(nameLabel.mark, "channelNameLabel", "runtime '\(runtime.name)' has no label '\(nameLabel.value)'")
                    continue
                }
                // The generated name must fit the grammar too: the label value is part of it.
                let generatedName = "\(name.value)-\(suffix)"
                if let problem = Names.problem(generatedName, kind: .channel) {
                    selector.report(
                        nameLabel.mark, "channelNameLabel",
                        "runtime '\(runtime.name)' labels '\(shown(nameLabel.value))' with \(BoundedInput.quoted(suffix)), which names the release channel \(BoundedInput.quoted(generatedName)): \(problem)")
                    continue
                }
                let channel = ReleaseChannelIntent(
                    name: generatedName, runtime: runtime.name, after: after, constants: constants,
                    env: env, rules: rules)
                generated.append(ParsedChannel(
                    channel: channel, nameMark: name.mark, after: afterEntries, reader: fields, group: name.value))
            }
            return generated
        case (.some, .some):
            fields.report(fields.mark, nil, "give either 'runtime' or 'runtimeSelector', not both")
            return []
        case (nil, nil):
            fields.report(fields.mark, nil, "missing required field 'runtime' (or 'runtimeSelector')")
            return []
        }
    }

    private static func parseRules(_ fields: FieldReader) -> Rules {
        defer { fields.finish() }
        var rules = Rules()
        rules.soakSeconds = fields.duration("soak")?.value ?? 0
        rules.watchSeconds = fields.duration("watch")?.value ?? 300
        rules.maxConverging = fields.int("maxConverging", range: 1...10_000)?.value
        if let approval = fields.mapping("approval") {
            defer { approval.finish() }
            let required = approval.bool("required")?.value ?? true
            let approvers = approval.int("approvers", range: 1...100)?.value ?? 1
            rules.approvals = required ? approvers : 0
        }
        for (node, path) in fields.list("windows") ?? [] {
            guard let window = FieldReader(node, file: fields.file, path: path, sink: fields.sinkForChildren) else { continue }
            if let parsed = parseWindow(window) { rules.windows.append(parsed) }
        }
        for (node, path) in fields.list("freezes") ?? [] {
            guard let freeze = FieldReader(node, file: fields.file, path: path, sink: fields.sinkForChildren) else { continue }
            if let parsed = parseFreeze(freeze) { rules.freezes.append(parsed) }
        }
        for (node, path) in fields.list("alertGates") ?? [] {
            guard let gate = FieldReader(node, file: fields.file, path: path, sink: fields.sinkForChildren) else { continue }
            defer { gate.finish() }
            if let labels = gate.stringMap("matchLabels"), !labels.isEmpty {
                rules.alertGates.append(labels)
            } else if !gate.has("matchLabels") {
                gate.report(gate.mark, nil, "missing required field 'matchLabels'")
            }
        }
        return rules
    }

    static let weekDays = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

    private static func parseWindow(_ fields: FieldReader) -> TimeWindow? {
        defer { fields.finish() }
        let days = fields.stringList("days")
        let hours = fields.string("hours", required: true)
        let zone = fields.string("timeZone", required: true)
        var valid = true
        var dayNames: [String] = weekDays
        if let days {
            dayNames = []
            for day in days {
                let lower = day.value.lowercased()
                if weekDays.contains(lower) {
                    dayNames.append(lower)
                } else {
                    fields.report(day.mark, "days", "expected a day of the week (\(weekDays.joined(separator: ", "))), found \"\(day.value)\"")
                    valid = false
                }
            }
            dayNames = weekDays.filter(dayNames.contains)
        }
        var range: (Int, Int)?
        if let hours {
            range = parseHours(hours.value)
            if range == nil {
                fields.report(hours.mark, "hours", "expected a time range such as \"09:00-17:00\", found \"\(hours.value)\"")
            }
        }
        if let zone, TimeZone(identifier: zone.value) == nil {
            fields.report(zone.mark, "timeZone", "unknown IANA time zone \"\(zone.value)\" (e.g. Europe/Berlin, America/New_York, UTC)")
            valid = false
        }
        guard valid, let range, let zone else { return nil }
        return TimeWindow(days: dayNames, startMinute: range.0, endMinute: range.1, timeZone: zone.value)
    }

    /// `"09:00-17:00"` → minutes after midnight; the end may be `24:00`.
    static func parseHours(_ text: String) -> (Int, Int)? {
        let parts = text.split(separator: "-").map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 2, let start = minutes(parts[0]), let end = minutes(parts[1]), start < end else { return nil }
        return (start, end)
    }

    private static func minutes(_ text: String) -> Int? {
        let pieces = text.split(separator: ":")
        guard pieces.count == 2, pieces[1].count == 2, let hour = Int(pieces[0]), let minute = Int(pieces[1]),
            (0...24).contains(hour), (0..<60).contains(minute), hour * 60 + minute <= 24 * 60
        else { return nil }
        return hour * 60 + minute
    }

    private static func parseFreeze(_ fields: FieldReader) -> FreezeWindow? {
        defer { fields.finish() }
        let from = fields.string("from", required: true)
        let until = fields.string("until", required: true)
        let reason = fields.string("reason")?.value
        let formatter = ISO8601DateFormatter()
        func date(_ text: Located<String>?, _ key: String) -> Date? {
            guard let text else { return nil }
            guard let date = formatter.date(from: text.value) else {
                fields.report(text.mark, key, "expected a time such as 2026-12-20T00:00:00Z, found \"\(text.value)\"")
                return nil
            }
            return date
        }
        guard let start = date(from, "from"), let end = date(until, "until") else { return nil }
        guard start < end else {
            fields.report(until?.mark, "until", "the freeze ends before it starts")
            return nil
        }
        return FreezeWindow(
            from: Int64(clampingDouble: start.timeIntervalSince1970), until: Int64(clampingDouble: end.timeIntervalSince1970), reason: reason)
    }

    /// A cycle in the `after` graph, as channel names from a channel back to itself.
    static func findCycle(_ channels: [ReleaseChannelIntent]) -> [String]? {
        let edges = Dictionary(channels.map { ($0.name, $0.after) }, uniquingKeysWith: { first, _ in first })
        var state: [String: Int] = [:]  // 1: on the current path, 2: done
        var stack: [String] = []
        func visit(_ name: String) -> [String]? {
            if state[name] == 2 { return nil }
            if state[name] == 1 {
                let start = stack.firstIndex(of: name)!
                return Array(stack[start...]) + [name]
            }
            state[name] = 1
            stack.append(name)
            for next in (edges[name] ?? []).sorted() where edges[next] != nil {
                if let cycle = visit(next) { return cycle }
            }
            stack.removeLast()
            state[name] = 2
            return nil
        }
        for channel in channels.map(\.name).sorted() {
            if let cycle = visit(channel) { return cycle }
        }
        return nil
    }

    /// The application a `Service` document names, if it is declared (for counting its instances).
    private static func serviceApplication(_ document: ConfigDocument, in intent: Intent) -> ApplicationIntent? {
        guard case .mapping(let mapping) = document.node,
            let name = mapping.first(where: { $0.key.string == "application" })?.value.string
        else { return nil }
        return intent.applications.first { $0.name == name }
    }

    /// A name as it appears in a field path: escaped and cut (a name that does not fit is reported
    /// in words; its path must not print it raw).
    static func shown(_ name: String) -> String {
        BoundedInput.printable(name, limit: Names.maxLength)
    }

    private static func render(_ labels: [String: String]) -> String {
        "{" + labels.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + "}"
    }
}
