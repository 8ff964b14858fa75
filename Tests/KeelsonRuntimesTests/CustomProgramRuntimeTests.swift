import Foundation
import KeelsonCore
import Testing
@testable import KeelsonRuntimes

#if canImport(Glibc)
import Glibc
#endif

/// Fixture programs (shell scripts under Fixtures/custom) that succeed, fail, fail retryably, hang
/// and print garbage, run for real through swift-subprocess.
enum CustomFixture {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/custom").path

    static func program(_ script: String, timeout: Int = 300, retryable: [Int] = [], attempts: Int = 3, state: String, hang: Int = 600) -> String {
        """
        {"args":[],"command":"\(folder)/\(script)","env":{"HANG":"\(hang)","STATE":"\(state)"},"retry":{"attempts":\(attempts),"baseSeconds":0.05,"maxSeconds":0.2},\
        "retryableExitCodes":\(retryable),"timeoutSeconds":\(timeout),"workingDirectory":"\(folder)"}
        """
    }

    static func state(fetch: String, apply: String, version: String = "2.0.0") -> DesiredState {
        let document = """
            {"apiVersion":"keelson.dev/v1","application":"billing","autoRollback":true,"channel":"prod","env":{"REGION":"eu"},\
            "instance":"billing/api@prod","progressDeadlineSeconds":60,"release":{"parameters":{"version":"\(version)","build-id":"77"},"version":"\(version)"},\
            "replicas":2,"runtime":{"name":"vms","type":"custom"},"run":{"custom":{"apply":\(apply),"fetch":\(fetch)}},"service":"api"}
            """
        return DesiredState(
            instance: ServiceInstanceID("billing/api@prod")!, digest: "sha256:\(version)", version: version, document: document,
            replicas: 2)
    }

    static func scratch() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("keelson-custom-\(UUID().uuidString)").path
    }
}

@Suite("Custom fetch/apply programs")
struct CustomProgramRuntimeTests {
    /// Each test on a state directory (apply locks) of its own.
    let runtime = CustomProgramRuntime(name: "vms", stateDirectory: CustomFixture.scratch())
    let api = ServiceInstanceID("billing/api@prod")!

    @Test("apply gets the request as JSON on stdin and KEELSON_* variables; fetch's JSON becomes the observation")
    func succeeds() async throws {
        let dir = CustomFixture.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let state = CustomFixture.state(
            fetch: CustomFixture.program("fetch-ok.sh", state: dir), apply: CustomFixture.program("apply-ok.sh", state: dir))
        let result = try await runtime.apply(state, idempotencyKey: "key-1", timeout: .seconds(120))
        #expect(result.succeeded, "\(result.error ?? "")")
        #expect(result.output.contains("attempt 1: exited with code 0"))
        #expect(result.output.contains("stdout: deployed api 2.0.0 to prod (2 replicas)"))
        #expect(result.output.contains("stderr: a warning on stderr"))

        let request = try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/request.json")))
        guard case .object(let fields) = request else { Issue.record("stdin was not a JSON object"); return }
        #expect(fields["action"] == .string("apply"))
        #expect(fields["idempotencyKey"] == .string("key-1"))
        #expect(fields["instance"] == .string("billing/api@prod"))
        #expect(fields["parameters"] == .object(["version": .string("2.0.0"), "build-id": .string("77")]))
        #expect(fields["replicas"] == .integer(2))
        if case .object(let document)? = fields["desiredState"] { #expect(document["apiVersion"] == .string("keelson.dev/v1")) }
        else { Issue.record("no desiredState in the request") }
        let environment = try String(contentsOfFile: dir + "/env", encoding: .utf8)
        for line in ["KEELSON_ACTION=apply", "KEELSON_APPLICATION=billing", "KEELSON_CHANNEL=prod", "KEELSON_IDEMPOTENCY_KEY=key-1",
                     "KEELSON_PARAM_BUILD_ID=77", "KEELSON_SERVICE=api", "KEELSON_VERSION=2.0.0"] {
            #expect(environment.contains(line + "\n"), "missing \(line)")
        }

        let observation = try await runtime.fetch(api, desired: state)
        #expect(observation.objects == [
            ObservedObject(name: "vm-1", version: "2.0.0", desiredReplicas: 1, readyReplicas: 1, health: .healthy, message: "systemd unit active"),
            ObservedObject(name: "vm-2", version: "2.0.0", desiredReplicas: 1, readyReplicas: 0, health: .unhealthy, message: "port 8080 closed", drifted: true),
        ])
    }

    @Test("a failing program: ApplyFailed naming the program, its exit code and its last error line")
    func fails() async throws {
        let dir = CustomFixture.scratch()
        let state = CustomFixture.state(
            fetch: CustomFixture.program("fail.sh", state: dir), apply: CustomFixture.program("fail.sh", retryable: [75], state: dir))
        let result = try await runtime.apply(state, idempotencyKey: "k", timeout: .seconds(120))
        #expect(!result.succeeded)
        #expect(result.error == "\(CustomFixture.folder)/fail.sh exited with code 2: error: disk full on vm-1")
        // Exit code 2 is not retryable: one attempt.
        #expect(result.output.contains("attempt 1") && !result.output.contains("attempt 2"))
        #expect(result.output.contains("stdout: starting deploy"))
        await #expect(throws: FetchError(runtime: "vms", instance: api, reason: "\(CustomFixture.folder)/fail.sh exited with code 2: error: disk full on vm-1")) {
            try await runtime.fetch(api, desired: state)
        }
    }

    @Test("a retryable exit code is retried with backoff until it succeeds, or until the attempts run out")
    func retries() async throws {
        let dir = CustomFixture.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let flaky = CustomFixture.program("flaky.sh", retryable: [75], attempts: 3, state: dir)
        let result = try await runtime.apply(CustomFixture.state(fetch: flaky, apply: flaky), idempotencyKey: "k", timeout: .seconds(120))
        #expect(result.succeeded, "\(result.error ?? "")")
        #expect(result.output.contains("attempt 1: exited with code 75"))
        #expect(result.output.contains("attempt 2: exited with code 75"))
        #expect(result.output.contains("attempt 3: exited with code 0"))
        #expect(try String(contentsOfFile: dir + "/attempts", encoding: .utf8) == "3\n")

        let fresh = CustomFixture.scratch()
        defer { try? FileManager.default.removeItem(atPath: fresh) }
        let twice = CustomFixture.program("flaky.sh", retryable: [75], attempts: 2, state: fresh)
        let exhausted = try await runtime.apply(CustomFixture.state(fetch: twice, apply: twice), idempotencyKey: "k", timeout: .seconds(120))
        #expect(!exhausted.succeeded)
        #expect(exhausted.error == "\(CustomFixture.folder)/flaky.sh exited with code 75 (attempt 2 of 2; earlier attempts: exited with code 75): lock held by another deploy (attempt 2)")
    }

    @Test("a program that hangs is stopped at its timeout, with the child it started")
    func hangs() async throws {
        let dir = CustomFixture.scratch()
        let hang = CustomFixture.program("hang.sh", timeout: 1, state: dir)
        let clock = ContinuousClock()
        let started = clock.now
        let result = try await runtime.apply(CustomFixture.state(fetch: hang, apply: hang), idempotencyKey: "k", timeout: .seconds(120))
        // Not a timing goal: only that the 1 s timeout stopped a program that would run for 10 minutes.
        #expect(clock.now - started < .seconds(300))
        #expect(!result.succeeded)
        #expect(result.error == "\(CustomFixture.folder)/hang.sh was stopped at its timeout of 1s")
        #expect(result.output.contains("stdout: waiting forever"))
        // The whole process group went: no `sleep 600` of hang.sh is left.
        #expect(Self.processes(withCommandLine: ["sleep", "600"]).isEmpty)
        // The apply's own timeout bounds the program's too.
        let slow = CustomFixture.program("hang.sh", timeout: 60, state: dir)
        let bounded = try await runtime.apply(CustomFixture.state(fetch: slow, apply: slow), idempotencyKey: "k", timeout: .milliseconds(500))
        #expect(bounded.error == "\(CustomFixture.folder)/hang.sh was stopped at the apply's timeout of 500ms")
    }

    @Test("cancelling an apply stops the program at once")
    func cancelled() async throws {
        let dir = CustomFixture.scratch()
        let hang = CustomFixture.program("hang.sh", timeout: 600, state: dir, hang: 601)
        let runtime = runtime
        let clock = ContinuousClock()
        let started = clock.now
        let task = Task { try await runtime.apply(CustomFixture.state(fetch: hang, apply: hang), idempotencyKey: "k", timeout: .seconds(600)) }
        try await Task.sleep(for: .milliseconds(300))
        task.cancel()
        let result = try await task.value
        // Not a timing goal: only that it did not wait for the 600 s program timeout.
        #expect(clock.now - started < .seconds(300))
        #expect(!result.succeeded)
        #expect(result.error == "\(CustomFixture.folder)/hang.sh: cancelled; the program was stopped")
        #expect(Self.processes(withCommandLine: ["sleep", "601"]).isEmpty)
    }

    @Test("a fetch program that prints garbage or the wrong shape gives a fetch error saying what is wrong")
    func garbage() async throws {
        let dir = CustomFixture.scratch()
        let ok = CustomFixture.program("apply-ok.sh", state: dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let garbage = CustomFixture.state(fetch: CustomFixture.program("garbage.sh", state: dir), apply: ok)
        await #expect(throws: FetchError(
            runtime: "vms", instance: api,
            reason: "fetch program \(CustomFixture.folder)/garbage.sh printed output that is not a Keelson observation: not valid JSON; stdout was: 'vm-1 OK version=1.0.0'")) {
            try await runtime.fetch(api, desired: garbage)
        }
        let badStatus = CustomFixture.state(fetch: CustomFixture.program("bad-status.sh", state: dir), apply: ok)
        do {
            _ = try await runtime.fetch(api, desired: badStatus)
            Issue.record("a status of 'ok' was accepted")
        } catch let error as FetchError {
            #expect(error.reason.contains("objects.vm-1.status must be healthy, unhealthy or unknown, not 'ok'"))
        }
    }

    @Test("the observation format is strict and names the path of each problem", arguments: [
        (#"[]"#, "expected a JSON object with \"objects\""),
        (#"{"objects": [], "extra": 1}"#, "unknown field 'extra' (expected only \"objects\")"),
        (#"{"objects": []}"#, "\"objects\" must be an object of name → {version, replicas, readyReplicas, status, message, drifted}"),
        (#"{"objects": {"a": {"replicas": -1}}}"#, "objects.a.replicas must be a whole number ≥ 0"),
        (#"{"objects": {"a": {"version": 3}}}"#, "objects.a.version must be a string"),
        (#"{"objects": {"a": {"drifted": "yes"}}}"#, "objects.a.drifted must be true or false"),
        (#"{"objects": {"a": {"verison": "1"}}}"#, "objects.a: unknown field 'verison' (known: drifted, message, readyReplicas, replicas, status, version)"),
    ])
    func format(output: String, problem: String) {
        #expect(throws: CustomProgramRuntime.FormatProblem.self) { try CustomProgramRuntime.parseObservation(output) }
        do { _ = try CustomProgramRuntime.parseObservation(output) } catch { #expect(error.reason == problem) }
    }

    @Test("check: the programs exist and are executable")
    func check() async {
        let runtime = CustomProgramRuntime(name: "vms", programs: [
            (what: "billing/api fetch", command: "\(CustomFixture.folder)/fetch-ok.sh", workingDirectory: nil),
            (what: "billing/api apply", command: "./nope.sh", workingDirectory: CustomFixture.folder),
            (what: "billing/api remove", command: "no-such-tool-keelson", workingDirectory: nil),
        ])
        let checks = await runtime.check()
        #expect(checks.map(\.passed) == [true, false, false])
        #expect(checks[1].detail == "no executable file at ./nope.sh (in \(CustomFixture.folder))")
        #expect(checks[2].detail == "'no-such-tool-keelson' is not on PATH")
    }

    static func processes(withCommandLine arguments: [String]) -> [String] {
        let wanted = arguments.joined(separator: "\u{0}") + "\u{0}"
        let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return pids.filter { $0.allSatisfy(\.isNumber) }.filter {
            let commandLine = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\($0)/cmdline"))).map { String(decoding: $0, as: UTF8.self) }
            let stat = (try? String(contentsOfFile: "/proc/\($0)/stat", encoding: .utf8)) ?? ""
            return commandLine == wanted && !stat.contains(") Z ")
        }
    }

    /// An apply program that logs when each run starts and ends, and takes `seconds`.
    static func slowProgram(_ dir: String, seconds: Double) throws -> String {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let script = dir + "/slow.sh"
        try """
            #!/bin/sh
            echo "start $$ $(date +%s.%N)" >> "$STATE/runs.log"
            sleep \(seconds)
            echo "end $$ $(date +%s.%N)" >> "$STATE/runs.log"
            """.write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        return """
            {"args":[],"command":"\(script)","env":{"STATE":"\(dir)"},"retry":{"attempts":1,"baseSeconds":0.05,"maxSeconds":0.2},\
            "retryableExitCodes":[],"timeoutSeconds":60,"workingDirectory":"\(dir)"}
            """
    }

    @Test("two applies of one instance from two runtime objects (two workers) on one state directory run one after the other")
    func oneRunAtATime() async throws {
        let dir = CustomFixture.scratch()
        let locks = CustomFixture.scratch()
        defer {
            try? FileManager.default.removeItem(atPath: dir)
            try? FileManager.default.removeItem(atPath: locks)
        }
        let program = try Self.slowProgram(dir, seconds: 1.5)
        let state = CustomFixture.state(fetch: program, apply: program)
        let first = CustomProgramRuntime(name: "vms", stateDirectory: locks)
        let second = CustomProgramRuntime(name: "vms", stateDirectory: locks)
        async let a = first.apply(state, idempotencyKey: "k", timeout: .seconds(120))
        async let b = second.apply(state, idempotencyKey: "k", timeout: .seconds(120))
        let (resultA, resultB) = try await (a, b)
        #expect(resultA.succeeded && resultB.succeeded, "\(resultA.error ?? "") \(resultB.error ?? "")")
        let lines = try String(contentsOfFile: dir + "/runs.log", encoding: .utf8).split(separator: "\n").map { $0.split(separator: " ")[0] }
        #expect(lines == ["start", "end", "start", "end"], "never two runs at once: \(lines)")
    }

    @Test("a previous run that outlived its worker and its deadline is stopped before the apply runs; one within its deadline is waited for")
    func previousRunOfADeadWorker() async throws {
        let dir = CustomFixture.scratch()
        let locks = CustomFixture.scratch()
        defer {
            try? FileManager.default.removeItem(atPath: dir)
            try? FileManager.default.removeItem(atPath: locks)
        }
        let runtime = CustomProgramRuntime(name: "vms", stateDirectory: locks)
        let ok = CustomFixture.program("apply-ok.sh", state: dir)
        let state = CustomFixture.state(fetch: ok, apply: ok)
        let lock = ApplyLock.path(in: locks, for: api)

        /// A run as a killed worker leaves it: the lock file as its stdin, locked, with a deadline.
        /// Its shell writes its pid, which is its process group's (`setsid` may fork first, so the
        /// `Process`'s own pid is not); it never holds the test's output open.
        func orphanedRun(deadline: Int64, sleep: Int) throws -> Process {
            try FileManager.default.createDirectory(atPath: (lock as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            let descriptor = open(lock, O_RDWR | O_CREAT, 0o600)
            #expect(flock(descriptor, LOCK_EX) == 0)
            // In a session of its own, as Keelson starts apply programs.
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/setsid")
            process.arguments = ["-w", "/bin/sh", "-c", "echo $$ > '\(dir)/run-\(sleep).pid'; exec sleep \(sleep)"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            process.environment = ["KEELSON_APPLY_LOCK": lock, "KEELSON_DEADLINE_MS": "\(deadline)", "PATH": "/usr/bin:/bin"]
            process.standardInput = FileHandle(fileDescriptor: descriptor, closeOnDealloc: false)
            try process.run()
            close(descriptor)
            return process
        }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let overdue = try orphanedRun(deadline: now - 60_000, sleep: 602)
        let result = try await runtime.apply(state, idempotencyKey: "k", timeout: .seconds(60))
        #expect(result.succeeded, "\(result.error ?? "")")
        let deadline = Date().addingTimeInterval(20)
        while overdue.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!overdue.isRunning, "the overdue run was stopped")

        // Within its deadline: waited for until it ends.
        let clock = ContinuousClock()
        let started = clock.now
        let running = try orphanedRun(deadline: now + 600_000, sleep: 2)
        let waited = try await runtime.apply(state, idempotencyKey: "k2", timeout: .seconds(60))
        #expect(waited.succeeded, "\(waited.error ?? "")")
        #expect(clock.now - started >= .seconds(1), "it waited for the run")
        running.waitUntilExit()
        #expect(running.terminationStatus == 0, "and did not stop it")
        // Past the apply's own deadline: the apply fails, saying what holds the lock.
        let holding = try orphanedRun(deadline: now + 600_000, sleep: 603)
        defer {
            // Its whole session: `setsid` forked when it was a group leader already.
            for _ in 0..<100 {
                if let text = try? String(contentsOfFile: dir + "/run-603.pid", encoding: .utf8), let group = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                    kill(-group, SIGKILL)
                    break
                }
                usleep(20_000)
            }
            holding.terminate()
        }
        let failed = try await runtime.apply(state, idempotencyKey: "k3", timeout: .seconds(1))
        #expect(!failed.succeeded)
        #expect(failed.error?.contains("waiting for the previous run to end: pid ") == true, "\(failed.error ?? "")")
        #expect(failed.error?.contains("still hold its lock \(lock)") == true, "\(failed.error ?? "")")
    }
}
