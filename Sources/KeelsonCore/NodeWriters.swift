/// Hand-written JSON trees for the payloads the engine writes most (decisions, apply requests,
/// leases): `CanonicalJSON` writes them without going through `Encodable`, whose generic
/// machinery cost more than half of encoding a decision. The counterpart of `NodeReaders.swift`.
///
/// A writer gives exactly the tree the type's `Encodable` conformance gives (absent optionals left
/// out, enum cases as `{"case": {labels…}}`), or gives up (nil) for a shape it does not know, and
/// the value is then encoded through `Encodable`. `NodeWriterTests` compares both for every case.
protocol JSONWritable: Encodable {
    /// The value's JSON tree, or nil when it is not written by hand.
    var writtenJSON: JSONValue? { get }
}

/// `{"name": {labels…}}`: how `Encodable` writes an enum case with associated values.
private func enumCase(_ name: String, _ values: [String: JSONValue] = [:]) -> JSONValue {
    .object([name: .object(values)])
}

private func integer(_ value: Int) -> JSONValue { .integer(Int64(value)) }

extension [String: JSONValue] {
    /// Sets `key` when `value` is present (`encodeIfPresent`).
    fileprivate mutating func setIfPresent(_ key: String, _ value: String?) {
        if let value { self[key] = .string(value) }
    }

    fileprivate mutating func setIfPresent(_ key: String, _ value: Int64?) {
        if let value { self[key] = .integer(value) }
    }
}

extension DecisionMade: JSONWritable {
    var writtenJSON: JSONValue? {
        guard let decision = decision.writtenJSON else { return nil }
        return .object([
            "instance": .string(instance.description), "viewPosition": .integer(viewPosition),
            "nowMilliseconds": .integer(nowMilliseconds), "engineVersion": integer(engineVersion), "decision": decision,
        ])
    }
}

extension Decision: JSONWritable {
    var writtenJSON: JSONValue? {
        let reasonJSON: JSONValue
        if case .words(let words) = reason {
            reasonJSON = .string(words)
        } else {
            guard let written = reason.writtenJSON else { return nil }
            reasonJSON = written
        }
        var object: [String: JSONValue] = [
            "status": .string(status.rawValue), "reason": reasonJSON, "actions": .array(actions.map(\.json)),
        ]
        object.setIfPresent("waitingFor", waitingFor?.rawValue)
        object.setIfPresent("version", version)
        object.setIfPresent("wakeAtMilliseconds", wakeAtMilliseconds)
        return .object(object)
    }
}

extension DecisionAction {
    /// Every case is written by hand.
    var json: JSONValue {
        switch self {
        case .apply(let version, let digest, let rollback):
            enumCase("apply", ["version": .string(version), "digest": .string(digest), "rollback": .bool(rollback)])
        case .markConverged(let version, let digest):
            enumCase("markConverged", ["version": .string(version), "digest": .string(digest)])
        case .markGood(let version, let digest):
            enumCase("markGood", ["version": .string(version), "digest": .string(digest)])
        case .markBad(let version, let reason):
            enumCase("markBad", ["version": .string(version), "reason": .string(reason)])
        case .reissue(let requestID):
            enumCase("reissue", ["requestID": .string(requestID)])
        case .abandon(let requestID, let reason):
            enumCase("abandon", ["requestID": .string(requestID), "reason": .string(reason)])
        }
    }
}

/// The reasons a settled or rolling fleet gives most (those `NodeReaders` reads by hand).
extension Reason: JSONWritable {
    var writtenJSON: JSONValue? {
        switch self {
        case .noRelease:
            return enumCase("noRelease")
        case .applyRunning(let version, let rollback, let since):
            return enumCase("applyRunning", ["version": .string(version), "rollback": .bool(rollback), "sinceMilliseconds": .integer(since)])
        case .converged(let version, let ready, let desired, let rolledBack):
            return enumCase("converged", [
                "version": .string(version), "ready": integer(ready), "desired": integer(desired), "rolledBack": .bool(rolledBack),
            ])
        case .waitingHealthy(let version, let health, let deadline):
            return enumCase("waitingHealthy", [
                "version": .string(version), "health": health.json, "deadlineMilliseconds": .integer(deadline),
            ])
        case .watching(let version, let until):
            return enumCase("watching", ["version": .string(version), "untilMilliseconds": .integer(until)])
        case .watchOverAwaitingFetch(let version):
            return enumCase("watchOverAwaitingFetch", ["version": .string(version)])
        case .passedWatch(let version, let watchSeconds):
            return enumCase("passedWatch", ["version": .string(version), "watchSeconds": integer(watchSeconds)])
        case .convergedOn(let version):
            return enumCase("convergedOn", ["version": .string(version)])
        case .waits(let version, let gate, let superseded):
            guard let gate = gate.writtenJSON else { return nil }
            var values: [String: JSONValue] = ["version": .string(version), "gate": gate]
            values.setIfPresent("superseded", superseded)
            return enumCase("waits", values)
        case .applying(let version, let superseded):
            var values: [String: JSONValue] = ["version": .string(version)]
            values.setIfPresent("superseded", superseded)
            return enumCase("applying", values)
        default:
            return nil
        }
    }
}

extension Reason.Health {
    var json: JSONValue {
        switch self {
        case .notFetchedYet: enumCase("notFetchedYet")
        case .notFetchedSinceApply: enumCase("notFetchedSinceApply")
        case .observed(let observed): enumCase("observed", ["_0": observed.json])
        }
    }
}

extension Reason.Observed {
    var json: JSONValue {
        var object: [String: JSONValue] = [
            "ready": integer(ready), "desired": integer(desired), "running": .array(running.map(JSONValue.string)),
            "drifted": .bool(drifted),
        ]
        object.setIfPresent("problem", problem)
        return .object(object)
    }
}

extension Reason.Gate: JSONWritable {
    var writtenJSON: JSONValue? {
        switch self {
        case .upstream(let channel):
            enumCase("upstream", ["channel": .string(channel)])
        case .soak(let channel, let since, let soakSeconds):
            enumCase("soak", ["channel": .string(channel), "sinceMilliseconds": .integer(since), "soakSeconds": integer(soakSeconds)])
        case .approval(let approvers, let needed, let instance):
            enumCase("approval", [
                "approvers": .array(approvers.map(JSONValue.string)), "needed": integer(needed), "instance": .string(instance),
            ])
        case .paused(let by):
            enumCase("paused", ["by": .string(by)])
        case .applicationLimit(let application, let limit):
            enumCase("applicationLimit", ["application": .string(application), "limit": integer(limit)])
        case .channelLimit(let channel, let limit):
            enumCase("channelLimit", ["channel": .string(channel), "limit": integer(limit)])
        case .freeze, .window, .alert:
            nil
        }
    }
}

extension ApplyRequested: JSONWritable {
    var writtenJSON: JSONValue? {
        .object([
            "instance": .string(instance.description), "requestID": .string(requestID), "version": .string(version),
            "digest": .string(digest), "document": .string(document), "rollback": .bool(rollback),
        ])
    }
}

extension LeaseAcquired: JSONWritable {
    var writtenJSON: JSONValue? {
        var object: [String: JSONValue] = ["instance": .string(instance.description), "worker": .string(worker)]
        object.setIfPresent("previousOwner", previousOwner)
        return .object(object)
    }
}

extension DesiredStateCompiled: JSONWritable {
    var writtenJSON: JSONValue? {
        .object([
            "instance": .string(instance), "digest": .string(digest), "document": .string(document), "version": .string(version),
            "parameters": .object(parameters.mapValues(JSONValue.string)), "configDigest": .string(configDigest),
        ])
    }
}
