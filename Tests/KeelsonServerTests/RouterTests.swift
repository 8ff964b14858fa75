import Foundation
import HTTPTypes
import HummingbirdTesting
import KeelsonCore
import KeelsonServer
import KeelsonService
import KeelsonStore
import Testing

@Suite("The HTTP API, route by route (router tests, no sockets)")
struct RouterTests {
    @Test("status filters by status and channel, and pages in instance order; bad filters are a 400 naming the parameter")
    func statusFiltersAndPages() async throws {
        let harness = try await Harness.make()
        _ = try await harness.control.release(ReleaseBody(application: "shop", service: "web", version: "1.0.0"), actor: "test")
        let worker = harness.worker()
        try await worker.step()
        try await harness.test { client in
            func status(_ query: String) async throws -> StatusResponse {
                let answer = try await client.call(.get, "/api/v1/status?\(query)", as: .viewer, harness: harness)
                #expect(answer.status == 200, "\(query): \(answer.body)")
                return try decode(StatusResponse.self, answer.body)
            }
            let all = try await status("scope=shop")
            #expect(all.instances.map(\.instance) == ["shop/web@prod", "shop/web@staging"] && all.next == nil)
            #expect(try await status("status=waiting").instances.map(\.instance) == ["shop/web@prod"])
            #expect(try await status("status=converged,failed").instances.isEmpty)
            #expect(try await status("status=converging&status=waiting").instances.count == 2)
            #expect(try await status("status=&channel=&limit=&after=").instances.count == 2, "empty is absent")
            #expect(try await status("channel=staging").instances.map(\.instance) == ["shop/web@staging"])
            let first = try await status("limit=1")
            #expect(first.instances.map(\.instance) == ["shop/web@prod"] && first.next == "shop/web@prod")
            let second = try await status("limit=1&after=\(first.next!)")
            #expect(second.instances.map(\.instance) == ["shop/web@staging"] && second.next == nil)
            for (query, parameter) in [("status=bogus", "status:"), ("limit=0", "limit:"), ("limit=10001", "limit:"), ("after=nope", "after:"), ("channel=Bad!", "channel:")] {
                let answer = try await client.call(.get, "/api/v1/status?\(query)", as: .viewer, harness: harness)
                #expect(answer.status == 400 && answer.body.contains(parameter), "\(query): \(answer.body)")
            }
        }
    }

    @Test("a waiting instance's reason is said as of the read: the soak's countdown moves with the clock, not with decisions")
    func statusReasonIsCurrent() async throws {
        let harness = try await Harness.make()
        var control = harness.control
        control.now = { [clock = harness.clock] in clock.now }
        _ = try await control.release(ReleaseBody(application: "shop", service: "web", version: "1.0.0"), actor: "test")
        let worker = harness.worker()
        var soaking: InstanceStatusEntry?
        for _ in 0..<40 {
            try await worker.step()
            await worker.waitForApplies()
            try await worker.step()
            soaking = try await control.status(scope: "shop/web").instances.first { $0.channel == "prod" && $0.waitingFor == "soak" }
            if soaking != nil { break }
            harness.clock.advance(2)
        }
        let first = try #require(soaking, "prod waits for the soak")
        let row = try #require(try await harness.store.instanceStatuses(prefix: "shop/web@prod").first)
        #expect(row.why != nil && row.decidedAtMilliseconds > 0, "the status keeps the reason as a value")
        func stable(_ reason: String) -> Int? {
            reason.firstMatch(of: /staging stable on 1\.0\.0 for (\d+)s of 1m/).flatMap { Int($0.1) }
        }
        let before = try #require(stable(first.reason), "\(first.reason)")
        // No worker runs: the recorded decision is the same, its countdown is not.
        harness.clock.advance(25)
        let later = try #require(try await control.status(scope: "shop/web").instances.first { $0.channel == "prod" })
        #expect(stable(later.reason) == before + 25, "\(first.reason) → \(later.reason)")
        #expect(later.decisionPosition == first.decisionPosition)
    }

    @Test("the OpenAPI document and the router list the same routes, with the same roles")
    func openAPIMatchesRoutes() throws {
        let document = try JSONSerialization.jsonObject(with: Data(OpenAPIDocument.bytes)) as! [String: Any]
        let paths = document["paths"] as! [String: [String: Any]]
        var documented: Set<String> = []
        for (path, operations) in paths {
            for (method, operation) in operations where ["get", "post", "put", "delete", "patch"].contains(method) {
                documented.insert("\(method.uppercased()) \(path)")
                let route = APIRouter.routes.first { $0.method == method.uppercased() && $0.path == path }
                guard let route else { continue }
                let operation = operation as! [String: Any]
                #expect(operation["x-keelson-role"] as? String == route.role?.rawValue, "\(route): role")
                let security = operation["security"] as? [[String: Any]]
                #expect((security?.isEmpty ?? true) == (route.role == nil), "\(route): security")
            }
        }
        let registered = Set(APIRouter.routes.map(\.description))
        #expect(registered.subtracting(documented).isEmpty, "routes missing from openapi.json: \(registered.subtracting(documented).sorted())")
        #expect(documented.subtracting(registered).isEmpty, "documented routes that do not exist: \(documented.subtracting(registered).sorted())")
        #expect(registered.count >= 20)
    }

    @Test("auth matrix: every route × no token, viewer, deployer, admin → 401, 403 or through")
    func authMatrix() async throws {
        let harness = try await Harness.make()
        try await harness.test { client in
            for route in APIRouter.routes where route.role != nil && route.path != "/api/v1/events/stream" {
                let uri = route.path
                    .replacingOccurrences(of: "{application}", with: "shop").replacingOccurrences(of: "{service}", with: "web")
                    .replacingOccurrences(of: "{channel}", with: "staging").replacingOccurrences(of: "{name}", with: "no-such-token")
                let method = HTTPRequest.Method(rawValue: route.method)!
                let anonymous = try await client.call(method, uri, as: nil, json: "{}", harness: harness)
                #expect(anonymous.status == 401, "\(route) without a token: \(anonymous)")
                #expect(anonymous.body.contains("\"code\":\"unauthorized\""), "\(route): \(anonymous.body)")
                for role in Role.allCases {
                    let answer = try await client.call(method, uri, as: role, json: "{}", harness: harness)
                    if role < route.role! {
                        #expect(answer.status == 403, "\(route) as \(role): \(answer)")
                        #expect(answer.body.contains("needs \(route.role!.rawValue)"), "\(route): \(answer.body)")
                    } else {
                        #expect(answer.status != 401 && answer.status != 403, "\(route) as \(role): \(answer)")
                    }
                }
            }
            // The live stream checks its token before it starts streaming.
            #expect(try await client.call(.get, "/api/v1/events/stream", as: nil, harness: harness).status == 401)
            // A wrong token is 401 too, and says so.
            var headers = HTTPFields()
            headers[.authorization] = "Bearer kst_not-a-real-token"
            let wrong = try await client.execute(uri: "/api/v1/status", method: .get, headers: headers) { ($0.status.code, String(buffer: $0.body)) }
            #expect(wrong.0 == 401)
            #expect(wrong.1.contains("unknown or revoked token"))
        }
    }

    @Test("health, readiness, metrics and the OpenAPI document need no token")
    func openRoutes() async throws {
        let harness = try await Harness.make()
        try await harness.test { client in
            let health = try await client.call(.get, "/healthz", as: nil, harness: harness)
            #expect(health.status == 200)
            #expect(health.body.contains("\"status\":\"ok\""))
            let starting = try await client.call(.get, "/readyz", as: nil, harness: harness)
            #expect(starting.status == 503, "not ready before the worker has folded the log")
            await harness.router.readiness.markReady()
            #expect(try await client.call(.get, "/readyz", as: nil, harness: harness).status == 200)
            let metrics = try await client.call(.get, "/metrics", as: nil, harness: harness)
            #expect(metrics.status == 200)
            #expect(metrics.body.contains("keelson_instances{status=\"converged\"}"), "\(metrics.body)")
            let openapi = try await client.call(.get, "/api/v1/openapi.json", as: nil, harness: harness)
            #expect(openapi.status == 200)
            #expect(openapi.body.contains("\"openapi\""))
            let missing = try await client.call(.get, "/api/v1/nothing-here", as: .viewer, harness: harness)
            #expect(missing.status == 404)
            #expect(missing.body.contains("\"code\":\"not_found\""))
        }
    }

    @Test("config upload: applied, dry run, and compile errors as 422 with file:line")
    func config() async throws {
        let harness = try await Harness.make(applyConfig: false)
        let text = Harness.config
        try await harness.test { client in
            let dry = try await client.call(.post, "/api/v1/config", json: try json(ApplyConfigRequest(
                source: "/cfg/shop.yaml", files: [ConfigFileUpload(path: "/cfg/shop.yaml", text: text)], dryRun: true)), harness: harness)
            #expect(dry.status == 200, "\(dry.body)")
            #expect(try decode(ChangeReport.self, dry.body).recorded == false)
            #expect(try await harness.store.events(EventFilter(types: [ConfigApplied.eventType])).isEmpty)

            let applied = try await client.call(.post, "/api/v1/config", json: try json(ApplyConfigRequest(
                source: "/cfg/shop.yaml", files: [ConfigFileUpload(path: "/cfg/shop.yaml", text: text)])), harness: harness)
            #expect(applied.status == 200, "\(applied.body)")
            let report = try decode(ChangeReport.self, applied.body)
            #expect(report.recorded && report.policies == ["shop (staging → prod)"])
            let event = try #require(try await harness.store.events(EventFilter(types: [ConfigApplied.eventType])).last)
            #expect(event.actor == "token:admin")

            let broken = text.replacingOccurrences(of: "after: [staging]", with: "after: [stagign]")
            let invalid = try await client.call(.post, "/api/v1/config", json: try json(ApplyConfigRequest(
                source: "/cfg/shop.yaml", files: [ConfigFileUpload(path: "/cfg/shop.yaml", text: broken)])), harness: harness)
            #expect(invalid.status == 422, "\(invalid.body)")
            let error = try decode(APIErrorBody.self, invalid.body).error
            #expect(error.code == "config_invalid")
            let diagnostic = try #require(error.diagnostics?.first)
            #expect(diagnostic.file == "/cfg/shop.yaml" && diagnostic.line == 14 && diagnostic.column == 13, "\(diagnostic)")
            #expect(diagnostic.message.contains("stagign"))

            let empty = try await client.call(.post, "/api/v1/config", json: #"{"source": "x", "files": []}"#, harness: harness)
            #expect(empty.status == 400)

            // One-character and odd paths (Foundation's NSString path methods trapped on "0"):
            // a clear answer, never a crash of the server.
            for (source, path) in [("0", "0"), ("", "0"), (".", "x/"), ("x/", "."), ("/", "/"), ("\u{11}", "|\u{4}")] {
                let body = try json(ApplyConfigRequest(source: source, files: [ConfigFileUpload(path: path, text: "0")], dryRun: true))
                let answer = try await client.call(.post, "/api/v1/config", json: body, harness: harness)
                #expect([400, 422].contains(answer.status), "\(source.debugDescription), \(path.debugDescription): \(answer)")
            }

            // Names are checked against the config applied last, not one parsed earlier.
            let release = try json(ReleaseBody(application: "shop", service: "api", version: "1.0.0"))
            #expect(try await client.call(.post, "/api/v1/releases", as: .deployer, json: release, harness: harness).status == 404)
            let second = text + "\n---\n" + "kind: Service" + text.components(separatedBy: "kind: Service")[1]
                .replacingOccurrences(of: "name: web", with: "name: api")
            let grown = try await client.call(.post, "/api/v1/config", json: try json(ApplyConfigRequest(
                source: "/cfg/shop.yaml", files: [ConfigFileUpload(path: "/cfg/shop.yaml", text: second)])), harness: harness)
            #expect(grown.status == 200, "\(grown.body)")
            let released = try await client.call(.post, "/api/v1/releases", as: .deployer, json: release, harness: harness)
            #expect(released.status == 200, "\(released.body)")
        }
    }

    @Test("bad bodies: malformed JSON, a wrong type, an unknown field, too large → 400/413 naming the problem")
    func badBodies() async throws {
        var settings = APISettings()
        settings.maxBodyBytes = 2000
        let harness = try await Harness.make(settings: settings)
        try await harness.test { client in
            let malformed = try await client.call(.post, "/api/v1/releases", as: .deployer, json: #"{"application": "shop","#, harness: harness)
            #expect(malformed.status == 400)
            #expect(malformed.body.contains("malformed JSON body"), "\(malformed.body)")
            let wrongType = try await client.call(
                .post, "/api/v1/releases", as: .deployer, json: #"{"application": "shop", "service": "web", "version": 2}"#, harness: harness)
            #expect(wrongType.status == 400)
            #expect(wrongType.body.contains("version: expected a string, found a number"), "\(wrongType.body)")
            let missing = try await client.call(.post, "/api/v1/releases", as: .deployer, json: #"{"application": "shop"}"#, harness: harness)
            #expect(missing.body.contains("version: required, missing"), "\(missing.body)")
            let typo = try await client.call(
                .post, "/api/v1/releases", as: .deployer,
                json: #"{"application": "shop", "service": "web", "version": "1.0.0", "dryrun": true}"#, harness: harness)
            #expect(typo.status == 400)
            #expect(typo.body.contains("unknown field 'dryrun'"), "\(typo.body)")
            #expect(try await harness.store.events(EventFilter(types: [ReleaseRequested.eventType])).isEmpty, "nothing recorded")
            let large = try await client.call(
                .post, "/api/v1/alerts", as: .deployer,
                json: try json(AlertBody(name: String(repeating: "x", count: 5000), labels: [:], firing: true)), harness: harness)
            #expect(large.status == 413)
            #expect(large.body.contains("payload_too_large"))
        }
    }

    @Test("many releases in one request — a list, or every service of an application — recorded all or none")
    func manyReleases() async throws {
        let harness = try await Harness.make()
        try await harness.test { client in
            let text = Harness.config + "\n---\n" + "kind: Service" + Harness.config.components(separatedBy: "kind: Service")[1]
                .replacingOccurrences(of: "name: web", with: "name: api")
            let grown = try await client.call(.post, "/api/v1/config", json: try json(ApplyConfigRequest(
                source: "/cfg/shop.yaml", files: [ConfigFileUpload(path: "/cfg/shop.yaml", text: text)])), harness: harness)
            #expect(grown.status == 200, "\(grown.body)")
            func released() async throws -> [ReleaseRequested] {
                try await harness.store.events(EventFilter(types: [ReleaseRequested.eventType])).map { try $0.decode(ReleaseRequested.self) }
            }

            // Every service of shop: no `service`.
            let all = try await client.call(
                .post, "/api/v1/releases", as: .deployer, json: #"{"application": "shop", "version": "1.0.0", "parameters": {"version": "1.0.0"}}"#,
                harness: harness)
            #expect(all.status == 200, "\(all.body)")
            let report = try decode(ChangeReport.self, all.body)
            #expect(report.summary == "release 2 services of shop at 1.0.0")
            #expect(Set(report.changes.map(\.instance)) == ["shop/api@prod", "shop/api@staging", "shop/web@prod", "shop/web@staging"])
            #expect(try await released().map { "\($0.service) \($0.version)" } == ["api 1.0.0", "web 1.0.0"])

            // A list, each with its own version.
            let list = ReleaseBody(releases: [
                ReleaseItem(application: "shop", service: "web", version: "1.1.0", parameters: ["version": "1.1.0"]),
                ReleaseItem(application: "shop", service: "api", version: "1.2.0", parameters: ["version": "1.2.0"]),
            ])
            let listed = try await client.call(.post, "/api/v1/releases", as: .deployer, json: try json(list), harness: harness)
            #expect(listed.status == 200, "\(listed.body)")
            #expect(try decode(ChangeReport.self, listed.body).changes.map(\.version).sorted() == ["1.1.0", "1.1.0", "1.2.0", "1.2.0"])
            #expect(try await released().count == 4)

            // All or none: one that does not compile (a parameter it does not declare) records no release.
            let halfBad = ReleaseBody(releases: [
                ReleaseItem(application: "shop", service: "web", version: "1.3.0", parameters: ["version": "1.3.0"]),
                ReleaseItem(application: "shop", service: "api", version: "1.3.0", parameters: ["colour": "blue"]),
            ])
            let refused = try await client.call(.post, "/api/v1/releases", as: .deployer, json: try json(halfBad), harness: harness)
            #expect(refused.status == 422, "\(refused.body)")
            #expect(try await released().count == 4, "nothing released")
            #expect(try await harness.store.desiredStates().allSatisfy { $0.version != "1.3.0" })

            // Shapes that are refused before anything is read: 400 (or 404 for an unknown name), nothing recorded.
            let before = try await harness.store.lastPosition()
            let cases: [(String, Int, String)] = [
                (#"{"releases": []}"#, 400, "releases: lists no release"),
                (#"{"releases": [{"application": "shop", "service": "web", "version": "1.4.0"}], "version": "1.4.0"}"#, 400, "give either releases"),
                (#"{"releases": [{"application": "shop", "service": "web", "version": "1.4.0"}, {"application": "shop", "service": "web", "version": "1.5.0"}]}"#, 400, "named twice"),
                (#"{"releases": [{"application": "shop", "version": "1.4.0"}, {"application": "shop", "service": "web", "version": "1.4.0"}]}"#, 400, "named twice"),
                (#"{"releases": [{"application": "shop", "service": "web", "version": "1.4.0"}, {"application": "shop", "service": "nope", "version": "1.4.0"}]}"#, 404, "unknown service 'shop/nope'"),
                (#"{"releases": [{"application": "shop", "service": "Web!", "version": "1.4.0"}]}"#, 400, "releases[0].service"),
                (#"{"releases": [{"application": "shop", "service": "web", "version": null}]}"#, 400, "null"),
                (#"{"releases": [{"application": "shop", "service": "web"}]}"#, 400, "version: required, missing"),
            ]
            for (body, status, words) in cases {
                let answer = try await client.call(.post, "/api/v1/releases", as: .deployer, json: body, harness: harness)
                #expect(answer.status == status, "\(body): \(answer.body)")
                #expect(answer.body.contains(words), "\(body): \(answer.body)")
            }
            #expect(try await harness.store.lastPosition() == before)
        }
    }

    @Test("a release list is bounded: more than ReleaseBody.maxReleases is refused before anything is read")
    func releaseListBounded() {
        let item = ReleaseItem(application: "shop", service: "web", version: "1.0.0")
        #expect((try? ReleaseBody(releases: Array(repeating: item, count: ReleaseBody.maxReleases)).items().get())?.count == ReleaseBody.maxReleases)
        guard case .failure(let problem) = ReleaseBody(releases: Array(repeating: item, count: ReleaseBody.maxReleases + 1)).items() else {
            Issue.record("a list one too long was accepted")
            return
        }
        #expect(problem.message.contains("at most 10000"))
    }

    @Test("releases, status, instance detail and explain; unknown names are 404")
    func releasesAndStatus() async throws {
        let harness = try await Harness.make()
        try await harness.test { client in
            let released = try await client.call(
                .post, "/api/v1/releases", as: .deployer, json: try json(ReleaseBody(application: "shop", service: "web", version: "1.0.0")),
                harness: harness)
            #expect(released.status == 200, "\(released.body)")
            #expect(Set(try decode(ChangeReport.self, released.body).changes.map(\.instance)) == ["shop/web@prod", "shop/web@staging"])
            let event = try #require(try await harness.store.events(EventFilter(types: [ReleaseRequested.eventType])).last)
            #expect(event.actor == "token:deployer")

            let unknown = try await client.call(
                .post, "/api/v1/releases", as: .deployer, json: try json(ReleaseBody(application: "shop", service: "api", version: "1")),
                harness: harness)
            #expect(unknown.status == 404)
            #expect(unknown.body.contains("unknown service 'shop/api' (known: web)"), "\(unknown.body)")

            // The worker decides, so status and explain have something to say.
            let worker = harness.worker()
            try await worker.step()
            await worker.waitForApplies()
            try await worker.step()

            let status = try decode(StatusResponse.self, try await client.call(.get, "/api/v1/status?scope=shop/web", as: .viewer, harness: harness).body)
            #expect(status.instances.map(\.instance) == ["shop/web@prod", "shop/web@staging"])
            #expect(status.instances.first { $0.channel == "prod" }?.status == "waiting")
            #expect(try await client.call(.get, "/api/v1/status?scope=nope", as: .viewer, harness: harness).status == 404)
            #expect(try await client.call(.get, "/api/v1/status?scope=shop/web@x/y", as: .viewer, harness: harness).status == 400)

            let detail = try decode(InstanceDetail.self, try await client.call(.get, "/api/v1/instances/shop/web/prod", as: .viewer, harness: harness).body)
            #expect(detail.status?.desired == "1.0.0")
            #expect(detail.explanation?.decision.status == .waiting)
            let explain = try decode(Explanation.self, try await client.call(.get, "/api/v1/instances/shop/web/prod/explain", as: .viewer, harness: harness).body)
            #expect(explain.reason.contains("staging"), "\(explain.reason)")
            #expect(explain.decision.reason == .waits(version: "1.0.0", gate: .upstream(channel: "staging"), superseded: nil), "\(explain.decision.reason)")
            let early = try await client.call(.get, "/api/v1/instances/shop/web/prod/explain?position=3", as: .viewer, harness: harness)
            #expect(early.status == 404, "no decision that early")
            #expect(try await client.call(.get, "/api/v1/instances/shop/web/nowhere", as: .viewer, harness: harness).status == 404)
            #expect(try await client.call(.get, "/api/v1/instances/shop/web/prod?position=x", as: .viewer, harness: harness).status == 400)
        }
    }

    @Test("streams: the catalogue now, at a position, at a time, and the earlier of both; past the end is now")
    func streams() async throws {
        let harness = try await Harness.make()
        let configured = try await harness.store.lastPosition()
        harness.clock.advance(60)
        _ = try await harness.control.release(ReleaseBody(application: "shop", service: "web", version: "1.0.0"), actor: "test")
        let last = try await harness.store.lastPosition()
        try await harness.test { client in
            func streams(_ query: String) async throws -> [StreamSummary] {
                let answer = try await client.call(.get, "/api/v1/streams\(query)", as: .viewer, harness: harness)
                #expect(answer.status == 200, "\(query): \(answer.body)")
                return try decode([StreamSummary].self, answer.body)
            }
            let now = try await streams("")
            #expect(now == (try await harness.store.streamCatalogue()))
            #expect(now.contains { $0.streamID == .instance(ServiceInstanceID("shop/web@prod")!) })
            let before = try await streams("?position=\(configured)")
            #expect(before == (try await harness.store.streamCatalogue(atPosition: configured)))
            #expect(!before.contains { $0.streamID == .instance(ServiceInstanceID("shop/web@prod")!) }, "nothing released yet")
            // 30 s before the release: after the config, before the release (on the store's clock).
            let between = ISO8601DateFormatter().string(from: harness.clock.now.addingTimeInterval(-30))
            #expect(try await streams("?at=\(between)") == before)
            #expect(try await streams("?at=\(between)&position=\(last)") == before, "the earlier of the two")
            #expect(try await streams("?position=\(last + 1_000)") == now)
            #expect(try await client.call(.get, "/api/v1/streams?position=-1", as: .viewer, harness: harness).status == 400)
            #expect(try await client.call(.get, "/api/v1/streams?at=yesterday", as: .viewer, harness: harness).status == 400)
            #expect(try await client.call(.get, "/api/v1/streams", as: nil, harness: harness).status == 401)
        }
    }

    @Test("desired and current state by scope; a fetch now is recorded with the caller as actor; bad and unknown scopes are 400 and 404")
    func desiredAndCurrent() async throws {
        let harness = try await Harness.make()
        try await harness.test { client in
            func call(_ method: HTTPRequest.Method, _ path: String, as role: Role? = .viewer, body: String? = nil) async throws -> (status: Int, body: String) {
                try await client.call(method, path, as: role, json: body, harness: harness)
            }
            #expect(try await call(.get, "/api/v1/desired?scope=shop/web").status == 404, "nothing released yet")
            _ = try await harness.control.release(ReleaseBody(application: "shop", service: "web", version: "1.0.0"), actor: "test")

            let desired = try await call(.get, "/api/v1/desired?scope=shop/web")
            #expect(desired.status == 200, "\(desired.body)")
            let states = try decode(DesiredStatesResponse.self, desired.body)
            #expect(states.instances.map(\.instance) == ["shop/web@prod", "shop/web@staging"])
            #expect(states.instances.allSatisfy { $0.version == "1.0.0" && $0.digest.hasPrefix("sha256:") })
            if case .object(let document)? = states.instances.first?.document {
                #expect(document["runtime"] != nil, "the compiled document: \(desired.body.prefix(400))")
            } else {
                Issue.record("no compiled document: \(desired.body.prefix(400))")
            }
            let one = try decode(DesiredStatesResponse.self, try await call(.get, "/api/v1/desired?scope=shop/web@prod").body)
            #expect(one.instances.map(\.instance) == ["shop/web@prod"])
            #expect(try decode(DesiredStatesResponse.self, try await call(.get, "/api/v1/desired?scope=shop").body).instances.count == 2)

            #expect(try await call(.get, "/api/v1/current?scope=shop/web").status == 404, "no fetch recorded yet")
            let viewerFetch = try await call(.post, "/api/v1/fetches", body: #"{"scope":"shop/web@staging"}"#)
            #expect(viewerFetch.status == 403, "a viewer records nothing")
            let fetched = try await call(.post, "/api/v1/fetches", as: .deployer, body: #"{"scope":"shop/web@staging"}"#)
            #expect(fetched.status == 200, "\(fetched.body)")
            let report = try decode(FetchReport.self, fetched.body)
            #expect(report.instances.map(\.instance) == ["shop/web@staging"] && report.instances.first?.runtime == "sim", "\(fetched.body)")
            let recorded = try await harness.store.events(EventFilter(stream: "instance:shop/web@staging", types: [StateFetched.eventType]))
            #expect(recorded.map(\.actor) == ["token:deployer"])

            let current = try decode(CurrentStatesResponse.self, try await call(.get, "/api/v1/current?scope=shop/web").body)
            #expect(current.instances.map(\.instance) == ["shop/web@staging"], "only the fetched instance has an observation")
            #expect(current.instances.first?.fetchedPosition == recorded.first?.position)

            for bad in ["", "scope=", "scope=shop/web@x/y", "scope=Shop", "scope=\(String(repeating: "a", count: 300))"] {
                #expect(try await call(.get, "/api/v1/desired?\(bad)").status == 400, "\(bad)")
                #expect(try await call(.get, "/api/v1/current?\(bad)").status == 400, "\(bad)")
            }
            let unknown = try await call(.get, "/api/v1/desired?scope=shop/api")
            #expect(unknown.status == 404 && unknown.body.contains("unknown service 'shop/api'"), "\(unknown.body)")
            #expect(try await call(.get, "/api/v1/current?scope=shop/web@nowhere").status == 404)
            #expect(try await call(.post, "/api/v1/fetches", as: .deployer, body: #"{"scope":"shop/web","extra":1}"#).status == 400)
            #expect(try await call(.post, "/api/v1/fetches", as: .deployer, body: #"{"scope":null}"#).status == 400)
            #expect(try await call(.post, "/api/v1/fetches", as: .deployer, body: #"{"scope":"nope"}"#).status == 404)
        }
    }

    @Test("timeline filters and cursor pagination; events by range, stream and type")
    func timelineAndEvents() async throws {
        let harness = try await Harness.make()
        _ = try await harness.control.release(ReleaseBody(application: "shop", service: "web", version: "1.0.0"), actor: "test")
        let worker = harness.worker()
        for _ in 0..<3 {
            try await worker.step()
            await worker.waitForApplies()
            harness.clock.advance(10)
        }
        try await harness.test { client in
            var seen: [Int64] = []
            var cursor: Int64?
            repeat {
                let page = try decode(TimelinePage.self, try await client.call(
                    .get, "/api/v1/timeline?scope=shop/web@staging&limit=2" + (cursor.map { "&before=\($0)" } ?? ""), as: .viewer, harness: harness).body)
                #expect(page.entries.count <= 2)
                #expect(page.entries.allSatisfy { $0.channel == "staging" || $0.channel == nil })
                seen += page.entries.map(\.position)
                cursor = page.next
            } while cursor != nil
            let all = try decode(TimelinePage.self, try await client.call(
                .get, "/api/v1/timeline?application=shop&service=web&channel=staging&limit=1000", as: .viewer, harness: harness).body)
            #expect(seen == all.entries.map(\.position), "paging in 2s gives the whole timeline, newest first, once")
            #expect(seen.count > 4)
            let decisions = try decode(TimelinePage.self, try await client.call(
                .get, "/api/v1/timeline?scope=shop&kind=decision", as: .viewer, harness: harness).body)
            #expect(!decisions.entries.isEmpty && decisions.entries.allSatisfy { $0.kind == .decision })
            #expect(try await client.call(.get, "/api/v1/timeline?kind=nonsense", as: .viewer, harness: harness).status == 400)
            #expect(try await client.call(.get, "/api/v1/timeline?since=yesterday", as: .viewer, harness: harness).status == 400)

            let first = try decode(EventsResponse.self, try await client.call(.get, "/api/v1/events?after=0&limit=5", as: .viewer, harness: harness).body)
            #expect(first.events.map(\.position) == [1, 2, 3, 4, 5])
            #expect(first.next == 5)
            let range = try decode(EventsResponse.self, try await client.call(.get, "/api/v1/events?after=5&to=7", as: .viewer, harness: harness).body)
            #expect(range.events.map(\.position) == [6, 7])
            let typed = try decode(EventsResponse.self, try await client.call(
                .get, "/api/v1/events?type=DecisionMade&stream=instance:shop/web@staging", as: .viewer, harness: harness).body)
            #expect(!typed.events.isEmpty && typed.events.allSatisfy { $0.type == "DecisionMade" && $0.stream == "instance:shop/web@staging" })
            #expect(try await client.call(.get, "/api/v1/events?limit=0", as: .viewer, harness: harness).status == 400)
        }
    }

    @Test("signals: approve, reject, roll back, mark bad, pause, resume, alerts — recorded with the caller as actor")
    func signals() async throws {
        let harness = try await Harness.make()
        _ = try await harness.control.release(ReleaseBody(application: "shop", service: "web", version: "1.0.0"), actor: "test")
        try await harness.test { client in
            let calls: [(String, String, String)] = [
                ("/api/v1/instances/shop/web/prod/approve", #"{"comment": "looks fine"}"#, ApprovalGranted.eventType),
                ("/api/v1/instances/shop/web/prod/reject", #"{"release": "1.0.0", "reason": "no"}"#, ApprovalRejected.eventType),
                ("/api/v1/instances/shop/web/staging/rollback", #"{"reason": "latency"}"#, RollbackRequested.eventType),
                ("/api/v1/services/shop/web/mark-bad", #"{"release": "1.0.0", "reason": "corrupts carts"}"#, ReleaseMarkedBad.eventType),
                ("/api/v1/pause", #"{"scope": "shop/web", "reason": "incident"}"#, Paused.eventType),
                ("/api/v1/resume", #"{"scope": "shop/web"}"#, Resumed.eventType),
                ("/api/v1/alerts", #"{"name": "HighErrorRate", "labels": {"severity": "critical"}, "firing": true}"#, AlertFired.eventType),
                ("/api/v1/alerts", #"{"name": "HighErrorRate", "labels": {"severity": "critical"}, "firing": false}"#, AlertResolved.eventType),
            ]
            for (uri, body, type) in calls {
                let answer = try await client.call(.post, uri, as: .deployer, json: body, harness: harness)
                #expect(answer.status == 200, "\(uri): \(answer.body)")
                let result = try decode(SignalResult.self, answer.body)
                let event = try #require(try await harness.store.events(EventFilter(afterPosition: result.position - 1, limit: 1)).first)
                #expect(event.type == type && event.actor == "token:deployer", "\(uri): \(event.type) by \(event.actor ?? "-")")
            }
            let approval = try #require(try await harness.store.events(EventFilter(types: [ApprovalGranted.eventType])).first)
            #expect(try approval.decode(ApprovalGranted.self).version == "1.0.0", "the instance's desired release by default")
            #expect(try await client.call(.post, "/api/v1/services/shop/web/mark-bad", as: .deployer, json: "{}", harness: harness).status == 400)
            #expect(try await client.call(.post, "/api/v1/pause", as: .deployer, json: #"{"scope": "elsewhere"}"#, harness: harness).status == 404)
            #expect(try await client.call(.post, "/api/v1/pause", as: .deployer, json: #"{"scope": "a b"}"#, harness: harness).status == 400)
        }
    }

    @Test("runtimes: listed with their instances; checked (admin); unknown names are 404 with a suggestion")
    func runtimes() async throws {
        let harness = try await Harness.make()
        try await harness.test { client in
            let list = try decode([RuntimeInfo].self, try await client.call(.get, "/api/v1/runtimes", as: .viewer, harness: harness).body)
            #expect(list.map(\.name) == ["sim"])
            #expect(list.first?.type == "simulated")
            #expect(list.first?.instances == ["shop/web@staging", "shop/web@prod"])
            let check = try await client.call(.post, "/api/v1/runtimes/sim/check", harness: harness)
            #expect(check.status == 200, "\(check.body)")
            #expect(try decode(RuntimeCheckReport.self, check.body).usable)
            let typo = try await client.call(.post, "/api/v1/runtimes/sin/check", harness: harness)
            #expect(typo.status == 404)
            #expect(typo.body.contains("no runtime named 'sin' (did you mean 'sim'?)"), "\(typo.body)")
        }
    }

    @Test("tokens: created once, listed without the secret, revoked tokens stop working")
    func tokens() async throws {
        let harness = try await Harness.make()
        try await harness.test { client in
            let created = try await client.call(.post, "/api/v1/tokens", json: #"{"name": "ci", "role": "deployer"}"#, harness: harness)
            #expect(created.status == 201, "\(created.body)")
            let token = try decode(CreatedToken.self, created.body).token
            var headers = HTTPFields()
            headers[.authorization] = "Bearer \(token)"
            let whoami = try await client.execute(uri: "/api/v1/whoami", method: .get, headers: headers) { String(buffer: $0.body) }
            #expect(try decode(Identity.self, whoami) == Identity(name: "ci", role: .deployer))

            let list = try await client.call(.get, "/api/v1/tokens", harness: harness)
            #expect(!list.body.contains(token) && !list.body.contains(String(token.dropFirst(12))), "the secret is never listed")
            #expect(try decode([TokenInfo].self, list.body).map(\.name) == ["admin", "ci", "deployer", "viewer"])
            #expect(try await client.call(.post, "/api/v1/tokens", json: #"{"name": "ci", "role": "viewer"}"#, harness: harness).status == 409)
            #expect(try await client.call(.post, "/api/v1/tokens", json: #"{"name": "ci", "role": "root"}"#, harness: harness).status == 400)

            #expect(try await client.call(.delete, "/api/v1/tokens/ci", harness: harness).status == 200)
            let after = try await client.execute(uri: "/api/v1/whoami", method: .get, headers: headers) { $0.status.code }
            #expect(after == 401)
            #expect(try await client.call(.delete, "/api/v1/tokens/ci", harness: harness).status == 404)
        }
        // Only hashes are stored.
        let stored = try String(contentsOf: harness.directory.appendingPathComponent("k.db"), encoding: .isoLatin1)
        #expect(!stored.contains(harness.tokens[.admin]!))
    }

    @Test("Alertmanager's documented webhook payload fires and resolves an alert that holds and releases prod")
    func alertmanagerGate() async throws {
        let harness = try await Harness.make()
        _ = try await harness.control.release(ReleaseBody(application: "shop", service: "web", version: "1.0.0"), actor: "test")
        let firing = try String(contentsOf: fixtures.appendingPathComponent("alertmanager-firing.json"), encoding: .utf8)
        let resolved = try String(contentsOf: fixtures.appendingPathComponent("alertmanager-resolved.json"), encoding: .utf8)
        let worker = harness.worker()
        let run: @Sendable (Int) async throws -> Void = { seconds in
            for _ in 0..<(seconds / 5) {
                try await worker.step()
                await worker.waitForApplies()
                try await worker.step()
                harness.clock.advance(5)
            }
        }
        try await harness.test { client in
            let fired = try await client.call(.post, "/api/v1/alertmanager", as: .deployer, json: firing, harness: harness)
            #expect(fired.status == 200, "\(fired.body)")
            #expect(try decode(AlertmanagerResult.self, fired.body).fired.count == 1)

            try await run(180)
            var prod = try #require(try await harness.store.instanceStatuses(prefix: "shop/web@prod").first)
            #expect(prod.status == "waiting" && prod.waitingFor == "alert", "\(prod.status): \(prod.reason)")
            let staging = try #require(try await harness.store.instanceStatuses(prefix: "shop/web@staging").first)
            #expect(staging.status == "converged", "the gate is prod's only")

            let cleared = try await client.call(.post, "/api/v1/alertmanager", as: .deployer, json: resolved, harness: harness)
            #expect(try decode(AlertmanagerResult.self, cleared.body).resolved.count == 1)
            try await run(60)
            prod = try #require(try await harness.store.instanceStatuses(prefix: "shop/web@prod").first)
            #expect(prod.status == "converged" && prod.currentVersions == "1.0.0", "\(prod.status): \(prod.reason)")

            let old = try await client.call(.post, "/api/v1/alertmanager", as: .deployer, json: #"{"version": "3", "status": "firing", "alerts": []}"#, harness: harness)
            #expect(old.status == 400 && old.body.contains("version 4"))
        }
    }
}
