import Foundation
import KeelsonCore
import KeelsonStore
import Testing

/// The built `keelson` binary, run as a separate process (killed with SIGKILL where a test says).
final class KeelsonProcess: @unchecked Sendable {
    static let binary: URL = {
        // swift test runs the test bundle from the build directory, next to the `keelson` binary.
        let buildDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [buildDirectory, buildDirectory.deletingLastPathComponent()] {
            let url = candidate.appendingPathComponent("keelson")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/debug/keelson")
    }()

    let process = Process()
    let output: URL

    init(_ arguments: [String], in directory: URL, log: String) throws {
        output = directory.appendingPathComponent(log)
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        process.executableURL = Self.binary
        process.arguments = arguments
        process.currentDirectoryURL = directory
        let handle = try FileHandle(forWritingTo: output)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    var log: String { (try? String(contentsOf: output, encoding: .utf8)) ?? "" }

    func signal(_ number: Int32) { kill(process.processIdentifier, number) }

    func waitForExit(seconds: Double = 60) async throws -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        return process.isRunning ? nil : process.terminationStatus
    }

    /// Runs the binary to its end on a GCD thread (not one of Swift concurrency's few).
    static func run(_ arguments: [String], in directory: URL) async throws -> (status: Int32, output: String) {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result {
                    let process = Process()
                    process.executableURL = binary
                    process.arguments = arguments
                    process.currentDirectoryURL = directory
                    let pipe = Pipe()
                    process.standardOutput = pipe
                    process.standardError = pipe
                    try process.run()
                    let data = pipe.fileHandleForReading.readDataToEndOfFile()
                    process.waitUntilExit()
                    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
                })
            }
        }
    }
}

/// Waits until `condition` holds, checking every 200 ms, at most `seconds`.
func eventually(_ seconds: Double, _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(200))
    }
    return try await condition()
}

/// A folder with a database and config, and a reader of its log.
struct ProcessFixture {
    let directory: URL
    /// The same database, read by the test while the processes write it.
    let store: EventStore
    var db: String { directory.appendingPathComponent("k.db").path }

    init(config: String) async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-crash-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try config.write(to: directory.appendingPathComponent("shop.yaml"), atomically: true, encoding: .utf8)
        let applied = try await KeelsonProcess.run(["apply", "-f", "shop.yaml", "--db", directory.appendingPathComponent("k.db").path], in: directory)
        #expect(applied.status == 0, "\(applied.output)")
        store = try EventStore(path: directory.appendingPathComponent("k.db").path, configuration: StoreConfiguration(durability: .normal))
    }

    func keelson(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await KeelsonProcess.run(arguments + ["--db", db], in: directory)
    }

    func worker(_ name: String, log: String) throws -> KeelsonProcess {
        try KeelsonProcess(["worker", "--db", db, "--name", name, "--lease-duration", "2s"], in: directory, log: log)
    }

    func events(_ type: String) async throws -> [RecordedEvent] {
        try await store.events(EventFilter(types: [type], limit: 10_000))
    }

    func status(_ instance: String) async throws -> String? {
        try await store.instanceStatuses(prefix: instance).first { $0.instance == instance }?.status
    }

    func checkClean() async throws {
        let replay = try await keelson(["replay", "--verify"])
        #expect(replay.status == 0, "\(replay.output)")
        let check = try await keelson(["db", "check"])
        #expect(check.status == 0, "\(check.output)")
    }
}

@Suite("Crash resume with worker processes killed by SIGKILL", .serialized)
struct CrashResumeProcessTests {
    /// An apply program that logs when each run starts and ends (with its key), waits until the
    /// test creates `state.gate` (at most 90 s) and 4 s more, so that a test kills its worker
    /// before it ends however loaded the machine, and records the version; a fetch program that
    /// reports it.
    static func customConfig(_ directory: URL) throws -> String {
        let apply = """
            #!/bin/sh
            echo "start $KEELSON_IDEMPOTENCY_KEY $$ $(date +%s.%N)" >> "$2"
            waited=0
            while [ ! -f "$1.gate" ] && [ $waited -lt 900 ]; do sleep 0.1; waited=$((waited + 1)); done
            sleep 4
            echo "$KEELSON_VERSION" > "$1"
            echo "end $KEELSON_IDEMPOTENCY_KEY $$ $(date +%s.%N)" >> "$2"
            """
        let fetch = """
            #!/bin/sh
            if [ -f "$1" ]; then
              printf '{"objects": {"app": {"version": "%s", "status": "healthy"}}}' "$(cat "$1")"
            else
              printf '{"objects": {}}'
            fi
            """
        try apply.write(to: directory.appendingPathComponent("apply.sh"), atomically: true, encoding: .utf8)
        try fetch.write(to: directory.appendingPathComponent("fetch.sh"), atomically: true, encoding: .utf8)
        let path = directory.path
        return """
            kind: Runtime
            name: vms
            type: custom
            settings: {fetchIntervalConverging: 1s, fetchIntervalStable: 5s}
            ---
            kind: Application
            name: shop
            channels:
              - name: staging
                runtime: vms
                rules: {watch: 1s}
            ---
            kind: Service
            name: web
            application: shop
            parameters:
              - name: version
                required: true
            run:
              custom:
                fetch: {command: /bin/sh, args: [\(path)/fetch.sh, \(path)/state]}
                apply: {command: /bin/sh, args: [\(path)/apply.sh, \(path)/state, \(path)/runs.log], timeout: 2m}
            progressDeadline: 2m
            """
    }

    /// The runs the apply program logged: key, start and end (nil: it has not ended).
    static func runs(_ directory: URL) -> [(key: String, start: Double, end: Double?)] {
        let text = (try? String(contentsOf: directory.appendingPathComponent("runs.log"), encoding: .utf8)) ?? ""
        var starts: [(key: String, pid: String, start: Double)] = []
        var ends: [String: Double] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ").map(String.init)
            guard parts.count == 4, let time = Double(parts[3]) else { continue }
            if parts[0] == "start" { starts.append((parts[1], parts[2], time)) } else { ends[parts[2]] = time }
        }
        return starts.map { (key: $0.key, start: $0.start, end: ends[$0.pid]) }
    }

    @Test("killed mid-apply, taken over, re-issued, the re-issuer killed and restarted under its name: converges; a key never runs twice at once")
    func takeoverThenRestart() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-crash-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let fixture = try await ProcessFixture(config: try Self.customConfig(directory))
        defer {
            try? FileManager.default.removeItem(at: fixture.directory)
            try? FileManager.default.removeItem(at: directory)
        }
        let w1 = try fixture.worker("w1", log: "w1.log")
        defer { w1.signal(SIGKILL) }
        #expect(try await fixture.keelson(["release", "shop/web", "--version", "1.0.0"]).status == 0)
        #expect(try await eventually(60) { Self.runs(directory).count >= 1 }, "w1 started the apply: \(w1.log)")
        w1.signal(SIGKILL)
        _ = try await w1.waitForExit()

        // w2 takes the lease over once w1's expires, and re-issues the apply: its run must wait
        // for w1's, which outlived w1.
        let w2 = try fixture.worker("w2", log: "w2.log")
        defer { w2.signal(SIGKILL) }
        // w1's run goes on until w2 has recorded its re-issue: how long a loaded machine takes to
        // start w2 does not decide whether w1's run finished first.
        let reissued = try await eventually(60) {
            try await fixture.events(DecisionMade.eventType).contains { $0.actor == "w2" && $0.payload.contains("\"reissue\"") }
        }
        #expect(reissued, "w2 decided to re-issue the apply: \(w2.log)")
        try Data().write(to: directory.appendingPathComponent("state.gate"))
        #expect(try await eventually(60) { Self.runs(directory).count >= 2 }, "w2 re-issued the apply: \(w2.log)")
        w2.signal(SIGKILL)
        _ = try await w2.waitForExit()

        // w2 again, under its name: it resumes the apply it ran, though w1 asked for it.
        let again = try fixture.worker("w2", log: "w2-again.log")
        defer { again.signal(SIGKILL) }
        let converged = try await eventually(90) { try await fixture.status("shop/web@staging") == "converged" }
        #expect(converged, "\(again.log)")
        // Stopped once it is running (a SIGTERM during its start would end it as a signal does).
        #expect(try await eventually(60) { again.log.contains("running") }, "\(again.log)")
        again.signal(SIGTERM)
        #expect(try await again.waitForExit() == 0, "\(again.log)")

        // w1's run and w2's re-issue, and the restarted w2's when w2's had not finished when it
        // was killed (on a loaded machine it may have): one key throughout.
        let runs = Self.runs(directory)
        #expect(runs.count >= 2 && Set(runs.map(\.key)).count == 1, "one request, re-issued: \(runs)")
        for (index, run) in runs.enumerated() {
            for other in runs[(index + 1)...] where other.key == run.key {
                let first = run.start < other.start ? run : other
                let second = run.start < other.start ? other : run
                #expect(first.end.map { $0 <= second.start } ?? false, "two runs of \(run.key) at once: \(runs)")
            }
        }
        #expect(try await fixture.events(ApplyRequested.eventType).count == 1)
        #expect(try await fixture.events(LeaseAcquired.eventType).compactMap(\.actor) == ["w1", "w2"], "a same-name restart takes its leases back at once")
        try await fixture.checkClean()
    }

    static let simulatedConfig = """
        kind: Runtime
        name: sim
        type: simulated
        settings: {applyLatency: 0s, timeToHealthy: 8s, fetchIntervalConverging: 1s}
        ---
        kind: Application
        name: shop
        channels:
          - name: staging
            runtime: sim
            rules: {watch: 1s}
        ---
        kind: Service
        name: web
        application: shop
        run: {simulated: {}}
        progressDeadline: 40s
        """

    @Test("killed after a successful apply, before the release was healthy, on a runtime that lost its state: re-applied and converged, not marked bad")
    func healedAfterRestart() async throws {
        let fixture = try await ProcessFixture(config: Self.simulatedConfig)
        defer { try? FileManager.default.removeItem(at: fixture.directory) }
        let first = try fixture.worker("w", log: "w.log")
        defer { first.signal(SIGKILL) }
        #expect(try await fixture.keelson(["release", "shop/web", "--version", "1.0.0"]).status == 0)
        #expect(try await eventually(60) { try await !fixture.events(ApplyFinished.succeededType).isEmpty }, "\(first.log)")
        first.signal(SIGKILL)
        _ = try await first.waitForExit()

        let again = try fixture.worker("w", log: "w-again.log")
        defer { again.signal(SIGKILL) }
        let settled = try await eventually(90) { ["converged", "failed"].contains(try await fixture.status("shop/web@staging")) }
        #expect(settled, "\(again.log)")
        #expect(try await fixture.status("shop/web@staging") == "converged", "\(again.log)")
        again.signal(SIGTERM)
        #expect(try await again.waitForExit() == 0)
        #expect(try await fixture.events(ReleaseMarkedBad.eventType).isEmpty)
        #expect(try await fixture.events(ApplyRequested.eventType).count == 2)
        try await fixture.checkClean()
    }

    @Test("a second live worker under a taken name is refused with a sentence; a restart after SIGKILL takes the name at once; servers on port 0 get names of their own")
    func exclusiveNames() async throws {
        let fixture = try await ProcessFixture(config: Self.simulatedConfig)
        defer { try? FileManager.default.removeItem(at: fixture.directory) }
        let first = try fixture.worker("w", log: "first.log")
        defer { first.signal(SIGKILL) }
        #expect(try await eventually(60) { try await fixture.events(WorkerStarted.eventType).count == 1 }, "\(first.log)")
        let second = try fixture.worker("w", log: "second.log")
        defer { second.signal(SIGKILL) }
        let status = try await second.waitForExit()
        #expect(status != nil && status != 0, "refused: \(second.log)")
        #expect(second.log.contains(#"the worker name "w" is in use by a running process"#), "\(second.log)")
        #expect(first.process.isRunning)
        first.signal(SIGKILL)
        _ = try await first.waitForExit()
        let restarted = try fixture.worker("w", log: "restarted.log")
        defer { restarted.signal(SIGKILL) }
        #expect(try await eventually(30) { try await fixture.events(WorkerStarted.eventType).count == 2 }, "\(restarted.log)")
        restarted.signal(SIGTERM)
        #expect(try await restarted.waitForExit() == 0)
        let zero = try await fixture.keelson(["worker", "--name", "z", "--lease-duration", "0s"])
        #expect(zero.status == 64 && zero.output.contains("--lease-duration") && zero.output.contains("expected at least 1s"), "\(zero.output)")

        // Two servers on port 0: each its own worker name, both running.
        var servers: [KeelsonProcess] = []
        defer { servers.forEach { $0.signal(SIGKILL) } }
        for index in 0..<2 {
            let server = try KeelsonProcess(["serve", "--db", fixture.db, "--listen", "127.0.0.1:0"], in: fixture.directory, log: "serve-\(index).log")
            servers.append(server)
            #expect(try await eventually(60) { server.log.contains("listening") }, "\(server.log)")
        }
        #expect(try await eventually(30) { try await fixture.events(WorkerStarted.eventType).count == 4 })
        let names = try await fixture.events(WorkerStarted.eventType).suffix(2).map { try $0.decode(WorkerStarted.self).worker }
        #expect(Set(names).count == 2 && names.allSatisfy { $0.hasPrefix("server:127.0.0.1:") }, "\(names)")
        #expect(servers.allSatisfy { $0.process.isRunning })
        for server in servers { server.signal(SIGTERM) }
        for server in servers { #expect(try await server.waitForExit() == 0, "\(server.log)") }
    }
}
