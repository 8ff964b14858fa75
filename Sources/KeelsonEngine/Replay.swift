import Foundation
import KeelsonCore
import KeelsonStore

extension EventStore {
    /// The engine's state folded from the log, up to `position` (inclusive; nil: everything).
    public func engineState(upTo position: Int64? = nil) async throws -> EngineState {
        var state = EngineState()
        try await foldEngineEvents(upTo: position) { state.evolve($0) }
        return state
    }

    /// One instance's record as the engine's fold had it at `position`, folded from the events
    /// that can change it — its own stream's, its service's (releases, bad marks) and the workers'
    /// starts — instead of from the whole log: what `explain` reads, at a cost that grows with
    /// the instance's history, not the log's. Equal to `engineState(upTo:).instances[id]` (a
    /// test checks it on every instance of a scenario at every position).
    /// `stream`: the instance's stream, when the caller has read it already (any events past
    /// `position` are left out here).
    public func instanceRecord(_ id: ServiceInstanceID, upTo position: Int64, stream: [RecordedEvent]? = nil) async throws -> InstanceRecord? {
        let types = EngineState.eventTypes
        var own = stream?.filter { $0.position <= position && types.contains($0.type) } ?? []
        if stream == nil { own = try await events(EventFilter(stream: .instance(id), types: types, upToPosition: position)) }
        let service = try await events(EventFilter(stream: .service(id.application, id.service), types: types, upToPosition: position))
        let starts = try await events(EventFilter(types: [WorkerStarted.eventType], upToPosition: position))
        var state = EngineState()
        for event in (own + service + starts).sorted(by: { $0.position < $1.position }) { state.evolve(event) }
        return state.instances[id]
    }

    /// Feeds every event the engine folds, in log order, to `body`, reading a page ahead.
    func foldEngineEvents(from start: Int64 = 0, upTo end: Int64? = nil, _ body: (RecordedEvent) throws -> Void) async throws {
        var filter = EventFilter(afterPosition: start, types: EngineState.eventTypes, upToPosition: end)
        filter.typesAreMostOfTheLog = true
        var pages = EventPages(self, filter)
        defer { pages.cancel() }
        while let page = try await pages.next() {
            for event in page { try body(event) }
        }
    }
}

/// Replays recorded decisions: rebuilds the engine's view along the log, in one pass, and asks
/// `decide` again at each decision's view position and `now`.
public enum Replay {
    public struct Difference: Sendable, Hashable, Codable {
        public var position: Int64
        public var instance: String
        public var recordedEngineVersion: Int
        public var recorded: Decision
        public var replayed: Decision
        /// One line per differing field.
        public var diff: [String]
    }

    /// A recorded decision that cannot be read.
    public struct Unreadable: Sendable, Hashable, Codable {
        public var position: Int64
        public var stream: String
        public var problem: String
    }

    public struct Report: Sendable, Codable {
        public var decisions: Int
        public var matched: Int
        public var differences: [Difference]
        /// Decisions made by an engine version this Keelson cannot decide with (engine 1).
        public var skipped: Int
        /// Recorded decisions whose payload does not read as a `DecisionMade`, with why: none can
        /// be replayed, so none is counted as identical (`--verify` fails on them).
        public var unreadable: [Unreadable] = []
        /// The engine every decision was replayed with (nil: each with the version that made it).
        public var engine: Int?
        public var firstPosition: Int64?
        public var lastPosition: Int64?
    }

    /// `from`/`to` bound the decisions replayed (by their own positions). Each decision is
    /// replayed with the engine version that made it, or with `engine` (one of `Engine.versions`):
    /// "what would engine N have decided here?".
    public static func run(
        store: EventStore, from: Int64 = 0, to: Int64? = nil, engine: Int? = nil
    ) async throws -> Report {
        // The decisions to replay and the view positions they need (a scan of one event type).
        var wanted: [(position: Int64, made: DecisionMade)] = []
        // Each decision's decoded payload: the fold below folds the same decision, and decoding
        // is most of a replay's work.
        var decoded: [Int64: DecisionMade] = [:]
        var unreadable: [Unreadable] = []
        var pages = EventPages(store, EventFilter(afterPosition: max(0, from - 1), types: [DecisionMade.eventType], upToPosition: to))
        defer { pages.cancel() }
        while let page = try await pages.next() {
            for event in page {
                do {
                    let made = try event.decode(DecisionMade.self)
                    wanted.append((event.position, made))
                    decoded[event.position] = made
                } catch {
                    unreadable.append(Unreadable(
                        position: event.position, stream: event.streamID.rawValue,
                        problem: PayloadCheck.problems(type: event.type, payload: event.payload).first ?? "\(error)"))
                }
            }
        }
        var report = Report(decisions: wanted.count + unreadable.count, matched: 0, differences: [], skipped: 0, engine: engine,
                            firstPosition: wanted.first?.position, lastPosition: wanted.last?.position)
        report.unreadable = unreadable
        if let first = unreadable.first?.position { report.firstPosition = min(report.firstPosition ?? first, first) }
        if let last = unreadable.last?.position { report.lastPosition = max(report.lastPosition ?? last, last) }
        guard !wanted.isEmpty else { return report }
        let byView = Dictionary(grouping: wanted, by: \.made.viewPosition)
        let viewPositions = byView.keys.sorted()
        var next = 0
        var state = EngineState()

        func check(upTo position: Int64) {
            while next < viewPositions.count, viewPositions[next] <= position {
                for (eventPosition, made) in byView[viewPositions[next]]!.sorted(by: { $0.position < $1.position }) {
                    let version = engine ?? made.engineVersion
                    guard Engine.versions.contains(version) else {
                        report.skipped += 1
                        continue
                    }
                    guard let view = state.view(of: made.instance) else {
                        report.differences.append(Difference(
                            position: eventPosition, instance: made.instance.description, recordedEngineVersion: made.engineVersion,
                            recorded: made.decision, replayed: Decision(status: .idle, reason: .words("(no view: no policy or instance)")),
                            diff: ["view: the instance or its application's policy is missing at position \(made.viewPosition)"]))
                        continue
                    }
                    let replayed = Engine.decide(view, nowMilliseconds: made.nowMilliseconds, engine: version)
                    if same(made.decision, replayed, at: made.nowMilliseconds) {
                        report.matched += 1
                    } else {
                        report.differences.append(Difference(
                            position: eventPosition, instance: made.instance.description, recordedEngineVersion: made.engineVersion,
                            recorded: made.decision, replayed: replayed, diff: diff(made.decision, replayed, at: made.nowMilliseconds)))
                    }
                }
                next += 1
            }
        }
        try await store.foldEngineEvents(upTo: viewPositions.last!) { event in
            check(upTo: event.position - 1)
            if let made = decoded.removeValue(forKey: event.position) {
                state.evolve(event, .success(.decisionMade(made)))
            } else {
                state.evolve(event)
            }
        }
        check(upTo: Int64.max)
        return report
    }

    /// Whether two decisions are the same: as values — and where one says why only in words (a
    /// decision of engine 2, or one replayed by it), with the other's reason in words as at `now`.
    static func same(_ recorded: Decision, _ replayed: Decision, at now: Int64) -> Bool {
        switch (recorded.reason, replayed.reason) {
        case (.words, _), (_, .words):
            var (left, right) = (recorded, replayed)
            left.reason = .words(recorded.reason.words(at: now))
            right.reason = .words(replayed.reason.words(at: now))
            return left == right
        default:
            return recorded == replayed
        }
    }

    /// One line per differing field; reasons in words as at `now`, the decision's time.
    static func diff(_ recorded: Decision, _ replayed: Decision, at now: Int64) -> [String] {
        var lines: [String] = []
        if recorded.status != replayed.status { lines.append("status: \(recorded.status.rawValue) → \(replayed.status.rawValue)") }
        if recorded.waitingFor != replayed.waitingFor {
            lines.append("waitingFor: \(recorded.waitingFor?.rawValue ?? "-") → \(replayed.waitingFor?.rawValue ?? "-")")
        }
        if recorded.version != replayed.version { lines.append("version: \(recorded.version ?? "-") → \(replayed.version ?? "-")") }
        let (before, after) = (recorded.reason.words(at: now), replayed.reason.words(at: now))
        if before != after {
            lines.append("reason: \(before) → \(after)")
        } else if !same(Decision(status: .idle, reason: recorded.reason), Decision(status: .idle, reason: replayed.reason), at: now) {
            lines.append("reason: the same words, another reason: \(recorded.reason) → \(replayed.reason)")
        }
        if recorded.actions != replayed.actions {
            lines.append("actions: \(recorded.actions.map(describe)) → \(replayed.actions.map(describe))")
        }
        if recorded.wakeAtMilliseconds != replayed.wakeAtMilliseconds {
            lines.append("wakeAt: \(recorded.wakeAtMilliseconds.map(Text.time) ?? "-") → \(replayed.wakeAtMilliseconds.map(Text.time) ?? "-")")
        }
        return lines
    }

    public static func describe(_ action: DecisionAction) -> String {
        switch action {
        case .apply(let version, _, let rollback): rollback ? "roll back to \(version)" : "apply \(version)"
        case .markConverged(let version, _): "mark \(version) converged"
        case .markGood(let version, _): "mark \(version) good"
        case .markBad(let version, let reason): "mark \(version) bad (\(reason))"
        case .reissue(let id): "re-issue \(id)"
        case .abandon(let id, let reason): "abandon \(id) (\(reason))"
        }
    }
}
