import AsyncHTTPClient
import Foundation
import KeelsonCore
import NIOCore

/// One health probe of a replica: HTTP GET (2xx is healthy), TCP connect, or a command (exit 0).
struct HealthProbe: Sendable {
    var check: CompiledDocument.HealthCheck
    /// The replica's port, used when the check names none.
    var port: Int
    var environment: [String: String]
    var workingDirectory: String?

    /// The most of a response body a probe reads; the rest is dropped with the connection.
    static let bodyLimit = 64 * 1024

    /// Whether the probe passed, with a short message (stable for equal outcomes, so that equal
    /// observations stay equal).
    func run() async -> (passed: Bool, message: String) {
        switch check.probe {
        case .http(let path, let port):
            // AsyncHTTPClient, not URLSession: cancelling a probe (an apply cancelled while it waits
            // for health) must never take the process down, and Foundation's URLSession on Linux
            // can trap when a task is cancelled.
            let port = port ?? self.port
            let target = "GET \(path) on port \(port)"
            let request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path.hasPrefix("/") ? path : "/" + path)")
            do {
                let response = try await HTTPClient.shared.execute(
                    request, timeout: .milliseconds(Int64(clampingDouble: check.timeout.timeInterval * 1000)))
                _ = try? await response.body.collect(upTo: Self.bodyLimit)
                let status = Int(response.status.code)
                return ((200..<300).contains(status), "\(target): HTTP \(status)")
            } catch let error as HTTPClientError
                where error == .deadlineExceeded || error == .connectTimeout || error == .readTimeout {
                return (false, "\(target): no answer within \(check.timeout.short)")
            } catch {
                return (false, "\(target): \(Self.words(for: error))")
            }
        case .tcp(let port):
            let port = port ?? self.port
            let timeout = check.timeout
            // connect + poll block: on a GCD thread, not one of Swift concurrency's few.
            let problem = await withCheckedContinuation { continuation in
                DispatchQueue.global().async { continuation.resume(returning: ProcessTable.connect(port: port, timeout: timeout)) }
            }
            return (problem == nil, problem ?? "TCP port \(port) accepts connections")
        case .exec(let command, let args):
            do {
                let outcome = try await ProgramRunner(stdoutLimit: 1_024, stderrLimit: 1_024).run(
                    command, arguments: args, environment: environment, workingDirectory: workingDirectory, stdin: nil,
                    timeout: check.timeout)
                return (outcome.exitCode == 0, "\(([command] + args).joined(separator: " ")) \(outcome.statusDescription)")
            } catch {
                return (false, "\(error)")
            }
        }
    }

    /// A connection error in a few stable words: "connection refused" is what a replica that is
    /// still starting answers (and what ``LocalProcessRuntime`` looks for).
    static func words(for error: any Error) -> String {
        if let error = error as? IOError, error.errnoCode == ECONNREFUSED { return "connection refused" }
        let text = String(describing: error)
        if text.localizedCaseInsensitiveContains("connection refused") || text.contains("ECONNREFUSED") {
            return "connection refused"
        }
        return text
    }
}
