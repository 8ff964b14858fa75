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
        let process = Process()
        if prefix.isEmpty {
            process.executableURL = executable
            process.arguments = arguments
        } else {
            process.executableURL = URL(fileURLWithPath: prefix[0])
            process.arguments = Array(prefix.dropFirst()) + [executable.path] + arguments
        }
        process.currentDirectoryURL = directory
        var merged = ProcessInfo.processInfo.environment
        merged["SWIFT_BACKTRACE"] = "enable=no"
        for name in ["KEELSON_SERVER", "KEELSON_TOKEN", "KEELSON_DB", "KEELSON_REQUEST_TIMEOUT", "KEELSON_DURABILITY"] { merged[name] = nil }
        process.environment = merged.merging(environment) { $1 }
        let outFile = directory.appendingPathComponent(".out-\(UUID().uuidString)")
        let errFile = directory.appendingPathComponent(".err-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: outFile.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errFile.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: outFile)
            try? FileManager.default.removeItem(at: errFile)
        }
        // Files, not pipes: a child that fills a pipe nobody reads would look like a hang.
        let out = try FileHandle(forWritingTo: outFile), err = try FileHandle(forWritingTo: errFile)
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        let started = Date()
        try process.run()
        let done = DispatchSemaphore(value: 0)
        Thread {
            process.waitUntilExit()
            done.signal()
        }.start()
        var timedOut = false
        if done.wait(timeout: .now() + seconds) == .timedOut {
            timedOut = true
            kill(process.processIdentifier, SIGKILL)
            done.wait()
        }
        try? out.close()
        try? err.close()
        let elapsed = Date().timeIntervalSince(started)
        return Output(
            status: process.terminationStatus, signaled: process.terminationReason == .uncaughtSignal, timedOut: timedOut,
            seconds: elapsed,
            stdout: (try? String(contentsOf: outFile, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOf: errFile, encoding: .utf8)) ?? "")
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
