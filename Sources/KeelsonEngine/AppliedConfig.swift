import Foundation
import KeelsonCompiler
import KeelsonCore
import KeelsonStore

/// The config last applied to a store, parsed again from the files `ConfigApplied` recorded, so
/// that nothing depends on what is on disk now.
public enum AppliedConfig {
    public static func latest(in store: EventStore) async throws -> ConfigApplied? {
        try await store.events(EventFilter(stream: "config", types: [ConfigApplied.eventType], limit: 1, latest: true))
            .first?.decode(ConfigApplied.self)
    }

    /// The release policy last recorded for `application` (`PolicyCompiled` on `app:<name>`).
    public static func policy(of application: String, in store: EventStore) async throws -> ApplicationPolicy? {
        try await store.events(EventFilter(
            stream: StreamID("app:\(application)"), types: [PolicyCompiled.eventType], limit: 1, latest: true)
        ).first.flatMap { try? $0.decode(PolicyCompiled.self) }?.policy
    }

    public static func intent(of config: ConfigApplied) throws -> Intent {
        let files = RecordedFiles(Dictionary(uniqueKeysWithValues: config.files.map { ($0.path, $0.text) }))
        // Checked when it was applied; read back as recorded.
        let loaded = ConfigSource.load(path: config.source, from: files, allowing: nil)
        return try IntentParser.parse(loaded, files: files).get()
    }
}
