import Foundation
import HTTPTypes
import HummingbirdTesting
import KeelsonCore
import KeelsonServer
import KeelsonService
import KeelsonStore
import Testing

/// Request bodies are decoded strictly: unknown fields and `null` are refused with a 400 naming
/// the field, and nothing is appended.
@Suite("Strict request bodies")
struct StrictBodyTests {
    struct Case: CustomStringConvertible, Sendable {
        var uri: String
        var role: Role = .deployer
        var body: String
        /// What the 400's message says.
        var message: String
        var description: String { "\(uri) \(body)" }
    }

    static let release = #""application":"shop","service":"web","version":"1.4.2""#
    static let config = #""source":"/cfg/shop.yaml","files":[{"path":"/cfg/shop.yaml","text":"x"}]"#

    static let cases: [Case] = [
        // The cases of the issue: null for a boolean was taken for false, and recorded.
        Case(uri: "/api/v1/releases", body: "{\(release),\"dryRun\":null}", message: "body: dryRun: null is not accepted"),
        Case(uri: "/api/v1/config", role: .admin, body: "{\(config),\"dryRun\":null}", message: "body: dryRun: null is not accepted"),
        // null for any field, required or optional, at any depth.
        Case(uri: "/api/v1/releases", body: #"{"application":"shop","service":"web","version":null}"#, message: "body: version: null is not accepted"),
        Case(uri: "/api/v1/releases", body: "{\(release),\"parameters\":null}", message: "body: parameters: null is not accepted"),
        Case(uri: "/api/v1/releases", body: "{\(release),\"parameters\":{\"region\":null}}", message: "body: parameters.region: null is not accepted"),
        Case(uri: "/api/v1/config", role: .admin, body: #"{"source":"x","files":[null]}"#, message: "body: files[0]: null is not accepted"),
        Case(uri: "/api/v1/config", role: .admin, body: #"{"source":"x","files":[{"path":"a","text":null}]}"#, message: "body: files[0].text: null is not accepted"),
        Case(uri: "/api/v1/alerts", body: #"{"name":"A","firing":null}"#, message: "body: firing: null is not accepted"),
        Case(uri: "/api/v1/pause", body: #"{"scope":"shop","reason":null}"#, message: "body: reason: null is not accepted"),
        Case(uri: "/api/v1/instances/shop/web/prod/approve", body: #"{"comment":null}"#, message: "body: comment: null is not accepted"),
        Case(uri: "/api/v1/alertmanager", body: #"{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{},"endsAt":null}]}"#,
             message: "body: alerts[0].endsAt: null is not accepted"),
        Case(uri: "/api/v1/tokens", role: .admin, body: #"{"name":"x","role":null}"#, message: "body: role: null is not accepted"),
        // Unknown fields, at the top and inside, found from the types' own CodingKeys.
        Case(uri: "/api/v1/releases", body: "{\(release),\"dryrun\":true}", message: "unknown field 'dryrun' in the body (known: application, dryRun, parameters, releases, service, version)"),
        Case(uri: "/api/v1/config", role: .admin, body: #"{"source":"x","files":[{"path":"a","text":"b","mode":"0644"}]}"#,
             message: "unknown field 'files[0].mode' in the body (known in files[0]: path, text)"),
        Case(uri: "/api/v1/alertmanager", body: #"{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{},"severity":"x"}]}"#,
             message: "unknown field 'alerts[0].severity'"),
        Case(uri: "/api/v1/instances/shop/web/prod/rollback", body: #"{"reason":"x","force":true}"#, message: "unknown field 'force'"),
        Case(uri: "/api/v1/tokens", role: .admin, body: #"{"name":"x","role":"viewer","expires":"1d"}"#, message: "unknown field 'expires'"),
        // Wrong types say what was expected and what came.
        Case(uri: "/api/v1/releases", body: "{\(release),\"dryRun\":\"false\"}", message: "body: dryRun: expected true or false, found a string"),
        Case(uri: "/api/v1/releases", body: "{\(release),\"dryRun\":0}", message: "body: dryRun: expected true or false, found a number"),
        Case(uri: "/api/v1/alerts", body: #"{"name":"A","firing":true,"labels":["a"]}"#, message: "body: labels: expected an object, found an array"),
        Case(uri: "/api/v1/alertmanager", body: #"{"version":"4","status":"firing","truncatedAlerts":1.5,"alerts":[]}"#,
             message: "body: truncatedAlerts: expected a whole number"),
        // Just past Int64's ends (the first rounds to exactly -2⁶³ as a Double): out of range.
        Case(uri: "/api/v1/alertmanager", body: #"{"version":"4","status":"firing","truncatedAlerts":-9223372036854775809,"alerts":[]}"#,
             message: "body: truncatedAlerts: expected a whole number from -9223372036854775808 to 9223372036854775807"),
        Case(uri: "/api/v1/alertmanager", body: #"{"version":"4","status":"firing","truncatedAlerts":9223372036854775808,"alerts":[]}"#,
             message: "body: truncatedAlerts: expected a whole number from -9223372036854775808 to 9223372036854775807"),
        Case(uri: "/api/v1/tokens", role: .admin, body: #"{"name":"x","role":"root"}"#, message: "role: expected viewer, deployer or admin, found \"root\""),
        Case(uri: "/api/v1/releases", body: "[1,2]", message: "expected an object, found an array"),
        Case(uri: "/api/v1/releases", body: "null", message: "expected an object, found null"),
        Case(uri: "/api/v1/releases", body: "{\"application\":", message: "malformed JSON body"),
    ]

    @Test("unknown fields, null and wrong types are 400 naming the field; nothing is appended", arguments: cases)
    func refused(_ row: Case) async throws {
        let harness = try await Harness.make()
        let before = try await harness.store.lastPosition()
        try await harness.test { client in
            let answer = try await client.call(.post, row.uri, as: row.role, json: row.body, harness: harness)
            #expect(answer.status == 400, "\(answer)")
            let message = try decode(APIErrorBody.self, answer.body).error.message
            #expect(message.contains(row.message), "\(message)")
        }
        #expect(try await harness.store.lastPosition() == before, "nothing appended")
    }

    @Test("omitting an optional field is how to leave it out: a release without dryRun is recorded, one with dryRun true is not")
    func omitted() async throws {
        let harness = try await Harness.make()
        try await harness.test { client in
            let dry = try await client.call(.post, "/api/v1/releases", as: .deployer, json: "{\(Self.release),\"dryRun\":true}", harness: harness)
            #expect(dry.status == 200, "\(dry.body)")
            #expect(try await harness.store.events(EventFilter(types: [ReleaseRequested.eventType])).isEmpty)
            let real = try await client.call(.post, "/api/v1/releases", as: .deployer, json: "{\(Self.release)}", harness: harness)
            #expect(real.status == 200, "\(real.body)")
            #expect(try await harness.store.events(EventFilter(types: [ReleaseRequested.eventType])).count == 1)
            // Any label name is fine in a map: maps read every key.
            let alert = try await client.call(
                .post, "/api/v1/alerts", as: .deployer, json: #"{"name":"A","firing":true,"labels":{"anything":"x","dryRun":"y"}}"#, harness: harness)
            #expect(alert.status == 200, "\(alert.body)")
        }
    }
}
