import Foundation
import Subprocess
import Synchronization
import SystemPackage

/// Runs a program to completion with swift-subprocess: JSON (or nothing) on stdin, extra
/// environment, a timeout after which the program's whole process group is stopped (SIGTERM,
/// then SIGKILL), and stdout/stderr captured through temporary files, bounded. Files rather
/// than pipes (stdin too), so that a grandchild that keeps the output open cannot stall Keelson
/// and a program that never reads its input cannot break a write.
struct ProgramRunner {
    struct Outcome: Sendable {
        /// nil when the program was stopped at its timeout.
        var exitCode: Int32?
        var signal: Int32?
        var stdout: String
        var stderr: String
        /// Whether stdout was longer than the limit (and cut).
        var stdoutTruncated: Bool
        var duration: Duration
        var timedOut: Bool { exitCode == nil && signal == nil }

        var statusDescription: String {
            if let exitCode { return "exited with code \(exitCode)" }
            if let signal { return "was killed by signal \(signal)" }
            return "timed out"
        }
    }

    enum Failure: Error, CustomStringConvertible {
        case notExecutable(String)
        case launch(String, String)

        var description: String {
            switch self {
            case .notExecutable(let command): "no executable '\(command)' (not found, or not executable)"
            case .launch(let command, let reason): "could not start '\(command)': \(reason)"
            }
        }
    }

    var stdoutLimit = 1 << 20
    var stderrLimit = 16 << 10

    /// Runs `command` (a path, or a name looked up on `PATH`) and waits for it, at most `timeout`.
    /// `input`, when given, is the program's stdin instead of `stdin`'s text: an open descriptor
    /// this call closes once the program has it (the apply lock: see `CustomProgramRuntime`).
    ///
    /// A program file that another process has open for writing cannot be executed (`ETXTBSY`):
    /// one that was just written, while some process forked from the writer had not yet exec'd
    /// and so still held the file. That lasts moments; without `input`, the start is tried again
    /// a few times before it is an error.
    func run(
        _ command: String, arguments: [String], environment: [String: String], workingDirectory: String?,
        stdin: String?, input: FileDescriptor? = nil, timeout: Duration
    ) async throws -> Outcome {
        var attempt = 0
        while true {
            do {
                return try await runOnce(
                    command, arguments: arguments, environment: environment, workingDirectory: workingDirectory,
                    stdin: stdin, input: input, timeout: timeout)
            } catch let busy as TextFileBusy {
                attempt += 1
                guard input == nil, attempt < 6 else { throw Failure.launch(command, busy.description) }
                try await Task.sleep(for: .milliseconds(20 << attempt))
            }
        }
    }

    /// The program could not start because its file is open for writing somewhere.
    private struct TextFileBusy: Error, CustomStringConvertible {
        var description: String
    }

    private func runOnce(
        _ command: String, arguments: [String], environment: [String: String], workingDirectory: String?,
        stdin: String?, input: FileDescriptor?, timeout: Duration
    ) async throws -> Outcome {
        let inherited = ProcessInfo.processInfo.environment
        guard let executable = ProcessTable.executable(command, in: workingDirectory, path: environment["PATH"] ?? inherited["PATH"])
        else {
            try? input?.close()
            throw Failure.notExecutable(command)
        }

        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-\(UUID().uuidString)")
        do {
            try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        } catch {
            try? input?.close()
            throw error
        }
        defer { try? FileManager.default.removeItem(at: scratch) }
        let outPath = scratch.appendingPathComponent("stdout").path
        let errPath = scratch.appendingPathComponent("stderr").path
        // stdin is a file too: a program that exits without reading it is no error.
        let inFD: FileDescriptor
        if let input {
            inFD = input
        } else {
            let inPath = scratch.appendingPathComponent("stdin").path
            try Data((stdin ?? "").utf8).write(to: URL(fileURLWithPath: inPath))
            inFD = try FileDescriptor.open(FilePath(inPath), .readOnly)
        }
        let outFD: FileDescriptor
        let errFD: FileDescriptor
        do {
            outFD = try FileDescriptor.open(FilePath(outPath), .writeOnly, options: [.create, .truncate], permissions: .ownerReadWrite)
            do {
                errFD = try FileDescriptor.open(FilePath(errPath), .writeOnly, options: [.create, .truncate], permissions: .ownerReadWrite)
            } catch {
                try? outFD.close()
                throw error
            }
        } catch {
            try? inFD.close()
            throw error
        }

        var options = PlatformOptions()
        options.createSession = true
        options.teardownSequence = [
            .gracefulShutDown(toProcessGroup: true, allowedDurationToNextStep: .seconds(1)),
            .send(signal: .kill, toProcessGroup: true, allowedDurationToNextStep: .seconds(1)),
        ]
        var environmentUpdates: [Environment.Key: String?] = [:]
        for (key, value) in environment { environmentUpdates[Environment.Key(rawValue: key)!] = value }
        let configuration = Configuration(
            executable: .path(FilePath(executable)), arguments: Arguments(arguments),
            environment: .inherit.updating(environmentUpdates),
            workingDirectory: workingDirectory.map { FilePath($0) }, platformOptions: options)

        let clock = ContinuousClock()
        let started = clock.now
        let launched = Launched()
        let status: TerminationStatus? = try await withThrowingTaskGroup(of: TerminationStatus?.self) { group in
            group.addTask {
                do {
                    return try await Subprocess.run(
                        configuration, input: .fileDescriptor(inFD, closeAfterSpawningProcess: true),
                        output: .fileDescriptor(outFD, closeAfterSpawningProcess: true),
                        error: .fileDescriptor(errFD, closeAfterSpawningProcess: true)
                    ) { execution in
                        launched.pid.store(execution.processIdentifier.value, ordering: .releasing)
                    }.terminationStatus
                } catch is CancellationError {
                    return nil
                } catch let error as SubprocessError where error.underlyingError == Errno.textFileBusy {
                    throw TextFileBusy(description: "\(error)")
                } catch {
                    throw Failure.launch(command, "\(error)")
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            var first = try await group.next() ?? nil
            // The timer came first; but on a busy machine the program's end may not have been
            // noticed yet. A program that has exited ended in time: its status is waited for.
            if first == nil, ProcessTable.hasExited(launched.pid.load(ordering: .acquiring)) {
                first = try await group.next() ?? nil
            }
            group.cancelAll()
            // Wait for the program's teardown (a cancelled run) or for the cancelled timer.
            while (try? await group.next()) != nil {}
            return first
        }
        let duration = clock.now - started
        let (stdout, truncated) = Self.read(outPath, limit: stdoutLimit)
        let (stderr, _) = Self.read(errPath, limit: stderrLimit)
        var outcome = Outcome(exitCode: nil, signal: nil, stdout: stdout, stderr: stderr, stdoutTruncated: truncated, duration: duration)
        switch status {
        case .exited(let code)?: outcome.exitCode = code
        case .signaled(let signal)?: outcome.signal = signal
        case nil: break
        }
        return outcome
    }

    /// The pid of the program once it has started.
    private final class Launched: Sendable {
        let pid = Atomic<Int32>(0)
    }

    /// At most `limit` bytes of the file, and whether there was more.
    static func read(_ path: String, limit: Int) -> (String, Bool) {
        guard let handle = FileHandle(forReadingAtPath: path) else { return ("", false) }
        defer { try? handle.close() }
        let data = (try? handle.read(upToCount: limit + 1)) ?? Data()
        return (String(decoding: data.prefix(limit), as: UTF8.self), data.count > limit)
    }
}
