import Foundation
import HTTPTypes
import HummingbirdTesting
import KeelsonCore
import KeelsonServer
import KeelsonService
import KeelsonStore
import Testing

/// Path and query parameters: percent-decoded where the router leaves them encoded, and every one
/// through a checked parser — a 400 naming the parameter and the value, never a trap.
@Suite("Path and query parameters")
struct ParameterTests {
    struct Case: CustomStringConvertible, Sendable {
        var method: HTTPRequest.Method = .get
        var uri: String
        var role: Role = .viewer
        var body: String?
        /// What the 400's message says.
        var message: String
        var description: String { "\(method) \(uri)" }
    }

    static let refused: [Case] = [
        // The issue's cases, all reachable with a viewer token; each trapped the server.
        Case(uri: "/api/v1/events?after=-9223372036854775808&to=9223372036854775807", message: "after: expected a log position"),
        Case(uri: "/api/v1/events?since=infs", message: "since: expected an age"),
        Case(uri: "/api/v1/events?since=1e300d", message: "since: "),
        Case(uri: "/api/v1/events?until=1e16d", message: "until: "),
        Case(uri: "/api/v1/timeline?since=1e300d", message: "since: "),
        Case(uri: "/api/v1/instances/shop/web/prod?at=1e300w", message: "at: "),
        Case(uri: "/api/v1/instances/shop/web/prod/explain?at=infs", message: "at: "),
        // Every query parameter is checked, not only numbers and times.
        Case(uri: "/api/v1/events?latest=yes", message: "latest: expected true or false, found \"yes\""),
        Case(uri: "/api/v1/events?type=Decision%1BMade", message: "type: expected an event type"),
        Case(uri: "/api/v1/events?type=" + String(repeating: "A", count: 200), message: "type: expected an event type"),
        Case(uri: "/api/v1/events?type=A,,B", message: "type: expected an event type"),
        Case(uri: "/api/v1/events?stream=" + String(repeating: "s", count: 600), message: "stream: expected a stream id"),
        Case(uri: "/api/v1/events?stream=a%20b", message: "stream: expected a stream id"),
        Case(uri: "/api/v1/events?limit=0", message: "limit: "),
        Case(uri: "/api/v1/events?to=9007199254740992", message: "to: "),
        Case(uri: "/api/v1/events/stream?after=-1", message: "after: "),
        Case(uri: "/api/v1/status?scope=sh%2Fop%2Fx%2Fy", message: "is not a scope"),
        Case(uri: "/api/v1/status?scope=Shop", message: "is not a scope: an application name is 1 to 63 lower-case letters"),
        Case(uri: "/api/v1/timeline?scope=shop/web@prod@x", message: "is not a scope"),
        Case(uri: "/api/v1/timeline?application=sh%20op", message: "application: an application name"),
        Case(uri: "/api/v1/timeline?application=shop&channel=PROD", message: "channel: a release channel name"),
        Case(uri: "/api/v1/timeline?kind=decision,nonsense", message: "kind: unknown kind \"nonsense\""),
        Case(uri: "/api/v1/timeline?before=-1", message: "before: "),
        // Path parameters, percent-decoded, then checked as names.
        Case(uri: "/api/v1/instances/sh%2Fop/web/prod", message: "path parameter application: an application name is 1 to 63 lower-case letters, digits and '-', starting and ending with a letter or digit; found \"sh/op\""),
        Case(uri: "/api/v1/instances/shop/my%20web/prod", message: "path parameter service: a service name is"),
        Case(uri: "/api/v1/instances/shop/web@x/prod/explain", message: "path parameter service: "),
        Case(uri: "/api/v1/instances/shop/web/pr%ZZod", message: "path parameter channel: \"pr%ZZod\" is not valid percent-encoded UTF-8"),
        Case(uri: "/api/v1/instances/shop/web/%FF", message: "path parameter channel: \"%FF\" is not valid percent-encoded UTF-8"),
        Case(uri: "/api/v1/instances/shop/web/" + String(repeating: "a", count: 64), message: "path parameter channel: "),
        Case(method: .post, uri: "/api/v1/instances/shop/web/prod%0A/approve", role: .deployer, body: "{}", message: "path parameter channel: "),
        Case(method: .post, uri: "/api/v1/services/shop/we%40b/mark-bad", role: .deployer, body: #"{"release":"1"}"#, message: "path parameter service: "),
        Case(method: .post, uri: "/api/v1/runtimes/SIM/check", role: .admin, message: "path parameter name: a runtime name is"),
        Case(method: .delete, uri: "/api/v1/tokens/bad%20name", role: .admin, message: "path parameter name: a token name is 1 to 64"),
    ]

    @Test("malformed, out-of-range and unknown parameter values are 400 naming the parameter", arguments: refused)
    func refusedParameters(_ row: Case) async throws {
        let harness = try await Harness.make()
        let before = try await harness.store.lastPosition()
        try await harness.test { client in
            let answer = try await client.call(row.method, row.uri, as: row.role, json: row.body, harness: harness)
            #expect(answer.status == 400, "\(answer)")
            let message = try decode(APIErrorBody.self, answer.body).error.message
            #expect(message.contains(row.message), "\(message)")
        }
        #expect(try await harness.store.lastPosition() == before)
    }

    @Test("path parameters are percent-decoded: sho%70 is shop; latest=true/false are read as such; an empty value is no value")
    func decoded() async throws {
        let harness = try await Harness.make()
        _ = try await harness.control.release(ReleaseBody(application: "shop", service: "web", version: "1.0.0"), actor: "test")
        try await harness.test { client in
            let detail = try await client.call(.get, "/api/v1/instances/sho%70/w%65b/prod", as: .viewer, harness: harness)
            #expect(detail.status == 200, "\(detail)")
            #expect(try decode(InstanceDetail.self, detail.body).status?.instance == "shop/web@prod")
            let latest = try decode(EventsResponse.self, try await client.call(.get, "/api/v1/events?latest=true&limit=1", as: .viewer, harness: harness).body)
            #expect(latest.events.map(\.position) == [try await harness.store.lastPosition()])
            let first = try decode(EventsResponse.self, try await client.call(.get, "/api/v1/events?latest=false&limit=1", as: .viewer, harness: harness).body)
            #expect(first.events.map(\.position) == [1])
            // An empty value is the same as leaving the parameter out.
            let empty = try decode(EventsResponse.self, try await client.call(.get, "/api/v1/events?latest=&stream=&limit=1", as: .viewer, harness: harness).body)
            #expect(empty.events.map(\.position) == [1])
            #expect(try await client.call(.get, "/api/v1/status?scope=", as: .viewer, harness: harness).status == 200)
            let approved = try await client.call(.post, "/api/v1/instances/shop/web/pro%64/approve", as: .deployer, json: "{}", harness: harness)
            #expect(approved.status == 200, "\(approved)")
            let event = try #require(try await harness.store.events(EventFilter(types: [ApprovalGranted.eventType])).last)
            #expect(event.streamID == "instance:shop/web@prod")
        }
    }

    @Test("a known path with another method is 405 with Allow (TRACE included), an unknown path 404")
    func methodNotAllowed() async throws {
        let harness = try await Harness.make()
        try await harness.test { client in
            let cases: [(HTTPRequest.Method, String, String)] = [
                (HTTPRequest.Method(rawValue: "TRACE")!, "/api/v1/status", "GET"),
                (.delete, "/api/v1/status", "GET"),
                (.put, "/api/v1/tokens/ci", "DELETE"),
                (.get, "/api/v1/tokens/ci", "DELETE"),
                (.patch, "/api/v1/tokens", "GET, POST"),
                (.post, "/healthz", "GET"),
                (HTTPRequest.Method(rawValue: "TRACE")!, "/api/v1/instances/shop/web/prod", "GET"),
            ]
            for (method, uri, allowed) in cases {
                let answer = try await client.execute(uri: uri, method: method, headers: harness.headers(.admin)) { response in
                    (Int(response.status.code), response.headers[.allow], String(buffer: response.body))
                }
                #expect(answer.0 == 405, "\(method) \(uri): \(answer)")
                #expect(answer.1 == allowed, "\(method) \(uri): \(answer)")
                #expect(answer.2.contains("\"code\":\"method_not_allowed\""), "\(answer.2)")
            }
            let missing = try await client.call(.get, "/api/v1/nowhere/at/all", as: .viewer, harness: harness)
            #expect(missing.status == 404)
        }
    }
}
