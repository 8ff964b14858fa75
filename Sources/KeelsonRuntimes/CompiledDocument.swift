import Foundation
import KeelsonCore

/// The parts of a compiled desired state (`keelson.dev/v1` document) that runtimes act on.
public struct CompiledDocument: Decodable, Sendable, Hashable {
    public struct Release: Decodable, Sendable, Hashable {
        public var version: String
        public var parameters: [String: String]
    }

    public struct Program: Decodable, Sendable, Hashable {
        public var command: String
        public var args: [String]
        public var env: [String: String]
        public var timeoutSeconds: Int
        public var workingDirectory: String?
        public var retryableExitCodes: [Int32]?
        public var retry: Retry?
    }

    /// Exponential backoff for retryable failures: `attempts` in all, waiting `baseSeconds`,
    /// then twice that, … at most `maxSeconds`.
    public struct Retry: Decodable, Sendable, Hashable {
        public var attempts: Int
        public var baseSeconds: Double
        public var maxSeconds: Double
    }

    public struct LocalRun: Decodable, Sendable, Hashable {
        public var command: String
        public var args: [String]
        public var env: [String: String]
        public var workingDirectory: String?
    }

    public struct CustomRun: Decodable, Sendable, Hashable {
        public var fetch: Program
        public var apply: Program
    }

    public struct Run: Decodable, Sendable, Hashable {
        public var local: LocalRun?
        public var custom: CustomRun?
    }

    public struct HealthCheck: Decodable, Sendable, Hashable {
        public enum Probe: Sendable, Hashable {
            case http(path: String, port: Int?)
            case tcp(port: Int?)
            case exec(command: String, args: [String])
        }

        public var probe: Probe
        public var interval: Duration
        public var timeout: Duration
        public var healthyThreshold: Int
        public var unhealthyThreshold: Int

        private struct HTTP: Decodable { var path: String; var port: String? }
        private struct TCP: Decodable { var port: String? }
        private struct Exec: Decodable { var command: String; var args: [String]? }
        private enum Keys: String, CodingKey {
            case http, tcp, exec, intervalSeconds, timeoutSeconds, healthyThreshold, unhealthyThreshold
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: Keys.self)
            func port(_ text: String?, _ key: Keys) throws -> Int? {
                guard let text else { return nil }
                guard let port = Int(text), (1...65535).contains(port) else {
                    throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "port '\(text)' is not a number from 1 to 65535")
                }
                return port
            }
            if let http = try container.decodeIfPresent(HTTP.self, forKey: .http) {
                probe = .http(path: http.path, port: try port(http.port, .http))
            } else if let tcp = try container.decodeIfPresent(TCP.self, forKey: .tcp) {
                probe = .tcp(port: try port(tcp.port, .tcp))
            } else if let exec = try container.decodeIfPresent(Exec.self, forKey: .exec) {
                probe = .exec(command: exec.command, args: exec.args ?? [])
            } else {
                throw DecodingError.dataCorruptedError(forKey: .http, in: container, debugDescription: "a health check needs http, tcp or exec")
            }
            interval = .seconds(try container.decode(Int.self, forKey: .intervalSeconds))
            timeout = .seconds(try container.decode(Int.self, forKey: .timeoutSeconds))
            healthyThreshold = try container.decode(Int.self, forKey: .healthyThreshold)
            unhealthyThreshold = try container.decode(Int.self, forKey: .unhealthyThreshold)
        }
    }

    public struct RuntimeReference: Decodable, Sendable, Hashable {
        public var name: String
        public var type: String
    }

    public var instance: String
    public var runtime: RuntimeReference
    public var application: String
    public var service: String
    public var channel: String
    public var release: Release
    public var replicas: Int
    public var env: [String: String]
    public var run: Run
    public var healthCheck: HealthCheck?
    public var progressDeadlineSeconds: Int

    /// Decodes `state.document`; a document that is not one gives an error saying what is wrong.
    public static func decode(_ document: String) throws(DocumentError) -> CompiledDocument {
        do {
            return try PayloadDecoder().decode(CompiledDocument.self, from: document)
        } catch {
            throw DocumentError(reason: describe(error))
        }
    }

    static func describe(_ error: any Error) -> String {
        func path(_ codingPath: [any CodingKey]) -> String {
            codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().drop { $0 == "." }.description
        }
        switch error as? DecodingError {
        case .keyNotFound(let key, let context)?:
            return "\(path(context.codingPath + [key])): missing"
        case .typeMismatch(let type, let context)?:
            return "\(path(context.codingPath)): expected \(type)"
        case .valueNotFound(let type, let context)?:
            return "\(path(context.codingPath)): expected \(type), found null"
        case .dataCorrupted(let context)?:
            let at = path(context.codingPath)
            return (at.isEmpty ? "" : "\(at): ") + context.debugDescription
        default:
            return "\(error)"
        }
    }
}

/// A desired state whose document a runtime cannot act on.
public struct DocumentError: Error, Sendable, CustomStringConvertible {
    public var reason: String
    public var description: String { "the compiled desired state cannot be used: \(reason)" }
}
