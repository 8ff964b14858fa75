import Foundation
import KeelsonCompiler
import KeelsonCore
import KeelsonStore

/// Compiles config and releases and records the outcome as events: the work behind
/// `keelson apply` and `keelson release`.
public struct DesiredStateRecorder: Sendable {
    public let store: EventStore
    public let actor: String

    public init(store: EventStore, actor: String) {
        self.store = store
        self.actor = actor
    }

    /// How an apply treats what it finds.
    public struct ApplyOptions: Sendable, Hashable {
        /// Compile and report, record nothing.
        public var dryRun = false
        /// Record the config even when it no longer declares released instances, with an
        /// `InstanceRemoved` event for each (without it, such a config is refused).
        public var prune = false
        /// Directories besides the config's own that manifests and task definitions may be read from.
        public var allowFilesFrom: [String] = []

        public init(dryRun: Bool = false, prune: Bool = false, allowFilesFrom: [String] = []) {
            self.dryRun = dryRun
            self.prune = prune
            self.allowFilesFrom = allowFilesFrom
        }
    }

    /// What an apply or a release would change (or changed).
    public struct Outcome: Sendable {
        public var configApplied: ConfigApplied?
        /// The releases requested, in the order asked.
        public var releases: [ReleaseRequested] = []
        /// The first release requested (the only one of a single release).
        public var release: ReleaseRequested? { releases.first }
        public var changes: [DesiredStateCompiled] = []
        public var previous: [String: DesiredStateRow] = [:]
        /// Applications whose channel order or rules changed (recorded as `PolicyCompiled`).
        public var policies: [PolicyCompiled] = []
        /// Released instances the config no longer declares (recorded as `InstanceRemoved` with
        /// `prune`; listed by a dry run either way).
        public var removed: [InstanceRemoved] = []
        /// The position of the last event this request recorded; 0 when it recorded none.
        public var position: Int64 = 0
    }

    public enum Failure: Error, CustomStringConvertible {
        case compile(ConfigErrors)
        case noConfig
        /// The config no longer declares these released instances, and `prune` was not given.
        case wouldOrphan([InstanceRemoved])
        /// One request names the same service twice.
        case releasedTwice(String)

        public var description: String {
            switch self {
            case .compile(let errors): errors.description
            case .releasedTwice(let service): "\(BoundedInput.quoted(service)) is named twice in one release: name each service once"
            case .noConfig: "no config has been applied to this database yet: run `keelson apply -f PATH` first"
            case .wouldOrphan(let removed):
                "the config no longer declares \(removed.count) released service instance\(removed.count == 1 ? "" : "s"): "
                    + removed.map { "\($0.instance) (\($0.version))" }.joined(separator: ", ")
                    + "; nothing was recorded. Apply with --prune (API: \"prune\": true) to record the config and remove them, "
                    + "or keep them in the config"
            }
        }
    }

    // MARK: apply

    /// Compiles the config at `path` (read from disk) and records what changes.
    public func apply(path: String, dryRun: Bool) async throws -> Outcome {
        try await apply(path: path, options: ApplyOptions(dryRun: dryRun))
    }

    /// Compiles the config at `path` (read from disk) and records what changes.
    public func apply(path: String, options: ApplyOptions) async throws -> Outcome {
        try await apply(path: path, files: DiskFiles(), options: options)
    }

    /// Compiles the config at `path` read from `files` (the disk, or files a client uploaded):
    /// it may read files inside its own directory and `options.allowFilesFrom` only.
    public func apply(path: String, files: some ConfigFiles, options: ApplyOptions) async throws -> Outcome {
        let dryRun = options.dryRun
        let loaded = ConfigSource.load(path: path, from: files, allowing: options.allowFilesFrom)
        let intent: Intent
        switch IntentParser.parse(loaded, files: files) {
        case .success(let parsed) where loaded.diagnostics.isEmpty: intent = parsed
        case .success: return try await fail(ConfigErrors(loaded.diagnostics), trigger: "apply", stream: "config", dryRun: dryRun)
        case .failure(let errors):
            return try await fail(ConfigErrors(loaded.diagnostics + errors.diagnostics), trigger: "apply", stream: "config", dryRun: dryRun)
        }
        let records = files.read.keys.sorted().map { ConfigFileRecord(path: $0, sha256: Compiler.sha256Hex(files.read[$0]!), text: files.read[$0]!) }
        let digest = "sha256:" + Compiler.sha256Hex(records.map { "\($0.path)\u{0}\($0.sha256)\n" }.joined())
        let allowed = loaded.access.directories.map { Array($0.dropFirst()) } ?? []
        let config = ConfigApplied(source: path, files: records, digest: digest, allowedFileDirectories: allowed.isEmpty ? nil : allowed)

        var outcome = Outcome()
        if try await latestConfig()?.digest != digest { outcome.configApplied = config }
        for application in intent.applications {
            let policy = Compiler.policy(application)
            if try await AppliedConfig.policy(of: application.name, in: store) != policy { outcome.policies.append(PolicyCompiled(policy: policy, configDigest: digest)) }
        }
        let current = try await currentDesiredStates()
        outcome.previous = current
        // Released instances the new config does not declare: removed loudly, or not at all.
        let declared = Set(intent.services.flatMap { service in
            service.instances.map { "\(service.application)/\(service.name)@\($0.channel)" }
        })
        outcome.removed = current.values.filter { !declared.contains($0.instance) }.sorted { $0.instance < $1.instance }
            .map { InstanceRemoved(instance: $0.instance, version: $0.version, configDigest: digest) }
        if !outcome.removed.isEmpty, !options.prune, !dryRun { throw Failure.wouldOrphan(outcome.removed) }
        // Every service with a release is recompiled against the new config.
        for service in intent.services {
            guard let release = try await latestRelease(application: service.application, service: service.name) else { continue }
            let request = ReleaseRequest(
                application: release.application, service: release.service, version: release.version,
                parameters: release.parameters)
            switch Compiler.compile(intent, release: request, readFile: { files.contents(of: $0) }) {
            case .success(let compiled):
                outcome.changes += changed(compiled, from: current, release: request, configDigest: digest)
            case .failure(let errors):
                return try await fail(errors, trigger: "apply", stream: "config", dryRun: dryRun)
            }
        }
        if !dryRun { outcome.position = try await record(outcome) }
        return outcome
    }

    // MARK: release

    public func release(_ request: ReleaseRequest, dryRun: Bool) async throws -> Outcome {
        try await release([request], dryRun: dryRun)
    }

    /// Releases several services at once (each at most once), in one transaction: the config in
    /// force is parsed once (and kept while it stays in force), each service compiled, and only
    /// its own instances' desired states read. All or nothing: when one does not compile, each
    /// that does not gets a `CompileFailed` on its service's stream and none is released.
    public func release(_ requests: [ReleaseRequest], dryRun: Bool) async throws -> Outcome {
        guard !requests.isEmpty else { return Outcome() }
        var seen = Set<String>()
        for request in requests where !seen.insert("\(request.application)/\(request.service)").inserted {
            throw Failure.releasedTwice("\(request.application)/\(request.service)")
        }
        let streams = requests.map { StreamID.service($0.application, $0.service) }
        guard let config = try await latestConfig() else { throw Failure.noConfig }
        let files = RecordedFiles(Dictionary(uniqueKeysWithValues: config.files.map { ($0.path, $0.text) }))
        let intent: Intent
        switch ParsedConfigs.shared.intent(of: config, files: files) {
        case .success(let parsed): intent = parsed
        case .failure(let errors): return try await fail(errors, trigger: "release", stream: streams[0].rawValue, dryRun: dryRun)
        }
        var outcome = Outcome()
        var failures: [(stream: StreamID, errors: ConfigErrors)] = []
        // The services' current desired states, in one read (thousands in a release of many).
        let current = try await store.desiredStates(prefixes: requests.map { "\($0.application)/\($0.service)@" })
        var previousByService: [String: [String: DesiredStateRow]] = [:]
        for row in current {
            guard let id = ServiceInstanceID(row.instance) else { continue }
            previousByService["\(id.application)/\(id.service)", default: [:]][row.instance] = row
        }
        for (request, stream) in zip(requests, streams) {
            switch Compiler.compile(intent, release: request, readFile: { files.contents(of: $0) }) {
            case .success(let compiled):
                outcome.releases.append(ReleaseRequested(
                    application: request.application, service: request.service, version: request.version,
                    parameters: request.parameters))
                let previous = previousByService["\(request.application)/\(request.service)"] ?? [:]
                outcome.previous.merge(previous) { _, new in new }
                outcome.changes += changed(compiled, from: previous, release: request, configDigest: config.digest)
            case .failure(let errors):
                failures.append((stream, errors))
            }
        }
        if !failures.isEmpty {
            let errors = ConfigErrors(failures.flatMap(\.errors.diagnostics))
            if !dryRun {
                try await store.append(try failures.map {
                    StreamAppend(stream: $0.stream, events: [try NewEvent(CompileFailed(trigger: "release", errors: $0.errors.diagnostics), actor: actor)])
                })
            }
            throw Failure.compile(errors)
        }
        if !dryRun { outcome.position = try await record(outcome) }
        return outcome
    }

    // MARK: shared

    private func changed(
        _ compiled: [CompiledDesiredState], from current: [String: DesiredStateRow], release: ReleaseRequest,
        configDigest: String
    ) -> [DesiredStateCompiled] {
        compiled.filter { current[$0.instance]?.digest != $0.digest }.map {
            DesiredStateCompiled(
                instance: $0.instance, digest: $0.digest, document: $0.document, version: release.version,
                parameters: release.parameters, configDigest: configDigest)
        }
    }

    /// One atomic append: the config or release event, every changed desired state and every
    /// removal. Answers the position of its own last event (0 when there was nothing to record),
    /// not the log's: other appends may have landed after it by the time the answer is read.
    private func record(_ outcome: Outcome) async throws -> Int64 {
        var appends: [StreamAppend] = []
        if let config = outcome.configApplied {
            appends.append(StreamAppend(stream: "config", events: [try NewEvent(config, actor: actor)]))
        }
        for policy in outcome.policies {
            appends.append(StreamAppend(stream: .application(policy.policy.application), events: [try NewEvent(policy, actor: actor)]))
        }
        for release in outcome.releases {
            appends.append(StreamAppend(
                stream: .service(release.application, release.service), events: [try NewEvent(release, actor: actor)]))
        }
        for change in outcome.changes {
            appends.append(StreamAppend(stream: StreamID("instance:\(change.instance)"), events: [try NewEvent(change, actor: actor)]))
        }
        for removal in outcome.removed {
            appends.append(StreamAppend(stream: StreamID("instance:\(removal.instance)"), events: [try NewEvent(removal, actor: actor)]))
        }
        guard !appends.isEmpty else { return 0 }
        return try await store.append(appends).map(\.positions.upperBound).max() ?? 0
    }

    private func fail(_ errors: ConfigErrors, trigger: String, stream: String, dryRun: Bool) async throws -> Outcome {
        if !dryRun {
            try await store.append(
                [try NewEvent(CompileFailed(trigger: trigger, errors: errors.diagnostics), actor: actor)], to: StreamID(stream))
        }
        throw Failure.compile(errors)
    }

    /// The config last applied to the store, parsed again from the recorded files.
    public static func appliedIntent(_ store: EventStore) async throws -> (config: ConfigApplied, intent: Intent)? {
        guard let config = try await AppliedConfig.latest(in: store) else { return nil }
        return (config, try AppliedConfig.intent(of: config))
    }

    private func latestConfig() async throws -> ConfigApplied? {
        try await AppliedConfig.latest(in: store)
    }

    private func latestRelease(application: String, service: String) async throws -> ReleaseRequested? {
        try await store.events(EventFilter(
            stream: .service(application, service), types: [ReleaseRequested.eventType], limit: 1,
            latest: true)
        ).first?.decode(ReleaseRequested.self)
    }

    private func currentDesiredStates() async throws -> [String: DesiredStateRow] {
        try await desiredStates(prefix: "")
    }

    private func desiredStates(prefix: String) async throws -> [String: DesiredStateRow] {
        Dictionary(uniqueKeysWithValues: try await store.desiredStates(prefix: prefix).map { ($0.instance, $0) })
    }
}

/// A readable diff of two compiled documents: one line per changed leaf, by JSON path.
public enum DocumentDiff {
    public static func lines(from old: String?, to new: String) -> [String] {
        let before = old.map(flatten) ?? [:]
        let after = flatten(new)
        var lines: [String] = []
        for path in Set(before.keys).union(after.keys).sorted() where before[path] != after[path] {
            switch (before[path], after[path]) {
            case (nil, let value?): lines.append("+ \(path): \(value)")
            case (let value?, nil): lines.append("- \(path): \(value)")
            case (let old?, let new?): lines.append("~ \(path): \(old) → \(new)")
            default: break
            }
        }
        return lines
    }

    public static func flatten(_ json: String) -> [String: String] {
        guard let value = try? PayloadDecoder().decode(JSONValue.self, from: json) else { return [:] }
        var leaves: [String: String] = [:]
        func walk(_ value: JSONValue, _ path: String) {
            switch value {
            case .object(let object):
                if object.isEmpty { leaves[path] = "{}" }
                for (key, child) in object { walk(child, path.isEmpty ? key : "\(path).\(key)") }
            case .array(let array):
                if array.isEmpty { leaves[path] = "[]" }
                for (index, child) in array.enumerated() { walk(child, "\(path)[\(index)]") }
            case .string(let string): leaves[path] = "\"\(string)\""
            case .integer(let integer): leaves[path] = String(integer)
            case .number(let number): leaves[path] = String(number)
            case .bool(let bool): leaves[path] = String(bool)
            case .null: leaves[path] = "null"
            }
        }
        walk(value, "")
        return leaves
    }
}
