import Foundation
import KeelsonCore
import KeelsonEngine
import KeelsonRuntimes
import KeelsonStore

/// What the projections hold for instances: their desired state (what was compiled for them) and
/// their current state (what their runtime last reported), and fetching them now.
extension ControlPlane {
    /// The desired state of every instance under `scope` (APP, APP/SERVICE or
    /// APP/SERVICE@CHANNEL), with the compiled documents, in instance order.
    public func desiredStates(scope text: String) async throws -> DesiredStatesResponse {
        let scope = try await knownScope(text)
        let position = try await store.lastPosition()
        let rows = try await store.desiredStates(prefix: scope.instancePrefix).filter { scope.contains($0.instance) }
        guard !rows.isEmpty else {
            throw APIError.notFound(
                "no desired state for \(scope) (has it been released? `keelson release \(scope.application)/\(scope.service ?? "SERVICE") --version V`)")
        }
        return DesiredStatesResponse(instances: try rows.map(DesiredStateEntry.init), position: position)
    }

    /// The latest observation of every instance under `scope`, in instance order.
    public func currentStates(scope text: String) async throws -> CurrentStatesResponse {
        let scope = try await knownScope(text)
        let position = try await store.lastPosition()
        let rows = try await store.currentStates(prefix: scope.instancePrefix).filter { scope.contains($0.instance) }
        guard !rows.isEmpty else {
            throw APIError.notFound(
                "no observation of \(scope) has been recorded yet (fetch one with `keelson get current \(scope) --refresh`)")
        }
        return CurrentStatesResponse(instances: try rows.map(CurrentStateEntry.init), position: position)
    }

    /// At most this many fetches of one runtime run at once for a `fetch` request.
    public static let fetchConcurrency = 8

    /// Fetches every instance under `scope` that has a desired state from its runtime now (the
    /// worker's, through `runtimeSource`, when there is one), and records the fetches (as the
    /// worker does). An instance whose fetch fails is reported with
    /// the error, and recorded as a failed fetch; the others go on.
    public func fetch(_ body: FetchBody, actor: String) async throws -> FetchReport {
        let scope = try await knownScope(body.scope)
        guard let intent = try await appliedIntent() else { throw Self.noConfig(application: scope.application) }
        let rows = try await store.desiredStates(prefix: scope.instancePrefix).filter { scope.contains($0.instance) }
        guard !rows.isEmpty else { throw APIError.notFound("no desired state for \(scope): nothing to fetch (has it been released?)") }
        // One batch per runtime, in instance order; the runtime is the one the document names.
        var batches: [(runtime: any Runtime, requests: [RuntimeRecorder.FetchRequest])] = []
        var failures: [FetchReport.Instance] = []
        let factory = RuntimeFactory(stateRoot: stateRoot)
        for row in rows {
            let state = DesiredState(row)
            let name: String
            do {
                name = try CompiledDocument.decode(row.document).runtime.name
            } catch {
                failures.append(FetchReport.Instance(instance: row.instance, runtime: nil, healthy: nil, error: "its desired state cannot be read: \(error)"))
                continue
            }
            guard let declared = intent.runtimes.first(where: { $0.name == name }) else {
                failures.append(FetchReport.Instance(
                    instance: row.instance, runtime: name, healthy: nil, error: "the applied config no longer declares its runtime '\(name)'"))
                continue
            }
            let request = RuntimeRecorder.FetchRequest(instance: state.instance, desired: state)
            if let index = batches.firstIndex(where: { $0.runtime.name == name }) {
                batches[index].requests.append(request)
            } else if let running = await runtimeSource?(name) {
                batches.append((running, [request]))
            } else {
                batches.append((factory.make(declared, in: intent), [request]))
            }
        }
        var reported = failures
        for batch in batches {
            let recorder = RuntimeRecorder(runtime: batch.runtime, store: store, actor: actor)
            for outcome in try await recorder.fetch(batch.requests, slots: FetchSlots(limit: Self.fetchConcurrency)) {
                switch outcome.result {
                case .success(let observation):
                    reported.append(FetchReport.Instance(
                        instance: outcome.instance.description, runtime: batch.runtime.name, healthy: observation.isHealthy, error: nil))
                case .failure(let error):
                    reported.append(FetchReport.Instance(
                        instance: outcome.instance.description, runtime: batch.runtime.name, healthy: nil, error: "\(error)"))
                }
            }
        }
        reported.sort { $0.instance < $1.instance }
        return FetchReport(instances: reported, position: try await store.lastPosition())
    }

    /// A scope parsed and checked against the applied config (404 for what it does not know).
    private func knownScope(_ text: String) async throws -> Scope {
        let scope = try Self.scope(text)
        try await requireKnown(application: scope.application, service: scope.service, channel: scope.channel)
        return scope
    }
}

extension ControlPlane.Scope {
    /// The key prefix of this scope's instances in the projections.
    var instancePrefix: String {
        guard let service else { return application + "/" }
        return channel == nil ? "\(application)/\(service)@" : description
    }

    /// Whether an instance (`app/service@channel`) lies within this scope.
    func contains(_ instance: String) -> Bool {
        channel == nil ? instance.hasPrefix(instancePrefix) : instance == description
    }
}

extension DesiredStateEntry {
    init(_ row: DesiredStateRow) throws {
        self.init(
            instance: row.instance, digest: row.digest, version: row.version,
            parameters: try StoredJSON.value(row.parameters, of: "the parameters of \(row.instance)'s desired state"),
            position: row.position, configDigest: row.configDigest, recordedAt: Text.time(row.recordedAtMilliseconds),
            document: try StoredJSON.value(row.document, of: "the document of \(row.instance)'s desired state"))
    }
}

extension CurrentStateEntry {
    init(_ row: CurrentStateRow) throws {
        let observation: Observation
        do {
            observation = try JSONDecoder().decode(Observation.self, from: Data(row.observation.utf8))
        } catch {
            throw StoredJSON.Unreadable(what: "the observation of \(row.instance) (position \(row.fetchedPosition))", error: "\(error)")
        }
        self.init(
            instance: row.instance, runtime: row.runtime, healthy: row.healthy, versions: observation.versions, observation: observation,
            fetchedPosition: row.fetchedPosition, lastSeenPosition: row.lastSeenPosition, lastSeenAt: Text.time(row.lastSeenAtMilliseconds))
    }
}

/// JSON kept in a projection row, read back.
enum StoredJSON {
    struct Unreadable: Error, CustomStringConvertible {
        var what: String
        var error: String
        var description: String { "\(what) in the database cannot be read (`keelson db check`): \(error)" }
    }

    static func value(_ text: String, of what: String) throws -> JSONValue {
        do {
            return try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        } catch {
            throw Unreadable(what: what, error: "\(error)")
        }
    }
}
