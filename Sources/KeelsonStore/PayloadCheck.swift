import Foundation
import GRDB
import KeelsonCore

/// Checks a payload recorded (or about to be recorded) under one of Keelson's own event types: it
/// must decode as that type, and every duration, time, position and count in it must lie within
/// the bounds Keelson accepts where such values enter (``InputLimits``) — a `PolicyCompiled` with
/// a soak of 10^18 seconds is refused by `keelson events append` and reported by `keelson db check`,
/// whether it was written by hand or before the bounds existed. Other event types are not checked.
public enum PayloadCheck {
    /// The event types this check knows.
    public static var knownTypes: [String] { checks.keys.sorted() }

    /// What is wrong with `payload` as an event of `type`, in words; empty when nothing is (or the
    /// type is not one of Keelson's).
    public static func problems(type: String, payload: String) -> [String] {
        guard let check = checks[type] else { return [] }
        do {
            return try check(Data(payload.utf8))
        } catch let error as DecodingError {
            return ["the payload does not decode as \(type): \(describe(error))"]
        } catch {
            return ["the payload does not decode as \(type): \(error)"]
        }
    }

    private typealias Check = @Sendable (Data) throws -> [String]

    private static func decode<Payload: Decodable>(_ type: Payload.Type, _ data: Data) throws -> Payload {
        // The decoder every fold reads with: what passes here is what they read.
        try PayloadDecoder().decode(Payload.self, from: data)
    }

    /// Decodes only; the type has no bounded values.
    private static func decodes<Payload: Decodable & SendableMetatype>(_: Payload.Type) -> Check {
        { data in _ = try decode(Payload.self, data); return [] }
    }

    private static let checks: [String: Check] = [
        PolicyCompiled.eventType: { data in policyProblems(try decode(PolicyCompiled.self, data).policy) },
        DesiredStateCompiled.eventType: { data in
            let compiled = try decode(DesiredStateCompiled.self, data)
            var problems = documentProblems(compiled.document, field: "document")
            if ServiceInstanceID(compiled.instance) == nil {
                problems.append("instance: expected APPLICATION/SERVICE@CHANNEL, found \(BoundedInput.quoted(compiled.instance))")
            }
            return problems
        },
        HistoryArchived.eventType: decodes(HistoryArchived.self),
        HistoryRestored.eventType: decodes(HistoryRestored.self),
        ApplyRequested.eventType: { data in documentProblems(try decode(ApplyRequested.self, data).document, field: "document") },
        DecisionMade.eventType: { data in
            let made = try decode(DecisionMade.self, data)
            var problems = [
                position(made.viewPosition, "viewPosition"), time(made.nowMilliseconds, "nowMilliseconds"),
            ].compactMap { $0 }
            if let wake = made.decision.wakeAtMilliseconds, let problem = time(wake, "decision.wakeAtMilliseconds") { problems.append(problem) }
            return problems
        },
        StateFetched.eventType: { data in
            let fetched = try decode(StateFetched.self, data)
            return fetched.observation.objects.enumerated().flatMap { index, object in
                [count(object.readyReplicas, "observation.objects[\(index)].readyReplicas"),
                 count(object.desiredReplicas, "observation.objects[\(index)].desiredReplicas")].compactMap { $0 }
            }
        },
        StateUnchanged.eventType: { data in
            let unchanged = try decode(StateUnchanged.self, data)
            var problems = [position(unchanged.sameAs, "sameAs")].compactMap { $0 }
            if let fetches = unchanged.fetches, fetches < 1 { problems.append("fetches: expected 1 or more, found \(fetches)") }
            if let first = unchanged.firstMilliseconds, let problem = time(first, "firstMilliseconds") { problems.append(problem) }
            if let last = unchanged.lastMilliseconds, let problem = time(last, "lastMilliseconds") { problems.append(problem) }
            if let first = unchanged.firstMilliseconds, let last = unchanged.lastMilliseconds, first > last {
                problems.append("firstMilliseconds: \(first) is after lastMilliseconds \(last)")
            }
            return problems
        },
        FetchFailed.eventType: decodes(FetchFailed.self),
        ApplyStarted.eventType: decodes(ApplyStarted.self),
        ApplyFinished.succeededType: decodes(ApplyFinished.self),
        ApplyFinished.failedType: decodes(ApplyFinished.self),
        WorkerStarted.eventType: decodes(WorkerStarted.self),
        LeaseAcquired.eventType: decodes(LeaseAcquired.self),
        ApprovalGranted.eventType: decodes(ApprovalGranted.self),
        ApprovalRejected.eventType: decodes(ApprovalRejected.self),
        AlertFired.eventType: decodes(AlertFired.self),
        AlertResolved.eventType: decodes(AlertResolved.self),
        Paused.eventType: decodes(Paused.self),
        Resumed.eventType: decodes(Resumed.self),
        ReleaseMarkedBad.eventType: decodes(ReleaseMarkedBad.self),
        RollbackRequested.eventType: decodes(RollbackRequested.self),
        ConfigApplied.eventType: decodes(ConfigApplied.self),
        ReleaseRequested.eventType: decodes(ReleaseRequested.self),
        CompileFailed.eventType: decodes(CompileFailed.self),
    ]

    private static func policyProblems(_ policy: ApplicationPolicy) -> [String] {
        var problems: [String] = []
        if let maxConverging = policy.maxConverging, maxConverging < 1 {
            problems.append("policy.maxConverging: expected 1 or more, found \(maxConverging)")
        }
        for (index, channel) in policy.channels.enumerated() {
            let at = "policy.channels[\(index)] (\(BoundedInput.quoted(channel.name)))"
            problems += [duration(channel.soakSeconds, "\(at).soakSeconds"), duration(channel.watchSeconds, "\(at).watchSeconds")].compactMap { $0 }
            if channel.approvals < 0 { problems.append("\(at).approvals: expected 0 or more, found \(channel.approvals)") }
            if let maxConverging = channel.maxConverging, maxConverging < 1 {
                problems.append("\(at).maxConverging: expected 1 or more, found \(maxConverging)")
            }
            for (windowIndex, window) in channel.windows.enumerated() {
                for (value, name) in [(window.startMinute, "startMinute"), (window.endMinute, "endMinute")] where !(0...1440).contains(value) {
                    problems.append("\(at).windows[\(windowIndex)].\(name): expected a minute of the day, 0 to 1440, found \(value)")
                }
            }
            for (freezeIndex, freeze) in channel.freezes.enumerated() {
                let latest = InputLimits.latestTimeMilliseconds / 1000
                for (value, name) in [(freeze.from, "from"), (freeze.until, "until")] where !(0...latest).contains(value) {
                    problems.append("\(at).freezes[\(freezeIndex)].\(name): expected seconds since 1970 up to the year 9999, found \(value)")
                }
            }
        }
        return problems
    }

    /// A compiled document (canonical JSON): an object whose `…Seconds` values are durations
    /// within ``InputLimits/maxDurationSeconds`` (`progressDeadlineSeconds` at least 1), whose
    /// `replicas` and ports are in range.
    private static func documentProblems(_ document: String, field: String) -> [String] {
        guard let value = try? PayloadDecoder().decode(JSONValue.self, from: document), case .object = value else {
            return ["\(field): not a compiled document (a JSON object)"]
        }
        var problems: [String] = []
        func visit(_ value: JSONValue, _ path: String) {
            switch value {
            case .object(let members):
                for (key, member) in members.sorted(by: { $0.key < $1.key }) {
                    let at = "\(path).\(key)"
                    if key.hasSuffix("Seconds"), let number = numeric(member) {
                        let lower: Double = key == "progressDeadlineSeconds" ? 1 : 0
                        if !(lower...Double(InputLimits.maxDurationSeconds)).contains(number) {
                            problems.append("\(at): expected \(Int(lower)) to \(InputLimits.maxDurationSeconds) seconds (365 days), found \(render(number))")
                        }
                    } else if key == "replicas", let number = numeric(member), number < 0 || number > 1_000_000 {
                        problems.append("\(at): expected 0 to 1000000 replicas, found \(render(number))")
                    }
                    visit(member, at)
                }
            case .array(let elements):
                for (index, element) in elements.enumerated() { visit(element, "\(path)[\(index)]") }
            default:
                break
            }
        }
        visit(value, field)
        return problems
    }

    private static func numeric(_ value: JSONValue) -> Double? {
        switch value {
        case .integer(let integer): Double(integer)
        case .number(let number): number
        default: nil
        }
    }

    private static func render(_ number: Double) -> String {
        number.rounded() == number && abs(number) < 1e15 ? String(Int64(number)) : String(number)
    }

    private static func duration(_ seconds: Int, _ field: String) -> String? {
        (0...InputLimits.maxDurationSeconds).contains(seconds)
            ? nil : "\(field): expected 0 to \(InputLimits.maxDurationSeconds) seconds (365 days), found \(seconds)"
    }

    private static func time(_ milliseconds: Int64, _ field: String) -> String? {
        (0...InputLimits.latestTimeMilliseconds).contains(milliseconds)
            ? nil : "\(field): expected milliseconds since 1970 up to the year 9999, found \(milliseconds)"
    }

    private static func position(_ value: Int64, _ field: String) -> String? {
        (0...InputLimits.maxPosition).contains(value) ? nil : "\(field): expected a log position, 0 to \(InputLimits.maxPosition), found \(value)"
    }

    private static func count(_ value: Int, _ field: String) -> String? {
        value >= 0 ? nil : "\(field): expected 0 or more, found \(value)"
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return keys.isEmpty ? "" : "\(keys.hasPrefix(".") ? String(keys.dropFirst()) : keys): "
        }
        switch error {
        case .keyNotFound(let key, let context): return "\(path(context))missing \(key.stringValue)"
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return "\(path(context))\(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}

/// What ``EventStore/payloadProblems(limit:)`` found.
public struct PayloadReport: Sendable, Codable {
    public struct Problem: Sendable, Codable, Hashable, CustomStringConvertible {
        public var position: Int64
        public var type: String
        public var problems: [String]
        public var description: String { "position \(position) (\(type)): \(problems.joined(separator: "; "))" }
    }

    /// Keelson events read.
    public var checked: Int64
    public var problems: [Problem]
    /// Events with problems beyond those listed.
    public var omitted: Int
}

extension EventStore {
    /// Reads every event of a type ``PayloadCheck`` knows, a chunk at a time in one read
    /// transaction, and lists those whose payload is out of bounds or does not decode, with their
    /// positions. Never throws on a bad payload: it is the finding.
    public func payloadProblems(limit: Int = 100) async throws -> PayloadReport {
        let types = PayloadCheck.knownTypes
        return try await pool.read { db in
            var report = PayloadReport(checked: 0, problems: [], omitted: 0)
            let placeholders = types.map { _ in "?" }.joined(separator: ", ")
            let sql = "SELECT position, type, payload FROM \(ArchiveAttachments.segmentPlaceholder) WHERE position > ? AND type IN (\(placeholders)) ORDER BY position"
            var cursor: Int64 = 0
            while true {
                var rows: [Row] = []
                try ArchiveAttachments.fetch(
                    db, sql: sql, arguments: StatementArguments([cursor as any DatabaseValueConvertible] + types.map { $0 as any DatabaseValueConvertible }),
                    descending: false, limit: 1000
                ) { rows.append($0.copy()) }
                guard let last = rows.last else { break }
                for row in rows {
                    let type: String = row["type"]
                    let payload: String = row["payload"]
                    report.checked += 1
                    let problems = PayloadCheck.problems(type: type, payload: payload)
                    guard !problems.isEmpty else { continue }
                    if report.problems.count < limit {
                        report.problems.append(PayloadReport.Problem(position: row["position"], type: type, problems: problems))
                    } else {
                        report.omitted += 1
                    }
                }
                cursor = last["position"]
            }
            return report
        }
    }
}
