import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One health probe of a replica: HTTP GET (2xx is healthy), TCP connect, or a command (exit 0).
struct HealthProbe: Sendable {
    var check: CompiledDocument.HealthCheck
    /// The replica's port, used when the check names none.
    var port: Int
    var environment: [String: String]
    var workingDirectory: String?

    private static let session: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        return URLSession(configuration: configuration)
    }()

    /// Whether the probe passed, with a short message (stable for equal outcomes, so that equal
    /// observations stay equal).
    func run() async -> (passed: Bool, message: String) {
        switch check.probe {
        case .http(let path, let port):
            let port = port ?? self.port
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path.hasPrefix("/") ? path : "/" + path)")!)
            request.timeoutInterval = check.timeout.timeInterval
            do {
                let (_, response) = try await Self.session.data(for: request)
                let status = (response as? HTTPURLResponse)?.statusCode ?? 0
                return ((200..<300).contains(status), "GET \(path) on port \(port): HTTP \(status)")
            } catch let error as URLError where error.code == .timedOut {
                return (false, "GET \(path) on port \(port): no answer within \(check.timeout.short)")
            } catch let error as URLError where error.code == .cannotConnectToHost {
                return (false, "GET \(path) on port \(port): connection refused")
            } catch {
                return (false, "GET \(path) on port \(port): \(error.localizedDescription)")
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
}
