import Foundation
import HTTPTypes
import HummingbirdTesting
import KeelsonCore
@testable import KeelsonServer
@testable import KeelsonService
import KeelsonStore
import Logging
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Tokens in the audit trail, the last admin token, and the first admin token's file.
@Suite("Tokens")
struct TokenTests {
    @Test("creating and revoking a token append TokenCreated/TokenRevoked (name, role, actor) — never the secret or its hash")
    func auditTrail() async throws {
        let harness = try await Harness.make()
        try await harness.test { client in
            let created = try await client.call(.post, "/api/v1/tokens", json: #"{"name": "ci", "role": "deployer"}"#, harness: harness)
            #expect(created.status == 201, "\(created)")
            let secret = try decode(CreatedToken.self, created.body).token
            let revoked = try await client.call(.delete, "/api/v1/tokens/ci", harness: harness)
            #expect(revoked.status == 200, "\(revoked)")
            let result = try decode(SignalResult.self, revoked.body)

            let events = try await harness.store.stream(tokensStream)
            let ci = events.filter { $0.payload.contains("\"ci\"") }
            #expect(ci.map(\.type) == [TokenCreated.eventType, TokenRevoked.eventType])
            #expect(try ci[0].decode(TokenCreated.self) == TokenCreated(name: "ci", role: "deployer"))
            #expect(try ci[1].decode(TokenRevoked.self) == TokenRevoked(name: "ci", role: "deployer"))
            #expect(ci.allSatisfy { $0.actor == "token:admin" })
            #expect(result.position == ci[1].position, "the revoke answers with its own event's position")
            let hash = ControlPlane.hash(secret)
            for event in events {
                #expect(!event.payload.contains(secret) && !event.payload.contains(String(secret.dropFirst(4).prefix(12))))
                #expect(!event.payload.contains(hash))
            }
            // The harness's own tokens were recorded the same way, by their creator.
            #expect(events.prefix(3).map(\.type) == Array(repeating: TokenCreated.eventType, count: 3))
            #expect(events.prefix(3).allSatisfy { $0.actor == "test" })
            // They are in the event log every viewer reads, and in the timeline-independent stream list.
            let listed = try decode(EventsResponse.self, try await client.call(.get, "/api/v1/events?stream=tokens", as: .viewer, harness: harness).body)
            #expect(listed.events.map(\.type).suffix(2) == [TokenCreated.eventType, TokenRevoked.eventType])
        }
    }

    @Test("the last active admin token cannot be revoked (409 with a sentence); with another admin it can")
    func lastAdmin() async throws {
        let harness = try await Harness.make()
        try await harness.test { client in
            let before = try await harness.store.lastPosition()
            let refused = try await client.call(.delete, "/api/v1/tokens/admin", harness: harness)
            #expect(refused.status == 409, "\(refused)")
            let message = try decode(APIErrorBody.self, refused.body).error.message
            #expect(message.contains("'admin' is the last active admin token") && message.hasSuffix("."), "\(message)")
            #expect(try await harness.store.lastPosition() == before, "nothing appended")
            #expect(try await client.call(.get, "/api/v1/tokens", harness: harness).status == 200, "the token still works")

            let second = try decode(CreatedToken.self, try await client.call(
                .post, "/api/v1/tokens", json: #"{"name": "admin2", "role": "admin"}"#, harness: harness).body)
            #expect(try await client.call(.delete, "/api/v1/tokens/admin", harness: harness).status == 200)
            var headers = HTTPFields()
            headers[.authorization] = "Bearer \(second.token)"
            let last = try await client.execute(uri: "/api/v1/tokens/admin2", method: .delete, headers: headers) { $0.status.code }
            #expect(last == 409)
        }
        // The same through ControlPlane (the CLI on a database file).
        await #expect(throws: APIError.self) { try await harness.control.revokeToken(name: "admin2", actor: "user:root") }
        #expect(try await harness.store.tokens().first { $0.name == "admin2" }?.isActive == true)
    }

    /// A folder for the first admin token.
    static func folder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-token-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }

    static func emptyStore(in folder: URL) throws -> EventStore {
        try EventStore(path: folder.appendingPathComponent("k.db").path, configuration: StoreConfiguration(durability: .normal))
    }

    @Test("first start: the admin token file is written atomically (0600), then the token recorded")
    func bootstrap() async throws {
        let folder = try Self.folder()
        let store = try Self.emptyStore(in: folder)
        let control = ControlPlane(store: store)
        let path = folder.appendingPathComponent("admin.token").path
        let bootstrapped = try await KeelsonServer.bootstrapAdminToken(control: control, file: SecretFile(path: path))
        #expect(bootstrapped)
        let text = try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .newlines)
        #expect(try await control.authenticate(token: text) == Identity(name: "admin", role: .admin))
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".tmp") }.isEmpty)
        let created = try #require(try await store.stream(tokensStream).first)
        #expect(created.actor == "keelson serve")
        #expect(try created.decode(TokenCreated.self) == TokenCreated(name: "admin", role: "admin"))
        let createdAgain = try await KeelsonServer.bootstrapAdminToken(control: control, file: SecretFile(path: path))
        #expect(createdAgain == false, "only when none exists")
    }

    @Test("a full disk while writing the token file: no admin.token, no token recorded, and the error is a sentence")
    func bootstrapFullDisk() async throws {
        let folder = try Self.folder()
        let store = try Self.emptyStore(in: folder)
        let path = folder.appendingPathComponent("admin.token").path
        var file = SecretFile(path: path)
        // Write half, then fail as a full disk does.
        file.system.write = { descriptor, bytes in
            if bytes.count > 20 { return Glibc.write(descriptor, bytes.baseAddress, 20) }
            errno = ENOSPC
            return -1
        }
        let error = await #expect(throws: BootstrapFailure.self) {
            try await KeelsonServer.bootstrapAdminToken(control: ControlPlane(store: store), file: file)
        }
        #expect(error?.description.contains("the disk is full (no space left on device)") == true, "\(error?.description ?? "")")
        #expect(error?.description.contains("nothing was recorded") == true)
        #expect(!(error?.description.contains("NSCocoaErrorDomain") ?? true))
        #expect(!FileManager.default.fileExists(atPath: path), "no empty or partial admin.token")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.contains("admin.token") }.isEmpty, "no temporary file left")
        #expect(try await store.tokens().isEmpty)
        #expect(try await store.lastPosition() == 0)
    }

    @Test("keelson serve refuses to start when the token file cannot be written, and records nothing (a real failure: the path is a folder)")
    func serveStopsOnUnwritableTokenFile() async throws {
        let folder = try Self.folder()
        let store = try Self.emptyStore(in: folder)
        let path = folder.appendingPathComponent("admin.token").path
        try FileManager.default.createDirectory(atPath: path + "/occupied", withIntermediateDirectories: true)
        var settings = KeelsonServer.Settings(stateRoot: folder.appendingPathComponent("state").path)
        settings.port = 0
        settings.bootstrapTokenFile = path
        let error = await #expect(throws: BootstrapFailure.self) {
            try await KeelsonServer.run(store: store, settings: settings, logger: Logger(label: "test"))
        }
        #expect(error?.description.hasPrefix("no API token exists and the first admin token could not be written: cannot write \(path)") == true,
                "\(error?.description ?? "")")
        #expect(try await store.tokens().isEmpty)
        #expect(try await store.lastPosition() == 0)
        #expect(FileManager.default.fileExists(atPath: path + "/occupied"), "the folder in the way is untouched")
    }
}
