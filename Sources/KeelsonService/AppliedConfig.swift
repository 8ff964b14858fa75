import Foundation
import Synchronization
import KeelsonCompiler
import KeelsonCore
import KeelsonStore

/// The config last applied to a store, parsed again from the files `ConfigApplied` recorded, so
/// that nothing depends on what is on disk now.
public enum AppliedConfig {
    /// The last `ConfigApplied` (decoded once per store and position: a config of thousands of
    /// services is a big payload, and every release reads it).
    public static func latest(in store: EventStore) async throws -> ConfigApplied? {
        guard let event = try await store.events(EventFilter(stream: "config", types: [ConfigApplied.eventType], limit: 1, latest: true)).first
        else { return nil }
        // The payload is the key (a file made again at the same path holds other configs at the
        // same positions); comparing it costs far less than decoding it.
        if let found = decoded.withLock({ $0.payload == event.payload ? $0.config : nil }) { return found }
        let config = try event.decode(ConfigApplied.self)
        decoded.withLock { $0 = (event.payload, config) }
        return config
    }

    private static let decoded = Mutex<(payload: String, config: ConfigApplied?)>(("", nil))

    /// The release policy last recorded for `application` (`PolicyCompiled` on `app:<name>`).
    public static func policy(of application: String, in store: EventStore, upTo position: Int64? = nil) async throws -> ApplicationPolicy? {
        var filter = EventFilter(stream: .application(application), types: [PolicyCompiled.eventType], limit: 1, latest: true)
        filter.upToPosition = position
        return try await store.events(filter).first.flatMap { try? $0.decode(PolicyCompiled.self) }?.policy
    }

    public static func intent(of config: ConfigApplied) throws -> Intent {
        let files = RecordedFiles(Dictionary(uniqueKeysWithValues: config.files.map { ($0.path, $0.text) }))
        return try ParsedConfigs.shared.intent(of: config, files: files).get()
    }
}

/// Configs parsed from what `ConfigApplied` recorded, kept by digest and source while they are
/// among the last few used: a release parses the config in force once, not once per request.
final class ParsedConfigs: @unchecked Sendable {
    static let shared = ParsedConfigs()
    /// How many parsed configs are kept (the one in force, and a few a dry run or replay asked for).
    static let capacity = 4

    private let lock = NSLock()
    private var kept: [(key: String, intent: Result<Intent, ConfigErrors>)] = []

    func intent(of config: ConfigApplied, files: RecordedFiles) -> Result<Intent, ConfigErrors> {
        let key = config.digest + "|" + config.source
        if let found = lock.withLock({ kept.first { $0.key == key }?.intent }) { return found }
        // Checked when it was applied; read back as recorded.
        let loaded = ConfigSource.load(path: config.source, from: files, allowing: nil)
        let parsed = IntentParser.parse(loaded, files: files)
        lock.withLock {
            kept.removeAll { $0.key == key }
            kept.insert((key, parsed), at: 0)
            if kept.count > Self.capacity { kept.removeLast() }
        }
        return parsed
    }
}
