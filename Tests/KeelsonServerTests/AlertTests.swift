import Foundation
import HTTPTypes
import HummingbirdTesting
import KeelsonCore
import KeelsonServer
import KeelsonService
import KeelsonStore
import Testing

/// Alerts: identified unambiguously, deduplicated when Alertmanager repeats itself, and bounded.
@Suite("Alerts")
struct AlertTests {
    static let critical = ["alertname": "HighErrorRate", "service": "web", "severity": "critical"]
    /// A different alert whose rendering, without escaping, reads like `critical`'s.
    static let impostor = ["alertname": "HighErrorRate", "service": #"web",severity="critical"#]

    static func event(_ payload: some EventPayload, at position: Int64) throws -> RecordedEvent {
        let new = try NewEvent(payload, actor: "test")
        return RecordedEvent(
            position: position, streamID: "alerts", version: position, type: new.type, schemaVersion: new.schemaVersion,
            payload: new.payload, recordedAtMilliseconds: 1_000 * position, actor: "test", correlationID: nil, causationPosition: nil)
    }

    @Test("engine: resolving an alert whose label value looks like other labels does not clear the alert it imitates")
    func foldKeepsDistinctAlerts() throws {
        #expect(AlertFired.key(name: "HighErrorRate", labels: Self.critical) != AlertFired.key(name: "HighErrorRate", labels: Self.impostor))
        var state = EngineState()
        state.evolve(try Self.event(AlertFired(name: "HighErrorRate", labels: Self.critical), at: 1))
        state.evolve(try Self.event(AlertResolved(name: "HighErrorRate", labels: Self.impostor), at: 2))
        #expect(state.alerts.count == 1, "the critical alert still fires")
        #expect(state.alerts.values.first?.labels == Self.critical)
        // Resolving the impostor after firing it clears only it.
        state.evolve(try Self.event(AlertFired(name: "HighErrorRate", labels: Self.impostor), at: 3))
        #expect(state.alerts.count == 2)
        state.evolve(try Self.event(AlertResolved(name: "HighErrorRate", labels: Self.impostor), at: 4))
        #expect(state.alerts.values.map(\.labels) == [Self.critical])
        // People read an escaped rendering.
        #expect(AlertFired.rendering(name: "HighErrorRate", labels: Self.impostor)
            == #"HighErrorRate{alertname="HighErrorRate",service="web\",severity=\"critical"}"#)
    }

    @Test("API: while the critical alert gates prod, resolving the impostor through the API leaves prod waiting")
    func gateHoldsThroughTheAPI() async throws {
        let harness = try await Harness.make()
        _ = try await harness.control.release(ReleaseBody(application: "shop", service: "web", version: "1.0.0"), actor: "test")
        let worker = harness.worker()
        try await harness.test { client in
            let fire = try json(AlertBody(name: "HighErrorRate", labels: Self.critical, firing: true))
            #expect(try await client.call(.post, "/api/v1/alerts", as: .deployer, json: fire, harness: harness).status == 200)
            let resolveImpostor = try json(AlertBody(name: "HighErrorRate", labels: Self.impostor, firing: false))
            let answer = try await client.call(.post, "/api/v1/alerts", as: .deployer, json: resolveImpostor, harness: harness)
            #expect(answer.status == 200, "\(answer)")
            #expect(try decode(SignalResult.self, answer.body).message.contains(#"service="web\",severity=\"critical""#))
            for _ in 0..<40 {
                try await worker.step()
                await worker.waitForApplies()
                try await worker.step()
                harness.clock.advance(5)
            }
            let prod = try #require(try await harness.store.instanceStatuses(prefix: "shop/web@prod").first)
            #expect(prod.status == "waiting" && prod.waitingFor == "alert", "\(prod.status): \(prod.reason)")
            #expect(prod.reason.contains(#"HighErrorRate{alertname="HighErrorRate",service="web",severity="critical"}"#), "\(prod.reason)")
        }
    }

    static func webhook(_ status: String, labels: [String: String] = critical, startsAt: String = "2026-11-27T09:29:42.139Z",
                        endsAt: String = "0001-01-01T00:00:00Z") -> String {
        let alert: [String: Any] = [
            "status": status, "labels": labels, "annotations": ["summary": "x"], "startsAt": startsAt, "endsAt": endsAt,
            "fingerprint": "8f3c2a1d4b6e9075",
        ]
        let body: [String: Any] = ["version": "4", "groupKey": "{}:{}", "truncatedAlerts": 0, "status": status, "receiver": "keelson", "alerts": [alert]]
        return String(decoding: try! JSONSerialization.data(withJSONObject: body, options: [.sortedKeys]), as: UTF8.self)
    }

    @Test("Alertmanager repeating a notification appends nothing; a new startsAt or a resolve does")
    func repeatedNotifications() async throws {
        let harness = try await Harness.make()
        let firing = try String(contentsOf: fixtures.appendingPathComponent("alertmanager-firing.json"), encoding: .utf8)
        let resolved = try String(contentsOf: fixtures.appendingPathComponent("alertmanager-resolved.json"), encoding: .utf8)
        let store = harness.store
        @Sendable func alertEvents() async throws -> [String] {
            try await store.stream("alerts").map(\.type)
        }
        try await harness.test { client in
            let first = try decode(AlertmanagerResult.self, try await client.call(.post, "/api/v1/alertmanager", as: .deployer, json: firing, harness: harness).body)
            #expect(first.fired.count == 1 && first.unchanged.isEmpty)
            let fired = try #require(try await harness.store.stream("alerts").last).decode(AlertFired.self)
            #expect(fired.startsAt == "2026-11-27T09:29:42.139Z" && fired.fingerprint == "8f3c2a1d4b6e9075")
            for _ in 0..<3 {
                let again = try await client.call(.post, "/api/v1/alertmanager", as: .deployer, json: firing, harness: harness)
                #expect(again.status == 200, "\(again)")
                let result = try decode(AlertmanagerResult.self, again.body)
                #expect(result.fired.isEmpty && result.unchanged.count == 1, "\(again.body)")
            }
            let events1 = try await alertEvents()
            #expect(events1 == ["AlertFired"], "repeats appended nothing")

            // Fired again later (a new startsAt, e.g. after a missed resolve): that is news.
            let later = Self.webhook("firing", startsAt: "2026-11-27T11:00:00Z")
            #expect(try decode(AlertmanagerResult.self, try await client.call(.post, "/api/v1/alertmanager", as: .deployer, json: later, harness: harness).body).fired.count == 1)
            let events2 = try await alertEvents()
            #expect(events2 == ["AlertFired", "AlertFired"])

            let cleared = try decode(AlertmanagerResult.self, try await client.call(.post, "/api/v1/alertmanager", as: .deployer, json: resolved, harness: harness).body)
            #expect(cleared.resolved.count == 1)
            let repeatedResolve = try decode(AlertmanagerResult.self, try await client.call(.post, "/api/v1/alertmanager", as: .deployer, json: resolved, harness: harness).body)
            #expect(repeatedResolve.resolved.isEmpty && repeatedResolve.unchanged.count == 1)
            let events3 = try await alertEvents()
            #expect(events3 == ["AlertFired", "AlertFired", "AlertResolved"])
        }
    }

    static let bad: [(String, String)] = [
        (webhook("firing", startsAt: "yesterday"), "alerts[0].startsAt: expected an RFC 3339 time"),
        (webhook("firing", startsAt: "2026-13-01T00:00:00Z"), "alerts[0].startsAt: expected an RFC 3339 time"),
        (webhook("firing", startsAt: "2026-02-30T00:00:00Z"), "alerts[0].startsAt: expected an RFC 3339 time"),
        (webhook("firing", startsAt: "2026-11-27 09:29:42Z"), "alerts[0].startsAt: expected an RFC 3339 time"),
        (webhook("firing", endsAt: "0001-01-01T00:00:00"), "alerts[0].endsAt: expected an RFC 3339 time"),
        (webhook("resolved", startsAt: "0000-11-27T09:29:42Z"), "alerts[0].startsAt: expected an RFC 3339 time"),
        (webhook("resolved", startsAt: "2026-11-27T09:29:42.1234567890Z"), "alerts[0].startsAt: expected an RFC 3339 time"),
        (webhook("resolved", endsAt: "2026-11-27T24:00:00Z"), "alerts[0].endsAt: expected an RFC 3339 time"),
        (webhook("pending"), "alerts[0].status: expected firing or resolved, found \"pending\""),
        (webhook("firing", labels: ["alertname": String(repeating: "a", count: 257)]), "alerts[0].name: 1 to 256 characters"),
        (webhook("firing", labels: ["alertname": "A", "x": String(repeating: "v", count: 1025)]), "alerts[0].labels.x: a label value is at most 1024 characters"),
        (webhook("firing", labels: ["alertname": "A", String(repeating: "k", count: 300): "v"]), "alerts[0].labels: a label name is 1 to 256 characters"),
        (webhook("firing", labels: ["alertname": "A", "bad\u{1B}name": "v"]), "alerts[0].labels: a label name is"),
        (webhook("firing", labels: Dictionary(uniqueKeysWithValues: (0..<65).map { ("l\($0)", "v") })), "alerts[0].labels: at most 64 labels, found 65"),
        (#"{"version":"4","status":"firing","alerts":["# + Array(repeating: #"{"status":"firing","labels":{"alertname":"A"}}"#, count: 1001).joined(separator: ",") + "]}",
         "alerts: at most 1000 alerts per notification, found 1001"),
    ]

    @Test("Alertmanager notifications: times checked (RFC 3339, Go's zero time for an unset endsAt) and sizes bounded", arguments: 0..<bad.count)
    func badNotifications(_ index: Int) async throws {
        let (body, message) = Self.bad[index]
        let harness = try await Harness.make()
        let before = try await harness.store.lastPosition()
        try await harness.test { client in
            let answer = try await client.call(.post, "/api/v1/alertmanager", as: .deployer, json: body, harness: harness)
            #expect(answer.status == 400, "\(answer.status)")
            let text = try decode(APIErrorBody.self, answer.body).error.message
            #expect(text.contains(message), "\(text)")
        }
        #expect(try await harness.store.lastPosition() == before)
    }

    @Test("POST /api/v1/alerts has the same bounds")
    func boundedAlerts() async throws {
        let harness = try await Harness.make()
        let before = try await harness.store.lastPosition()
        let cases: [(AlertBody, String)] = [
            (AlertBody(name: "", labels: [:], firing: true), "name: an alert needs a name"),
            (AlertBody(name: String(repeating: "n", count: 257), labels: [:], firing: true), "name: 1 to 256 characters"),
            (AlertBody(name: "A\nB", labels: [:], firing: true), "name: 1 to 256 characters without control characters"),
            (AlertBody(name: "A", labels: ["v": String(repeating: "x", count: 1025)], firing: true), "labels.v: a label value is at most 1024 characters"),
            (AlertBody(name: "A", labels: Dictionary(uniqueKeysWithValues: (0..<64).map { ("l\($0)", "v") }), firing: true), "at most 64 labels, found 65"),
        ]
        try await harness.test { client in
            for (body, message) in cases {
                let answer = try await client.call(.post, "/api/v1/alerts", as: .deployer, json: try json(body), harness: harness)
                #expect(answer.status == 400, "\(message): \(answer)")
                #expect(try decode(APIErrorBody.self, answer.body).error.message.contains(message), "\(answer.body)")
            }
        }
        #expect(try await harness.store.lastPosition() == before)
    }
}
