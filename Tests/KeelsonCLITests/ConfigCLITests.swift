import Foundation
import Synchronization
import KeelsonTestSupport
import Testing

/// What `keelson validate`, `apply` and `release` do with hostile or careless config, on a
/// database file and through a server alike.
@Suite("Config on the command line: located errors, files outside, orphans, names")
struct ConfigCLITests {
    static let platform = ShopConfig.platform
    static let web = ShopConfig.web
    static let api = ShopConfig.api

    /// Writes `files` (name → bytes) into `cli.directory/name`, replacing what was there.
    func folder(_ cli: CLI, _ name: String, _ files: [String: Data]) throws -> URL {
        let folder = cli.directory.appendingPathComponent(name)
        try? FileManager.default.removeItem(at: folder)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for (file, data) in files { try data.write(to: folder.appendingPathComponent(file)) }
        return folder
    }

    func events(_ cli: CLI, environment: [String: String] = [:], db: Bool = true) async throws -> [[String: Any]] {
        let listed = try await cli.run(["events", "--limit", "1000", "-o", "json"] + (db ? ["--db", cli.db] : []), environment: environment)
        return try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]] ?? []
    }

    @Test("release several targets, or every service of an application, in one call; a target named twice is a usage error")
    func releaseMany() async throws {
        let cli = CLI()
        let config = Self.platform + "---\n" + Self.web + "run: {simulated: {}}\n---\n" + Self.api + "run: {simulated: {}}\n"
        _ = try folder(cli, "cfg", ["shop.yaml": Data(config.utf8)])
        #expect(try await cli.run(["apply", "-f", "cfg", "--db", cli.db]).status == 0)
        let all = try await cli.run(["release", "shop", "--version", "1.0.0", "--db", cli.db])
        #expect(all.status == 0, "\(all.stderr)")
        #expect(all.stdout.contains("recorded: release 2 services of shop at 1.0.0"), "\(all.stdout)")
        let two = try await cli.run(["release", "shop/web", "shop/api", "--version", "1.1.0", "--db", cli.db, "-o", "json"])
        #expect(two.status == 0, "\(two.stderr)")
        #expect(two.stdout.contains("\"release 2 services of shop at 1.1.0\""), "\(two.stdout)")
        for twice in [["shop/web", "shop/web"], ["shop", "shop"]] {
            let refused = try await cli.run(["release"] + twice + ["--version", "1.2.0", "--db", cli.db])
            #expect(refused.status == 64, "\(twice): \(refused.stderr)")
            #expect(refused.stderr.contains("is named twice"), "\(refused.stderr)")
        }
        // "shop" and "shop/web" overlap: refused by the recorder before anything is written.
        let overlap = try await cli.run(["release", "shop", "shop/web", "--version", "1.2.0", "--db", cli.db])
        #expect(overlap.status != 0)
        #expect((overlap.stdout + overlap.stderr).contains("named twice"), "\(overlap.stderr)")
        let released = try await events(cli).filter { $0["type"] as? String == "ReleaseRequested" }
        #expect(released.count == 4)
    }

    @Test("a NUL byte, an ESC and binary garbage: FILE:LINE:COL in the usual form, line > 0 in JSON, nothing raw on the terminal")
    func bytesLocated() async throws {
        let cli = CLI()
        for (name, bytes, line) in [
            ("nul", Data("kind: Runtime\nname: a\u{0}b\ntype: simulated\n".utf8), 2),
            ("esc", Data("kind: Runtime\nname: sim\ntype: simulated\n# \u{1B}[2J\u{1B}[31m\n".utf8), 4),
            ("garbage", Data([0x7F, 0x45, 0x4C, 0x46, 0x02, 0x01, 0x0A]), 1),
            ("latin1", Data("kind: Runtime\nname: caf".utf8) + Data([0xE9]) + Data("\ntype: simulated\n".utf8), 2),
        ] as [(String, Data, Int)] {
            _ = try folder(cli, name, ["c.yaml": bytes])
            let table = try await cli.run(["validate", "-f", name])
            #expect(table.status == 1)
            #expect(table.stdout.contains("\(name)/c.yaml:\(line):"), "\(name): \(table.stdout)")
            #expect(!table.stdout.contains("YAML error"), "\(name): \(table.stdout)")
            #expect(!(table.stdout + table.stderr).unicodeScalars.contains { $0.value == 0x1B || $0.value == 0 }, "\(name)")
            let json = try await cli.run(["validate", "-f", name, "-o", "json"])
            let report = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
            let problems = try #require(report["problems"] as? [[String: Any]])
            #expect(problems.first?["line"] as? Int == line, "\(name): \(json.stdout)")
        }
    }

    @Test("manifests: ../../../../etc/passwd is refused by `apply --db` and through a server alike; --allow-files-from allows a directory in both")
    func filesOutside() async throws {
        let cli = CLI()
        let climb = String(repeating: "../", count: cli.directory.pathComponents.count + 1) + "etc/passwd"
        _ = try folder(cli, "cfg", ["shop.yaml": Data((Self.platform + "---\n" + Self.web + "run:\n  kubernetes: {manifests: \(climb)}\n").utf8)])
        let local = try await cli.run(["apply", "-f", "cfg", "--db", cli.db])
        #expect(local.status == 1)
        let problem = "cfg/shop.yaml:15:27: Service web › run.kubernetes.manifests: \"cfg/\(climb)\" resolves to \"/etc/passwd\", outside the config directory \"cfg\""
        #expect(local.stderr.contains(problem), "\(local.stderr)")
        let recorded = try await events(cli)
        #expect(!recorded.contains { $0["type"] as? String == "ConfigApplied" })
        #expect(!String(decoding: try JSONSerialization.data(withJSONObject: recorded), as: UTF8.self).contains("root:"))

        // Through a server: refused with the same words (paths are absolute there).
        let server = try await Served(cli)
        defer { server.stop() }
        let remote = try await cli.run(["apply", "-f", "cfg"], environment: server.client)
        #expect(remote.status == 1)
        #expect(remote.stderr.contains("resolves to \"/etc/passwd\", outside the config directory \"\(cli.directory.path)/cfg\""), "\(remote.stderr)")
        #expect(!String(decoding: try JSONSerialization.data(withJSONObject: try await events(cli, environment: server.client, db: false)), as: UTF8.self).contains("root:"))

        // An allowed directory: accepted in both modes, and recorded as allowed.
        _ = try folder(cli, "shared", ["web.yaml": Data("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n".utf8)])
        _ = try folder(cli, "cfg", ["shop.yaml": Data((Self.platform + "---\n" + Self.web + "run:\n  kubernetes: {manifests: ../shared/web.yaml}\n").utf8)])
        #expect(try await cli.run(["apply", "-f", "cfg", "--db", cli.db]).status == 1)
        let allowedLocal = try await cli.run(["apply", "-f", "cfg", "--allow-files-from", "shared", "--db", cli.db])
        #expect(allowedLocal.status == 0, "\(allowedLocal.stderr)")
        let allowedRemote = try await cli.run(["apply", "-f", "cfg", "--allow-files-from", "shared"], environment: server.client)
        #expect(allowedRemote.status == 0, "\(allowedRemote.stderr)")
        let validated = try await cli.run(["validate", "-f", "cfg", "--allow-files-from", "shared"])
        #expect(validated.status == 0, "\(validated.stdout)")
    }

    @Test("a config that drops a released service, or an empty one, is refused with the instances it would orphan; --dry-run lists them; --prune records their removal — on a file and through a server")
    func orphans() async throws {
        let cli = CLI()
        _ = try folder(cli, "cfg", ["platform.yaml": Data(Self.platform.utf8), "web.yaml": Data(Self.web.utf8), "api.yaml": Data(Self.api.utf8)])
        #expect(try await cli.run(["apply", "-f", "cfg", "--db", cli.db]).status == 0)
        #expect(try await cli.run(["release", "shop/web", "--version", "1.0.0", "--db", cli.db]).status == 0)

        _ = try folder(cli, "cfg", ["empty.yaml": Data("# nothing\n".utf8)])
        let before = try await events(cli).count
        let refused = try await cli.run(["apply", "-f", "cfg", "--db", cli.db])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("the config no longer declares 2 released service instances; nothing was recorded"), "\(refused.stderr)")
        #expect(refused.stderr.contains("cfg: shop/web@prod: released (1.0.0), but no longer declared by the config"))
        #expect(refused.stderr.contains("cfg: shop/web@staging: released (1.0.0)"))
        #expect(try await events(cli).count == before)

        _ = try folder(cli, "cfg", ["platform.yaml": Data(Self.platform.utf8), "api.yaml": Data(Self.api.utf8)])
        let dry = try await cli.run(["apply", "-f", "cfg", "--dry-run", "--db", cli.db])
        #expect(dry.status == 0)
        #expect(dry.stdout.contains("shop/web@staging: would be removed"), "\(dry.stdout)")
        #expect(try await events(cli).count == before)

        // Through a server: the same refusal (409), then --prune.
        let server = try await Served(cli)
        defer { server.stop() }
        let remote = try await cli.run(["apply", "-f", "cfg"], environment: server.client)
        #expect(remote.status == 1)
        #expect(remote.stderr.contains("shop/web@prod: released (1.0.0), but no longer declared by the config"), "\(remote.stderr)")
        let pruned = try await cli.run(["apply", "-f", "cfg", "--prune", "-o", "json"], environment: server.client)
        #expect(pruned.status == 0, "\(pruned.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(pruned.stdout.utf8)) as? [String: Any])
        #expect(report["removed"] as? [String] == ["shop/web@prod", "shop/web@staging"])
        let all = try await events(cli, environment: server.client, db: false)
        let removed = all.filter { $0["type"] as? String == "InstanceRemoved" }
        #expect(removed.map { $0["stream"] as? String } == ["instance:shop/web@prod", "instance:shop/web@staging"])
        #expect(report["position"] as? Int == removed.last?["position"] as? Int)
    }

    @Test("`apply --dry-run` of a bad config does not claim a CompileFailed was recorded")
    func dryRunWording() async throws {
        let cli = CLI()
        _ = try folder(cli, "cfg", ["c.yaml": Data("kind: Runtime\nname: sim\ntype: simulatd\n".utf8)])
        let dry = try await cli.run(["apply", "-f", "cfg", "--dry-run", "--db", cli.db])
        #expect(dry.status == 1)
        #expect(dry.stderr.contains("a dry run: nothing was recorded"), "\(dry.stderr)")
        #expect(!dry.stderr.contains("is recorded as a CompileFailed event"))
        #expect(!FileManager.default.fileExists(atPath: cli.db), "a dry run on no database creates none")
        let real = try await cli.run(["apply", "-f", "cfg", "--db", cli.db])
        #expect(real.stderr.contains("the failure is recorded as a CompileFailed event"))
    }

    @Test("release checks names and the version before anything is recorded: exit 64 naming the argument, 400 naming the field", arguments: [
        (["shop/my web", "--version", "1.0.0"], "app/service: a service name is"),
        (["sh@p/web", "--version", "1.0.0"], "app/service: an application name is"),
        (["shop/web/x", "--version", "1.0.0"], "app/service: expected APPLICATION/SERVICE"),
        (["shop/web", "--version", "1.0 final"], "--version: a release version is"),
        (["shop/web", "--version", ""], "--version: a release version is"),
        (["shop/web", "--version", String(repeating: "9", count: 129)], "--version: a release version is"),
    ])
    func releaseNames(_ arguments: [String], _ says: String) async throws {
        let cli = CLI()
        _ = try folder(cli, "cfg", ["platform.yaml": Data(Self.platform.utf8), "web.yaml": Data(Self.web.utf8)])
        #expect(try await cli.run(["apply", "-f", "cfg", "--db", cli.db]).status == 0)
        let before = try await events(cli).count
        let result = try await cli.run(["release"] + arguments + ["--db", cli.db])
        #expect(result.status == 64, "\(result.stderr)")
        #expect(result.stderr.contains(says), "\(result.stderr)")
        #expect(try await events(cli).count == before)
    }

    @Test("POST /api/v1/releases with a name or version that does not fit: 400 naming the field, nothing recorded")
    func releaseNamesThroughAPI() async throws {
        let cli = CLI()
        _ = try folder(cli, "cfg", ["platform.yaml": Data(Self.platform.utf8), "web.yaml": Data(Self.web.utf8)])
        let server = try await Served(cli)
        defer { server.stop() }
        #expect(try await cli.run(["apply", "-f", "cfg"], environment: server.client).status == 0)
        let before = try await events(cli, environment: server.client, db: false).count
        for (body, field) in [
            (#"{"application":"shop","service":"my web","version":"1.0.0"}"#, "service: a service name is"),
            (#"{"application":"sh/op","service":"web","version":"1.0.0"}"#, "application: an application name is"),
            (#"{"application":"shop","service":"web","version":"1.0.0\u001b[31m"}"#, "version: a release version is"),
        ] {
            let (status, answer) = try await RawHTTP.post(port: server.port, path: "/api/v1/releases", token: server.token, body: body)
            #expect(status == 400, "\(answer)")
            #expect(answer.contains(field), "\(answer)")
        }
        #expect(try await events(cli, environment: server.client, db: false).count == before)
    }
}

/// `keelson serve` on the CLI's database, for a test's requests.
final class Served: @unchecked Sendable {
    static let ports = Mutex(19_571)
    let process: ServerProcess
    let port: Int
    let url: String
    let token: String
    var client: [String: String] { ["KEELSON_SERVER": url, "KEELSON_TOKEN": token] }

    init(_ cli: CLI) async throws {
        let port = Self.ports.withLock { port in
            defer { port += 1 }
            return port
        }
        self.port = port
        url = "http://127.0.0.1:\(port)"
        process = try ServerProcess(
            cli, arguments: ["serve", "--db", cli.db, "--listen", "127.0.0.1:\(port)", "--worker-name", "server:config-\(port)"],
            log: "serve-\(port).log")
        guard try await process.waitFor("listening on \(url)") else {
            process.signal(SIGKILL)
            throw CLIError("the server did not start: \(process.log)")
        }
        token = try String(contentsOfFile: cli.directory.appendingPathComponent("admin.token").path, encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func stop() { process.signal(SIGKILL) }
}

struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// One HTTP/1.1 request over a plain socket (the test needs a body the CLI would refuse to send).
enum RawHTTP {
    static func post(port: Int, path: String, token: String, body: String) async throws -> (status: Int, text: String) {
        try await onOwnThread { try postBlocking(port: port, path: path, token: token, body: body) }
    }

    private static func postBlocking(port: Int, path: String, token: String, body: String) throws -> (status: Int, text: String) {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw CLIError("socket: \(errno)") }
        defer { close(socket) }
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw CLIError("connect: \(errno)") }
        let request = "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\n"
            + "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        let bytes = Array(request.utf8)
        guard send(socket, bytes, bytes.count, 0) == bytes.count else { throw CLIError("send: \(errno)") }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(socket, &buffer, buffer.count, 0)
            if count <= 0 { break }
            answer += buffer[0..<count]
        }
        let text = String(decoding: answer, as: UTF8.self)
        let status = text.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        return (status, text)
    }
}
