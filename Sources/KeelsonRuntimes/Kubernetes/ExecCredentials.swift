import Foundation
import KeelsonCore

/// What an exec credential plugin handed out: a bearer token, or a client certificate and key.
public struct ExecCredential: Sendable, Hashable {
    public var token: String?
    public var clientCertificate: [UInt8]?
    public var clientKey: [UInt8]?
    /// nil: valid until the server refuses it.
    public var expiry: Date?
}

/// Runs a kubeconfig user's exec credential plugin (`client.authentication.k8s.io/v1`, or
/// `v1beta1`) as kubectl does — `KUBERNETES_EXEC_INFO` set, never interactive — and keeps what it
/// printed until its `expirationTimestamp` (or until the server refuses it: `invalidate()`).
public actor ExecCredentials {
    public static let apiVersions = ["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"]
    /// A plugin that has not answered after this long has failed.
    public static let timeout: Duration = .seconds(60)
    /// A credential this close to its expiry is fetched again.
    public static let refreshMargin: TimeInterval = 10

    public let config: ExecCredentialConfig
    private let clock: @Sendable () -> Date
    private var cached: ExecCredential?
    /// The run in flight, shared by everyone who asks meanwhile.
    private var running: Task<ExecCredential, any Error>?

    public init(_ config: ExecCredentialConfig, clock: @escaping @Sendable () -> Date = Date.init) {
        self.config = config
        self.clock = clock
    }

    /// A credential that has not expired: the cached one, or a fresh one from the plugin.
    public func credential() async throws -> ExecCredential {
        if let cached, cached.expiry.map({ $0.timeIntervalSince(clock()) > Self.refreshMargin }) ?? true { return cached }
        if let running { return try await running.value }
        let config = config
        let task = Task { try await Self.run(config) }
        running = task
        defer { running = nil }
        let fresh = try await task.value
        cached = fresh
        return fresh
    }

    /// Forgets the cached credential (the server answered 401 to it).
    public func invalidate() { cached = nil }

    /// Why a plugin gave no credential.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var command: String
        public var reason: String
        public var description: String { "the exec credential plugin \(BoundedInput.quoted(command)) \(reason)" }
    }

    static func run(_ config: ExecCredentialConfig) async throws -> ExecCredential {
        let info = #"{"apiVersion":"\#(config.apiVersion)","kind":"ExecCredential","spec":{"interactive":false}}"#
        var environment = config.env
        environment["KUBERNETES_EXEC_INFO"] = info
        let outcome: ProgramRunner.Outcome
        do {
            outcome = try await ProgramRunner().run(
                config.command, arguments: config.args, environment: environment, workingDirectory: config.directory, stdin: nil,
                timeout: timeout)
        } catch let failure as ProgramRunner.Failure {
            let hint = config.installHint.map { " — \(BoundedInput.printable($0, limit: 300))" } ?? ""
            throw Failure(command: config.command, reason: "could not be run: \(failure)\(hint)")
        }
        guard outcome.exitCode == 0 else {
            let stderr = BoundedInput.printable(outcome.stderr.trimmingCharacters(in: .whitespacesAndNewlines), limit: 500)
            throw Failure(command: config.command, reason: "\(outcome.statusDescription)" + (stderr.isEmpty ? "" : ": \(stderr)"))
        }
        return try parse(outcome.stdout, config: config)
    }

    /// Reads the `ExecCredential` a plugin printed.
    static func parse(_ output: String, config: ExecCredentialConfig) throws -> ExecCredential {
        struct Printed: Decodable {
            struct Status: Decodable {
                var token: String?
                var clientCertificateData: String?
                var clientKeyData: String?
                var expirationTimestamp: String?
            }

            var apiVersion: String?
            var kind: String?
            var status: Status?
        }
        let printed: Printed
        do {
            printed = try JSONDecoder().decode(Printed.self, from: Data(output.utf8))
        } catch {
            throw Failure(command: config.command, reason: "printed no ExecCredential JSON: \(BoundedInput.printable(output, limit: 200))")
        }
        guard printed.kind == "ExecCredential" else {
            throw Failure(command: config.command, reason: "printed kind \(BoundedInput.quoted(printed.kind ?? "")), not ExecCredential")
        }
        guard printed.apiVersion == config.apiVersion else {
            throw Failure(
                command: config.command,
                reason: "answered apiVersion \(BoundedInput.quoted(printed.apiVersion ?? "")) to a request for \(config.apiVersion)")
        }
        guard let status = printed.status else { throw Failure(command: config.command, reason: "printed an ExecCredential without status") }
        var credential = ExecCredential()
        if let token = status.token, !token.isEmpty { credential.token = token }
        if let certificate = status.clientCertificateData, !certificate.isEmpty { credential.clientCertificate = Array(certificate.utf8) }
        if let key = status.clientKeyData, !key.isEmpty { credential.clientKey = Array(key.utf8) }
        guard credential.token != nil || (credential.clientCertificate != nil && credential.clientKey != nil) else {
            throw Failure(command: config.command, reason: "printed neither a token nor a client certificate with its key")
        }
        if let text = status.expirationTimestamp {
            guard let expiry = RFC3339.date(text) else {
                throw Failure(command: config.command, reason: "printed an expirationTimestamp that is not RFC 3339: \(BoundedInput.quoted(text))")
            }
            credential.expiry = expiry
        }
        return credential
    }
}

/// RFC 3339 times as Kubernetes writes them (`2026-12-01T10:00:00Z`, with or without fractions).
enum RFC3339 {
    static func date(_ text: String) -> Date? {
        let whole = ISO8601DateFormatter()
        whole.formatOptions = [.withInternetDateTime]
        if let date = whole.date(from: text) { return date }
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return fractional.date(from: text)
    }
}
