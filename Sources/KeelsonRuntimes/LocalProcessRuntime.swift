import Foundation
import KeelsonCore
import Subprocess
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Settings of a `type: local` runtime.
public struct LocalRuntimeSettings: Sendable, Hashable {
    /// Where pid files, applied states and logs live (`<stateDirectory>/<app>/<service>@<channel>/`).
    public var stateDirectory: String
    /// Ports handed to replicas as `PORT`, first free one first.
    public var ports: ClosedRange<Int> = 18_000...18_999
    /// How long a replica has to exit after SIGTERM before it gets SIGKILL.
    public var stopGracePeriod: Duration = .seconds(10)
    /// How long a replica without a health check must stay up to count as healthy.
    public var startupGrace: Duration = .seconds(1)

    public init(stateDirectory: String) {
        self.stateDirectory = stateDirectory
    }
}

/// Runs a service's program as real child processes on this machine: the embedded default.
///
/// Everything it knows is on disk under the state directory, so a new runtime object — after
/// Keelson restarts — rediscovers the replicas that kept running: each replica leads its own
/// session (it outlives Keelson and takes its children down with it when stopped) and has a pid
/// file that records the process's start time, so that a reused pid is never mistaken for ours.
///
/// A replica is recorded before it is started, under an id that is also in its environment
/// (`KEELSON_REPLICA_ID`, beside `KEELSON_INSTANCE` and `KEELSON_STATE_DIRECTORY`): a worker killed
/// between the start and the pid file leaves a record by which the next one finds the process.
/// A process that carries an instance's markers but no record at all is a stray: fetch reports
/// it (drifted), apply and remove stop it. Applies and removes of one instance take turns, across
/// processes that share the state directory, through the instance's `apply.lock`.
///
/// Apply is a rolling replacement: start a new replica, wait until it is healthy, stop an old one
/// (SIGTERM, SIGKILL after the grace period); then scale up or down to the desired count. A
/// replica that exits or does not become healthy fails the apply and is stopped; the old replicas
/// keep running.
public actor LocalProcessRuntime: Runtime {
    public nonisolated let name: String
    public nonisolated let settings: LocalRuntimeSettings

    private var busy: Set<ServiceInstanceID> = []
    private var reservedPorts: Set<Int> = []
    private var trackers: [String: HealthTracker] = [:]
    private let clock = ContinuousClock()

    public init(name: String, settings: LocalRuntimeSettings) {
        self.name = name
        self.settings = settings
    }

    // MARK: records on disk

    /// What was last applied to an instance.
    struct AppliedRecord: Codable, Hashable {
        var digest: String
        var version: String
        var replicas: Int
        var idempotencyKey: String
        var document: String
    }

    /// One replica: its pid file.
    struct ReplicaRecord: Codable, Hashable {
        var name: String
        var pid: Int32
        /// Clock ticks since boot when the process started (`/proc/PID/stat`), 0 if unknown.
        var startTime: UInt64
        var port: Int
        var version: String
        var digest: String
        var command: [String]
        /// The marker in the replica's environment (`KEELSON_REPLICA_ID`); nil in records written
        /// before replicas had one. A record with pid 0 was written before its process started.
        var id: String?

        var isRunning: Bool { ProcessTable.isRunning(pid, startedAt: startTime) }
        var number: Int { Int(name.dropFirst()) ?? 0 }
    }

    nonisolated func directory(of instance: ServiceInstanceID) -> URL {
        URL(fileURLWithPath: settings.stateDirectory, isDirectory: true)
            .appendingPathComponent(instance.application, isDirectory: true)
            .appendingPathComponent("\(instance.service)@\(instance.channel)", isDirectory: true)
    }

    /// The log files of a replica (stdout, stderr).
    public nonisolated func logFiles(of instance: ServiceInstanceID, replica: String) -> (stdout: String, stderr: String) {
        let logs = directory(of: instance).appendingPathComponent("logs")
        return (logs.appendingPathComponent("\(replica).stdout.log").path, logs.appendingPathComponent("\(replica).stderr.log").path)
    }

    private func applied(_ instance: ServiceInstanceID) -> AppliedRecord? {
        let file = directory(of: instance).appendingPathComponent("applied.json")
        guard let data = try? Data(contentsOf: file) else { return nil }
        return try? JSONDecoder().decode(AppliedRecord.self, from: data)
    }

    /// The instance's replica records. One written before its process started (pid 0) gets the
    /// pid and start time of the process that carries its id, if there is one.
    private func replicas(_ instance: ServiceInstanceID) -> [ReplicaRecord] {
        let folder = directory(of: instance).appendingPathComponent("replicas")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        var records: [ReplicaRecord] = names.filter { $0.hasSuffix(".json") }.compactMap {
            guard let data = try? Data(contentsOf: folder.appendingPathComponent($0)) else { return nil }
            return try? JSONDecoder().decode(ReplicaRecord.self, from: data)
        }.sorted { $0.number < $1.number }
        if records.contains(where: { $0.pid == 0 && $0.id != nil }) {
            let found = marked(instance)
            for index in records.indices where records[index].pid == 0 {
                guard let process = found.first(where: { $0.environment["KEELSON_REPLICA_ID"] == records[index].id }) else { continue }
                records[index].pid = process.pid
                records[index].startTime = process.startTime
            }
        }
        return records
    }

    /// The environment that marks a replica as this runtime's, for this instance.
    private nonisolated func markers(_ instance: ServiceInstanceID) -> [String: String] {
        ["KEELSON_INSTANCE": instance.description, "KEELSON_STATE_DIRECTORY": Self.absolute(settings.stateDirectory)]
    }

    /// Every live process that leads its session and carries this instance's markers.
    private nonisolated func marked(_ instance: ServiceInstanceID) -> [ProcessTable.Found] {
        ProcessTable.sessionLeaders(withEnvironment: markers(instance))
    }

    /// Processes with this instance's markers that no record knows: left by a start that was
    /// interrupted before anything was written, or by a record removed by hand.
    private func strays(_ instance: ServiceInstanceID, known: [ReplicaRecord]) -> [ProcessTable.Found] {
        let ours = Set(known.filter(\.isRunning).map { "\($0.pid)/\($0.startTime)" })
        return marked(instance).filter { !ours.contains("\($0.pid)/\($0.startTime)") }
    }

    /// Stops a stray's session: SIGTERM, SIGKILL after the grace period.
    private func stopStray(_ stray: ProcessTable.Found) async -> String {
        let replica = ReplicaRecord(
            name: stray.environment["KEELSON_REPLICA"] ?? "stray", pid: stray.pid, startTime: stray.startTime,
            port: Int(stray.environment["PORT"] ?? "") ?? 0, version: stray.environment["KEELSON_VERSION"] ?? "?", digest: "",
            command: [])
        return "stray " + (await Task { await self.signalUntilGone(replica, why: "it ran outside Keelson's records") }.value)
    }

    private func write<T: Encodable>(_ value: T, to file: URL) throws {
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try encoder.encode(value).write(to: file, options: .atomic)
    }

    /// The lock that applies and removes of the instance take turns on (see `ApplyLock`).
    private nonisolated func lockFile(_ instance: ServiceInstanceID) -> String {
        directory(of: instance).appendingPathComponent("apply.lock").path
    }

    private func recordFile(_ instance: ServiceInstanceID, _ replica: String) -> URL {
        directory(of: instance).appendingPathComponent("replicas").appendingPathComponent("\(replica).json")
    }

    /// Every replica of every instance this runtime has started (running or not).
    public func discover() -> [(instance: ServiceInstanceID, replica: String, pid: Int32, port: Int, version: String, running: Bool)] {
        let root = URL(fileURLWithPath: settings.stateDirectory, isDirectory: true)
        var found: [(ServiceInstanceID, String, Int32, Int, String, Bool)] = []
        for application in ((try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []).sorted() where !application.hasPrefix(".") {
            let folder = root.appendingPathComponent(application)
            for entry in ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).sorted() {
                guard let instance = ServiceInstanceID("\(application)/\(entry)") else { continue }
                for replica in replicas(instance) {
                    found.append((instance, replica.name, replica.pid, replica.port, replica.version, replica.isRunning))
                }
            }
        }
        return found.map { (instance: $0.0, replica: $0.1, pid: $0.2, port: $0.3, version: $0.4, running: $0.5) }
    }

    // MARK: fetch

    public func fetch(_ instance: ServiceInstanceID, desired: DesiredState?) async throws -> Observation {
        let records = replicas(instance)
        let strays = strays(instance, known: records).map { stray in
            ObservedObject(
                name: "stray-\(stray.pid)", version: stray.environment["KEELSON_VERSION"], desiredReplicas: 0, readyReplicas: 0,
                health: .healthy,
                message: "pid \(stray.pid) (\(stray.environment["KEELSON_REPLICA"] ?? "no replica name")) runs without a record: the next apply stops it",
                drifted: true)
        }
        guard let applied = applied(instance) else { return Observation(objects: strays) }
        let document = try? CompiledDocument.decode(applied.document)
        var objects: [ObservedObject] = []
        var current = 0
        // A record whose start was interrupted before its process ran is no replica.
        for replica in records where replica.pid != 0 {
            if replica.digest == applied.digest { current += 1 }
            guard replica.isRunning else {
                objects.append(ObservedObject(
                    name: replica.name, version: replica.version, desiredReplicas: 1, readyReplicas: 0, health: .unhealthy,
                    message: "process \(replica.pid) is gone (it exited or was killed outside Keelson)", drifted: true))
                continue
            }
            let tracker = await probe(instance, replica, document: document, force: false)
            objects.append(ObservedObject(
                name: replica.name, version: replica.version, desiredReplicas: 1,
                readyReplicas: tracker.state == .healthy ? 1 : 0, health: tracker.state,
                message: "pid \(replica.pid), port \(replica.port): \(tracker.message)",
                drifted: replica.digest != applied.digest || current > applied.replicas))
        }
        if current < applied.replicas {
            objects.append(ObservedObject(
                name: "missing", version: nil, desiredReplicas: applied.replicas - current, readyReplicas: 0,
                health: .unhealthy,
                message: "\(applied.replicas - current) of \(applied.replicas) replica(s) of \(applied.version) have no process",
                drifted: true))
        }
        return Observation(objects: objects + strays)
    }

    // MARK: apply

    public func apply(_ state: DesiredState, idempotencyKey: String, timeout: Duration) async throws -> ApplyResult {
        let started = clock.now
        let deadline = started.advanced(by: timeout)
        await acquire(state.instance)
        defer { release(state.instance) }
        var log: [String] = []
        func result(_ error: String?) -> ApplyResult {
            ApplyResult(
                succeeded: error == nil, durationMilliseconds: (clock.now - started).milliseconds,
                output: log.joined(separator: "\n"), error: error)
        }
        let lock: ApplyLock
        switch await ApplyLock.acquire(lockFile(state.instance), until: deadline, stopOverdue: false) {
        case .success(let held): lock = held
        case .failure(let problem): return result("another apply of \(state.instance) is running: \(problem.description)")
        }
        defer { lock.release() }

        let document: CompiledDocument
        let run: CompiledDocument.LocalRun
        do {
            document = try CompiledDocument.decode(state.document)
            guard let local = document.run.local else {
                return result("runtime \(name) is a local runtime, but \(state.instance) does not say how to run locally (run.local)")
            }
            run = local
        } catch {
            return result("\(error)")
        }
        let workingDirectory = Self.absolute(run.workingDirectory ?? ".")
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: workingDirectory, isDirectory: &isDirectory), isDirectory.boolValue else {
            return result("working directory \(workingDirectory) does not exist")
        }
        let environment = document.env.merging(run.env) { $1 }
        guard let executable = ProcessTable.executable(
            run.command, in: workingDirectory, path: environment["PATH"] ?? ProcessInfo.processInfo.environment["PATH"])
        else {
            return result(run.command.contains("/")
                ? "cannot start \(state.instance): no executable file at \(run.command) (in \(workingDirectory))"
                : "cannot start \(state.instance): command '\(run.command)' is not on PATH")
        }

        var replicas = replicas(state.instance)
        // Replicas whose start was interrupted: adopted when their process runs, else forgotten.
        for replica in replicas where replica.id != nil {
            guard let record = try? Data(contentsOf: recordFile(state.instance, replica.name)),
                let written = try? JSONDecoder().decode(ReplicaRecord.self, from: record), written.pid == 0
            else { continue }
            if replica.pid != 0 {
                try? write(replica, to: recordFile(state.instance, replica.name))
                log.append("adopted \(replica.name) (pid \(replica.pid)): it started while its worker stopped")
            }
        }
        for stray in strays(state.instance, known: replicas) { log.append(await stopStray(stray)) }
        if let applied = applied(state.instance), applied.idempotencyKey == idempotencyKey, applied.digest == state.digest,
            replicas.allSatisfy({ $0.digest == state.digest && $0.isRunning }), replicas.count == state.replicas
        {
            return ApplyResult(succeeded: true, durationMilliseconds: 0, output: "already applied (idempotency key \(idempotencyKey))")
        }
        try write(
            AppliedRecord(
                digest: state.digest, version: state.version, replicas: state.replicas, idempotencyKey: idempotencyKey,
                document: state.document),
            to: directory(of: state.instance).appendingPathComponent("applied.json"))

        // Forget replicas whose process is gone.
        for replica in replicas where !replica.isRunning {
            log.append(replica.pid == 0 ? "\(replica.name) never started; removed its record"
                : "\(replica.name) (pid \(replica.pid), \(replica.version)) is gone; removed its pid file")
            forget(state.instance, replica)
        }
        replicas = replicas.filter(\.isRunning)
        var current = replicas.filter { $0.digest == state.digest }
        var old = replicas.filter { $0.digest != state.digest }

        while current.count > state.replicas {
            log.append(await stop(state.instance, current.removeLast(), why: "scaling down to \(state.replicas)"))
        }
        var next = max(replicas.map(\.number).max() ?? 0, highestLogNumber(state.instance)) + 1
        while current.count < state.replicas {
            if Task.isCancelled { return result("cancelled; \(current.count) of \(state.replicas) replica(s) of \(state.version) running") }
            let port: Int
            do {
                port = try allocatePort()
            } catch {
                return result("cannot start a replica of \(state.instance): \(error.reason)")
            }
            defer { release(port) }
            let replicaName = "r\(next)"
            next += 1
            let replica: ReplicaRecord
            do {
                replica = try await start(
                    replicaName, of: state, executable: executable, arguments: run.args, environment: environment,
                    workingDirectory: workingDirectory, port: port)
            } catch {
                return result("cannot start \(replicaName) of \(state.instance): \(error)")
            }
            log.append("started \(replica.name) (pid \(replica.pid), port \(port)) running \(state.version)")
            if let problem = await waitUntilHealthy(state.instance, replica, document: document, deadline: deadline) {
                let logs = logFiles(of: state.instance, replica: replica.name)
                let tail = ProcessTable.tail(of: logs.stderr).trimmingCharacters(in: .whitespacesAndNewlines)
                log.append(await stop(state.instance, replica, why: "it did not become healthy"))
                if !tail.isEmpty { log.append("--- \(replica.name) stderr (last lines) ---\n\(tail)") }
                let keeping = old.isEmpty ? "" : "; \(old.count) replica(s) of the previous version keep running"
                return result("\(replica.name) of \(state.instance) (\(state.version)) \(problem)\(keeping)")
            }
            log.append("\(replica.name) is healthy: \(trackers[key(state.instance, replica)]?.message ?? "running")")
            current.append(replica)
            if !old.isEmpty {
                log.append(await stop(state.instance, old.removeFirst(), why: "replaced by \(replica.name)"))
            }
        }
        for replica in old {
            log.append(await stop(state.instance, replica, why: "replaced by \(state.version)"))
        }
        log.append("\(state.instance): \(state.replicas) replica(s) of \(state.version) running")
        return result(nil)
    }

    public func remove(_ instance: ServiceInstanceID, desired: DesiredState? = nil, timeout: Duration) async throws -> ApplyResult {
        let started = clock.now
        await acquire(instance)
        defer { release(instance) }
        let lock: ApplyLock
        switch await ApplyLock.acquire(lockFile(instance), until: started.advanced(by: timeout), stopOverdue: false) {
        case .success(let held): lock = held
        case .failure(let problem):
            return ApplyResult(
                succeeded: false, durationMilliseconds: (clock.now - started).milliseconds,
                error: "another apply of \(instance) is running: \(problem.description)")
        }
        defer { lock.release() }
        var log: [String] = []
        let records = replicas(instance)
        for replica in records {
            log.append(replica.isRunning ? await stop(instance, replica, why: "the instance was removed") : "\(replica.name) was not running")
            forget(instance, replica)
        }
        for stray in strays(instance, known: records) { log.append(await stopStray(stray)) }
        try? FileManager.default.removeItem(at: directory(of: instance).appendingPathComponent("applied.json"))
        return ApplyResult(succeeded: true, durationMilliseconds: (clock.now - started).milliseconds, output: log.joined(separator: "\n"))
    }

    // MARK: check

    public func check() async -> [RuntimeCheck] {
        var checks: [RuntimeCheck] = []
        let root = URL(fileURLWithPath: settings.stateDirectory, isDirectory: true)
        let probe = root.appendingPathComponent(".keelson-write-check-\(getpid())")
        do {
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
            try Data("ok".utf8).write(to: probe)
            try FileManager.default.removeItem(at: probe)
            checks.append(RuntimeCheck(name: "state directory", passed: true, detail: "\(root.path) is writable"))
        } catch {
            checks.append(RuntimeCheck(name: "state directory", passed: false, detail: "\(root.path) is not writable: \(error.localizedDescription)"))
        }
        let running = discover().filter(\.running)
        let ours = Set(running.map(\.port))
        let free = settings.ports.filter { ours.contains($0) || ProcessTable.portIsFree($0) }
        checks.append(RuntimeCheck(
            name: "ports", passed: !free.isEmpty,
            detail: "\(free.count - ours.count) of \(settings.ports.count) ports in \(settings.ports.lowerBound)-\(settings.ports.upperBound) are free"
                + (ours.isEmpty ? "" : ", \(ours.count) used by Keelson's replicas")))
        checks.append(RuntimeCheck(
            name: "replicas", passed: true,
            detail: running.isEmpty ? "no running replicas" : "\(running.count) running replica(s) rediscovered"))
        return checks
    }

    // MARK: internals

    private func acquire(_ instance: ServiceInstanceID) async {
        while busy.contains(instance) { try? await Task.sleep(for: .milliseconds(20)) }
        busy.insert(instance)
    }

    private func release(_ instance: ServiceInstanceID) { busy.remove(instance) }

    private func key(_ instance: ServiceInstanceID, _ replica: ReplicaRecord) -> String {
        "\(instance)#\(replica.name)#\(replica.pid)"
    }

    private func forget(_ instance: ServiceInstanceID, _ replica: ReplicaRecord) {
        try? FileManager.default.removeItem(at: recordFile(instance, replica.name))
        trackers[key(instance, replica)] = nil
    }

    /// Replica numbers are never reused while their logs exist, so logs are never mixed.
    private func highestLogNumber(_ instance: ServiceInstanceID) -> Int {
        let logs = directory(of: instance).appendingPathComponent("logs")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: logs.path)) ?? []
        return names.compactMap { Int($0.dropFirst().prefix { $0.isNumber }) }.max() ?? 0
    }

    struct PortProblem: Error { var reason: String }

    private func release(_ port: Int) {
        reservedPorts.remove(port)
        unlink(reservationFile(port).path)
    }

    private nonisolated func reservationFile(_ port: Int) -> URL {
        URL(fileURLWithPath: settings.stateDirectory, isDirectory: true).appendingPathComponent(".ports").appendingPathComponent("\(port)")
    }

    /// Creates the port's reservation file, exclusively: only one process sharing the state
    /// directory gets it. A reservation older than a minute was left by a process that died while
    /// starting a replica, and is taken over.
    private func reserveAcrossProcesses(_ port: Int) -> Bool {
        let file = reservationFile(port)
        try? FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        for _ in 0..<2 {
            let descriptor = open(file.path, O_CREAT | O_EXCL | O_WRONLY, 0o644)
            if descriptor >= 0 {
                close(descriptor)
                return true
            }
            guard errno == EEXIST,
                  let modified = (try? FileManager.default.attributesOfItem(atPath: file.path))?[.modificationDate] as? Date,
                  Date().timeIntervalSince(modified) > 60 else { return false }
            unlink(file.path)
        }
        return false
    }

    /// A probe that failed because nothing listens on the port (yet).
    static func notListening(_ message: String) -> Bool {
        message.lowercased().contains("connection refused")
    }

    /// A port for a new replica: not used by a replica of this state directory, not reserved by
    /// another start in flight (in this process or another one sharing the directory — two
    /// workers), and free on the machine. Held until `release`, by when the replica's record
    /// (which `discover` reads) exists.
    private func allocatePort() throws(PortProblem) -> Int {
        let ours = Set(discover().filter(\.running).map(\.port)).union(reservedPorts)
        var taken = 0
        for port in settings.ports where !ours.contains(port) {
            if ProcessTable.portIsFree(port) && reserveAcrossProcesses(port) {
                reservedPorts.insert(port)
                return port
            }
            taken += 1
        }
        let range = "\(settings.ports.lowerBound)-\(settings.ports.upperBound)"
        throw PortProblem(reason: "no free port in \(range): "
            + (taken == 1 && settings.ports.count == 1 ? "port \(settings.ports.lowerBound) is in use by another process"
                : "\(taken) in use by other processes, \(ours.count) by Keelson's replicas"))
    }

    private func start(
        _ replicaName: String, of state: DesiredState, executable: String, arguments: [String],
        environment: [String: String], workingDirectory: String, port: Int
    ) async throws -> ReplicaRecord {
        let logs = logFiles(of: state.instance, replica: replicaName)
        try FileManager.default.createDirectory(
            atPath: FilePaths.parent(logs.stdout), withIntermediateDirectories: true)
        let permissions: FilePermissions = [.ownerReadWrite, .groupRead, .otherRead]
        let out = try FileDescriptor.open(FilePath(logs.stdout), .writeOnly, options: [.create, .append], permissions: permissions)
        let err = try FileDescriptor.open(FilePath(logs.stderr), .writeOnly, options: [.create, .append], permissions: permissions)

        var variables = environment
        variables["PORT"] = "\(port)"
        variables["KEELSON_INSTANCE"] = state.instance.description
        variables["KEELSON_APPLICATION"] = state.instance.application
        variables["KEELSON_SERVICE"] = state.instance.service
        variables["KEELSON_CHANNEL"] = state.instance.channel
        variables["KEELSON_VERSION"] = state.version
        variables["KEELSON_DIGEST"] = state.digest
        variables["KEELSON_REPLICA"] = replicaName
        let id = UUID().uuidString.lowercased()
        for (key, value) in markers(state.instance) { variables[key] = value }
        variables["KEELSON_REPLICA_ID"] = id
        var updates: [Environment.Key: String?] = [:]
        for (key, value) in variables { updates[Environment.Key(rawValue: key)!] = value }
        var options = PlatformOptions()
        options.createSession = true
        let configuration = Configuration(
            executable: .path(FilePath(executable)), arguments: Arguments(arguments),
            environment: .inherit.updating(updates), workingDirectory: FilePath(workingDirectory),
            platformOptions: options)

        // Recorded before it starts: a worker killed right after the start leaves the record, by
        // whose id (in the process's environment) the next one finds the process.
        var record = ReplicaRecord(
            name: replicaName, pid: 0, startTime: 0, port: port, version: state.version, digest: state.digest,
            command: [executable] + arguments, id: id)
        do {
            try write(record, to: recordFile(state.instance, replicaName))
        } catch {
            try? out.close()
            try? err.close()
            throw error
        }
        // The replica must outlive this call (and Keelson): it runs in an unstructured task that is
        // never cancelled and only waits for the process to end, so that it is reaped.
        let (pids, continuation) = AsyncStream<Result<Int32, SpawnError>>.makeStream()
        Task.detached {
            do {
                _ = try await Subprocess.run(
                    configuration, input: .none,
                    output: .fileDescriptor(out, closeAfterSpawningProcess: true),
                    error: .fileDescriptor(err, closeAfterSpawningProcess: true)
                ) { execution in
                    continuation.yield(.success(execution.processIdentifier.value))
                    continuation.finish()
                }
            } catch {
                continuation.yield(.failure(SpawnError(reason: "\(error)")))
                continuation.finish()
            }
        }
        var pid: Int32 = 0
        do {
            for await spawned in pids { pid = try spawned.get() }
        } catch {
            try? FileManager.default.removeItem(at: recordFile(state.instance, replicaName))
            throw error
        }
        record.pid = pid
        record.startTime = ProcessTable.startTime(of: pid) ?? 0
        try write(record, to: recordFile(state.instance, replicaName))
        return record
    }

    struct SpawnError: Error, CustomStringConvertible {
        var reason: String
        var description: String { reason }
    }

    /// nil once the replica is healthy; otherwise what went wrong ("exited…", "is unhealthy…").
    private func waitUntilHealthy(
        _ instance: ServiceInstanceID, _ replica: ReplicaRecord, document: CompiledDocument, deadline: ContinuousClock.Instant
    ) async -> String? {
        let began = clock.now
        // Whether the replica has answered a probe at all (healthy or not).
        var answered = false
        while true {
            guard replica.isRunning else {
                return "exited before it became healthy (see \(logFiles(of: instance, replica: replica.name).stderr))"
            }
            if let check = document.healthCheck {
                // A replica is still starting during the first interval, and for as long as nothing
                // listens on its port yet (a slow start on a loaded machine; the apply's deadline
                // bounds it): failed probes are then retried every 250 ms and not counted, so a
                // fast service is healthy in a fraction of an interval. Once it answers (healthy or
                // not), failures count from the next probe on.
                let starting = clock.now - began < check.interval || !answered
                let tracker = await probe(instance, replica, document: document, force: true, countFailures: !starting)
                if !Self.notListening(tracker.message) { answered = true }
                switch tracker.state {
                case .healthy: return nil
                case .unhealthy:
                    return "failed its health check \(check.unhealthyThreshold) time(s) in a row: \(tracker.message)"
                case .unknown: break
                }
                if clock.now >= deadline { return "was not healthy by the apply's deadline: \(tracker.message)" }
                if Task.isCancelled { return "was cancelled before it became healthy" }
                let pause = starting ? min(.milliseconds(250), check.interval) : check.interval
                try? await Task.sleep(until: min(clock.now.advanced(by: pause), deadline), clock: clock)
            } else {
                if clock.now - began >= settings.startupGrace {
                    trackers[key(instance, replica)] = HealthTracker(state: .healthy, message: "running (no health check)")
                    return nil
                }
                if clock.now >= deadline { return "was still starting at the apply's deadline" }
                if Task.isCancelled { return "was cancelled before it became healthy" }
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// Probes a replica's health (at most once per interval unless `force`) and returns its tracker.
    private func probe(
        _ instance: ServiceInstanceID, _ replica: ReplicaRecord, document: CompiledDocument?, force: Bool,
        countFailures: Bool = true
    ) async -> HealthTracker {
        let key = key(instance, replica)
        guard let check = document?.healthCheck else {
            return HealthTracker(state: .healthy, message: "running (no health check)")
        }
        if !force, let tracker = trackers[key], let last = tracker.lastProbe, clock.now - last < check.interval {
            return tracker
        }
        let environment = (document?.env ?? [:]).merging(document?.run.local?.env ?? [:]) { $1 }
            .merging(["PORT": "\(replica.port)", "KEELSON_INSTANCE": instance.description]) { $1 }
        let outcome = await HealthProbe(
            check: check, port: replica.port, environment: environment,
            workingDirectory: document?.run.local?.workingDirectory.map(Self.absolute)
        ).run()
        var tracker = trackers[key] ?? HealthTracker()
        if !outcome.passed && !countFailures {
            tracker.message = outcome.message
            return tracker
        }
        tracker.record(passed: outcome.passed, message: outcome.message, check: check, at: clock.now)
        trackers[key] = tracker
        return tracker
    }

    /// Stops a replica's process group: SIGTERM, then SIGKILL after the grace period. It runs to
    /// the end even when the apply was cancelled (in a task of its own, which is not).
    private func stop(_ instance: ServiceInstanceID, _ replica: ReplicaRecord, why: String) async -> String {
        await Task { await self.stopUncancelled(instance, replica, why: why) }.value
    }

    private func stopUncancelled(_ instance: ServiceInstanceID, _ replica: ReplicaRecord, why: String) async -> String {
        defer { forget(instance, replica) }
        return await signalUntilGone(replica, why: why)
    }

    /// SIGTERM to the replica's process group, SIGKILL after the grace period; waits until it is gone.
    private func signalUntilGone(_ replica: ReplicaRecord, why: String) async -> String {
        guard replica.isRunning else { return "\(replica.name) (pid \(replica.pid)) had already exited" }
        ProcessTable.signalGroup(replica.pid, SIGTERM)
        let graceEnds = clock.now.advanced(by: settings.stopGracePeriod)
        while replica.isRunning, clock.now < graceEnds { try? await Task.sleep(for: .milliseconds(25)) }
        if replica.isRunning {
            ProcessTable.signalGroup(replica.pid, SIGKILL)
            let killEnds = clock.now.advanced(by: .seconds(5))
            while replica.isRunning, clock.now < killEnds { try? await Task.sleep(for: .milliseconds(25)) }
            return "stopped \(replica.name) (pid \(replica.pid), \(replica.version)) with SIGKILL after \(settings.stopGracePeriod.short): \(why)"
        }
        return "stopped \(replica.name) (pid \(replica.pid), \(replica.version)): \(why)"
    }

    static func absolute(_ path: String) -> String {
        FilePaths.standardized(path, from: FileManager.default.currentDirectoryPath)
    }
}

/// Consecutive probe outcomes → health: `healthyThreshold` passes in a row make a replica healthy,
/// `unhealthyThreshold` failures in a row unhealthy; until then it keeps its state (at first unknown).
struct HealthTracker: Sendable {
    var state: Health = .unknown
    var message = "not probed yet"
    var passes = 0
    var failures = 0
    var lastProbe: ContinuousClock.Instant?

    mutating func record(passed: Bool, message: String, check: CompiledDocument.HealthCheck, at instant: ContinuousClock.Instant) {
        lastProbe = instant
        self.message = message
        if passed {
            passes += 1
            failures = 0
            if passes >= check.healthyThreshold { state = .healthy }
        } else {
            failures += 1
            passes = 0
            if failures >= check.unhealthyThreshold { state = .unhealthy }
        }
    }
}
