/// What the engine decided for one instance, and the applies it asked for.

/// Where an instance stands, as the last decision put it.
public enum InstanceStatus: String, Codable, Sendable, Hashable, CaseIterable {
    /// No release yet.
    case idle
    /// A precondition holds the release back (see `Precondition`).
    case waiting
    /// An apply of the release is running or the instance is becoming healthy.
    case converging
    /// The instance runs the release, healthy.
    case converged
    /// The release failed here and could not be rolled back automatically.
    case failed
    /// Rolling back to the last good release.
    case rollingBack
    /// Back on the last good release; the failed one is marked bad.
    case rolledBack
    /// A newer release replaced the one in flight.
    case superseded
    /// The release was rejected for this channel.
    case rejected

    /// Whether the instance counts against `maxConverging` limits.
    public var isConverging: Bool { self == .converging || self == .rollingBack }
}

/// What holds a waiting release back.
public enum Precondition: String, Codable, Sendable, Hashable, CaseIterable {
    case upstream, soak, approval, window, freeze, alert, paused, concurrency
}

/// One thing a decision asks for.
public enum DecisionAction: Codable, Sendable, Hashable {
    /// Apply this release's desired state (`rollback`: the last good one, skipping soak and approval).
    case apply(version: String, digest: String, rollback: Bool)
    /// The instance runs the release healthy: its watch begins.
    case markConverged(version: String, digest: String)
    /// The release passed its watch here: it is the one to roll back to from now on.
    case markGood(version: String, digest: String)
    /// The release failed: it is not tried again until a newer one (the worker records `ReleaseMarkedBad`).
    case markBad(version: String, reason: String)
    /// After a worker restart: run the unfinished apply again with its idempotency key.
    case reissue(requestID: String)
    /// After a worker restart: give up the unfinished apply (the worker records it as failed).
    case abandon(requestID: String, reason: String)
}

/// `decide`'s answer: the status, why, what to do, and when to be asked again.
public struct Decision: Codable, Sendable, Hashable {
    public var status: InstanceStatus
    /// Set when `status` is `waiting`.
    public var waitingFor: Precondition?
    /// The release the decision is about, if any.
    public var version: String?
    /// Why, as a value (`Reason.words(at:)` says it in words). In a payload: an object (engine
    /// version 3 on), or a string (version 2 recorded words: read as `Reason.words`).
    public var reason: Reason
    public var actions: [DecisionAction]
    /// Ask again at this time (milliseconds since 1970), even if no event arrives.
    public var wakeAtMilliseconds: Int64?

    public init(
        status: InstanceStatus, waitingFor: Precondition? = nil, version: String? = nil, reason: Reason,
        actions: [DecisionAction] = [], wakeAtMilliseconds: Int64? = nil
    ) {
        self.status = status
        self.waitingFor = waitingFor
        self.version = version
        self.reason = reason
        self.actions = actions
        self.wakeAtMilliseconds = wakeAtMilliseconds
    }

    enum CodingKeys: String, CodingKey { case status, waitingFor, version, reason, actions, wakeAtMilliseconds }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        status = try container.decode(InstanceStatus.self, forKey: .status)
        waitingFor = try container.decodeIfPresent(Precondition.self, forKey: .waitingFor)
        version = try container.decodeIfPresent(String.self, forKey: .version)
        // A value first (what today's engine records), words when that is not one; when it is
        // neither, what is wrong with it as a value is what is said.
        do {
            reason = try container.decode(Reason.self, forKey: .reason)
        } catch {
            guard let words = try? container.decode(String.self, forKey: .reason) else { throw error }
            reason = .words(words)
        }
        actions = try container.decode([DecisionAction].self, forKey: .actions)
        wakeAtMilliseconds = try container.decodeIfPresent(Int64.self, forKey: .wakeAtMilliseconds)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(status, forKey: .status)
        try container.encodeIfPresent(waitingFor, forKey: .waitingFor)
        try container.encodeIfPresent(version, forKey: .version)
        if case .words(let words) = reason {
            try container.encode(words, forKey: .reason)
        } else {
            try container.encode(reason, forKey: .reason)
        }
        try container.encode(actions, forKey: .actions)
        try container.encodeIfPresent(wakeAtMilliseconds, forKey: .wakeAtMilliseconds)
    }
}

/// A decision as recorded (stream `instance:<id>`): the view's log position, `now` and the engine
/// version, so that replay can rebuild the same view and must get the same decision.
public struct DecisionMade: EventPayload, Hashable {
    public static let eventType = "DecisionMade"
    /// 1: `decision.reason` is words (engine version 2); 2: it is a `Reason` object (engine
    /// version 3 on). Both read as `Decision` (words become `Reason.words`).
    public static let schemaVersion = 2
    public var instance: ServiceInstanceID
    /// The last position folded into the view the decision was made over.
    public var viewPosition: Int64
    public var nowMilliseconds: Int64
    public var engineVersion: Int
    public var decision: Decision

    public init(instance: ServiceInstanceID, viewPosition: Int64, nowMilliseconds: Int64, engineVersion: Int, decision: Decision) {
        self.instance = instance
        self.viewPosition = viewPosition
        self.nowMilliseconds = nowMilliseconds
        self.engineVersion = engineVersion
        self.decision = decision
    }
}

/// The worker's outbox: an apply a decision asked for (stream `instance:<id>`, in the decision's
/// transaction). `requestID` is the idempotency key its `ApplyStarted`/`ApplySucceeded`/`ApplyFailed`
/// carry; a request without a result is unfinished work after a crash.
public struct ApplyRequested: EventPayload, Hashable {
    public static let eventType = "ApplyRequested"
    public var instance: ServiceInstanceID
    public var requestID: String
    public var version: String
    public var digest: String
    /// The compiled document to apply.
    public var document: String
    public var rollback: Bool

    public init(instance: ServiceInstanceID, requestID: String, version: String, digest: String, document: String, rollback: Bool) {
        self.instance = instance
        self.requestID = requestID
        self.version = version
        self.digest = digest
        self.document = document
        self.rollback = rollback
    }
}

/// A worker started (stream `worker:<name>`): applies it requested under the same name before,
/// without a result, are unfinished work of its previous run, to be re-issued or abandoned.
public struct WorkerStarted: EventPayload, Hashable {
    public static let eventType = "WorkerStarted"
    public var worker: String
    public var engineVersion: Int

    public init(worker: String, engineVersion: Int) {
        self.worker = worker
        self.engineVersion = engineVersion
    }
}

/// A worker took over the lease on an instance (stream `instance:<id>`): from a holder that let it
/// expire, or from nobody. An apply another worker requested there without a result is then
/// unfinished work, to be re-issued or abandoned by a decision.
public struct LeaseAcquired: EventPayload, Hashable {
    public static let eventType = "LeaseAcquired"
    public var instance: ServiceInstanceID
    public var worker: String
    public var previousOwner: String?

    public init(instance: ServiceInstanceID, worker: String, previousOwner: String?) {
        self.instance = instance
        self.worker = worker
        self.previousOwner = previousOwner
    }
}

/// The worker met something it could not decide about for one instance (stream `instance:<id>`):
/// a document it cannot read, a runtime it cannot build, an error while recording. The instance is
/// shown as failed with the reason; the worker goes on with the others and asks again later.
/// Not a `DecisionMade`: `decide` did not make it, so replay has nothing to compare.
public struct DecisionFailed: EventPayload, Hashable {
    public static let eventType = "DecisionFailed"
    public var instance: ServiceInstanceID
    public var nowMilliseconds: Int64
    public var reason: String

    public init(instance: ServiceInstanceID, nowMilliseconds: Int64, reason: String) {
        self.instance = instance
        self.nowMilliseconds = nowMilliseconds
        self.reason = reason
    }
}

/// The worker stopped what a removed instance ran, through its runtime's `remove` (stream
/// `instance:<id>`, after the `InstanceRemoved` it answers).
public struct InstanceRemovalFinished: EventPayload, Hashable {
    public static let eventType = "InstanceRemovalFinished"
    public var instance: ServiceInstanceID
    public var runtime: String
    public var result: ApplyResult

    public init(instance: ServiceInstanceID, runtime: String, result: ApplyResult) {
        self.instance = instance
        self.runtime = runtime
        self.result = result
    }
}
