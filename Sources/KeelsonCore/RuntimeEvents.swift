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

/// A fetch observed exactly what the `StateFetched` at `sameAs` recorded: a small event instead of
/// the whole observation, so that stable instances do not flood the log.
public struct StateUnchanged: EventPayload, Hashable {
    public static let eventType = "StateUnchanged"
    public var instance: ServiceInstanceID
    public var sameAs: Int64

    public init(instance: ServiceInstanceID, sameAs: Int64) {
        self.instance = instance
        self.sameAs = sameAs
    }
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
