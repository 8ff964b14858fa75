import KeelsonCore

/// How a service runs, as declared by its owners; one ``ServiceInstanceIntent`` per release
/// channel of its application, with that channel's `perReleaseChannel` overrides merged in.
public struct ServiceIntent: Sendable, Hashable {
    public var application: String
    public var name: String
    public var parameters: [ParameterIntent]
    /// By release channel name, in the application's channel order.
    public var instances: [ServiceInstanceIntent]
}

/// A release parameter (`version`, `image`, …).
public struct ParameterIntent: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        case string, int, bool, image, duration
    }

    public var name: String
    public var type: Kind
    public var required: Bool
    public var defaultValue: String?
    /// A regular expression the whole value must match.
    public var pattern: String?

    /// Parameter names are template identifiers (`{{parameters.image_tag}}`): a letter or `_`,
    /// then letters, digits and `_`, at most 63 — the grammar of a Mustache name that needs no
    /// quoting, and of an environment variable.
    public static let maxNameLength = 63

    /// What is wrong with `name` as a parameter name, or nil when it fits.
    public static func nameProblem(_ name: String) -> String? {
        let bytes = Array(name.utf8)
        func letter(_ byte: UInt8) -> Bool {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || byte == UInt8(ascii: "_")
        }
        let fits = (1...maxNameLength).contains(bytes.count) && letter(bytes[0])
            && bytes.allSatisfy { letter($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
        return fits ? nil : "a parameter name is 1 to \(maxNameLength) letters, digits and '_', starting with a letter or '_'; found \(BoundedInput.quoted(name))"
    }
}

/// One service in one release channel: everything the compiler needs besides the release.
public struct ServiceInstanceIntent: Sendable, Hashable {
    /// How many replicas an instance may ask for.
    public static let replicaRange = 0...10_000

    public var channel: String
    public var runtime: String
    public var run: RunIntent
    public var replicas: Int
    public var healthCheck: HealthCheckIntent?
    public var progressDeadlineSeconds: Int
    public var autoRollback: Bool
    public var env: [String: String]
}

/// How the instance runs on its runtime's type.
public enum RunIntent: Sendable, Hashable {
    case local(command: String, args: [String], env: [String: String], workingDirectory: String?)
    case custom(fetch: ProgramIntent, apply: ProgramIntent)
    /// Manifest files, resolved against the config file's directory, in sorted order.
    case kubernetes(manifests: [String], namespace: String?)
    case ecs(taskDefinition: String, cluster: String?, service: [String: String])
    case simulated
}

public struct ProgramIntent: Sendable, Hashable {
    public var command: String
    public var args: [String]
    public var env: [String: String]
    public var timeoutSeconds: Int
    /// Relative to Keelson's working directory: the config file's folder unless given.
    public var workingDirectory: String
    public var retryableExitCodes: [Int]
    public var retryAttempts: Int
    public var retryBackoffSeconds: Int
    public var retryMaxBackoffSeconds: Int
}

public struct HealthCheckIntent: Sendable, Hashable {
    public enum Probe: Sendable, Hashable {
        case http(path: String, port: String?)
        case tcp(port: String?)
        case exec(command: String, args: [String])
    }

    public var probe: Probe
    public var intervalSeconds: Int
    public var timeoutSeconds: Int
    public var healthyThreshold: Int
    public var unhealthyThreshold: Int
}
