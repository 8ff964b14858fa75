/// Hand-written readers for the payloads read most — every decision, apply and fetch of a log is
/// read by a replay and by a worker's start — straight from the parsed tree, without `Decodable`'s
/// containers (whose existentials, metadata lookups and reference counting were most of a replay's
/// time once parsing was cheap).
///
/// A reader gives exactly what the type's `Decodable` conformance gives, or gives up (`NodeMiss`)
/// — on anything unusual: a number written as `1e3`, a field of the wrong type, a case it does not
/// know. `PayloadDecoder` then decodes through `Decodable`, which reads the value or says
/// precisely what is wrong; so a reader can only make reading faster, never different. Tests
/// decode every payload of a recorded log and generated values both ways.
protocol NodeReadable {
    init(node: JSONNode) throws(NodeMiss)
}

/// A hand-written reader gave up: the value is read through `Decodable` instead.
struct NodeMiss: Error {}

/// An object's members, read by key as `Decodable` reads them: the first member with the key
/// counts, others are ignored.
struct NodeObject {
    let members: [JSONMember]

    init(_ node: JSONNode) throws(NodeMiss) {
        guard case .object(let members) = node else { throw NodeMiss() }
        self.members = members
    }

    /// The member's value; nil when absent.
    subscript(key: String) -> JSONNode? {
        for member in members where member.key == key { return member.value }
        return nil
    }

    func node(_ key: String) throws(NodeMiss) -> JSONNode {
        guard let node = self[key] else { throw NodeMiss() }
        return node
    }

    /// Absent or null: nil (as `decodeIfPresent`).
    func optional(_ key: String) -> JSONNode? {
        guard let node = self[key] else { return nil }
        if case .null = node { return nil }
        return node
    }

    func string(_ key: String) throws(NodeMiss) -> String { try node(key).string() }
    func bool(_ key: String) throws(NodeMiss) -> Bool { try node(key).bool() }
    func int(_ key: String) throws(NodeMiss) -> Int { try node(key).int() }
    func int64(_ key: String) throws(NodeMiss) -> Int64 { try node(key).int64() }
    func stringIfPresent(_ key: String) throws(NodeMiss) -> String? { try optional(key)?.string() }
    func intIfPresent(_ key: String) throws(NodeMiss) -> Int? { try optional(key)?.int() }
    func int64IfPresent(_ key: String) throws(NodeMiss) -> Int64? { try optional(key)?.int64() }
    func boolIfPresent(_ key: String) throws(NodeMiss) -> Bool? { try optional(key)?.bool() }

    func instance(_ key: String) throws(NodeMiss) -> ServiceInstanceID {
        guard let id = ServiceInstanceID(try string(key)) else { throw NodeMiss() }
        return id
    }

    func strings(_ key: String) throws(NodeMiss) -> [String] {
        var strings: [String] = []
        for element in try node(key).array() { strings.append(try element.string()) }
        return strings
    }

    func stringMap(_ key: String) throws(NodeMiss) -> [String: String] {
        let object = try NodeObject(try node(key))
        var map: [String: String] = [:]
        map.reserveCapacity(object.members.count)
        // The first of duplicate keys, as everywhere.
        for member in object.members where map[member.key] == nil { map[member.key] = try member.value.string() }
        return map
    }

    /// An enum with associated values as Swift's synthesized `Codable` writes it: an object with
    /// one member, named after the case, whose value is an object of the labelled values (`_0`
    /// for an unlabelled one).
    func onlyCase() throws(NodeMiss) -> (name: String, values: NodeObject) {
        guard members.count == 1 else { throw NodeMiss() }
        return (members[0].key, try NodeObject(members[0].value))
    }
}

extension JSONNode {
    func string() throws(NodeMiss) -> String {
        guard case .string(let value) = self else { throw NodeMiss() }
        return value
    }

    func bool() throws(NodeMiss) -> Bool {
        guard case .bool(let value) = self else { throw NodeMiss() }
        return value
    }

    /// Plain integers only (`12`, `-3`); any other spelling is left to `Decodable`.
    func int64() throws(NodeMiss) -> Int64 {
        guard case .number(let text) = self, let value = Int64(text) else { throw NodeMiss() }
        return value
    }

    func int() throws(NodeMiss) -> Int {
        guard case .number(let text) = self, let value = Int(text) else { throw NodeMiss() }
        return value
    }

    func array() throws(NodeMiss) -> [JSONNode] {
        guard case .array(let elements) = self else { throw NodeMiss() }
        return elements
    }

    func raw<Value: RawRepresentable>(_: Value.Type) throws(NodeMiss) -> Value where Value.RawValue == String {
        guard let value = Value(rawValue: try string()) else { throw NodeMiss() }
        return value
    }
}

// MARK: the engine's records

extension DecisionMade: NodeReadable {
    init(node: JSONNode) throws(NodeMiss) {
        let object = try NodeObject(node)
        self.init(
            instance: try object.instance("instance"), viewPosition: try object.int64("viewPosition"),
            nowMilliseconds: try object.int64("nowMilliseconds"), engineVersion: try object.int("engineVersion"),
            decision: try Decision(node: try object.node("decision")))
    }
}

extension Decision: NodeReadable {
    init(node: JSONNode) throws(NodeMiss) {
        let object = try NodeObject(node)
        let reasonNode = try object.node("reason")
        let reason: Reason
        if case .string(let words) = reasonNode { reason = .words(words) } else { reason = try Reason(node: reasonNode) }
        var actions: [DecisionAction] = []
        for element in try object.node("actions").array() { actions.append(try DecisionAction(node: element)) }
        self.init(
            status: try object.node("status").raw(InstanceStatus.self), waitingFor: try object.optional("waitingFor")?.raw(Precondition.self),
            version: try object.stringIfPresent("version"), reason: reason, actions: actions,
            wakeAtMilliseconds: try object.int64IfPresent("wakeAtMilliseconds"))
    }
}

extension DecisionAction: NodeReadable {
    init(node: JSONNode) throws(NodeMiss) {
        let (name, values) = try NodeObject(node).onlyCase()
        switch name {
        case "apply": self = .apply(version: try values.string("version"), digest: try values.string("digest"), rollback: try values.bool("rollback"))
        case "markConverged": self = .markConverged(version: try values.string("version"), digest: try values.string("digest"))
        case "markGood": self = .markGood(version: try values.string("version"), digest: try values.string("digest"))
        case "markBad": self = .markBad(version: try values.string("version"), reason: try values.string("reason"))
        case "reissue": self = .reissue(requestID: try values.string("requestID"))
        case "abandon": self = .abandon(requestID: try values.string("requestID"), reason: try values.string("reason"))
        default: throw NodeMiss()
        }
    }
}

/// The reasons a settled or rolling fleet gives most; the rest are read through `Decodable`.
extension Reason: NodeReadable {
    init(node: JSONNode) throws(NodeMiss) {
        let (name, values) = try NodeObject(node).onlyCase()
        switch name {
        case "noRelease": self = .noRelease
        case "applyRunning":
            self = .applyRunning(
                version: try values.string("version"), rollback: try values.bool("rollback"), sinceMilliseconds: try values.int64("sinceMilliseconds"))
        case "converged":
            self = .converged(
                version: try values.string("version"), ready: try values.int("ready"), desired: try values.int("desired"),
                rolledBack: try values.bool("rolledBack"))
        case "waitingHealthy":
            self = .waitingHealthy(
                version: try values.string("version"), health: try Health(node: try values.node("health")),
                deadlineMilliseconds: try values.int64("deadlineMilliseconds"))
        case "watching": self = .watching(version: try values.string("version"), untilMilliseconds: try values.int64("untilMilliseconds"))
        case "watchOverAwaitingFetch": self = .watchOverAwaitingFetch(version: try values.string("version"))
        case "passedWatch": self = .passedWatch(version: try values.string("version"), watchSeconds: try values.int("watchSeconds"))
        case "convergedOn": self = .convergedOn(version: try values.string("version"))
        case "waits":
            self = .waits(
                version: try values.string("version"), gate: try Gate(node: try values.node("gate")),
                superseded: try values.stringIfPresent("superseded"))
        case "applying": self = .applying(version: try values.string("version"), superseded: try values.stringIfPresent("superseded"))
        default: throw NodeMiss()
        }
    }
}

extension Reason.Health: NodeReadable {
    init(node: JSONNode) throws(NodeMiss) {
        let (name, values) = try NodeObject(node).onlyCase()
        switch name {
        case "notFetchedYet": self = .notFetchedYet
        case "notFetchedSinceApply": self = .notFetchedSinceApply
        case "observed": self = .observed(try Reason.Observed(node: try values.node("_0")))
        default: throw NodeMiss()
        }
    }
}

extension Reason.Observed: NodeReadable {
    init(node: JSONNode) throws(NodeMiss) {
        let object = try NodeObject(node)
        self.init(
            ready: try object.int("ready"), desired: try object.int("desired"), running: try object.strings("running"),
            problem: try object.stringIfPresent("problem"), drifted: try object.bool("drifted"))
    }
}

extension Reason.Gate: NodeReadable {
    init(node: JSONNode) throws(NodeMiss) {
        let (name, values) = try NodeObject(node).onlyCase()
        switch name {
        case "upstream": self = .upstream(channel: try values.string("channel"))
        case "soak":
            self = .soak(channel: try values.string("channel"), sinceMilliseconds: try values.int64("sinceMilliseconds"), soakSeconds: try values.int("soakSeconds"))
        case "approval":
            self = .approval(approvers: try values.strings("approvers"), needed: try values.int("needed"), instance: try values.string("instance"))
        case "paused": self = .paused(by: try values.string("by"))
        case "applicationLimit": self = .applicationLimit(application: try values.string("application"), limit: try values.int("limit"))
        case "channelLimit": self = .channelLimit(channel: try values.string("channel"), limit: try values.int("limit"))
        default: throw NodeMiss()
        }
    }
}

extension ApplyRequested: NodeReadable {
    init(node: JSONNode) throws(NodeMiss) {
        let object = try NodeObject(node)
        self.init(
            instance: try object.instance("instance"), requestID: try object.string("requestID"), version: try object.string("version"),
            digest: try object.string("digest"), document: try object.string("document"), rollback: try object.bool("rollback"))
    }
}

extension LeaseAcquired: NodeReadable {
    init(node: JSONNode) throws(NodeMiss) {
        let object = try NodeObject(node)
        self.init(instance: try object.instance("instance"), worker: try object.string("worker"), previousOwner: try object.stringIfPresent("previousOwner"))
    }
}

extension DesiredStateCompiled: NodeReadable {
    init(node: JSONNode) throws(NodeMiss) {
        let object = try NodeObject(node)
        self.init(
            instance: try object.string("instance"), digest: try object.string("digest"), document: try object.string("document"),
            version: try object.string("version"), parameters: try object.stringMap("parameters"), configDigest: try object.string("configDigest"))
    }
}

// MARK: runtimes' records

extension ApplyFinished: NodeReadable {
    init(node: JSONNode) throws(NodeMiss) {
        let object = try NodeObject(node)
        self.init(
            instance: try object.instance("instance"), runtime: try object.string("runtime"), digest: try object.string("digest"),
            idempotencyKey: try object.string("idempotencyKey"), result: try ApplyResult(node: try object.node("result")))
    }
}

extension ApplyResult: NodeReadable {
    init(node: JSONNode) throws(NodeMiss) {
        let object = try NodeObject(node)
        self.init(
            succeeded: try object.bool("succeeded"), durationMilliseconds: try object.int64("durationMilliseconds"),
            output: try object.string("output"), error: try object.stringIfPresent("error"))
    }
}

extension StateFetched: NodeReadable {
    init(node: JSONNode) throws(NodeMiss) {
        let object = try NodeObject(node)
        self.init(
            instance: try object.instance("instance"), runtime: try object.string("runtime"),
            observation: try Observation(node: try object.node("observation")), digest: try object.string("digest"))
    }
}

extension StateUnchanged: NodeReadable {
    init(node: JSONNode) throws(NodeMiss) {
        let object = try NodeObject(node)
        self.init(
            instance: try object.instance("instance"), sameAs: try object.int64("sameAs"), fetches: try object.intIfPresent("fetches"),
            firstMilliseconds: try object.int64IfPresent("firstMilliseconds"), lastMilliseconds: try object.int64IfPresent("lastMilliseconds"))
    }
}

extension Observation: NodeReadable {
    /// As recorded: the objects in the order written (`Decodable` does not sort them either).
    init(node: JSONNode) throws(NodeMiss) {
        var objects: [ObservedObject] = []
        for element in try NodeObject(node).node("objects").array() { objects.append(try ObservedObject(node: element)) }
        self.init(objects: [])
        self.objects = objects
    }
}

extension ObservedObject: NodeReadable {
    init(node: JSONNode) throws(NodeMiss) {
        let object = try NodeObject(node)
        self.init(
            name: try object.string("name"), version: try object.stringIfPresent("version"), desiredReplicas: try object.int("desiredReplicas"),
            readyReplicas: try object.int("readyReplicas"), health: try object.node("health").raw(Health.self),
            message: try object.stringIfPresent("message"), drifted: try object.bool("drifted"))
    }
}
