import Foundation
import HTTPTypes
import HummingbirdTesting
import KeelsonServer
import KeelsonService
import NIOCore
import Testing

@Suite("The web UI's files (router tests, no sockets; the browser tests are tools/browser/ui_test.py)")
struct WebUITests {
    struct Answer {
        var status: Int
        var headers: HTTPFields
        var body: String
    }

    func get(_ client: any TestClientProtocol, _ uri: String, method: HTTPRequest.Method = .get, headers: HTTPFields = [:]) async throws -> Answer {
        try await client.execute(uri: uri, method: method, headers: headers, body: nil) { response in
            Answer(status: Int(response.status.code), headers: response.headers, body: String(buffer: response.body))
        }
    }

    @Test("the shell and its files are served without a token, with their type, a strict Content-Security-Policy and an ETag")
    func servesTheShell() async throws {
        let harness = try await Harness.make()
        try await harness.test { client in
            let page = try await get(client, "/")
            #expect(page.status == 200)
            #expect(page.headers[.contentType] == "text/html; charset=utf-8")
            #expect(page.body.contains(#"<script type="module" src="/ui/app.js"></script>"#))
            let policy = try #require(page.headers[.contentSecurityPolicy])
            #expect(policy.contains("default-src 'none'") && policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'"))
            #expect(!policy.contains("unsafe"), "no inline script or style is allowed: \(policy)")
            #expect(page.headers[.xContentTypeOptions] == "nosniff")
            for (name, asset) in WebUI.assets {
                let answer = try await get(client, "/ui/\(name)")
                #expect(answer.status == 200, "\(name)")
                #expect(answer.headers[.contentType] == asset.contentType, "\(name)")
                #expect(answer.headers[.eTag] == asset.etag && answer.headers[.cacheControl] == "no-cache", "\(name)")
                #expect(Array(answer.body.utf8) == asset.bytes, "\(name)")
            }
            // Every module the page imports is served.
            for asset in WebUI.assets.values where asset.name.hasSuffix(".js") {
                let text = String(decoding: asset.bytes, as: UTF8.self)
                for match in text.matches(of: /from '\.\/([a-z]+\.js)'/) {
                    #expect(WebUI.assets[String(match.1)] != nil, "\(asset.name) imports \(match.1), which is not served")
                }
            }
        }
    }

    @Test("a browser that has the file revalidates with If-None-Match and gets 304 without a body; HEAD has no body")
    func revalidates() async throws {
        let harness = try await Harness.make()
        try await harness.test { client in
            let first = try await get(client, "/ui/board.js")
            let etag = try #require(first.headers[.eTag])
            #expect(etag.hasPrefix("\"") && etag.count == 34)
            for validator in [etag, "W/\(etag)", "\"other\", \(etag)", "*"] {
                let again = try await get(client, "/ui/board.js", headers: [.ifNoneMatch: validator])
                #expect(again.status == 304 && again.body.isEmpty && again.headers[.eTag] == etag, "\(validator)")
            }
            let changed = try await get(client, "/ui/board.js", headers: [.ifNoneMatch: "\"an-older-build\""])
            #expect(changed.status == 200 && changed.body == first.body)
            let head = try await get(client, "/ui/board.js", method: .head)
            #expect(head.status == 200 && head.body.isEmpty && head.headers[.contentLength] == String(first.body.utf8.count))
        }
    }

    @Test("only the UI's own files are served: unknown names, other folders and escapes are a 404; the API still needs a token")
    func servesNothingElse() async throws {
        let harness = try await Harness.make()
        try await harness.test { client in
            for uri in ["/ui/nope.js", "/ui/", "/ui/..%2Fkeelson.db", "/ui/%00", "/ui/" + String(repeating: "a", count: 5_000), "/index.html", "/ui/app.js/x"] {
                let answer = try await get(client, uri)
                #expect(answer.status == 404, "\(uri.prefix(40)): \(answer.status)")
                #expect(answer.body.count < 400, "the error does not echo a long name")
            }
            #expect(try await get(client, "/api/v1/status").status == 401)
        }
    }

    @Test("status carries each application's promotion graph, which the board draws")
    func statusHasPromotions() async throws {
        let harness = try await Harness.make()
        _ = try await harness.control.release(ReleaseBody(application: "shop", service: "web", version: "1.0.0"), actor: "test")
        let status = try await harness.control.status(scope: nil)
        #expect(status.channels == ["shop": ["staging", "prod"]])
        #expect(status.promotions == ["shop": ["staging": [], "prod": ["staging"]]])
    }

    @Test("status as of a log position or a time shows the instances as they stood then, with the channels of then")
    func statusInThePast() async throws {
        let harness = try await Harness.make()
        _ = try await harness.control.release(ReleaseBody(application: "shop", service: "web", version: "1.0.0"), actor: "test")
        let released = try await harness.store.lastPosition()
        let worker = harness.worker()
        try await worker.step()
        await worker.waitForApplies()
        try await worker.step()
        let now = try await harness.control.status(scope: nil)
        #expect(now.instances.contains { $0.status != "idle" && $0.decisionPosition > released }, "\(now.instances)")
        try await harness.test { client in
            let answer = try await client.call(.get, "/api/v1/status?position=\(released)", as: .viewer, harness: harness)
            #expect(answer.status == 200, "\(answer.body)")
            let then = try decode(StatusResponse.self, answer.body)
            #expect(then.position == released)
            #expect(then.instances.allSatisfy { $0.decisionPosition <= released && $0.current.isEmpty }, "\(then.instances)")
            #expect(then.promotions?["shop"]?["prod"] == ["staging"])
            // Before anything was released there is nothing to show; a position past the end is now.
            #expect(try decode(StatusResponse.self, try await client.call(.get, "/api/v1/status?position=1", as: .viewer, harness: harness).body).instances.isEmpty)
            let future = try decode(StatusResponse.self, try await client.call(.get, "/api/v1/status?position=999999999", as: .viewer, harness: harness).body)
            #expect(future.position == now.position && future.instances.map(\.status) == now.instances.map(\.status))
            let tooOld = try decode(StatusResponse.self, try await client.call(.get, "/api/v1/status?at=1970-01-02", as: .viewer, harness: harness).body)
            #expect(tooOld.instances.isEmpty && tooOld.position == 0)
            for bad in ["position=-1", "position=x", "at=yesterday"] {
                let refused = try await client.call(.get, "/api/v1/status?\(bad)", as: .viewer, harness: harness)
                #expect(refused.status == 400 && refused.body.contains(String(bad.prefix { $0 != "=" })), "\(bad): \(refused.body)")
            }
        }
    }
}
