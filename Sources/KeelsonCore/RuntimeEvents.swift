/// A fetch observed an instance, and the observation differs from the previous one
/// (stream `instance:<id>`).
public struct StateFetched: EventPayload, Hashable {
    public static let eventType = "StateFetched"
    public var instance: ServiceInstanceID
    public var runtime: String
    public var observation: Observation
    /// `sha256:` of the observation's canonical JSON.
    public var digest: String

    public init(instance: ServiceInstanceID, runtime: String, observation: Observation, digest: String) {
        self.instance = instance
        self.runtime = runtime
        self.observation = observation
        self.digest = digest
    }
}

/// Fetches observed exactly what the `StateFetched` at `sameAs` recorded: a small event instead of
/// the whole observation, so that stable instances do not flood the log.
///
/// Version 1 records one fetch, at the event's time. Version 2 may record a *run* of them: the
/// worker holds back unchanged fetches of a settled instance (ones after which `decide` would
/// answer exactly as before) and records them together — `fetches` of them, the first at
/// `firstMilliseconds` — when the run closes, before the worker's next event for the instance, or
/// when it stops. `lastMilliseconds` is set when the run's last fetch came before the event was
/// written (nil: the last fetch is the event itself, at its recorded time). A version 1 payload
/// reads as one fetch.
public struct StateUnchanged: EventPayload, Hashable {
    public static let eventType = "StateUnchanged"
    public static let schemaVersion = 2
    public var instance: ServiceInstanceID
    public var sameAs: Int64
    /// How many fetches this records (nil: one).
    public var fetches: Int?
    /// When the first of them ran (nil: one fetch).
    public var firstMilliseconds: Int64?
    /// When the last of them ran, if before the event was written.
    public var lastMilliseconds: Int64?

    public init(instance: ServiceInstanceID, sameAs: Int64, fetches: Int? = nil, firstMilliseconds: Int64? = nil, lastMilliseconds: Int64? = nil) {
        self.instance = instance
        self.sameAs = sameAs
        self.fetches = fetches
        self.firstMilliseconds = firstMilliseconds
        self.lastMilliseconds = lastMilliseconds
    }

    /// How many fetches it records: at least one.
    public var count: Int { max(1, fetches ?? 1) }
}

/// A fetch could not observe the instance.
public struct FetchFailed: EventPayload, Hashable {
    public static let eventType = "FetchFailed"
    public var instance: ServiceInstanceID
    public var runtime: String
    public var error: String

    public init(instance: ServiceInstanceID, runtime: String, error: String) {
        self.instance = instance
        self.runtime = runtime
        self.error = error
    }
}

/// An apply of a desired state began.
public struct ApplyStarted: EventPayload, Hashable {
    public static let eventType = "ApplyStarted"
    public var instance: ServiceInstanceID
    public var runtime: String
    public var digest: String
    public var version: String
    public var idempotencyKey: String

    public init(instance: ServiceInstanceID, runtime: String, digest: String, version: String, idempotencyKey: String) {
        self.instance = instance
        self.runtime = runtime
        self.digest = digest
        self.version = version
        self.idempotencyKey = idempotencyKey
    }
}

/// An apply ended (`ApplySucceeded` or `ApplyFailed`, the same payload).
public struct ApplyFinished: Codable, Sendable, Hashable {
    public var instance: ServiceInstanceID
    public var runtime: String
    public var digest: String
    public var idempotencyKey: String
    public var result: ApplyResult

    public init(instance: ServiceInstanceID, runtime: String, digest: String, idempotencyKey: String, result: ApplyResult) {
        self.instance = instance
        self.runtime = runtime
        self.digest = digest
        self.idempotencyKey = idempotencyKey
        self.result = result
    }

    public static let succeededType = "ApplySucceeded"
    public static let failedType = "ApplyFailed"
}
