import Foundation
import KeelsonTestSupport
import Testing

/// The `keelson` binary run with a deadline: a hang is a failed expectation (the process is killed
/// at the deadline), a trap is seen as a signal rather than an exit status.
struct BoundedRun {
    struct Output: CustomStringConvertible {
        var status: Int32
        /// Ended by a signal (a trap, or the kill at the deadline).
        var signaled: Bool
        var timedOut: Bool
        var seconds: Double
        var stdout: String
        var stderr: String

        var description: String {
            "status \(status)\(signaled ? " (signal)" : "")\(timedOut ? " (timed out)" : "") after \(String(format: "%.1f", seconds))s\n"
                + "stdout: \(stdout.prefix(2000))\nstderr: \(stderr.prefix(2000))"
        }
    }

    /// Runs on a thread of its own (see ``onOwnThread(stackSize:_:)``), in `directory`, killing the
    /// process after `seconds`. Traps end at once rather than after a symbolicated backtrace
    /// (SWIFT_BACKTRACE).
    static func run(
        _ arguments: [String], in directory: URL, environment: [String: String] = [:], seconds: Double = 60,
        executable: URL = CLI.binary, prefix: [String] = []
    ) async throws -> Output {
        try await onOwnThread {
            try blocking(arguments, in: directory, environment: environment, seconds: seconds, executable: executable, prefix: prefix)
        }
    }

    private static func blocking(
        _ arguments: [String], in directory: URL, environment: [String: String], seconds: Double, executable: URL, prefix: [String]
    ) throws -> Output {
        let argv = (prefix.isEmpty ? [executable.path] : prefix + [executable.path]) + arguments
        var merged = ProcessInfo.processInfo.environment
        merged["SWIFT_BACKTRACE"] = "enable=no"
        for name in ["KEELSON_SERVER", "KEELSON_TOKEN", "KEELSON_DB", "KEELSON_REQUEST_TIMEOUT", "KEELSON_DURABILITY"] { merged[name] = nil }
        merged.merge(environment) { $1 }
        let outFile = directory.appendingPathComponent(".out-\(UUID().uuidString)")
        let errFile = directory.appendingPathComponent(".err-\(UUID().uuidString)")
        defer {
            try? FileManager.default.removeItem(at: outFile)
            try? FileManager.default.removeItem(at: errFile)
        }
        // Files, not pipes: a child that fills a pipe nobody reads would look like a hang.
        let out = open(outFile.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        let err = open(errFile.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        defer {
            if out >= 0 { _ = Glibc.close(out) }
            if err >= 0 { _ = Glibc.close(err) }
        }
        guard out >= 0, err >= 0 else { throw POSIXError(.EIO) }
        let started = Date()
        let pid = try spawn(argv, environment: merged, directory: directory.path, stdout: out, stderr: err)
        // The child is waited for here, by its pid: Foundation's `Process` noticed a child's exit
        // late (tens of seconds) while other tests spawned long-running children of their own.
        var status: Int32 = 0
        var timedOut = false
        while true {
            let waited = waitpid(pid, &status, WNOHANG)
            if waited == pid { break }
            if waited == -1 && errno != EINTR { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .ECHILD) }
            if Date().timeIntervalSince(started) > seconds {
                timedOut = true
                kill(pid, SIGKILL)
                while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
                break
            }
            usleep(2_000)
        }
        let elapsed = Date().timeIntervalSince(started)
        let signal = status & 0x7f
        let signaled = signal != 0 && signal != 0x7f
        return Output(
            status: signaled ? signal : (status >> 8) & 0xff, signaled: signaled, timedOut: timedOut, seconds: elapsed,
            stdout: (try? String(contentsOf: outFile, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOf: errFile, encoding: .utf8)) ?? "")
    }

    /// Starts `argv` in `directory` with `environment`, its input /dev/null and its output and
    /// errors into `stdout` and `stderr`; returns its pid.
    private static func spawn(_ argv: [String], environment: [String: String], directory: String, stdout: Int32, stderr: Int32) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr, 2)
        // In `directory` by way of `env -C` (posix_spawn's chdir action is not visible to Swift here).
        let command = ["/usr/bin/env", "-C", directory] + argv
        let cArguments = command.map { strdup($0) } + [nil]
        let cEnvironment = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in cArguments { free(pointer) }
            for pointer in cEnvironment { free(pointer) }
        }
        var pid: pid_t = 0
        let code = posix_spawn(&pid, command[0], &actions, nil, cArguments, cEnvironment)
        guard code == 0 else { throw POSIXError(POSIXErrorCode(rawValue: code) ?? .EIO) }
        return pid
    }
}

/// A TCP port on 127.0.0.1 that accepts connections (the kernel completes the handshake) and
/// never answers: nothing ever reads from or writes to them.
final class SilentListener: @unchecked Sendable {
    let port: Int
    private let descriptor: Int32

    init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw POSIXError(.EMFILE) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(descriptor, 64) == 0 else {
            _ = Glibc.close(descriptor)
            throw POSIXError(.EADDRINUSE)
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        self.descriptor = descriptor
    }

    private let closed = NSLock()
    private var isClosed = false

    func close() {
        closed.lock()
        defer { closed.unlock() }
        guard !isClosed else { return }
        isClosed = true
        _ = Glibc.close(descriptor)
    }

    deinit { close() }

    /// A port on 127.0.0.1 where nothing listens (bound, then closed: connecting is refused).
    static func closedPort() throws -> Int {
        let listener = try SilentListener()
        let port = listener.port
        listener.close()
        return port
    }
}
