import Foundation
import Testing

/// `keelson serve` as a separate process, driven by the CLI as its client.
final class ServerProcess: @unchecked Sendable {
    let process = Process()
    let output: URL

    init(_ cli: CLI, arguments: [String], log: String, environment: [String: String] = [:]) throws {
        output = cli.directory.appendingPathComponent(log)
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        process.executableURL = CLI.binary
        process.arguments = arguments
        process.currentDirectoryURL = cli.directory
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let handle = try FileHandle(forWritingTo: output)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    var log: String { (try? String(contentsOf: output, encoding: .utf8)) ?? "" }

    /// Waits until the log contains `text` (or `seconds` pass).
    func waitFor(_ text: String, seconds: Double = 60) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if log.contains(text) { return true }
            if !process.isRunning { return log.contains(text) }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    func signal(_ number: Int32) { kill(process.processIdentifier, number) }

    func waitForExit(seconds: Double = 30) async throws -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        return process.isRunning ? nil : process.terminationStatus
    }
}

@Suite("keelson serve and the CLI as its client")
struct ServerCLITests {
    static let port = 19541

    static let config = """
        kind: Runtime
        name: local
        type: local
        settings: {ports: 19520-19539, stopGracePeriod: 2s, fetchIntervalConverging: 1s, fetchIntervalStable: 5s}
        ---
        kind: Application
        name: shop
        channels:
          - name: staging
            runtime: local
            rules: {watch: 2s}
          - name: prod
            runtime: local
            after: [staging]
            rules:
              soak: 3s
              watch: 2s
              approval: {approvers: 1}
        ---
        kind: Service
        name: web
        application: shop
        parameters:
          - name: version
            required: true
        replicas: 1
        run:
          local:
            command: python3
            args: ["-c", "import os, http.server as h; h.ThreadingHTTPServer(('127.0.0.1', int(os.environ['PORT'])), h.SimpleHTTPRequestHandler).serve_forever()"]
        healthCheck:
          http: {path: /}
          interval: 1s
          timeout: 1s
        progressDeadline: 1m
        """

    @Test("serve; apply and release --wait through the server; SIGKILL mid-rollout; restart; approve; converged; SIGTERM; db check and replay clean")
    func endToEnd() async throws {
        let cli = CLI()
        try Self.config.write(to: cli.directory.appendingPathComponent("shop.yaml"), atomically: true, encoding: .utf8)
        let url = "http://127.0.0.1:\(Self.port)"
        let serve = ["serve", "--db", cli.db, "--listen", "127.0.0.1:\(Self.port)", "--worker-name", "server:e2e"]
        var server = try ServerProcess(cli, arguments: serve, log: "serve-1.log")
        defer {
            server.signal(SIGKILL)
        }
        #expect(try await server.waitFor("listening on \(url)"), "\(server.log)")
        let token = try String(contentsOfFile: cli.directory.appendingPathComponent("admin.token").path, encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let client = ["KEELSON_SERVER": url, "KEELSON_TOKEN": token]

        // Without a token: refused, clearly.
        let refused = try await cli.run(["status"], environment: ["KEELSON_SERVER": url, "KEELSON_TOKEN": ""])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("needs a token: set KEELSON_TOKEN (or give --token-file PATH)"), "\(refused.stderr)")
        #expect(refused.stderr.contains("`keelson token create"), "\(refused.stderr)")

        let applied = try await cli.run(["apply", "-f", "shop.yaml"], environment: client)
        #expect(applied.status == 0, "\(applied.stderr)")
        #expect(applied.stdout.contains("release policy of shop (staging → prod)"), "\(applied.stdout)")
        let deployer = try await cli.run(["token", "create", "--role", "deployer", "--name", "ci"], environment: client)
        #expect(deployer.status == 0, "\(deployer.stderr)")
        let deployerEnvironment = ["KEELSON_SERVER": url, "KEELSON_TOKEN": deployer.stdout.trimmingCharacters(in: .whitespacesAndNewlines)]

        // The log followed live through the server, across its restart.
        let follower = try ServerProcess(cli, arguments: ["events", "--follow", "--limit", "0", "-o", "json"], log: "follow.log", environment: client)
        defer { follower.signal(SIGKILL) }

        // The rollout, followed live while the server is killed and started again.
        async let waited = cli.run(["release", "shop/web", "--version", "1.0.0", "--wait", "--timeout", "150s"], environment: deployerEnvironment)
        var stagingUp = false
        for _ in 0..<300 where !stagingUp {
            let status = try await cli.run(["status", "-o", "json"], environment: client)
            if let entries = try? JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [[String: Any]] {
                stagingUp = entries.contains { $0["instance"] as? String == "shop/web@staging" && $0["status"] as? String == "converged" }
            }
            if !stagingUp { try await Task.sleep(for: .milliseconds(200)) }
        }
        #expect(stagingUp, "staging converged through the server")
        server.signal(SIGKILL)
        #expect(try await server.waitForExit() == 9)

        server = try ServerProcess(cli, arguments: serve, log: "serve-2.log")
        #expect(try await server.waitFor("listening on \(url)"), "\(server.log)")
        let approved = try await cli.run(["approve", "shop/web@prod", "--comment", "e2e"], environment: deployerEnvironment)
        #expect(approved.status == 0, "\(approved.stderr)")
        #expect(approved.stdout.contains("approved 1.0.0 for shop/web@prod, as token ci"), "\(approved.stdout)")

        let result = try await waited
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("converged: 2 of 2 instance(s)"), "\(result.stdout)")

        // The actor of each request is its token; the timeline says so, through the server.
        let timeline = try await cli.run(["timeline", "shop/web@prod", "--kind", "approval"], environment: client)
        #expect(timeline.stdout.contains("token:ci"), "\(timeline.stdout)")

        // The follower reconnected after the restart and missed nothing, repeated nothing.
        let last = try #require(Int(try await cli.run(["events", "--limit", "1", "-o", "json"], environment: client).stdout
            .components(separatedBy: "\"position\" : ").last?.prefix { $0.isNumber } ?? ""))
        #expect(try await follower.waitFor("\"position\":\(last),", seconds: 30), "\(follower.log.suffix(500))")
        let followed = follower.log.split(separator: "\n").compactMap { line -> Int? in
            guard line.hasPrefix("{"), let data = line.data(using: .utf8),
                  let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
            return object["position"] as? Int
        }.filter { $0 <= last }
        #expect(!followed.isEmpty && followed == Array(followed.first!...last), "contiguous: \(followed.prefix(5))…\(followed.suffix(5))")
        #expect(follower.log.contains("reconnecting"), "it noticed the restart: \(follower.log.prefix(300))")

        // The stream catalogue through the server: now, and as it stood at a position.
        let streamsNow = try await cli.run(["streams", "-o", "json"], environment: client)
        #expect(streamsNow.status == 0 && streamsNow.stdout.contains("\"streamID\" : \"instance:shop/web@prod\""), "\(streamsNow)")
        let streamsAt = try await cli.run(["streams", "--at", "5", "-o", "json"], environment: client)
        #expect(streamsAt.status == 0, "\(streamsAt)")
        let pastEnd = try await cli.run(["streams", "--at", "999999999"], environment: client)
        #expect(pastEnd.status == 64 && pastEnd.stderr.contains("past the end of the log"), "\(pastEnd)")

        // Desired and current state through the server; a refresh records a fetch (a deployer may,
        // a viewer may not).
        let desiredThrough = try await cli.run(["get", "desired", "shop/web", "-o", "json"], environment: client)
        #expect(desiredThrough.status == 0 && desiredThrough.stdout.contains("\"instance\" : \"shop/web@prod\""), "\(desiredThrough)")
        let viewer = try await cli.run(["token", "create", "--role", "viewer", "--name", "reader"], environment: client)
        let viewerEnvironment = ["KEELSON_SERVER": url, "KEELSON_TOKEN": viewer.stdout.trimmingCharacters(in: .whitespacesAndNewlines)]
        let viewerRefresh = try await cli.run(["get", "current", "shop/web@prod", "--refresh"], environment: viewerEnvironment)
        #expect(viewerRefresh.status != 0 && viewerRefresh.stderr.contains("deployer"), "\(viewerRefresh)")
        let refreshed = try await cli.run(["get", "current", "shop/web@prod", "--refresh"], environment: deployerEnvironment)
        #expect(refreshed.status == 0 && refreshed.stdout.contains("shop/web@prod on local: healthy, running 1.0.0"), "\(refreshed)")
        let fetches = try await cli.run(
            ["events", "--stream", "instance:shop/web@prod", "--type", "StateFetched", "--type", "StateUnchanged", "-o", "json"], environment: client)
        #expect(fetches.stdout.contains("\"actor\" : \"token:ci\""), "the refresh is recorded as the deployer's fetch: \(fetches.stdout.suffix(600))")
        let unknown = try await cli.run(["get", "desired", "shop/nope"], environment: client)
        #expect(unknown.status != 0 && unknown.stderr.contains("unknown service 'shop/nope'"), "\(unknown)")

        // Tokens through the server: listed without their secret; a revoked one stops working.
        let tokens = try await cli.run(["token", "list"], environment: client)
        #expect(tokens.stdout.contains("ci") && tokens.stdout.contains("deployer"), "\(tokens.stdout)")
        #expect(!tokens.stdout.contains(deployerEnvironment["KEELSON_TOKEN"]!))
        #expect(try await cli.run(["token", "revoke", "ci"], environment: client).status == 0)
        let revoked = try await cli.run(["status"], environment: deployerEnvironment)
        #expect(revoked.status != 0 && revoked.stderr.contains("unknown or revoked token"), "\(revoked.stderr)")

        server.signal(SIGTERM)
        #expect(try await server.waitForExit(seconds: 60) == 0, "graceful stop: \(server.log)")
        #expect(try await cli.run(["db", "check", "--db", cli.db]).status == 0)
        // The server answered as the file does.
        #expect(try await cli.run(["streams", "--at", "5", "-o", "json", "--db", cli.db]).stdout == streamsAt.stdout)
        #expect(try await cli.run(["get", "desired", "shop/web", "-o", "json", "--db", cli.db]).stdout == desiredThrough.stdout)
        let replay = try await cli.run(["replay", "--verify", "--db", cli.db])
        #expect(replay.status == 0, "\(replay.stdout)")
        #expect(try await cli.run(["runtime", "remove", "shop/web@staging", "--db", cli.db]).status == 0)
        #expect(try await cli.run(["runtime", "remove", "shop/web@prod", "--db", cli.db]).status == 0)
    }
}

@Suite("two workers in two processes on one database")
struct TwoProcessLeaseTests {
    @Test("keelson serve and keelson worker at once: every instance is decided by one of them only, the rollout converges, replay is clean")
    func leases() async throws {
        let cli = CLI()
        let base = ServerCLITests.config
            .replacingOccurrences(of: "ports: 19520-19539", with: "ports: 19560-19579")
            .replacingOccurrences(of: #"\n *approval: \{approvers: 1\}"#, with: "", options: .regularExpression)
        // A second service, like web.
        let service = "kind: Service" + base.components(separatedBy: "kind: Service")[1]
        let config = base + "\n---\n" + service.replacingOccurrences(of: "name: web", with: "name: api")
        try config.write(to: cli.directory.appendingPathComponent("shop.yaml"), atomically: true, encoding: .utf8)
        let applied = try await cli.run(["apply", "-f", "shop.yaml", "--db", cli.db])
        #expect(applied.status == 0, "\(applied.stdout)\(applied.stderr)")

        let server = try ServerProcess(
            cli, arguments: ["serve", "--db", cli.db, "--listen", "127.0.0.1:19542", "--worker-name", "server:one"], log: "serve.log")
        let worker = try ServerProcess(cli, arguments: ["worker", "--db", cli.db, "--name", "worker:two"], log: "worker.log")
        defer {
            server.signal(SIGKILL)
            worker.signal(SIGKILL)
        }
        #expect(try await server.waitFor("listening on"), "\(server.log)")
        for service in ["web", "api"] {
            #expect(try await cli.run(["release", "shop/\(service)", "--version", "1.0.0", "--db", cli.db]).status == 0)
        }
        var converged = false
        for _ in 0..<300 where !converged {
            let status = try await cli.run(["status", "-o", "json", "--db", cli.db])
            let entries = (try? JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [[String: Any]]) ?? []
            converged = entries.count == 4 && entries.allSatisfy { $0["status"] as? String == "converged" }
            if !converged { try await Task.sleep(for: .milliseconds(200)) }
        }
        let final = try await cli.run(["status", "--db", cli.db]).stdout
        #expect(converged, "\(final)")

        server.signal(SIGTERM)
        worker.signal(SIGTERM)
        #expect(try await server.waitForExit() == 0)
        #expect(try await worker.waitForExit() == 0)
        let decisions = try await cli.run(["events", "--type", "DecisionMade", "--limit", "10000", "-o", "json", "--db", cli.db])
        let events = try #require(try JSONSerialization.jsonObject(with: Data(decisions.stdout.utf8)) as? [[String: Any]])
        var deciders: [String: Set<String>] = [:]
        for event in events { deciders[event["stream"] as! String, default: []].insert(event["actor"] as! String) }
        #expect(deciders.count == 4)
        #expect(deciders.values.allSatisfy { $0.count == 1 }, "one decider per instance: \(deciders)")
        #expect(try await cli.run(["replay", "--verify", "--db", cli.db]).status == 0)
        #expect(try await cli.run(["db", "check", "--db", cli.db]).status == 0)
        for instance in ["shop/web@staging", "shop/web@prod", "shop/api@staging", "shop/api@prod"] {
            #expect(try await cli.run(["runtime", "remove", instance, "--db", cli.db]).status == 0)
        }
    }
}
