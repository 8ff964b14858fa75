import Foundation

/// One service instance's current desired state.
public struct DesiredStateRow: Sendable, Hashable, Codable {
    public var instance: String
    public var digest: String
    public var document: String
    public var version: String
    /// Release parameters as canonical JSON.
    public var parameters: String
    /// The position of the `DesiredStateCompiled` event.
    public var position: Int64
    public var configDigest: String
    public var recordedAtMilliseconds: Int64

    public init(
        instance: String, digest: String, document: String, version: String, parameters: String, position: Int64,
        configDigest: String, recordedAtMilliseconds: Int64
    ) {
        self.instance = instance
        self.digest = digest
        self.document = document
        self.version = version
        self.parameters = parameters
        self.position = position
        self.configDigest = configDigest
        self.recordedAtMilliseconds = recordedAtMilliseconds
    }
}

/// Per service instance: the latest compiled desired state, its digest and its release (no row
/// once the instance is removed from the config).
public struct DesiredStateProjection: KeyedProjection {
    public static let name = "desired_state"

    public init() {}

    public func keys(of event: RecordedEvent) -> [String] {
        event.type == DesiredStateCompiled.eventType || event.type == InstanceRemoved.eventType
            ? [String(event.streamID.rawValue.dropFirst("instance:".count))] : []
    }

    public func evolve(_ row: inout DesiredStateRow?, key: String, event: RecordedEvent) {
        if event.type == InstanceRemoved.eventType {
            row = nil
            return
        }
        guard let compiled = try? event.decode(DesiredStateCompiled.self) else { return }
        row = DesiredStateRow(
            instance: compiled.instance, digest: compiled.digest, document: compiled.document,
            version: compiled.version, parameters: (try? CanonicalJSON.string(compiled.parameters)) ?? "{}",
            position: event.position, configDigest: compiled.configDigest,
            recordedAtMilliseconds: event.recordedAtMilliseconds)
    }
}
