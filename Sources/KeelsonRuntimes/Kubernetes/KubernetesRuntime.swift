import Foundation
import KeelsonCore
import Synchronization

/// Settings of a `kubernetes` runtime (its `settings:` in config).
public struct KubernetesSettings: Sendable, Hashable {
    /// A kubeconfig file (default: `KUBECONFIG`, then `~/.kube/config`, then in-cluster).
    public var kubeconfig: String?
    /// A context of the kubeconfig other than its current one.
    public var context: String?
    /// The namespace for objects that name none (default: the context's, else `default`).
    public var namespace: String?
    /// Server-side apply takes fields another field manager owns instead of failing.
    public var forceConflicts = false
    /// How long one API request may take.
    public var requestTimeout: Duration = .seconds(30)
    /// The kinds the manifests use (`apps/v1 Deployment`), for `runtime check`'s permission review.
    public var kinds: [KindReference] = []
    /// The namespaces the instances deploy into (per channel), for `runtime check`; the
    /// connection's namespace when none is named.
    public var namespaces: [String] = []

    public init() {}
}

/// A kind as manifests name it.
public struct KindReference: Sendable, Hashable, Comparable {
    public var apiVersion: String
    public var kind: String

    public init(apiVersion: String, kind: String) {
        self.apiVersion = apiVersion
        self.kind = kind
    }

    public static func < (a: KindReference, b: KindReference) -> Bool { (a.apiVersion, a.kind) < (b.apiVersion, b.kind) }
}

/// Deploys manifests as they are to a Kubernetes cluster: server-side apply as field manager
/// `keelson`, Keelson's labels and annotations on every object, pruning of what the instance no
/// longer declares, health by kind and drift from a server-side dry run.
///
/// An apply returns once the API server has accepted every object (and pruned what is gone); the
/// rollout is then observed by fetches, whose health the engine holds against the service's
/// progress deadline. Waiting for the rollout inside the apply would hold an apply slot for
/// minutes and lose the wait to a crash; a fetch loses nothing.
public final class KubernetesRuntime: Runtime {
    public let name: String
    public let settings: KubernetesSettings
    /// The client, or why none could be made (a kubeconfig problem is said by every call).
    private let client: Result<KubeClient, KubeProblem>
    private let driftMemo = Mutex<[String: DriftMemo]>([:])

    /// Labels and annotations Keelson puts on every object it applies.
    public static let instanceLabel = "keelson.dev/instance"
    public static let managedByLabel = "keelson.dev/managed-by"
    public static let releaseAnnotation = "keelson.dev/release"
    public static let digestAnnotation = "keelson.dev/digest"
    public static let fieldManager = "keelson"

    /// Kinds whose objects of an instance are pruned when its manifests drop them, besides the
    /// kinds the manifests use — kubectl's own prune list. Only objects that carry both of
    /// Keelson's labels for the instance are ever deleted.
    public static let pruneKinds: [KindReference] = [
        ("v1", "ConfigMap"), ("v1", "Secret"), ("v1", "Service"), ("v1", "PersistentVolumeClaim"), ("v1", "Pod"), ("v1", "ServiceAccount"),
        ("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"), ("apps/v1", "DaemonSet"), ("batch/v1", "Job"), ("batch/v1", "CronJob"),
        ("networking.k8s.io/v1", "Ingress"),
    ].map { KindReference(apiVersion: $0.0, kind: $0.1) }

    struct KubeProblem: Error, CustomStringConvertible {
        var description: String
    }

    public init(name: String, settings: KubernetesSettings, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.name = name
        self.settings = settings
        do {
            let connection = try KubeConfigLoader.connection(
                kubeconfig: settings.kubeconfig, context: settings.context, namespace: settings.namespace, environment: environment)
            client = .success(try KubeClient(connection, timeout: settings.requestTimeout))
        } catch {
            client = .failure(KubeProblem(description: "\(error)"))
        }
    }

    /// The instance's label value: `application.service.channel` (names hold no dots), or when
    /// that is longer than a label value may be, its first 46 characters and a digest of the rest.
    public static func labelValue(_ instance: ServiceInstanceID) -> String {
        let plain = "\(instance.application).\(instance.service).\(instance.channel)"
        guard plain.utf8.count > 63 else { return plain }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in plain.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        let head = String(plain.prefix(46)).trimmingCharacters(in: CharacterSet(charactersIn: ".-"))
        return head + "-" + String(repeating: "0", count: 16 - hex.count) + hex
    }

    static func selector(_ instance: ServiceInstanceID) -> String {
        "\(instanceLabel)=\(labelValue(instance)),\(managedByLabel)=keelson"
    }

    // MARK: objects of a desired state

    /// One object of the instance's manifests, ready to apply.
    struct Planned {
        var object: JSONValue
        var resource: KubeResource
        var namespace: String?
        var name: String

        var shown: String { "\(resource.kind) \(namespace.map { "\($0)/" } ?? "")\(name)" }
    }

    struct Manifest: Decodable {
        struct Run: Decodable {
            struct Kubernetes: Decodable {
                var objects: [JSONValue]
                var namespace: String?
            }

            var kubernetes: Kubernetes?
        }

        var run: Run
    }

    /// The desired state's objects with Keelson's labels and annotations, resolved to resources.
    func plan(_ state: DesiredState, client: KubeClient) async throws -> [Planned] {
        let manifest: Manifest
        do {
            manifest = try PayloadDecoder().decode(Manifest.self, from: state.document)
        } catch {
            throw KubeProblem(description: "the desired state of \(state.instance) cannot be read: \(error)")
        }
        guard let kubernetes = manifest.run.kubernetes else {
            throw KubeProblem(description: "the desired state of \(state.instance) names no Kubernetes manifests (run.kubernetes)")
        }
        let label = Self.labelValue(state.instance)
        var planned: [Planned] = []
        for (index, var object) in kubernetes.objects.enumerated() {
            guard let apiVersion = object.field("apiVersion")?.text, let kind = object.field("kind")?.text,
                  let name = object.field("metadata", "name")?.text, !name.isEmpty
            else {
                throw KubeProblem(description: "object \(index + 1) of \(state.instance)'s manifests lacks apiVersion, kind or metadata.name")
            }
            let resource = try await client.resource(apiVersion: apiVersion, kind: kind)
            var namespace: String?
            if resource.namespaced {
                namespace = object.field("metadata", "namespace")?.text ?? kubernetes.namespace ?? client.connection.namespace
                object.set(["metadata", "namespace"], .string(namespace!))
            }
            object.set(["metadata", "labels", Self.instanceLabel], .string(label))
            object.set(["metadata", "labels", Self.managedByLabel], .string("keelson"))
            object.set(["metadata", "annotations", Self.releaseAnnotation], .string(state.version))
            object.set(["metadata", "annotations", Self.digestAnnotation], .string(state.digest))
            planned.append(Planned(object: object, resource: resource, namespace: namespace, name: name))
        }
        return planned
    }

    private func connected() throws -> KubeClient {
        switch client {
        case .success(let client): return client
        case .failure(let problem): throw problem
        }
    }

    // MARK: Runtime

    public func apply(_ state: DesiredState, idempotencyKey: String, timeout: Duration) async throws -> ApplyResult {
        let forceConflicts = settings.forceConflicts
        let runtime = name
        return await Self.bounded(by: timeout, doing: "apply") { progress in
            let client = try self.connected()
            let planned = try await self.plan(state, client: client)
            for object in planned {
                do {
                    let existed = try await client.get(object.resource, namespace: object.namespace, name: object.name) != nil
                    _ = try await client.apply(
                        object.object, resource: object.resource, namespace: object.namespace, name: object.name,
                        fieldManager: Self.fieldManager, force: forceConflicts)
                    progress.record("\(existed ? "configured" : "created") \(object.shown)")
                } catch let error as KubeAPIError where error.code == 409 {
                    throw Failed(message: "\(object.shown): \(error.message)" + (forceConflicts ? "" : " — another field manager owns these fields; set forceConflicts: true on runtime \(runtime) to take them over"))
                }
            }
            try await self.prune(state.instance, keeping: planned, client: client, progress: progress)
        }
    }

    /// An apply or remove that ends with a message of its own rather than the error's description.
    struct Failed: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    /// The lines an apply or remove has written so far: kept when its deadline cuts it short.
    final class Progress: Sendable {
        private let lines = Mutex<[String]>([])
        func record(_ line: String) { lines.withLock { $0.append(line) } }
        var all: [String] { lines.withLock { $0 } }
    }

    /// Runs `work` until it ends or `timeout` passes, whichever is first (the work is then
    /// cancelled: a request in flight is abandoned), as an ``ApplyResult`` with what it recorded.
    /// A timeout is a failed apply, not a thrown error.
    static func bounded(
        by timeout: Duration, doing what: String, _ work: @escaping @Sendable (Progress) async throws -> Void
    ) async -> ApplyResult {
        let clock = ContinuousClock()
        let started = clock.now
        let progress = Progress()
        let error: String? = await withTaskGroup(of: String?.self) { group in
            group.addTask {
                do {
                    try await work(progress)
                    return nil
                } catch {
                    return "\(error)"
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return Task.isCancelled ? nil : "\(what) timed out after \(timeout.short)"
            }
            let first = await group.next()!
            group.cancelAll()
            return first
        }
        // A line per object; each line's text (names a server answered with) shown printable.
        let output = progress.all.map { BoundedInput.printable($0, limit: 600) }.joined(separator: "\n")
        return ApplyResult(
            succeeded: error == nil, durationMilliseconds: (clock.now - started).milliseconds,
            output: output.count > 8_000 ? String(output.prefix(8_000)) + "…" : output, error: error)
    }

    /// Deletes the instance's objects (by its labels, of the kinds Keelson applies) that
    /// `keeping` does not name, recording a line per object deleted.
    func prune(_ instance: ServiceInstanceID, keeping: [Planned], client: KubeClient, progress: Progress) async throws {
        var kinds = Set(Self.pruneKinds)
        for object in keeping { kinds.insert(KindReference(apiVersion: object.resource.apiVersion, kind: object.resource.kind)) }
        let kept = Set(keeping.map { "\($0.resource.apiVersion) \($0.resource.kind) \($0.namespace ?? "") \($0.name)" })
        for kind in kinds.sorted() {
            let resource: KubeResource
            do {
                resource = try await client.resource(apiVersion: kind.apiVersion, kind: kind.kind)
            } catch let error as KubeAPIError where error.code == 404 {
                continue  // a kind this server does not serve holds nothing of ours
            }
            for object in try await client.list(resource, namespace: nil, labelSelector: Self.selector(instance)) {
                guard let name = object.field("metadata", "name")?.text else { continue }
                let namespace = object.field("metadata", "namespace")?.text
                guard !kept.contains("\(resource.apiVersion) \(resource.kind) \(namespace ?? "") \(name)") else { continue }
                if try await client.delete(resource, namespace: namespace, name: name) {
                    progress.record("pruned \(resource.kind) \(namespace.map { "\($0)/" } ?? "")\(name)")
                }
            }
        }
    }

    public func fetch(_ instance: ServiceInstanceID, desired: DesiredState?) async throws -> Observation {
        do {
            let client = try connected()
            guard let desired else {
                // Nothing to compare with: the objects that carry the instance's labels.
                return Observation(objects: try await labelled(instance, client: client).map { observe($0, resource: nil, planned: nil, differences: nil) })
            }
            let planned = try await plan(desired, client: client)
            var objects: [ObservedObject] = []
            for object in planned {
                guard let live = try await client.get(object.resource, namespace: object.namespace, name: object.name) else {
                    objects.append(ObservedObject(
                        name: object.shown, version: nil, desiredReplicas: 1, readyReplicas: 0, health: .unhealthy, message: "missing", drifted: true))
                    continue
                }
                objects.append(observe(
                    live, resource: object.resource, planned: object,
                    differences: try await drift(of: live, from: object, desired: desired, client: client)))
            }
            return Observation(objects: objects)
        } catch {
            throw FetchError(runtime: name, instance: instance, reason: "\(error)")
        }
    }

    /// Where the live object differs from what an apply of `planned` would make of it now (a
    /// server-side dry run), or nil when the dry run fails. The answer is kept per object with
    /// the live `resourceVersion` and the desired digest: while neither moves — a settled
    /// instance — the same answer is given again without asking the server, which halves what
    /// a stable fetch costs the API server. Any write to the object (a hand edit, a scale, a
    /// status update) changes its `resourceVersion` and asks again.
    func drift(of live: JSONValue, from planned: Planned, desired: DesiredState, client: KubeClient) async throws -> [String]? {
        let key = "\(desired.instance) \(planned.shown)"
        let resourceVersion = live.field("metadata", "resourceVersion")?.text
        if let resourceVersion, let known = driftMemo.withLock({ $0[key] }),
           known.resourceVersion == resourceVersion, known.digest == desired.digest {
            return known.differences
        }
        guard let dryRun = try? await client.apply(
            planned.object, resource: planned.resource, namespace: planned.namespace, name: planned.name,
            fieldManager: Self.fieldManager, force: true, dryRun: true)
        else { return nil }
        let differences = KubeDrift.differences(live: live, wanted: dryRun)
        if let resourceVersion {
            let memo = DriftMemo(resourceVersion: resourceVersion, digest: desired.digest, differences: differences)
            driftMemo.withLock { known in
                if known.count >= Self.driftMemoLimit { known.removeAll() }
                known[key] = memo
            }
        }
        return differences
    }

    struct DriftMemo: Sendable {
        var resourceVersion: String
        var digest: String
        var differences: [String]
    }

    /// The most objects whose drift is kept (then all are forgotten and asked for again).
    static let driftMemoLimit = 200_000

    /// Every object that carries the instance's labels, of the kinds Keelson applies.
    func labelled(_ instance: ServiceInstanceID, client: KubeClient) async throws -> [JSONValue] {
        var found: [JSONValue] = []
        for kind in Self.pruneKinds {
            guard let resource = try? await client.resource(apiVersion: kind.apiVersion, kind: kind.kind) else { continue }
            found += try await client.list(resource, namespace: nil, labelSelector: Self.selector(instance))
        }
        return found
    }

    /// A live object as an observation: its release (Keelson's annotation, else its first
    /// container's image tag), replicas and health by kind, and whether it drifted from what an
    /// apply would make of it.
    func observe(_ live: JSONValue, resource: KubeResource?, planned: Planned?, differences: [String]?) -> ObservedObject {
        let assessment = KubeHealth.assess(live)
        let kind = live.field("kind")?.text ?? resource?.kind ?? "Object"
        let namespace = live.field("metadata", "namespace")?.text
        let name = live.field("metadata", "name")?.text ?? planned?.name ?? "?"
        var version = live.field("metadata", "annotations", Self.releaseAnnotation)?.text
        if version == nil {
            let image = live.field("spec", "template", "spec", "containers")?.list?.first?.field("image")?.text
                ?? live.field("spec", "containers")?.list?.first?.field("image")?.text
            if let image, let colon = image.lastIndex(of: ":"), !image[colon...].contains("/") { version = String(image[image.index(after: colon)...]) }
        }
        var drifted = false
        var message = assessment.message
        if let differences {
            if !differences.isEmpty {
                drifted = true
                let shown = differences.prefix(3).joined(separator: ", ") + (differences.count > 3 ? " and \(differences.count - 3) more" : "")
                message = [message, "drifted: \(shown)"].compactMap { $0 }.joined(separator: "; ")
            }
        }
        return ObservedObject(
            name: "\(kind) \(namespace.map { "\($0)/" } ?? "")\(name)", version: version, desiredReplicas: assessment.desiredReplicas,
            readyReplicas: assessment.readyReplicas, health: assessment.health, message: message, drifted: drifted)
    }

    public func remove(_ instance: ServiceInstanceID, desired: DesiredState?, timeout: Duration) async throws -> ApplyResult {
        await Self.bounded(by: timeout, doing: "remove") { progress in
            let client = try self.connected()
            var planned: [Planned] = []
            if let desired { planned = (try? await self.plan(desired, client: client)) ?? [] }
            // Nothing is kept: every object of the instance goes, of its manifests' kinds too.
            try await self.prune(instance, keeping: [], client: client, extraKinds: planned, progress: progress)
        }
    }

    func prune(_ instance: ServiceInstanceID, keeping: [Planned], client: KubeClient, extraKinds: [Planned], progress: Progress) async throws {
        var seen = Set(Self.pruneKinds)
        for object in extraKinds where seen.insert(KindReference(apiVersion: object.resource.apiVersion, kind: object.resource.kind)).inserted {
            for live in try await client.list(object.resource, namespace: nil, labelSelector: Self.selector(instance)) {
                guard let name = live.field("metadata", "name")?.text else { continue }
                let namespace = live.field("metadata", "namespace")?.text
                if try await client.delete(object.resource, namespace: namespace, name: name) {
                    progress.record("pruned \(object.resource.kind) \(namespace.map { "\($0)/" } ?? "")\(name)")
                }
            }
        }
        try await prune(instance, keeping: keeping, client: client, progress: progress)
    }

    public func check() async -> [RuntimeCheck] {
        let client: KubeClient
        switch self.client {
        case .success(let built): client = built
        case .failure(let problem): return [RuntimeCheck(name: "credentials", passed: false, detail: problem.description)]
        }
        var checks = [RuntimeCheck(name: "credentials", passed: true, detail: client.connection.source)]
        if client.connection.insecureSkipTLSVerify {
            checks.append(RuntimeCheck(
                name: "tls", passed: true,
                detail: "warning: insecure-skip-tls-verify is set — the server's certificate is not verified, so anyone between Keelson and the cluster can read and change what it sends"))
        }
        do {
            checks.append(RuntimeCheck(name: "reachable", passed: true, detail: "\(client.connection.server), Kubernetes \(try await client.serverVersion())"))
        } catch let error as KubeAPIError where error.code == 401 {
            // A server that refuses the credentials has answered: it is there.
            checks.append(RuntimeCheck(name: "reachable", passed: true, detail: "\(client.connection.server) answers"))
            checks.append(RuntimeCheck(name: "authenticated", passed: false, detail: "\(error)"))
            return checks
        } catch {
            checks.append(RuntimeCheck(name: "reachable", passed: false, detail: "\(error)"))
            return checks
        }
        let namespaces = settings.namespaces.isEmpty ? [client.connection.namespace] : settings.namespaces
        do {
            let resource = try await client.resource(apiVersion: "v1", kind: "Namespace")
            var missing: [String] = []
            for namespace in namespaces where try await client.get(resource, namespace: nil, name: namespace) == nil {
                missing.append(namespace)
            }
            checks.append(RuntimeCheck(name: "authenticated", passed: true, detail: "the API answers these credentials"))
            checks.append(RuntimeCheck(
                name: "namespace", passed: missing.isEmpty,
                detail: missing.isEmpty
                    ? "\(namespaces.joined(separator: ", ")) \(namespaces.count == 1 ? "exists" : "exist")"
                    : "\(missing.count == 1 ? "namespace" : "namespaces") \(missing.joined(separator: ", ")) \(missing.count == 1 ? "does" : "do") not exist"))
        } catch let error as KubeAPIError where error.code == 401 {
            checks.append(RuntimeCheck(name: "authenticated", passed: false, detail: "\(error)"))
            return checks
        } catch {
            checks.append(RuntimeCheck(name: "namespace", passed: false, detail: "\(error)"))
        }
        let kinds = settings.kinds.isEmpty ? [KindReference(apiVersion: "apps/v1", kind: "Deployment"), KindReference(apiVersion: "v1", kind: "Service")] : settings.kinds
        let places = namespaces.joined(separator: ", ")
        for kind in kinds.sorted() {
            do {
                let resource = try await client.resource(apiVersion: kind.apiVersion, kind: kind.kind)
                var refused: [String] = []
                for namespace in resource.namespaced ? namespaces : [namespaces[0]] {
                    for verb in ["get", "list", "patch", "delete"] {
                        let review = try await client.mayI(verb, resource, namespace: resource.namespaced ? namespace : nil)
                        if !review.allowed {
                            refused.append("\(verb) \(resource.name)" + (resource.namespaced ? " in \(namespace)" : "") + (review.reason.map { " (\($0))" } ?? ""))
                        }
                    }
                }
                checks.append(RuntimeCheck(
                    name: "permitted \(kind.kind)", passed: refused.isEmpty,
                    detail: refused.isEmpty
                        ? "get, list, patch and delete \(resource.name)\(resource.namespaced ? " in \(places)" : "")"
                        : "may not \(refused.joined(separator: ", "))"))
            } catch {
                checks.append(RuntimeCheck(name: "permitted \(kind.kind)", passed: false, detail: "\(error)"))
            }
        }
        return checks
    }
}

/// Drift as `kubectl diff` finds it: the object a server-side dry-run apply would make, compared
/// with the live one, ignoring what the server owns (status, managed fields, resource version,
/// generation, uid, creation time).
enum KubeDrift {
    static let ignoredMetadata: Set<String> = ["managedFields", "resourceVersion", "generation", "uid", "creationTimestamp", "selfLink"]

    /// The paths at which `live` differs from `wanted` (`.spec.replicas`), sorted.
    static func differences(live: JSONValue, wanted: JSONValue) -> [String] {
        var found: [String] = []
        compare(strip(live), strip(wanted), path: "", into: &found)
        return found.sorted()
    }

    static func strip(_ object: JSONValue) -> JSONValue {
        guard case .object(var fields) = object else { return object }
        fields["status"] = nil
        if case .object(var metadata)? = fields["metadata"] {
            for key in ignoredMetadata { metadata[key] = nil }
            fields["metadata"] = .object(metadata)
        }
        return .object(fields)
    }

    static func compare(_ live: JSONValue?, _ wanted: JSONValue?, path: String, into found: inout [String]) {
        if live == wanted { return }
        if case .object(let a)? = live, case .object(let b)? = wanted {
            for key in Set(a.keys).union(b.keys) { compare(a[key], b[key], path: path + "." + key, into: &found) }
            return
        }
        found.append(path.isEmpty ? "." : path)
    }
}

extension JSONValue {
    /// Sets the value at a path of object keys, making objects on the way.
    mutating func set(_ keys: [String], _ newValue: JSONValue) {
        guard let first = keys.first else {
            self = newValue
            return
        }
        var fields: [String: JSONValue] = [:]
        if case .object(let existing) = self { fields = existing }
        var child = fields[first] ?? .object([:])
        child.set(Array(keys.dropFirst()), newValue)
        fields[first] = child
        self = .object(fields)
    }
}
