import Foundation
import KeelsonCore

#if canImport(Glibc)
import Glibc
#endif

/// A `type: custom` runtime: the service names a fetch program and an apply program that know how
/// to observe and change wherever it runs (VMs, in-house systems). The contract is in
/// `docs/runtimes.md`:
///
/// - Input: the request as JSON on stdin (action, instance, application, service, channel,
///   version, parameters, replicas, digest, idempotency key, the compiled desired state), and the
///   same as `KEELSON_*` environment variables.
/// - Exit 0 is success, anything else failure; exit codes listed in `retryableExitCodes` are
///   retried with exponential backoff (`retry.attempts`, `retry.backoff`, `retry.maxBackoff`).
/// - A program that outlives its `timeout` is stopped (SIGTERM, then SIGKILL, its whole process
///   group) and counts as failed.
/// - One run of apply (or remove) per instance at a time, across workers and worker restarts: the
///   apply program's stdin is the instance's lock file (`ApplyLock`), so the next run starts only
///   once every process of the previous one that keeps its stdin has ended. A previous run left
///   behind by a killed worker is stopped once past its deadline (`KEELSON_DEADLINE_MS`).
/// - fetch prints `{"objects": {"NAME": {"version", "replicas", "readyReplicas", "status",
///   "message", "drifted"}}}` on stdout.
public struct CustomProgramRuntime: Runtime {
    public let name: String
    /// Where the apply locks live: `<stateDirectory>/<app>/<service>@<channel>.lock`.
    public let stateDirectory: String
    /// The programs the services on this runtime name (for `check`), `(what, command, directory)`.
    public var programs: [(what: String, command: String, workingDirectory: String?)]
    /// Output kept in an apply's result, per stream.
    public var excerptLimit = 2_048

    /// `stateDirectory` defaults to a folder of the temporary directory, per user and runtime.
    public init(name: String, stateDirectory: String? = nil, programs: [(what: String, command: String, workingDirectory: String?)] = []) {
        self.name = name
        self.stateDirectory = stateDirectory ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("keelson-\(getuid())").appendingPathComponent(name).path
        self.programs = programs
    }

    // MARK: fetch

    public func fetch(_ instance: ServiceInstanceID, desired: DesiredState?) async throws -> Observation {
        guard let desired else { return Observation(objects: []) }
        let program: CompiledDocument.Program
        do {
            guard let custom = try CompiledDocument.decode(desired.document).run.custom else {
                throw FetchError(runtime: name, instance: instance, reason: "the desired state names no fetch program (run.custom)")
            }
            program = custom.fetch
        } catch let error as DocumentError {
            throw FetchError(runtime: name, instance: instance, reason: error.description)
        }
        let run = await runWithRetry(program, action: "fetch", state: desired, idempotencyKey: nil, deadline: nil, budget: nil)
        guard let outcome = run.last?.outcome, outcome.exitCode == 0 else {
            throw FetchError(runtime: name, instance: instance, reason: Self.failure(program, run))
        }
        if outcome.stdoutTruncated {
            throw FetchError(runtime: name, instance: instance, reason: "fetch program \(program.command) printed more than 1 MiB on stdout")
        }
        do {
            return try Self.parseObservation(outcome.stdout)
        } catch {
            let shown = outcome.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            throw FetchError(
                runtime: name, instance: instance,
                reason: "fetch program \(program.command) printed output that is not a Keelson observation: \(error.reason)"
                    + "; stdout was: \(shown.isEmpty ? "(empty)" : "'\(shown.prefix(200))'")")
        }
    }

    // MARK: apply

    public func apply(_ state: DesiredState, idempotencyKey: String, timeout: Duration) async throws -> ApplyResult {
        let clock = ContinuousClock()
        let started = clock.now
        let program: CompiledDocument.Program
        do {
            guard let custom = try CompiledDocument.decode(state.document).run.custom else {
                return ApplyResult(succeeded: false, durationMilliseconds: 0, error: "the desired state names no apply program (run.custom)")
            }
            program = custom.apply
        } catch {
            return ApplyResult(succeeded: false, durationMilliseconds: 0, error: "\(error)")
        }
        let deadline = started.advanced(by: timeout)
        let lock: ApplyLock
        switch await ApplyLock.acquire(ApplyLock.path(in: stateDirectory, for: state.instance), until: deadline, stopOverdue: true) {
        case .success(let held): lock = held
        case .failure(let problem):
            return ApplyResult(
                succeeded: false, durationMilliseconds: (clock.now - started).milliseconds,
                error: "\(program.command) was not started for \(state.instance): \(problem.description)")
        }
        defer { lock.release() }
        let run = await runWithRetry(
            program, action: "apply", state: state, idempotencyKey: idempotencyKey, deadline: deadline, budget: timeout, lock: lock)
        let succeeded = run.last?.exitCode == 0
        return ApplyResult(
            succeeded: succeeded, durationMilliseconds: (clock.now - started).milliseconds, output: excerpt(run),
            error: succeeded ? nil : Self.failure(program, run))
    }

    /// Runs the apply program with `KEELSON_ACTION=remove` (`desired` is the last desired state,
    /// which names the program).
    public func remove(_ instance: ServiceInstanceID, desired: DesiredState?, timeout: Duration) async throws -> ApplyResult {
        let clock = ContinuousClock()
        let started = clock.now
        guard let desired, let custom = try? CompiledDocument.decode(desired.document).run.custom else {
            return ApplyResult(
                succeeded: false, durationMilliseconds: 0,
                error: "runtime \(name) cannot remove \(instance): no desired state names its apply program (run.custom)")
        }
        let deadline = started.advanced(by: timeout)
        let lock: ApplyLock
        switch await ApplyLock.acquire(ApplyLock.path(in: stateDirectory, for: instance), until: deadline, stopOverdue: true) {
        case .success(let held): lock = held
        case .failure(let problem):
            return ApplyResult(
                succeeded: false, durationMilliseconds: (clock.now - started).milliseconds,
                error: "\(custom.apply.command) was not started to remove \(instance): \(problem.description)")
        }
        defer { lock.release() }
        let run = await runWithRetry(
            custom.apply, action: "remove", state: desired, idempotencyKey: nil, deadline: deadline, budget: timeout, lock: lock)
        let succeeded = run.last?.exitCode == 0
        return ApplyResult(
            succeeded: succeeded, durationMilliseconds: (clock.now - started).milliseconds, output: excerpt(run),
            error: succeeded ? nil : Self.failure(custom.apply, run))
    }

    /// A program's path as compiled: relative to the config file, so to where Keelson runs (like
    /// its working directory), not to that working directory. A bare name is looked up on `PATH`.
    static func located(_ command: String) -> String {
        command.contains("/") ? LocalProcessRuntime.absolute(command) : command
    }

    public func check() async -> [RuntimeCheck] {
        guard !programs.isEmpty else {
            return [RuntimeCheck(name: "programs", passed: true, detail: "no service runs on this runtime yet")]
        }
        let path = ProcessInfo.processInfo.environment["PATH"]
        return programs.map { program in
            let directory = program.workingDirectory.map(LocalProcessRuntime.absolute)
            if let found = ProcessTable.executable(Self.located(program.command), in: directory, path: path) {
                return RuntimeCheck(name: program.what, passed: true, detail: "\(program.command) → \(found) is executable")
            }
            return RuntimeCheck(
                name: program.what, passed: false,
                detail: program.command.contains("/")
                    ? "no executable file at \(program.command)\(directory.map { " (in \($0))" } ?? "")"
                    : "'\(program.command)' is not on PATH")
        }
    }

    // MARK: running programs

    /// One outcome per attempt (a launch failure is an outcome with exit code 127).
    /// With `lock`, each attempt's stdin is the lock file (holding the request), and the
    /// environment names the lock and the wall-clock deadline.
    private func runWithRetry(
        _ program: CompiledDocument.Program, action: String, state: DesiredState, idempotencyKey: String?,
        deadline: ContinuousClock.Instant?, budget: Duration?, lock: ApplyLock? = nil
    ) async -> [Attempt] {
        let clock = ContinuousClock()
        let retry = program.retry ?? CompiledDocument.Retry(attempts: 3, baseSeconds: 1, maxSeconds: 30)
        let retryable = Set(program.retryableExitCodes ?? [])
        var (stdin, environment) = input(action: action, state: state, idempotencyKey: idempotencyKey, program: program)
        if let lock, let deadline {
            environment["KEELSON_APPLY_LOCK"] = lock.path
            let left = deadline - clock.now
            environment["KEELSON_DEADLINE_MS"] = "\(Date().millisecondsSince1970.adding(saturating: max(.zero, left).milliseconds))"
        }
        var attempts: [Attempt] = []
        for attempt in 1...max(1, retry.attempts) {
            var timeout = Duration.seconds(program.timeoutSeconds)
            var limit = "its timeout of \(timeout.short)"
            if let deadline, let budget {
                let left = deadline - clock.now
                if left <= .zero { break }
                if left < timeout {
                    timeout = left
                    limit = "the apply's timeout of \(budget.short)"
                }
            }
            do {
                let outcome = try await ProgramRunner(stdoutLimit: 1 << 20, stderrLimit: excerptLimit).run(
                    Self.located(program.command), arguments: program.args, environment: environment,
                    workingDirectory: program.workingDirectory.map(LocalProcessRuntime.absolute), stdin: stdin,
                    input: try lock?.input(stdin), timeout: timeout)
                attempts.append(Attempt(number: attempt, outcome: outcome, launchError: nil, limit: limit))
            } catch is CancellationError {
                attempts.append(Attempt(number: attempt, outcome: nil, launchError: "cancelled; the program was stopped", limit: limit))
                break
            } catch {
                attempts.append(Attempt(number: attempt, outcome: nil, launchError: "\(error)", limit: limit))
                break
            }
            guard let code = attempts.last?.exitCode, code != 0, retryable.contains(code), attempt < retry.attempts else { break }
            let backoff = min(retry.maxSeconds, retry.baseSeconds * pow(2, Double(attempt - 1)))
            if let deadline, clock.now.advanced(by: .milliseconds(Int64(backoff * 1000))) >= deadline { break }
            try? await Task.sleep(for: .milliseconds(Int64(backoff * 1000)))
            if Task.isCancelled { break }
        }
        return attempts
    }

    struct Attempt {
        var number: Int
        var outcome: ProgramRunner.Outcome?
        var launchError: String?
        /// "its timeout of 60s" or "the apply's timeout of 5m".
        var limit: String
        var exitCode: Int32? { outcome?.exitCode }
    }

    private func input(
        action: String, state: DesiredState, idempotencyKey: String?, program: CompiledDocument.Program
    ) -> (String, [String: String]) {
        let document = try? JSONDecoder().decode(JSONValue.self, from: Data(state.document.utf8))
        let parsed = try? CompiledDocument.decode(state.document)
        let parameters = parsed?.release.parameters ?? [:]
        var request: [String: JSONValue] = [
            "action": .string(action),
            "instance": .string(state.instance.description),
            "application": .string(state.instance.application),
            "service": .string(state.instance.service),
            "channel": .string(state.instance.channel),
            "version": .string(state.version),
            "replicas": .integer(Int64(state.replicas)),
            "digest": .string(state.digest),
            "parameters": .object(parameters.mapValues(JSONValue.string)),
            "desiredState": document ?? .null,
        ]
        if let idempotencyKey { request["idempotencyKey"] = .string(idempotencyKey) }
        var environment = (parsed?.env ?? [:]).merging(program.env) { $1 }
        environment["KEELSON_ACTION"] = action
        environment["KEELSON_INSTANCE"] = state.instance.description
        environment["KEELSON_APPLICATION"] = state.instance.application
        environment["KEELSON_SERVICE"] = state.instance.service
        environment["KEELSON_CHANNEL"] = state.instance.channel
        environment["KEELSON_VERSION"] = state.version
        environment["KEELSON_REPLICAS"] = "\(state.replicas)"
        environment["KEELSON_DIGEST"] = state.digest
        if let idempotencyKey { environment["KEELSON_IDEMPOTENCY_KEY"] = idempotencyKey }
        for (name, value) in parameters {
            environment["KEELSON_PARAM_" + name.uppercased().map { $0.isLetter || $0.isNumber ? String($0) : "_" }.joined()] = value
        }
        return ((try? CanonicalJSON.string(JSONValue.object(request))) ?? "{}", environment)
    }

    /// What went wrong, naming the program: the last attempt's status and its stderr's last line.
    static func failure(_ program: CompiledDocument.Program, _ attempts: [Attempt]) -> String {
        guard let last = attempts.last else { return "\(program.command) was not run: the apply's timeout had passed" }
        if let launchError = last.launchError { return "\(program.command): \(launchError)" }
        guard let outcome = last.outcome else { return "\(program.command) failed" }
        var text = outcome.timedOut ? "\(program.command) was stopped at \(last.limit)"
            : "\(program.command) \(outcome.statusDescription)"
        if attempts.count > 1 { text += " (attempt \(attempts.count) of \(attempts.count); earlier attempts: "
            + attempts.dropLast().map { $0.outcome?.statusDescription ?? "not started" }.joined(separator: ", ") + ")" }
        let lastLine = outcome.stderr.split(separator: "\n").last.map(String.init)?.trimmingCharacters(in: .whitespaces)
        if let lastLine, !lastLine.isEmpty { text += ": \(lastLine.prefix(300))" }
        return text
    }

    private func excerpt(_ attempts: [Attempt]) -> String {
        attempts.map { attempt in
            var lines = ["attempt \(attempt.number): " + (attempt.launchError ?? attempt.outcome.map {
                $0.timedOut ? "stopped at \(attempt.limit)" : $0.statusDescription } ?? "")]
            if let outcome = attempt.outcome {
                let out = outcome.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                let err = outcome.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
                if !out.isEmpty { lines.append("stdout: " + String(out.suffix(excerptLimit))) }
                if !err.isEmpty { lines.append("stderr: " + String(err.suffix(excerptLimit))) }
            }
            return lines.joined(separator: "\n")
        }.joined(separator: "\n")
    }

    // MARK: the observation format

    struct FormatProblem: Error { var reason: String }

    /// Parses `{"objects": {"NAME": {...}}}`, strictly: every problem names its path.
    static func parseObservation(_ text: String) throws(FormatProblem) -> Observation {
        let value: JSONValue
        do {
            value = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        } catch {
            throw FormatProblem(reason: "not valid JSON")
        }
        guard case .object(let top) = value else { throw FormatProblem(reason: "expected a JSON object with \"objects\"") }
        if let unknown = top.keys.sorted().first(where: { $0 != "objects" }) {
            throw FormatProblem(reason: "unknown field '\(unknown)' (expected only \"objects\")")
        }
        guard case .object(let objects)? = top["objects"] else {
            throw FormatProblem(reason: "\"objects\" must be an object of name → {version, replicas, readyReplicas, status, message, drifted}")
        }
        var observed: [ObservedObject] = []
        let known: Set<String> = ["version", "replicas", "readyReplicas", "status", "message", "drifted"]
        for name in objects.keys.sorted() {
            guard case .object(let fields) = objects[name]! else { throw FormatProblem(reason: "objects.\(name) must be an object") }
            if let unknown = fields.keys.sorted().first(where: { !known.contains($0) }) {
                throw FormatProblem(reason: "objects.\(name): unknown field '\(unknown)' (known: \(known.sorted().joined(separator: ", ")))")
            }
            func int(_ key: String, default value: Int) throws(FormatProblem) -> Int {
                switch fields[key] {
                case nil: return value
                case .integer(let number)? where number >= 0: return Int(number)
                default: throw FormatProblem(reason: "objects.\(name).\(key) must be a whole number ≥ 0")
                }
            }
            func string(_ key: String) throws(FormatProblem) -> String? {
                switch fields[key] {
                case nil, .null?: return nil
                case .string(let text)?: return text
                default: throw FormatProblem(reason: "objects.\(name).\(key) must be a string")
                }
            }
            let replicas = try int("replicas", default: 1)
            let statusText = try string("status") ?? "unknown"
            guard let health = Health(rawValue: statusText) else {
                throw FormatProblem(reason: "objects.\(name).status must be healthy, unhealthy or unknown, not '\(statusText)'")
            }
            var drifted = false
            switch fields["drifted"] {
            case nil: break
            case .bool(let flag)?: drifted = flag
            default: throw FormatProblem(reason: "objects.\(name).drifted must be true or false")
            }
            observed.append(ObservedObject(
                name: name, version: try string("version"), desiredReplicas: replicas,
                readyReplicas: try int("readyReplicas", default: health == .healthy ? replicas : 0), health: health,
                message: try string("message"), drifted: drifted))
        }
        return Observation(objects: observed)
    }
}
