import Foundation
import KeelsonCore
import KeelsonTestSupport
import Testing
@testable import KeelsonRuntimes

#if canImport(Glibc)
import Glibc
#endif

/// Real child processes: examples/shop/web.py (python3) answering /healthz on its PORT.
enum LocalFixture {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let shop = repository.appendingPathComponent("examples/shop").path

    /// A compiled document as the compiler writes it for a `run.local` service.
    static func document(
        _ instance: String, version: String, replicas: Int, command: String = "python3", args: [String] = ["web.py"],
        healthCheck: String? = #"{"http":{"path":"/healthz"},"intervalSeconds":1,"timeoutSeconds":1,"healthyThreshold":1,"unhealthyThreshold":3}"#
    ) -> String {
        let id = ServiceInstanceID(instance)!
        let arguments = args.map { "\"\($0)\"" }.joined(separator: ",")
        return """
            {"apiVersion":"keelson.dev/v1","application":"\(id.application)","autoRollback":true,"channel":"\(id.channel)",\
            "env":{"GREETING":"hi"},\(healthCheck.map { "\"healthCheck\":\($0)," } ?? "")"instance":"\(instance)",\
            "progressDeadlineSeconds":60,"release":{"parameters":{"version":"\(version)"},"version":"\(version)"},"runtime":{"name":"local","type":"local"},\
            "replicas":\(replicas),"run":{"local":{"args":[\(arguments)],"command":"\(command)","env":{},\
            "workingDirectory":"\(shop)"}},"service":"\(id.service)"}
            """
    }

    static func state(
        _ instance: String, _ version: String, replicas: Int, command: String = "python3", args: [String] = ["web.py"],
        healthCheck: String? = #"{"http":{"path":"/healthz"},"intervalSeconds":1,"timeoutSeconds":1,"healthyThreshold":1,"unhealthyThreshold":3}"#
    ) -> DesiredState {
        let document = document(instance, version: version, replicas: replicas, command: command, args: args, healthCheck: healthCheck)
        return DesiredState(
            instance: ServiceInstanceID(instance)!, digest: "sha256:\(version)-\(replicas)-\(command)", version: version,
            document: document, replicas: replicas)
    }

    /// A runtime on its own temporary state directory and port range; every replica it started is
    /// stopped afterwards, whatever the test did.
    static func withRuntime(
        ports: ClosedRange<Int>, _ body: (LocalProcessRuntime, LocalRuntimeSettings) async throws -> Void
    ) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-local-\(UUID().uuidString)")
        var settings = LocalRuntimeSettings(stateDirectory: directory.path)
        settings.ports = ports
        settings.stopGracePeriod = .seconds(3)
        let runtime = LocalProcessRuntime(name: "local", settings: settings)
        do {
            try await body(runtime, settings)
        } catch {
            await cleanUp(settings, directory)
            throw error
        }
        await cleanUp(settings, directory)
    }

    static func cleanUp(_ settings: LocalRuntimeSettings, _ directory: URL) async {
        let runtime = LocalProcessRuntime(name: "cleanup", settings: settings)
        for instance in Set(await runtime.discover().map(\.instance)) {
            _ = try? await runtime.remove(instance, timeout: .seconds(10))
        }
        try? FileManager.default.removeItem(at: directory)
    }

    /// GET http://127.0.0.1:PORT/ through curl-free Python (the service's own answer).
    static func get(_ port: Int, _ path: String = "/") throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", "import urllib.request,sys; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())", "http://127.0.0.1:\(port)\(path)"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    static func pidsAndPorts(_ runtime: LocalProcessRuntime) async -> [(replica: String, pid: Int32, port: Int, version: String, running: Bool)] {
        await runtime.discover().map { ($0.replica, $0.pid, $0.port, $0.version, $0.running) }
    }
}

@Suite("Local-process runtime (real child processes)", .serialized)
struct LocalProcessRuntimeTests {
    let web = ServiceInstanceID("shop/web@staging")!

    @Test("replicas start on their own ports in their own sessions, pass the HTTP health check and serve")
    func startsReplicas() async throws {
        try await LocalFixture.withRuntime(ports: 19_100...19_119) { runtime, _ in
            let result = try await runtime.apply(LocalFixture.state("shop/web@staging", "1.0.0", replicas: 2), idempotencyKey: "a1", timeout: .seconds(120))
            #expect(result.succeeded, "\(result.error ?? "") \(result.output)")
            let replicas = await LocalFixture.pidsAndPorts(runtime)
            #expect(replicas.map(\.replica) == ["r1", "r2"])
            #expect(Set(replicas.map(\.port)) == [19_100, 19_101])
            #expect(replicas.allSatisfy { $0.running })
            for replica in replicas {
                // Each replica leads its own session (field 6 of /proc/PID/stat), so it outlives Keelson.
                let stat = try String(contentsOfFile: "/proc/\(replica.pid)/stat", encoding: .utf8)
                let fields = stat[stat.index(after: stat.lastIndex(of: ")")!)...].split(separator: " ")
                #expect(fields[3] == "\(replica.pid)")
                let answer = try await onOwnThread { [port = replica.port] in try LocalFixture.get(port) }
                #expect(answer.contains("\"version\": \"1.0.0\""))
                #expect(answer.contains("\"replica\": \"\(replica.replica)\""))
            }
            let observation = try await runtime.fetch(web, desired: nil)
            #expect(observation.isHealthy)
            #expect(observation.objects.map(\.name) == ["r1", "r2"])
            #expect(observation.objects.allSatisfy { $0.version == "1.0.0" && !$0.drifted })
            #expect(observation.objects[0].message?.contains("HTTP 200") == true)
            // Logs go to files under the state directory.
            let logs = runtime.logFiles(of: web, replica: "r1")
            #expect(try String(contentsOfFile: logs.stdout, encoding: .utf8).contains("listening on 127.0.0.1:19100"))
        }
    }

    @Test("a new version replaces the old one replica by replica: start, healthy, then stop an old one")
    func rollingReplacement() async throws {
        try await LocalFixture.withRuntime(ports: 19_120...19_139) { runtime, _ in
            let first = try await runtime.apply(LocalFixture.state("shop/web@staging", "1.0.0", replicas: 2), idempotencyKey: "a1", timeout: .seconds(120))
            #expect(first.succeeded, "\(first.error ?? "")\n\(first.output)")
            let before = await LocalFixture.pidsAndPorts(runtime)
            let result = try await runtime.apply(LocalFixture.state("shop/web@staging", "1.1.0", replicas: 2), idempotencyKey: "a2", timeout: .seconds(120))
            #expect(result.succeeded, "\(result.error ?? "")")
            let lines = result.output.split(separator: "\n").map(String.init)
            let order = lines.map { line in line.hasPrefix("started r3") ? "+r3" : line.hasPrefix("started r4") ? "+r4"
                : line.hasPrefix("stopped r1") ? "-r1" : line.hasPrefix("stopped r2") ? "-r2" : "" }.filter { !$0.isEmpty }
            #expect(order == ["+r3", "-r1", "+r4", "-r2"])
            let after = await LocalFixture.pidsAndPorts(runtime)
            #expect(after.map(\.replica) == ["r3", "r4"])
            #expect(after.allSatisfy { $0.version == "1.1.0" && $0.running })
            for old in before { #expect(ProcessTable.startTime(of: old.pid) == nil, "old replica \(old.replica) still runs") }
            let observation = try await runtime.fetch(web, desired: nil)
            #expect(observation.versions == ["1.1.0"])
            #expect(observation.isHealthy)
        }
    }

    @Test("scaling up and down keeps the running replicas")
    func scaling() async throws {
        try await LocalFixture.withRuntime(ports: 19_140...19_159) { runtime, _ in
            #expect(try await runtime.apply(LocalFixture.state("shop/web@staging", "1.0.0", replicas: 1), idempotencyKey: "s1", timeout: .seconds(120)).succeeded)
            let first = try #require(await LocalFixture.pidsAndPorts(runtime).first)
            // Same version, different replica count: a different compiled state.
            #expect(try await runtime.apply(LocalFixture.state("shop/web@staging", "1.0.0", replicas: 3), idempotencyKey: "s2", timeout: .seconds(120)).succeeded)
            var replicas = await LocalFixture.pidsAndPorts(runtime)
            #expect(replicas.count == 3)
            #expect(try await runtime.fetch(web, desired: nil).objects.count == 3)
            #expect(try await runtime.fetch(web, desired: nil).isHealthy)
            #expect(try await runtime.apply(LocalFixture.state("shop/web@staging", "1.0.0", replicas: 1), idempotencyKey: "s3", timeout: .seconds(120)).succeeded)
            replicas = await LocalFixture.pidsAndPorts(runtime)
            #expect(replicas.count == 1)
            #expect(replicas.allSatisfy { $0.running })
            _ = first
            let removal = try await runtime.remove(web, timeout: .seconds(10))
            #expect(removal.succeeded)
            #expect(await LocalFixture.pidsAndPorts(runtime).isEmpty)
            #expect(try await runtime.fetch(web, desired: nil).objects.isEmpty)
        }
    }

    @Test("a replica killed from outside shows up as drifted and unhealthy; the next apply heals it")
    func killedFromOutside() async throws {
        try await LocalFixture.withRuntime(ports: 19_160...19_179) { runtime, _ in
            #expect(try await runtime.apply(LocalFixture.state("shop/web@staging", "1.0.0", replicas: 2), idempotencyKey: "k1", timeout: .seconds(120)).succeeded)
            let victim = try #require(await LocalFixture.pidsAndPorts(runtime).first)
            kill(-victim.pid, SIGKILL)
            for _ in 0..<100 where ProcessTable.startTime(of: victim.pid) != nil { try await Task.sleep(for: .milliseconds(20)) }
            let observation = try await runtime.fetch(web, desired: nil)
            #expect(!observation.isHealthy)
            let dead = try #require(observation.objects.first { $0.name == victim.replica })
            #expect(dead.drifted)
            #expect(dead.health == .unhealthy)
            #expect(dead.message?.contains("is gone") == true)
            // The same key again: not "already applied", because what runs is not what was applied.
            let healed = try await runtime.apply(LocalFixture.state("shop/web@staging", "1.0.0", replicas: 2), idempotencyKey: "k1", timeout: .seconds(120))
            #expect(healed.succeeded)
            #expect(healed.output.contains("is gone"))
            #expect(try await runtime.fetch(web, desired: nil).isHealthy)
        }
    }

    @Test("after a restart a new runtime object rediscovers the running replicas; the same key does no harm")
    func rediscovery() async throws {
        try await LocalFixture.withRuntime(ports: 19_180...19_199) { runtime, settings in
            let state = LocalFixture.state("shop/web@staging", "1.0.0", replicas: 2)
            #expect(try await runtime.apply(state, idempotencyKey: "r1", timeout: .seconds(120)).succeeded)
            let before = await LocalFixture.pidsAndPorts(runtime)
            // "Keelson restarts": a new runtime object that knows nothing but the state directory.
            let restarted = LocalProcessRuntime(name: "local", settings: settings)
            let observation = try await restarted.fetch(web, desired: nil)
            #expect(observation.isHealthy)
            #expect(observation.objects.map(\.name) == before.map(\.replica))
            let again = try await restarted.apply(state, idempotencyKey: "r1", timeout: .seconds(120))
            #expect(again.succeeded)
            #expect(again.output.contains("already applied"))
            #expect(await LocalFixture.pidsAndPorts(restarted).map(\.pid) == before.map(\.pid))
            let checks = await restarted.check()
            #expect(checks.allSatisfy { $0.passed })
            #expect(checks.contains { $0.detail == "2 running replica(s) rediscovered" })
        }
    }

    @Test("a version that fails its health check fails the apply and leaves the old replicas running")
    func badVersion() async throws {
        try await LocalFixture.withRuntime(ports: 19_200...19_219) { runtime, _ in
            #expect(try await runtime.apply(LocalFixture.state("shop/web@staging", "1.0.0", replicas: 1), idempotencyKey: "b1", timeout: .seconds(120)).succeeded)
            let old = try #require(await LocalFixture.pidsAndPorts(runtime).first)
            let result = try await runtime.apply(LocalFixture.state("shop/web@staging", "1.1.0-bad", replicas: 1), idempotencyKey: "b2", timeout: .seconds(120))
            #expect(!result.succeeded)
            #expect(result.error?.contains("r2 of shop/web@staging (1.1.0-bad) failed its health check 3 time(s) in a row: GET /healthz on port 19201: HTTP 500") == true, "\(result.error ?? "")")
            #expect(result.error?.contains("1 replica(s) of the previous version keep running") == true)
            #expect(result.output.contains("deliberately broken"))
            let now = await LocalFixture.pidsAndPorts(runtime)
            #expect(now.map(\.pid) == [old.pid])
            #expect(now.allSatisfy { $0.running })
            let observation = try await runtime.fetch(web, desired: nil)
            #expect(observation.objects.contains { $0.name == "r1" && $0.health == .healthy && $0.drifted })
        }
    }

    @Test("cancelling an apply that waits for health stops the new replica and keeps the old one")
    func cancelled() async throws {
        try await LocalFixture.withRuntime(ports: 19_240...19_249) { runtime, _ in
            #expect(try await runtime.apply(LocalFixture.state("shop/web@staging", "1.0.0", replicas: 1), idempotencyKey: "c1", timeout: .seconds(120)).succeeded)
            let old = try #require(await LocalFixture.pidsAndPorts(runtime).first)
            // A bad version with a lenient check: it would wait for the whole timeout.
            let lenient = #"{"http":{"path":"/healthz"},"intervalSeconds":1,"timeoutSeconds":1,"healthyThreshold":1,"unhealthyThreshold":100}"#
            let clock = ContinuousClock()
            let started = clock.now
            let task = Task { try await runtime.apply(LocalFixture.state("shop/web@staging", "1.1.0-bad", replicas: 1, healthCheck: lenient), idempotencyKey: "c2", timeout: .seconds(120)) }
            try await Task.sleep(for: .milliseconds(1_500))
            task.cancel()
            let result = try await task.value
            // Not a timing goal: only that it did not wait for the 120 s timeout.
            #expect(clock.now - started < .seconds(60))
            #expect(!result.succeeded)
            #expect(result.error?.contains("was cancelled before it became healthy") == true, "\(result.error ?? "")")
            #expect(await LocalFixture.pidsAndPorts(runtime).map(\.pid) == [old.pid])
        }
    }

    @Test("a missing program and a taken port give a clear failed apply")
    func clearFailures() async throws {
        try await LocalFixture.withRuntime(ports: 19_220...19_220) { runtime, _ in
            let missing = try await runtime.apply(
                LocalFixture.state("shop/web@staging", "1.0.0", replicas: 1, command: "no-such-program-keelson"),
                idempotencyKey: "m1", timeout: .seconds(10))
            #expect(!missing.succeeded)
            #expect(missing.error == "cannot start shop/web@staging: command 'no-such-program-keelson' is not on PATH")
            let relative = try await runtime.apply(
                LocalFixture.state("shop/web@staging", "1.0.0", replicas: 1, command: "./missing.sh"),
                idempotencyKey: "m2", timeout: .seconds(10))
            #expect(relative.error == "cannot start shop/web@staging: no executable file at ./missing.sh (in \(LocalFixture.shop))")

            // Someone else listens on the only port of the range.
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(19_220).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            try #require(bound == 0)
            listen(fd, 1)
            let taken = try await runtime.apply(LocalFixture.state("shop/web@staging", "1.0.0", replicas: 1), idempotencyKey: "p1", timeout: .seconds(10))
            #expect(!taken.succeeded)
            #expect(taken.error == "cannot start a replica of shop/web@staging: no free port in 19220-19220: port 19220 is in use by another process")
            let checks = await runtime.check()
            #expect(checks.first { $0.name == "ports" }?.passed == false)
        }
    }

    @Test("a pid file whose process start time does not match is never taken for ours, nor signalled")
    func reusedPid() async throws {
        try await LocalFixture.withRuntime(ports: 19_250...19_259) { runtime, settings in
            #expect(try await runtime.apply(LocalFixture.state("shop/web@staging", "1.0.0", replicas: 1), idempotencyKey: "p1", timeout: .seconds(120)).succeeded)
            // Plant a pid file naming this very test process, with another start time: as if the
            // replica had died and the kernel had given its pid to an unrelated process.
            let me = getpid()
            let record = LocalProcessRuntime.ReplicaRecord(
                name: "r7", pid: me, startTime: (ProcessTable.startTime(of: me) ?? 0) + 1, port: 19_259, version: "0.9.0",
                digest: "sha256:old", command: ["python3", "web.py"])
            let file = URL(fileURLWithPath: settings.stateDirectory).appendingPathComponent("shop/web@staging/replicas/r7.json")
            try JSONEncoder().encode(record).write(to: file)
            let observation = try await runtime.fetch(web, desired: nil)
            let planted = try #require(observation.objects.first { $0.name == "r7" })
            #expect(planted.health == .unhealthy && planted.drifted)
            #expect(planted.message == "process \(me) is gone (it exited or was killed outside Keelson)")
            // Removing the instance stops r1 and only forgets r7 — this process is still here to check.
            let removed = try await runtime.remove(web, timeout: .seconds(10))
            #expect(removed.output.contains("r7 was not running"))
            #expect(!FileManager.default.fileExists(atPath: file.path))
        }
    }

    @Test("an executable file that cannot be executed fails the apply, clearly")
    func notAProgram() async throws {
        try await LocalFixture.withRuntime(ports: 19_260...19_269) { runtime, settings in
            let file = URL(fileURLWithPath: settings.stateDirectory).appendingPathComponent("not-a-program")
            try FileManager.default.createDirectory(atPath: settings.stateDirectory, withIntermediateDirectories: true)
            try Data([0x00, 0x01, 0x02, 0xFF]).write(to: file)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: file.path)
            let result = try await runtime.apply(
                LocalFixture.state("shop/web@staging", "1.0.0", replicas: 1, command: file.path, args: []),
                idempotencyKey: "x1", timeout: .seconds(10))
            #expect(!result.succeeded)
            #expect(result.error == "cannot start r1 of shop/web@staging: Failed to launch the new process. Underlying error: Exec format error")
            #expect(await LocalFixture.pidsAndPorts(runtime).isEmpty)
        }
    }

    @Test("TCP and exec health checks")
    func otherProbes() async throws {
        try await LocalFixture.withRuntime(ports: 19_230...19_239) { runtime, _ in
            let tcp = LocalFixture.state(
                "shop/web@tcp", "1.0.0", replicas: 1,
                healthCheck: #"{"tcp":{},"intervalSeconds":1,"timeoutSeconds":1,"healthyThreshold":2,"unhealthyThreshold":3}"#)
            let result = try await runtime.apply(tcp, idempotencyKey: "t1", timeout: .seconds(120))
            #expect(result.succeeded, "\(result.error ?? "")")
            #expect(result.output.contains("TCP port 19230 accepts connections"))
            let exec = LocalFixture.state(
                "shop/worker@staging", "1.0.0", replicas: 1, args: ["worker.py"],
                healthCheck: #"{"exec":{"command":"sh","args":["-c","test -n \"$PORT\""]},"intervalSeconds":1,"timeoutSeconds":2,"healthyThreshold":1,"unhealthyThreshold":2}"#)
            let worker = try await runtime.apply(exec, idempotencyKey: "e1", timeout: .seconds(120))
            #expect(worker.succeeded, "\(worker.error ?? "")")
            #expect(worker.output.contains("exited with code 0"))
            let failing = LocalFixture.state(
                "shop/worker@canary", "1.0.0", replicas: 1, args: ["worker.py"],
                healthCheck: #"{"exec":{"command":"false","args":[]},"intervalSeconds":1,"timeoutSeconds":2,"healthyThreshold":1,"unhealthyThreshold":2}"#)
            let failed = try await runtime.apply(failing, idempotencyKey: "e2", timeout: .seconds(120))
            #expect(failed.error?.contains("failed its health check 2 time(s) in a row: false exited with code 1") == true, "\(failed.error ?? "")")
        }
    }

    @Test("two runtimes on one state directory (two workers in two processes) never give two replicas the same port")
    func portsAcrossRuntimes() async throws {
        // Two ports, two runtime objects that share nothing in memory, two replicas started at once:
        // each must get its own port (without the reservation files both took the first one, and
        // one replica died with "Address already in use").
        try await LocalFixture.withRuntime(ports: 19_270...19_271) { first, settings in
            let second = LocalProcessRuntime(name: "local", settings: settings)
            async let a = first.apply(LocalFixture.state("shop/web@staging", "1.0.0", replicas: 1), idempotencyKey: "a", timeout: .seconds(120))
            async let b = second.apply(LocalFixture.state("shop/web@canary", "1.0.0", replicas: 1), idempotencyKey: "b", timeout: .seconds(120))
            let (resultA, resultB) = try await (a, b)
            #expect(resultA.succeeded, "\(resultA.error ?? "")")
            #expect(resultB.succeeded, "\(resultB.error ?? "")")
            let ports = await first.discover().filter(\.running).map(\.port).sorted()
            #expect(ports == [19_270, 19_271])
            let reservations = (try? FileManager.default.contentsOfDirectory(atPath: settings.stateDirectory + "/.ports")) ?? []
            #expect(reservations.isEmpty, "reservations are released once the replicas are recorded: \(reservations)")
        }
    }

    /// Starts `arguments` as the leader of a session of its own with `environment` (as a replica
    /// is started), outside any runtime: what a worker killed mid-start leaves running.
    static func startMarked(_ arguments: [String], environment: [String: String]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setsid")
        process.arguments = ["-w"] + arguments
        process.currentDirectoryURL = URL(fileURLWithPath: LocalFixture.shop)
        process.environment = environment.merging(["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    @Test("a replica whose worker was killed before its pid file is found by its marker and adopted; a process of the instance without any record is reported and stopped")
    func interruptedStarts() async throws {
        try await LocalFixture.withRuntime(ports: 19_290...19_291) { runtime, settings in
            let instance = "shop/orphans@staging"
            let id = ServiceInstanceID(instance)!
            let state = LocalFixture.state(instance, "1.0.0", replicas: 1)
            let folder = runtime.directory(of: id)
            try FileManager.default.createDirectory(at: folder.appendingPathComponent("replicas"), withIntermediateDirectories: true)
            // What a worker killed mid-apply leaves: the applied state, a replica recorded before
            // its process started (pid 0), and the process.
            let encoder = JSONEncoder()
            try encoder.encode(LocalProcessRuntime.AppliedRecord(
                digest: state.digest, version: "1.0.0", replicas: 1, idempotencyKey: "k1", document: state.document)
            ).write(to: folder.appendingPathComponent("applied.json"))
            try encoder.encode(LocalProcessRuntime.ReplicaRecord(
                name: "r1", pid: 0, startTime: 0, port: 19_290, version: "1.0.0", digest: state.digest, command: ["python3", "web.py"],
                id: "replica-abc")
            ).write(to: folder.appendingPathComponent("replicas/r1.json"))
            let markers = ["KEELSON_INSTANCE": instance, "KEELSON_STATE_DIRECTORY": LocalProcessRuntime.absolute(settings.stateDirectory)]
            let replica = try Self.startMarked(["python3", "web.py"], environment: markers.merging([
                "KEELSON_REPLICA_ID": "replica-abc", "KEELSON_REPLICA": "r1", "PORT": "19290", "KEELSON_VERSION": "1.0.0",
            ]) { $1 })
            let stray = try Self.startMarked(["sleep", "604"], environment: markers.merging([
                "KEELSON_REPLICA_ID": "replica-lost", "KEELSON_REPLICA": "r2", "KEELSON_VERSION": "1.0.0",
            ]) { $1 })
            defer {
                replica.terminate()
                stray.terminate()
            }
            var found: [ProcessTable.Found] = []
            for _ in 0..<200 where found.count < 2 {
                found = ProcessTable.sessionLeaders(withEnvironment: markers)
                if found.count < 2 { try await Task.sleep(for: .milliseconds(50)) }
            }
            let replicaPid = try #require(found.first { $0.environment["KEELSON_REPLICA_ID"] == "replica-abc" }?.pid)
            let strayPid = try #require(found.first { $0.environment["KEELSON_REPLICA_ID"] == "replica-lost" }?.pid)

            let observed = try await runtime.fetch(id, desired: state)
            #expect(observed.objects.contains { $0.name == "r1" && $0.message?.hasPrefix("pid \(replicaPid),") == true }, "\(observed.objects)")
            #expect(observed.objects.contains { $0.name == "stray-\(strayPid)" && $0.drifted }, "\(observed.objects)")

            let applied = try await runtime.apply(state, idempotencyKey: "k2", timeout: .seconds(60))
            #expect(applied.succeeded, "\(applied.error ?? "")")
            #expect(applied.output.contains("adopted r1 (pid \(replicaPid))"), "\(applied.output)")
            #expect(applied.output.contains("stray stopped r2 (pid \(strayPid)"), "\(applied.output)")
            #expect(ProcessTable.sessionLeaders(withEnvironment: markers).map(\.pid) == [replicaPid])
            #expect(await runtime.discover().filter { $0.running && $0.instance == id }.map(\.pid) == [replicaPid])

            let removed = try await runtime.remove(id, timeout: .seconds(30))
            #expect(removed.succeeded)
            #expect(ProcessTable.sessionLeaders(withEnvironment: markers).isEmpty, "nothing of the instance is left running")
        }
    }

    @Test("two runtimes on one state directory (two workers) apply one instance in turn: no replica beyond the desired count, none untracked")
    func oneApplyAtATime() async throws {
        try await LocalFixture.withRuntime(ports: 19_292...19_297) { first, settings in
            let second = LocalProcessRuntime(name: "local", settings: settings)
            let state = LocalFixture.state("shop/lockstep@staging", "1.0.0", replicas: 2)
            async let a = first.apply(state, idempotencyKey: "a", timeout: .seconds(120))
            async let b = second.apply(state, idempotencyKey: "b", timeout: .seconds(120))
            let (resultA, resultB) = try await (a, b)
            #expect(resultA.succeeded, "\(resultA.error ?? "")")
            #expect(resultB.succeeded, "\(resultB.error ?? "")")
            let processes = ProcessTable.sessionLeaders(withEnvironment: ["KEELSON_INSTANCE": "shop/lockstep@staging"])
            #expect(processes.count == 2, "\(processes.map(\.pid))")
            #expect(await first.discover().filter { $0.running }.count == 2)
        }
    }
}
