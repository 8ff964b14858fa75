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

    /// What an apply or a release would change (or changed).
    public struct Outcome: Sendable {
        public var configApplied: ConfigApplied?
        public var release: ReleaseRequested?
        public var changes: [DesiredStateCompiled] = []
        public var previous: [String: DesiredStateRow] = [:]
        /// Applications whose channel order or rules changed (recorded as `PolicyCompiled`).
        public var policies: [PolicyCompiled] = []
    }

    public enum Failure: Error, CustomStringConvertible {
        case compile(ConfigErrors)
        case noConfig

        public var description: String {
            switch self {
            case .compile(let errors): errors.description
            case .noConfig: "no config has been applied to this database yet: run `keelson apply -f PATH` first"
            }
        }
    }

    // MARK: apply

    /// Compiles the config at `path` (read from disk) and records what changes.
    public func apply(path: String, dryRun: Bool) async throws -> Outcome {
        try await apply(path: path, files: DiskFiles(), dryRun: dryRun)
    }

    /// Compiles the config at `path` read from `files` (the disk, or files a client uploaded).
    public func apply(path: String, files: some ConfigFiles, dryRun: Bool) async throws -> Outcome {
        let loaded = ConfigSource.load(path: path, from: files)
        let intent: Intent
        switch IntentParser.parse(loaded.documents, files: files) {
        case .success(let parsed) where loaded.diagnostics.isEmpty: intent = parsed
        case .success: return try await fail(ConfigErrors(loaded.diagnostics), trigger: "apply", stream: "config", dryRun: dryRun)
        case .failure(let errors):
            return try await fail(ConfigErrors(loaded.diagnostics + errors.diagnostics), trigger: "apply", stream: "config", dryRun: dryRun)
        }
        let records = files.read.keys.sorted().map { ConfigFileRecord(path: $0, sha256: Compiler.sha256Hex(files.read[$0]!), text: files.read[$0]!) }
        let digest = "sha256:" + Compiler.sha256Hex(records.map { "\($0.path)\u{0}\($0.sha256)\n" }.joined())
        let config = ConfigApplied(source: path, files: records, digest: digest)

        var outcome = Outcome()
        if try await latestConfig()?.digest != digest { outcome.configApplied = config }
        for application in intent.applications {
            let policy = Compiler.policy(application)
            if try await AppliedConfig.policy(of: application.name, in: store) != policy { outcome.policies.append(PolicyCompiled(policy: policy, configDigest: digest)) }
        }
        let current = try await currentDesiredStates()
        outcome.previous = current
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
        if !dryRun { try await record(outcome, releaseStream: nil) }
        return outcome
    }

    // MARK: release

    public func release(_ request: ReleaseRequest, dryRun: Bool) async throws -> Outcome {
        let stream = "service:\(request.application)/\(request.service)"
        guard let config = try await latestConfig() else { throw Failure.noConfig }
        let files = RecordedFiles(Dictionary(uniqueKeysWithValues: config.files.map { ($0.path, $0.text) }))
        let loaded = ConfigSource.load(path: config.source, from: files)
        let intent: Intent
        switch IntentParser.parse(loaded.documents, files: files) {
        case .success(let parsed): intent = parsed
        case .failure(let errors): return try await fail(errors, trigger: "release", stream: stream, dryRun: dryRun)
        }
        switch Compiler.compile(intent, release: request, readFile: { files.contents(of: $0) }) {
        case .success(let compiled):
            var outcome = Outcome()
            outcome.release = ReleaseRequested(
                application: request.application, service: request.service, version: request.version,
                parameters: request.parameters)
            outcome.previous = try await currentDesiredStates()
            outcome.changes = changed(compiled, from: outcome.previous, release: request, configDigest: config.digest)
            if !dryRun { try await record(outcome, releaseStream: stream) }
            return outcome
        case .failure(let errors):
            return try await fail(errors, trigger: "release", stream: stream, dryRun: dryRun)
        }
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

    /// One atomic append: the config or release event and every changed desired state.
    private func record(_ outcome: Outcome, releaseStream: String?) async throws {
        var appends: [StreamAppend] = []
        if let config = outcome.configApplied {
            appends.append(StreamAppend(stream: "config", events: [try NewEvent(config, actor: actor)]))
        }
        for policy in outcome.policies {
            appends.append(StreamAppend(stream: StreamID("app:\(policy.policy.application)"), events: [try NewEvent(policy, actor: actor)]))
        }
        if let release = outcome.release, let releaseStream {
            appends.append(StreamAppend(stream: StreamID(releaseStream), events: [try NewEvent(release, actor: actor)]))
        }
        for change in outcome.changes {
            appends.append(StreamAppend(stream: StreamID("instance:\(change.instance)"), events: [try NewEvent(change, actor: actor)]))
        }
        if !appends.isEmpty { try await store.append(appends) }
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
        try await store.events(EventFilter(stream: "config", types: [ConfigApplied.eventType], limit: 1, latest: true))
            .first?.decode(ConfigApplied.self)
    }

    private func latestRelease(application: String, service: String) async throws -> ReleaseRequested? {
        try await store.events(EventFilter(
            stream: StreamID("service:\(application)/\(service)"), types: [ReleaseRequested.eventType], limit: 1,
            latest: true)
        ).first?.decode(ReleaseRequested.self)
    }

    private func currentDesiredStates() async throws -> [String: DesiredStateRow] {
        Dictionary(uniqueKeysWithValues: try await store.desiredStates().map { ($0.instance, $0) })
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
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(json.utf8)) else { return [:] }
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
