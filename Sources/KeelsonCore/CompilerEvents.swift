/// A config file as it was applied: its path, SHA-256 and full text, so that a replay can show
/// exactly what config was in force.
public struct ConfigFileRecord: Codable, Sendable, Hashable {
    public var path: String
    public var sha256: String
    public var text: String

    public init(path: String, sha256: String, text: String) {
        self.path = path
        self.sha256 = sha256
        self.text = text
    }
}

/// `keelson apply` recorded a new config (stream `config`).
public struct ConfigApplied: EventPayload, Hashable {
    public static let eventType = "ConfigApplied"
    /// The path given to `apply -f`.
    public var source: String
    /// Every file read: config files and the manifests they name, sorted by path.
    public var files: [ConfigFileRecord]
    /// SHA-256 over the files' paths and digests: equal configs have equal digests.
    public var digest: String
    /// Directories outside the config's own that its files were allowed to come from
    /// (`keelson apply --allow-files-from`), resolved; absent when none.
    public var allowedFileDirectories: [String]?

    public init(source: String, files: [ConfigFileRecord], digest: String, allowedFileDirectories: [String]? = nil) {
        self.source = source
        self.files = files
        self.digest = digest
        self.allowedFileDirectories = allowedFileDirectories
    }
}

/// An apply with `--prune` recorded a config that no longer declares this released service
/// instance (stream `instance:<app>/<service>@<channel>`): it has no desired state any more, the
/// engine leaves it idle, and the worker that holds its lease stops what it runs through its
/// runtime's `remove` and records `InstanceRemovalFinished`.
public struct InstanceRemoved: EventPayload, Hashable {
    public static let eventType = "InstanceRemoved"
    public var instance: String
    /// The release it had when it was removed.
    public var version: String
    /// The digest of the `ConfigApplied` config that no longer declares it.
    public var configDigest: String

    public init(instance: String, version: String, configDigest: String) {
        self.instance = instance
        self.version = version
        self.configDigest = configDigest
    }
}

/// Someone asked for a release of a service (stream `service:<app>/<service>`).
public struct ReleaseRequested: EventPayload, Hashable {
    public static let eventType = "ReleaseRequested"
    public var application: String
    public var service: String
    public var version: String
    public var parameters: [String: String]

    public init(application: String, service: String, version: String, parameters: [String: String]) {
        self.application = application
        self.service = service
        self.version = version
        self.parameters = parameters
    }
}

/// A service instance's desired state changed (stream `instance:<app>/<service>@<channel>`).
public struct DesiredStateCompiled: EventPayload, Hashable {
    public static let eventType = "DesiredStateCompiled"
    public var instance: String
    public var digest: String
    /// The compiled document: canonical JSON.
    public var document: String
    public var version: String
    public var parameters: [String: String]
    /// The digest of the `ConfigApplied` config the state was compiled from.
    public var configDigest: String

    public init(
        instance: String, digest: String, document: String, version: String, parameters: [String: String],
        configDigest: String
    ) {
        self.instance = instance
        self.digest = digest
        self.document = document
        self.version = version
        self.parameters = parameters
        self.configDigest = configDigest
    }
}

/// An apply or a release failed to compile; no desired state changed (stream `config`, or the
/// service's stream for a release).
public struct CompileFailed: EventPayload, Hashable {
    public static let eventType = "CompileFailed"
    /// `apply` or `release`.
    public var trigger: String
    public var errors: [ConfigDiagnostic]

    public init(trigger: String, errors: [ConfigDiagnostic]) {
        self.trigger = trigger
        self.errors = errors
    }
}

