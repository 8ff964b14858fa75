import Foundation
import KeelsonCore

// The types of Keelson's API: what the server sends and receives as JSON, and what the CLI prints
// with `-o json` — the same types whether the CLI talks to a server or opens the database itself.

/// An error as the API reports it: an HTTP status, a stable code for scripts, a message for people,
/// and, for a config that does not compile, every problem at file:line:column.
public struct APIError: Error, Codable, Sendable, Hashable, CustomStringConvertible {
    public var status: Int
    public var code: String
    public var message: String
    public var diagnostics: [ConfigDiagnostic]?

    public init(status: Int, code: String, message: String, diagnostics: [ConfigDiagnostic]? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.diagnostics = diagnostics
    }

    public var description: String {
        guard let diagnostics, !diagnostics.isEmpty else { return message }
        return message + "\n" + diagnostics.map { "  \($0)" }.joined(separator: "\n")
    }

    public static func badRequest(_ message: String) -> APIError { APIError(status: 400, code: "bad_request", message: message) }
    public static func notFound(_ message: String) -> APIError { APIError(status: 404, code: "not_found", message: message) }
    public static func conflict(_ message: String) -> APIError { APIError(status: 409, code: "conflict", message: message) }
    public static func unauthorized(_ message: String) -> APIError { APIError(status: 401, code: "unauthorized", message: message) }
    public static func forbidden(_ message: String) -> APIError { APIError(status: 403, code: "forbidden", message: message) }
    public static func tooLarge(_ limit: Int) -> APIError {
        APIError(status: 413, code: "payload_too_large", message: "the request body is larger than the server's limit of \(limit) bytes (keelson serve --max-body)")
    }
    /// A config (or a release) that does not compile. `recorded`: whether the failure was
    /// recorded as a `CompileFailed` event (a dry run records nothing).
    public static func invalidConfig(_ errors: ConfigErrors, recorded: Bool) -> APIError {
        let count = errors.diagnostics.count
        let record = recorded ? "the failure is recorded as a CompileFailed event" : "a dry run: nothing was recorded"
        return APIError(
            status: 422, code: "config_invalid",
            message: "\(count) problem\(count == 1 ? "" : "s") in the config; no desired state changed (\(record))",
            diagnostics: errors.diagnostics)
    }

    /// A config that no longer declares released instances, applied without `prune`: 409, with one
    /// diagnostic per instance it would orphan.
    public static func wouldOrphan(_ instances: [(instance: String, version: String)], source: String) -> APIError {
        let count = instances.count
        return APIError(
            status: 409, code: "config_orphans_instances",
            message: "the config no longer declares \(count) released service instance\(count == 1 ? "" : "s"); nothing was recorded. "
                + "Apply it with --prune (API: \"prune\": true) to record it and remove \(count == 1 ? "that instance" : "them"), "
                + "or keep \(count == 1 ? "it" : "them") in the config",
            diagnostics: instances.map {
                ConfigDiagnostic(file: source, line: 0, column: 0, path: $0.instance, message: "released (\($0.version)), but no longer declared by the config")
            })
    }
}

/// The body of every error response: `{"error": {...}}`.
public struct APIErrorBody: Codable, Sendable {
    public var error: APIError
    public init(error: APIError) { self.error = error }
}

// MARK: config and releases

/// One config file as the client read it.
public struct ConfigFileUpload: Codable, Sendable, Hashable {
    public var path: String
    public var text: String
    public init(path: String, text: String) {
        self.path = path
        self.text = text
    }
}

/// `POST /api/v1/config`: the files under `source` (a file or a folder), as the client read them.
public struct ApplyConfigRequest: Codable, Sendable {
    public var source: String
    public var files: [ConfigFileUpload]
    public var dryRun: Bool?
    /// Record the config even when it no longer declares released instances, removing them
    /// (`InstanceRemoved`); without it such a config is refused (409).
    public var prune: Bool?
    /// Directories (on the client, like `source`) besides the config's own that manifests and
    /// task definitions may come from (`keelson apply --allow-files-from`).
    public var allowFilesFrom: [String]?

    public init(source: String, files: [ConfigFileUpload], dryRun: Bool = false, prune: Bool = false, allowFilesFrom: [String] = []) {
        self.source = source
        self.files = files
        self.dryRun = dryRun
        self.prune = prune
        self.allowFilesFrom = allowFilesFrom
    }
}

/// `POST /api/v1/releases`.
public struct ReleaseBody: Codable, Sendable {
    /// One release: a service — or, without `service`, every service of the application — at
    /// `version`, with `parameters`.
    public var application: String?
    public var service: String?
    public var version: String?
    public var parameters: [String: String]?
    /// Several releases in one transaction, instead of the four fields above.
    public var releases: [ReleaseItem]?
    public var dryRun: Bool?

    /// At most this many releases in one request.
    public static let maxReleases = 10_000

    public init(application: String, service: String?, version: String, parameters: [String: String] = [:], dryRun: Bool = false) {
        self.application = application
        self.service = service
        self.version = version
        self.parameters = parameters
        self.dryRun = dryRun
    }

    public init(releases: [ReleaseItem], dryRun: Bool = false) {
        self.releases = releases
        self.dryRun = dryRun
    }

    /// The releases asked for, in order; or what is wrong with the body's shape (the field, and why).
    public func items() -> Result<[ReleaseItem], InputProblem> {
        if let releases {
            if application != nil || service != nil || version != nil || parameters != nil {
                return .failure(InputProblem("releases: give either releases or application, service, version and parameters, not both"))
            }
            if releases.isEmpty { return .failure(InputProblem("releases: lists no release")) }
            if releases.count > Self.maxReleases {
                return .failure(InputProblem("releases: lists \(releases.count) releases; at most \(Self.maxReleases) fit in one request"))
            }
            return .success(releases)
        }
        guard let application else { return .failure(InputProblem("application: required, missing")) }
        guard let version else { return .failure(InputProblem("version: required, missing")) }
        return .success([ReleaseItem(application: application, service: service, version: version, parameters: parameters ?? [:])])
    }
}

/// One release of a list (`ReleaseBody.releases`).
public struct ReleaseItem: Codable, Sendable, Hashable {
    public var application: String
    /// nil: every service of the application.
    public var service: String?
    public var version: String
    public var parameters: [String: String]?

    public init(application: String, service: String?, version: String, parameters: [String: String] = [:]) {
        self.application = application
        self.service = service
        self.version = version
        self.parameters = parameters
    }
}

/// What an apply or a release changed (or, with dryRun, would change), per instance.
public struct ChangeReport: Codable, Sendable {
    public struct Change: Codable, Sendable {
        public var instance: String
        public var digest: String
        public var previousDigest: String?
        public var version: String
        public var diff: [String]
    }

    public var recorded: Bool
    public var summary: String
    /// Applications whose release policy (channel order, rules) changed, as "shop (staging → canary → prod)".
    public var policies: [String]
    public var changes: [Change]
    /// Released instances the config no longer declares: removed (`InstanceRemoved`) by an apply
    /// with prune; a dry run lists those an apply would remove.
    public var removed: [String]
    /// The position of this request's own last event (0 when it recorded none, as a dry run):
    /// `--wait` follows decisions after it.
    public var position: Int64
}

// MARK: status, explain, timeline, events

/// One instance in `status`.
public struct InstanceStatusEntry: Codable, Sendable, Hashable {
    public var instance: String
    public var channel: String
    public var desired: String?
    public var target: String?
    public var targetIsRollback: Bool
    public var current: [String]
    public var status: String
    public var waitingFor: String?
    public var reason: String
    public var since: String?
    public var lastGood: String?
    /// The release the last decision was about, and that decision's position.
    public var decisionVersion: String?
    public var decisionPosition: Int64
}

public struct StatusResponse: Codable, Sendable {
    public var instances: [InstanceStatusEntry]
    /// The log position the answer reflects.
    public var position: Int64
    /// Each application's release channels in promotion order (from its last `PolicyCompiled`).
    public var channels: [String: [String]]?
    /// Each application's promotion graph: for each release channel, the channels it follows
    /// (its `after:`; empty for a first channel).
    public var promotions: [String: [String: [String]]]?
    /// With a `limit`: the instance to ask for the next page after (`after=`); nil on the last page.
    public var next: String?
}

/// Which instances `status` lists, beyond its scope.
public struct StatusFilter: Sendable, Hashable {
    /// Only instances with one of these statuses (`InstanceStatus` values, or `removed`); empty: all.
    public var statuses: Set<String> = []
    /// Only instances of this release channel.
    public var channel: String?
    /// At most this many instances (1 to 10,000), in instance order; nil: all.
    public var limit: Int?
    /// Only instances after this one, in instance order (the `next` of the page before).
    public var after: String?

    public init(statuses: Set<String> = [], channel: String? = nil, limit: Int? = nil, after: String? = nil) {
        self.statuses = statuses
        self.channel = channel
        self.limit = limit
        self.after = after
    }

    /// The values `statuses` accepts.
    public static let statusNames = InstanceStatus.allCases.map(\.rawValue) + [InstanceStatusProjection.removed]

    /// One status name, checked (the CLI's `--status` and the API's `status=` both read it here).
    public static func status(_ text: String) -> Result<String, InputProblem> {
        statusNames.contains(text)
            ? .success(text)
            : .failure(InputProblem("unknown status \(BoundedInput.quoted(text)); known: \(statusNames.joined(separator: ", "))"))
    }
}

/// An event as the API shows it: the envelope, with the payload as JSON (not a string).
public struct APIEvent: Codable, Sendable, Hashable {
    public var position: Int64
    public var stream: String
    public var version: Int64
    public var type: String
    public var schemaVersion: Int
    public var payload: JSONValue
    public var recordedAt: String
    public var recordedAtMilliseconds: Int64
    public var actor: String?
    public var correlationID: String?
    public var causationPosition: Int64?

    public init(_ event: RecordedEvent) {
        position = event.position
        stream = event.streamID.rawValue
        version = event.version
        type = event.type
        schemaVersion = event.schemaVersion
        payload = (try? event.decodePayload(as: JSONValue.self)) ?? .string(event.payload)
        recordedAt = Text.time(event.recordedAtMilliseconds)
        recordedAtMilliseconds = event.recordedAtMilliseconds
        actor = event.actor
        correlationID = event.correlationID
        causationPosition = event.causationPosition
    }
}

public struct EventsResponse: Codable, Sendable {
    public var events: [APIEvent]
    /// Pass as `after` for the next page; nil when this page was the last.
    public var next: Int64?
}

/// `GET /api/v1/events` filters.
public struct EventsQuery: Sendable, Hashable {
    /// Events after this position.
    public var after: Int64 = 0
    /// Events up to this position (inclusive).
    public var to: Int64?
    /// Events recorded at or after this time.
    public var since: Date?
    /// Events recorded before this time.
    public var until: Date?
    public var stream: String?
    public var types: [String] = []
    public var limit = 1000
    /// The latest `limit` events (oldest first) instead of the first after `after`.
    public var latest = false
    public init() {}
}

public struct TimelinePage: Codable, Sendable {
    public var entries: [TimelineEntry]
    /// The cursor for the next (older) page: pass it as `before`. nil when this page was the last.
    public var next: Int64?
}

/// `explain`: the last decision about an instance at a point of the log, the view it was made
/// over, and the instance's events that led to it.
public struct Explanation: Codable, Sendable {
    public var instance: String
    public var decisionPosition: Int64
    public var viewPosition: Int64
    public var now: String
    public var engineVersion: Int
    public var decision: Decision
    /// The decision's reason in words, as of the decision.
    public var reason: String
    public var view: InstanceRecord
    public var events: [APIEvent]
    /// How many earlier events that led to it are not listed (nil: none).
    public var earlierEvents: Int?
}

/// One instance's desired state (`GET /api/v1/desired`): what was compiled for it.
public struct DesiredStateEntry: Codable, Sendable, Hashable {
    public var instance: String
    public var digest: String
    public var version: String
    /// The release's parameters.
    public var parameters: JSONValue
    /// The position of the `DesiredStateCompiled` event, and when it was recorded.
    public var position: Int64
    public var configDigest: String
    public var recordedAt: String
    /// The compiled document the runtime is given.
    public var document: JSONValue
}

public struct DesiredStatesResponse: Codable, Sendable {
    public var instances: [DesiredStateEntry]
    /// The log position the answer reflects.
    public var position: Int64
}

/// One instance's latest observation (`GET /api/v1/current`): what its runtime last reported.
public struct CurrentStateEntry: Codable, Sendable, Hashable {
    public var instance: String
    public var runtime: String
    public var healthy: Bool
    /// The versions running, sorted.
    public var versions: [String]
    public var observation: Observation
    /// The `StateFetched` event that recorded the observation.
    public var fetchedPosition: Int64
    /// The last fetch that saw it (an unchanged fetch is recorded compactly), and when.
    public var lastSeenPosition: Int64
    public var lastSeenAt: String
}

public struct CurrentStatesResponse: Codable, Sendable {
    public var instances: [CurrentStateEntry]
    /// The log position the answer reflects.
    public var position: Int64
}

/// `POST /api/v1/fetches`: fetch every instance under `scope` now.
public struct FetchBody: Codable, Sendable {
    /// APPLICATION, APPLICATION/SERVICE or APPLICATION/SERVICE@CHANNEL.
    public var scope: String
    public init(scope: String) { self.scope = scope }
}

/// `POST /api/v1/fetches`: what fetching each instance found (every fetch is recorded).
public struct FetchReport: Codable, Sendable {
    public struct Instance: Codable, Sendable, Hashable {
        public var instance: String
        /// nil when the instance's runtime could not be told.
        public var runtime: String?
        /// nil when the fetch failed.
        public var healthy: Bool?
        public var error: String?
    }

    public var instances: [Instance]
    /// The log position after the fetches were recorded.
    public var position: Int64
}

/// `GET /api/v1/instances/{app}/{service}/{channel}`.
public struct InstanceDetail: Codable, Sendable {
    public var status: InstanceStatusEntry?
    public var explanation: Explanation?
}

// MARK: signals

public struct SignalResult: Codable, Sendable {
    /// What was recorded, for people.
    public var message: String
    /// The event's position in the log.
    public var position: Int64

    public init(message: String, position: Int64) {
        self.message = message
        self.position = position
    }
}

public struct ApproveBody: Codable, Sendable {
    public var release: String?
    public var comment: String?
    public init(release: String? = nil, comment: String? = nil) { self.release = release; self.comment = comment }
}

public struct ReasonBody: Codable, Sendable {
    public var release: String?
    public var reason: String?
    public init(release: String? = nil, reason: String? = nil) { self.release = release; self.reason = reason }
}

public struct ScopeBody: Codable, Sendable {
    public var scope: String
    public var reason: String?
    public init(scope: String, reason: String? = nil) { self.scope = scope; self.reason = reason }
}

public struct AlertBody: Codable, Sendable {
    public var name: String
    public var labels: [String: String]?
    /// true: fired; false: resolved.
    public var firing: Bool
    public init(name: String, labels: [String: String], firing: Bool) { self.name = name; self.labels = labels; self.firing = firing }
}

/// Prometheus Alertmanager's webhook payload, version 4: every field its documentation lists
/// (Keelson reads `version`, `groupKey` and each alert's `status`, `labels`, `startsAt`, `endsAt`
/// and `fingerprint`; the body decoder refuses fields it does not know, so the others are named).
public struct AlertmanagerWebhook: Codable, Sendable {
    public struct Alert: Codable, Sendable {
        public var status: String
        public var labels: [String: String]
        public var annotations: [String: String]?
        /// RFC 3339; Alertmanager repeats it unchanged while the alert keeps firing.
        public var startsAt: String?
        /// RFC 3339; `0001-01-01T00:00:00Z` (Go's zero time) while the alert fires.
        public var endsAt: String?
        public var generatorURL: String?
        public var fingerprint: String?
    }

    public var version: String
    public var groupKey: String?
    public var truncatedAlerts: Int?
    public var status: String
    public var receiver: String?
    public var groupLabels: [String: String]?
    public var commonLabels: [String: String]?
    public var commonAnnotations: [String: String]?
    public var externalURL: String?
    public var alerts: [Alert]
}

public struct AlertmanagerResult: Codable, Sendable {
    /// The alerts that started firing, as `name{label="value",…}`.
    public var fired: [String]
    public var resolved: [String]
    /// Alerts the notification repeated: already firing since the same `startsAt`, or resolved
    /// and not firing. Nothing was appended for them.
    public var unchanged: [String]
    /// The position of the last event appended (the log's last position when none was).
    public var position: Int64
}

// MARK: runtimes

/// A runtime of the applied config (`GET /api/v1/runtimes`).
public struct RuntimeInfo: Codable, Sendable, Hashable {
    public var name: String
    public var type: String
    public var labels: [String: String]
    public var settings: [String: String]
    /// The instances that run there.
    public var instances: [String]
}

/// A runtime's preflight (`POST /api/v1/runtimes/{name}/check`).
public struct RuntimeCheckReport: Codable, Sendable, Hashable {
    public struct Check: Codable, Sendable, Hashable {
        public var name: String
        public var passed: Bool
        public var detail: String
    }

    public var runtime: String
    public var type: String
    public var usable: Bool
    public var checks: [Check]
}

// MARK: tokens

public enum Role: String, Codable, Sendable, CaseIterable, Comparable {
    case viewer, deployer, admin

    var rank: Int { Role.allCases.firstIndex(of: self) ?? 0 }
    public static func < (lhs: Role, rhs: Role) -> Bool { lhs.rank < rhs.rank }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let role = Role(rawValue: text) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "expected viewer, deployer or admin, found \(BoundedInput.quoted(text))")
        }
        self = role
    }
}

public struct TokenCreateBody: Codable, Sendable {
    public var name: String
    public var role: Role
    public init(name: String, role: Role) { self.name = name; self.role = role }
}

public struct TokenInfo: Codable, Sendable, Hashable {
    public var name: String
    public var role: String
    public var hint: String
    public var createdAt: String
    public var createdBy: String
    public var lastUsedAt: String?
    public var revokedAt: String?
}

/// A new token: the only time its text is shown.
public struct CreatedToken: Codable, Sendable {
    public var token: String
    public var info: TokenInfo
}

/// Who is calling: the token's name and role.
public struct Identity: Codable, Sendable, Hashable {
    public var name: String
    public var role: Role
    public var actor: String { "token:\(name)" }
    public init(name: String, role: Role) { self.name = name; self.role = role }
}
