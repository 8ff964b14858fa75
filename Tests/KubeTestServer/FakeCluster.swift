import Foundation
import KeelsonCore

/// The state of the test API server: objects by resource, namespace and name, who manages which
/// of their fields, and a scripted controller that moves workloads' status along. A faithful
/// *subset* of Kubernetes — named as a fake everywhere it is used: no Kubernetes API server can
/// be installed on the machines Keelson is built on.
public actor FakeCluster {
    /// A kind the fake serves.
    public struct Kind: Sendable, Hashable {
        public var group: String
        public var version: String
        public var kind: String
        public var resource: String
        public var namespaced: Bool
        public var subresources: [String] = []

        public var apiVersion: String { group.isEmpty ? version : "\(group)/\(version)" }
    }

    public static let kinds: [Kind] = [
        Kind(group: "", version: "v1", kind: "Namespace", resource: "namespaces", namespaced: false, subresources: ["status"]),
        Kind(group: "", version: "v1", kind: "Pod", resource: "pods", namespaced: true, subresources: ["status"]),
        Kind(group: "", version: "v1", kind: "Service", resource: "services", namespaced: true, subresources: ["status"]),
        Kind(group: "", version: "v1", kind: "ConfigMap", resource: "configmaps", namespaced: true),
        Kind(group: "", version: "v1", kind: "Secret", resource: "secrets", namespaced: true),
        Kind(group: "", version: "v1", kind: "ServiceAccount", resource: "serviceaccounts", namespaced: true),
        Kind(group: "", version: "v1", kind: "PersistentVolumeClaim", resource: "persistentvolumeclaims", namespaced: true, subresources: ["status"]),
        Kind(group: "apps", version: "v1", kind: "Deployment", resource: "deployments", namespaced: true, subresources: ["status", "scale"]),
        Kind(group: "apps", version: "v1", kind: "StatefulSet", resource: "statefulsets", namespaced: true, subresources: ["status", "scale"]),
        Kind(group: "apps", version: "v1", kind: "DaemonSet", resource: "daemonsets", namespaced: true, subresources: ["status"]),
        Kind(group: "batch", version: "v1", kind: "Job", resource: "jobs", namespaced: true, subresources: ["status"]),
        Kind(group: "networking.k8s.io", version: "v1", kind: "Ingress", resource: "ingresses", namespaced: true, subresources: ["status"]),
    ]

    /// Where an object lives.
    public struct Key: Sendable, Hashable, Comparable {
        public var resource: String
        public var group: String
        public var namespace: String
        public var name: String

        public static func < (a: Key, b: Key) -> Bool {
            (a.group, a.resource, a.namespace, a.name) < (b.group, b.resource, b.namespace, b.name)
        }
    }

    /// An answer: HTTP status and JSON body.
    public struct Answer: Sendable {
        public var status: Int
        public var body: JSONValue
    }

    /// What the scripted controller does to workloads whose image contains `badImageMarker`:
    /// never ready, and after `progressDeadlineTicks` ticks `ProgressDeadlineExceeded`.
    public var badImageMarker = "bad"
    public var progressDeadlineTicks = 3
    /// Verbs on resources a `SelfSubjectAccessReview` is refused ("delete deployments").
    public var denied: Set<String> = []
    /// The requests, as `METHOD path?query` with content type and body (what clients sent): at
    /// least the latest 10,000.
    public private(set) var requests: [(line: String, contentType: String?, body: String)] = []

    private var objects: [Key: JSONValue] = [:]
    /// Per object: manager → (field path → the value it set). Lists are owned whole.
    private var managed: [Key: [String: [String: JSONValue]]] = [:]
    private var ticksSinceChange: [Key: Int] = [:]
    private var resourceVersion = 1000
    private var uids = 0

    public init() {
        for name in ["default", "kube-system"] {
            objects[Key(resource: "namespaces", group: "", namespace: "", name: name)] = .object([
                "apiVersion": .string("v1"), "kind": .string("Namespace"),
                "metadata": .object(["name": .string(name), "uid": .string("ns-\(name)"), "resourceVersion": .string("1")]),
                "status": .object(["phase": .string("Active")]),
            ])
        }
    }

    /// Creates a namespace (as `kubectl create namespace` would).
    public func createNamespace(_ name: String) {
        objects[Key(resource: "namespaces", group: "", namespace: "", name: name)] = .object([
            "apiVersion": .string("v1"), "kind": .string("Namespace"),
            "metadata": .object(["name": .string(name), "uid": .string("ns-\(name)"), "resourceVersion": .string("1")]),
            "status": .object(["phase": .string("Active")]),
        ])
    }

    public func setBadImageMarker(_ marker: String) { badImageMarker = marker }
    public func setProgressDeadlineTicks(_ ticks: Int) { progressDeadlineTicks = ticks }
    public func deny(_ verbResource: String) { denied.insert(verbResource) }
    public func allowAll() { denied.removeAll() }
    /// How long the server waits before it answers each request (a slow or overloaded API server).
    public private(set) var answerDelay: Duration = .zero
    /// Only requests whose path contains this are delayed (nil: every request).
    public private(set) var delayedPaths: String?
    public func setAnswerDelay(_ delay: Duration, forPathsContaining part: String? = nil) {
        answerDelay = delay
        delayedPaths = part
    }

    /// Raw text (status 200, `application/json`) answered instead of the API's answer, for
    /// requests whose path contains the key: a broken or hostile server.
    public private(set) var rawAnswers: [String: String] = [:]
    public func setRawAnswer(_ text: String?, forPathsContaining part: String) { rawAnswers[part] = text }
    func rawAnswer(for path: String) -> String? {
        rawAnswers.keys.sorted().first { path.contains($0) }.flatMap { rawAnswers[$0] }
    }

    /// How long the server waits before it answers a request for `path`.
    func delay(for path: String) -> Duration {
        guard let delayedPaths else { return answerDelay }
        return path.contains(delayedPaths) ? answerDelay : .zero
    }

    /// Every object stored, in key order.
    public func all() -> [(Key, JSONValue)] { objects.keys.sorted().map { ($0, objects[$0]!) } }

    public func object(_ resource: String, namespace: String, name: String) -> JSONValue? {
        objects.first { $0.key.resource == resource && $0.key.namespace == namespace && $0.key.name == name }?.value
    }

    /// The managers of an object's fields: manager → field paths.
    public func managers(_ resource: String, namespace: String, name: String) -> [String: [String]] {
        guard let key = objects.keys.first(where: { $0.resource == resource && $0.namespace == namespace && $0.name == name }) else { return [:] }
        return (managed[key] ?? [:]).mapValues { $0.keys.map(Self.shown).sorted() }
    }

    /// The answers, with the request each answered (what clients were told): at least the
    /// latest 10,000 (trimmed in halves, so that keeping them costs little per request).
    public private(set) var answers: [(line: String, answer: Answer)] = []
    /// Every request answered since the server started.
    public private(set) var requestCount = 0

    func recordAnswer(_ line: String, _ answer: Answer) {
        answers.append((line, answer))
        requestCount += 1
        if answers.count >= 20_000 { answers.removeFirst(10_000) }
    }

    /// Every object the server answered with: single objects, and each item of a list (with the
    /// apiVersion and kind a list leaves off), successes only.
    public func objectsAnswered() -> [JSONValue] {
        answers.flatMap { _, answer -> [JSONValue] in
            guard (200..<300).contains(answer.status), case .object(let fields) = answer.body, let kind = fields["kind"]?.string else { return [] }
            if kind.hasSuffix("List"), let items = fields["items"]?.array {
                return items.map { item in
                    var item = item
                    item.set(["apiVersion"], fields["apiVersion"] ?? .null)
                    item.set(["kind"], .string(String(kind.dropLast(4))))
                    return item
                }
            }
            return ["Status", "APIResourceList", "APIGroupList", "APIVersions"].contains(kind) ? [] : [answer.body]
        }
    }

    /// Every request received since the server started (counted as it arrives).
    public private(set) var receivedCount = 0

    func record(_ line: String, contentType: String?, body: String) {
        receivedCount += 1
        requests.append((line, contentType, body))
        if requests.count >= 20_000 { requests.removeFirst(10_000) }
    }

    // MARK: reading

    public func get(_ kind: Kind, namespace: String?, name: String) -> Answer {
        guard let object = objects[key(kind, namespace, name)] else { return notFound(kind, name) }
        return Answer(status: 200, body: object)
    }

    public func list(_ kind: Kind, namespace: String?, selector: String?) -> Answer {
        guard let requirements = LabelSelector.parse(selector ?? "") else {
            return failure(400, "BadRequest", "unable to parse requirement: \(selector ?? "")")
        }
        let items = objects.keys.sorted().filter { key in
            key.resource == kind.resource && key.group == kind.group && (namespace == nil || key.namespace == namespace)
        }.compactMap { key -> JSONValue? in
            guard let object = objects[key], LabelSelector.matches(requirements, labels: object.path(["metadata", "labels"])) else { return nil }
            // A LIST leaves apiVersion and kind off its items.
            guard case .object(var fields) = object else { return nil }
            fields["apiVersion"] = nil
            fields["kind"] = nil
            return .object(fields)
        }
        return Answer(status: 200, body: .object([
            "apiVersion": .string(kind.apiVersion), "kind": .string(kind.kind + "List"),
            "metadata": .object(["resourceVersion": .string(String(resourceVersion))]), "items": .array(items),
        ]))
    }

    // MARK: writing

    /// Server-side apply: `body` as `manager`'s whole intent for the object.
    public func apply(_ kind: Kind, namespace: String?, name: String, body: JSONValue, manager: String?, force: Bool, dryRun: Bool) -> Answer {
        guard let manager, !manager.isEmpty else {
            return failure(400, "BadRequest", "PATCH, application/apply-patch+yaml: fieldManager is required for apply requests")
        }
        guard case .object(let applied) = body else { return failure(400, "BadRequest", "the apply patch is not an object") }
        if applied["apiVersion"]?.string != kind.apiVersion || applied["kind"]?.string != kind.kind {
            return failure(400, "BadRequest", "the apply patch's apiVersion/kind (\(applied["apiVersion"]?.string ?? "")/\(applied["kind"]?.string ?? "")) does not match the URL (\(kind.apiVersion)/\(kind.kind))")
        }
        if body.path(["metadata", "name"])?.string != name {
            return failure(400, "BadRequest", "the name in the apply patch does not match the URL (\(name))")
        }
        if let bodyNamespace = body.path(["metadata", "namespace"])?.string, kind.namespaced, bodyNamespace != namespace {
            return failure(400, "BadRequest", "the namespace of the object (\(bodyNamespace)) does not match the namespace of the request (\(namespace ?? ""))")
        }
        if let missing = missingNamespace(kind, namespace) { return missing }
        let key = key(kind, namespace, name)
        let old = objects[key]
        var owners = managed[key] ?? [:]
        let fields = Self.leaves(body, skipping: ["apiVersion", "kind", "metadata\u{1F}name", "metadata\u{1F}namespace"])

        // Conflicts: a field another manager owns, set here to a different value.
        var conflicts: [(manager: String, field: String)] = []
        for (other, owned) in owners.sorted(by: { $0.key < $1.key }) where other != manager {
            for (field, value) in fields.sorted(by: { $0.key < $1.key }) {
                if let theirs = owned[field], theirs != value { conflicts.append((other, field)) }
            }
        }
        if !conflicts.isEmpty && !force {
            let message = "Apply failed with \(conflicts.count) conflict\(conflicts.count == 1 ? "" : "s"): "
                + conflicts.map { "conflict with \"\($0.manager)\" using \(kind.apiVersion): \(Self.shown($0.field))" }.joined(separator: "\n")
            return failure(409, "Conflict", message, causes: conflicts.map {
                .object(["reason": .string("FieldManagerConflict"), "message": .string("conflict with \"\($0.manager)\" using \(kind.apiVersion)"), "field": .string(Self.shown($0.field))])
            }, name: name, kind: kind)
        }
        for (other, owned) in owners where other != manager {
            owners[other] = owned.filter { fields[$0.key] == nil }
            if owners[other]!.isEmpty { owners[other] = nil }
        }

        // The manager's fields it no longer applies are removed, unless another manager owns them.
        var result = old ?? .object([:])
        let previous = owners[manager] ?? [:]
        for field in previous.keys where fields[field] == nil && !owners.contains(where: { $0.key != manager && $0.value[field] != nil }) {
            result.remove(field.split(separator: "\u{1F}").map(String.init))
        }
        for (field, value) in fields { result.set(field.split(separator: "\u{1F}").map(String.init), value) }
        owners[manager] = fields
        return store(kind, key: key, old: old, new: result, owners: owners, dryRun: dryRun, namespace: namespace, name: name)
    }

    /// A merge patch (strategic merge patches are read as merge patches: lists are replaced)
    /// by `manager` (an update: kubectl edit, scale, patch).
    public func patch(_ kind: Kind, namespace: String?, name: String, subresource: String?, body: JSONValue, manager: String?, dryRun: Bool) -> Answer {
        let key = key(kind, namespace, name)
        guard let old = objects[key] else { return notFound(kind, name) }
        var patch = body
        if subresource == "scale" {
            // The scale subresource's spec.replicas is the workload's.
            guard let replicas = body.path(["spec", "replicas"]) else { return failure(400, "BadRequest", "a scale patch sets spec.replicas") }
            patch = .object(["spec": .object(["replicas": replicas])])
        }
        var result = old
        result.mergePatch(patch)
        var owners = managed[key] ?? [:]
        let changed = Self.leaves(result, skipping: []).filter { Self.leaves(old, skipping: [])[$0.key] != $0.value }
        let updater = manager ?? "unknown"
        for (other, owned) in owners where other != updater {
            owners[other] = owned.filter { changed[$0.key] == nil }
            if owners[other]!.isEmpty { owners[other] = nil }
        }
        if !changed.isEmpty { owners[updater, default: [:]].merge(changed) { $1 } }
        let answer = store(kind, key: key, old: old, new: result, owners: owners, dryRun: dryRun, namespace: namespace, name: name)
        if subresource == "scale", answer.status == 200 {
            return Answer(status: 200, body: .object([
                "apiVersion": .string("autoscaling/v1"), "kind": .string("Scale"),
                "metadata": .object(["name": .string(name), "namespace": .string(namespace ?? "")]),
                "spec": .object(["replicas": answer.body.path(["spec", "replicas"]) ?? .integer(0)]),
            ]))
        }
        return answer
    }

    public func delete(_ kind: Kind, namespace: String?, name: String, dryRun: Bool) -> Answer {
        let key = key(kind, namespace, name)
        guard objects[key] != nil else { return notFound(kind, name) }
        if !dryRun {
            objects[key] = nil
            managed[key] = nil
            ticksSinceChange[key] = nil
            resourceVersion += 1
        }
        return Answer(status: 200, body: .object([
            "apiVersion": .string("v1"), "kind": .string("Status"), "status": .string("Success"),
            "details": .object(["name": .string(name), "group": .string(kind.group), "kind": .string(kind.resource)]),
        ]))
    }

    public func accessReview(_ body: JSONValue) -> Answer {
        let verb = body.path(["spec", "resourceAttributes", "verb"])?.string ?? ""
        let resource = body.path(["spec", "resourceAttributes", "resource"])?.string ?? ""
        let allowed = !denied.contains("\(verb) \(resource)")
        var status: [String: JSONValue] = ["allowed": .bool(allowed)]
        if !allowed { status["reason"] = .string("the test API server denies \(verb) on \(resource)") }
        var review = body
        review.set(["status"], .object(status))
        return Answer(status: 201, body: review)
    }

    /// Stores a written object: identity and bookkeeping kept, `generation` bumped when `spec`
    /// changed, a new `resourceVersion`, managed fields listed in `metadata.managedFields`.
    private func store(
        _ kind: Kind, key: Key, old: JSONValue?, new: JSONValue, owners: [String: [String: JSONValue]], dryRun: Bool,
        namespace: String?, name: String
    ) -> Answer {
        var object = new
        object.set(["apiVersion"], .string(kind.apiVersion))
        object.set(["kind"], .string(kind.kind))
        object.set(["metadata", "name"], .string(name))
        if kind.namespaced { object.set(["metadata", "namespace"], .string(namespace ?? "default")) }
        if let old {
            for field in ["uid", "creationTimestamp"] { object.set(["metadata", field], old.path(["metadata", field]) ?? .null) }
            var generation = old.path(["metadata", "generation"])?.integer ?? 1
            if old.path(["spec"]) != object.path(["spec"]) { generation += 1 }
            object.set(["metadata", "generation"], .integer(generation))
            if let status = old.path(["status"]) { object.set(["status"], status) }
        } else {
            uids += 1
            object.set(["metadata", "uid"], .string(String(format: "00000000-0000-4000-8000-%012d", uids)))
            object.set(["metadata", "creationTimestamp"], .string("2026-12-01T10:00:00Z"))
            object.set(["metadata", "generation"], .integer(1))
        }
        object.set(["metadata", "resourceVersion"], .string(String(resourceVersion + 1)))
        object.set(["metadata", "managedFields"], .array(owners.keys.sorted().map { manager in
            .object(["manager": .string(manager), "operation": .string(manager == "keelson" ? "Apply" : "Update"),
                     "apiVersion": .string(kind.apiVersion), "fieldsType": .string("FieldsV1"),
                     "fieldsV1": .object(Dictionary(uniqueKeysWithValues: owners[manager]!.keys.map { ("f:" + Self.shown($0).dropFirst(), JSONValue.object([:])) }))])
        }))
        if !dryRun {
            resourceVersion += 1
            objects[key] = object
            managed[key] = owners
            if old?.path(["spec"]) != object.path(["spec"]) { ticksSinceChange[key] = 0 }
        }
        return Answer(status: old == nil ? 201 : 200, body: object)
    }

    // MARK: the scripted controller

    /// Moves every workload one step: a changed Deployment or StatefulSet is observed, then
    /// rolled out (ready) — unless its image carries the bad marker, when it stays unavailable
    /// and, after `progressDeadlineTicks`, reports `ProgressDeadlineExceeded`.
    public func tick() {
        for key in objects.keys.sorted() where ["deployments", "statefulsets"].contains(key.resource) {
            guard var object = objects[key] else { continue }
            let generation = object.path(["metadata", "generation"])?.integer ?? 1
            let replicas = object.path(["spec", "replicas"])?.integer ?? 1
            let images = (object.path(["spec", "template", "spec", "containers"])?.array ?? []).compactMap { $0.path(["image"])?.string }
            let bad = images.contains { $0.contains(badImageMarker) }
            let ticks = (ticksSinceChange[key] ?? 0) + 1
            ticksSinceChange[key] = ticks
            var status = object.path(["status"]) ?? .object([:])
            let before = status
            status.set(["observedGeneration"], .integer(generation))
            status.set(["replicas"], .integer(replicas))
            if key.resource == "deployments" {
                status.set(["updatedReplicas"], .integer(replicas))
                if bad {
                    // A rolling update with the default surge: one new pod that never becomes
                    // ready beside the old ones, which stay available.
                    let available = min(status.path(["availableReplicas"])?.integer ?? 0, replicas)
                    status.set(["updatedReplicas"], .integer(1))
                    status.set(["replicas"], .integer(available + 1))
                    status.set(["readyReplicas"], .integer(available))
                    status.set(["availableReplicas"], .integer(available))
                    status.set(["unavailableReplicas"], .integer(replicas + 1 - available))
                    let exceeded = ticks > progressDeadlineTicks
                    status.set(["conditions"], .array([
                        condition("Available", available >= replicas, available >= replicas ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable"),
                        condition("Progressing", !exceeded, exceeded ? "ProgressDeadlineExceeded" : "ReplicaSetUpdated",
                                  message: exceeded ? "ReplicaSet \"\(key.name)\" has timed out progressing." : nil),
                    ]))
                } else {
                    status.set(["readyReplicas"], .integer(replicas))
                    status.set(["availableReplicas"], .integer(replicas))
                    status.set(["unavailableReplicas"], nil)
                    status.set(["conditions"], .array([
                        condition("Available", true, "MinimumReplicasAvailable"),
                        condition("Progressing", true, "NewReplicaSetAvailable"),
                    ]))
                }
            } else {
                let revision = "\(key.name)-\(generation)"
                status.set(["updateRevision"], .string(revision))
                status.set(["currentRevision"], .string(bad ? "\(key.name)-\(max(generation - 1, 1))" : revision))
                status.set(["readyReplicas"], .integer(bad ? 0 : replicas))
                status.set(["updatedReplicas"], .integer(replicas))
                status.set(["currentReplicas"], .integer(bad ? 0 : replicas))
            }
            guard status != before else { continue }
            object.set(["status"], status)
            resourceVersion += 1
            object.set(["metadata", "resourceVersion"], .string(String(resourceVersion)))
            objects[key] = object
        }
    }

    private func condition(_ type: String, _ status: Bool, _ reason: String, message: String? = nil) -> JSONValue {
        var fields: [String: JSONValue] = ["type": .string(type), "status": .string(status ? "True" : "False"), "reason": .string(reason)]
        if let message { fields["message"] = .string(message) }
        return .object(fields)
    }

    // MARK: helpers

    private func key(_ kind: Kind, _ namespace: String?, _ name: String) -> Key {
        Key(resource: kind.resource, group: kind.group, namespace: kind.namespaced ? namespace ?? "default" : "", name: name)
    }

    private func missingNamespace(_ kind: Kind, _ namespace: String?) -> Answer? {
        guard kind.namespaced, let namespace, objects[Key(resource: "namespaces", group: "", namespace: "", name: namespace)] == nil else { return nil }
        return failure(404, "NotFound", "namespaces \"\(namespace)\" not found", name: namespace, kindName: "namespaces")
    }

    private func notFound(_ kind: Kind, _ name: String) -> Answer {
        failure(404, "NotFound", "\(kind.resource)\(kind.group.isEmpty ? "" : "." + kind.group) \"\(name)\" not found", name: name, kind: kind)
    }

    nonisolated func failure(
        _ code: Int, _ reason: String, _ message: String, causes: [JSONValue] = [], name: String? = nil, kind: Kind? = nil, kindName: String? = nil
    ) -> Answer {
        var details: [String: JSONValue] = [:]
        if let name { details["name"] = .string(name) }
        if let kind { details["group"] = .string(kind.group); details["kind"] = .string(kind.resource) }
        if let kindName { details["kind"] = .string(kindName) }
        if !causes.isEmpty { details["causes"] = .array(causes) }
        var status: [String: JSONValue] = [
            "apiVersion": .string("v1"), "kind": .string("Status"), "metadata": .object([:]), "status": .string("Failure"), "message": .string(message),
            "reason": .string(reason), "code": .integer(Int64(code)),
        ]
        if !details.isEmpty { status["details"] = .object(details) }
        return Answer(status: code, body: .object(status))
    }

    /// A field path as people read it: `.spec.replicas`.
    static func shown(_ path: String) -> String { "." + path.replacingOccurrences(of: "\u{1F}", with: ".") }

    /// Every leaf field of an object as a path (its keys joined by U+001F, as label keys hold
    /// dots); lists are leaves.
    static func leaves(_ value: JSONValue, skipping: Set<String>, prefix: String = "") -> [String: JSONValue] {
        guard case .object(let fields) = value else { return prefix.isEmpty ? [:] : [prefix: value] }
        var result: [String: JSONValue] = [:]
        for (name, child) in fields {
            let path = prefix.isEmpty ? name : "\(prefix)\u{1F}\(name)"
            if skipping.contains(path) || path == "status" || ["managedFields", "resourceVersion", "uid", "generation", "creationTimestamp"]
                .contains(where: { path == "metadata\u{1F}" + $0 }) { continue }
            if case .object(let nested) = child, !nested.isEmpty {
                result.merge(leaves(child, skipping: skipping, prefix: path)) { $1 }
            } else {
                result[path] = child
            }
        }
        return result
    }
}

/// Label selectors as the API takes them: `a=b`, `a==b`, `a!=b`, `a`, `!a`, `a in (x,y)`,
/// `a notin (x,y)`, comma-separated.
enum LabelSelector {
    enum Requirement { case equals(String, String), notEquals(String, String), exists(String), absent(String), isIn(String, Set<String>), notIn(String, Set<String>) }

    static func parse(_ text: String) -> [Requirement]? {
        var requirements: [Requirement] = []
        var parts: [String] = []
        var depth = 0
        var current = ""
        for character in text {
            if character == "(" { depth += 1 }
            if character == ")" { depth -= 1 }
            if character == ",", depth == 0 { parts.append(current); current = "" } else { current.append(character) }
        }
        if !current.isEmpty { parts.append(current) }
        for raw in parts {
            let part = raw.trimmingCharacters(in: .whitespaces)
            if part.isEmpty { return nil }
            let words = part.split(separator: " ", maxSplits: 2).map(String.init)
            if words.count == 3, words[1] == "in" || words[1] == "notin" {
                let values = Set(words[2].trimmingCharacters(in: CharacterSet(charactersIn: "()")).split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
                requirements.append(words[1] == "in" ? .isIn(words[0], values) : .notIn(words[0], values))
            } else if let range = part.range(of: "!=") {
                requirements.append(.notEquals(String(part[..<range.lowerBound]), String(part[range.upperBound...])))
            } else if let range = part.range(of: "==") ?? part.range(of: "=") {
                requirements.append(.equals(String(part[..<range.lowerBound]), String(part[range.upperBound...])))
            } else if part.hasPrefix("!") {
                requirements.append(.absent(String(part.dropFirst())))
            } else {
                requirements.append(.exists(part))
            }
        }
        return requirements
    }

    static func matches(_ requirements: [Requirement], labels: JSONValue?) -> Bool {
        var values: [String: String] = [:]
        if case .object(let fields)? = labels { for (key, value) in fields { values[key] = value.string } }
        return requirements.allSatisfy { requirement in
            switch requirement {
            case .equals(let key, let value): values[key] == value
            case .notEquals(let key, let value): values[key] != value
            case .exists(let key): values[key] != nil
            case .absent(let key): values[key] == nil
            case .isIn(let key, let set): values[key].map(set.contains) ?? false
            case .notIn(let key, let set): !(values[key].map(set.contains) ?? false)
            }
        }
    }
}

extension JSONValue {
    var string: String? { if case .string(let text) = self { text } else { nil } }
    var integer: Int64? {
        switch self {
        case .integer(let value): value
        case .number(let value): Int64(exactly: value)
        default: nil
        }
    }
    var array: [JSONValue]? { if case .array(let items) = self { items } else { nil } }

    func path(_ keys: [String]) -> JSONValue? {
        var value = self
        for key in keys {
            guard case .object(let fields) = value, let next = fields[key] else { return nil }
            value = next
        }
        return value
    }

    /// Sets (or with nil removes) the value at `keys`, making objects on the way.
    mutating func set(_ keys: [String], _ newValue: JSONValue?) {
        guard let first = keys.first else {
            if let newValue { self = newValue }
            return
        }
        var fields: [String: JSONValue] = [:]
        if case .object(let existing) = self { fields = existing }
        if keys.count == 1 {
            fields[first] = newValue
        } else {
            var child = fields[first] ?? .object([:])
            child.set(Array(keys.dropFirst()), newValue)
            fields[first] = child
        }
        self = .object(fields)
    }

    mutating func remove(_ keys: [String]) { set(keys, nil) }

    /// RFC 7386 merge patch: objects merge, `null` removes, anything else replaces.
    mutating func mergePatch(_ patch: JSONValue) {
        guard case .object(let changes) = patch else {
            self = patch
            return
        }
        var fields: [String: JSONValue] = [:]
        if case .object(let existing) = self { fields = existing }
        for (key, change) in changes {
            if change == .null {
                fields[key] = nil
            } else {
                var child = fields[key] ?? .null
                child.mergePatch(change)
                fields[key] = child
            }
        }
        self = .object(fields)
    }
}
