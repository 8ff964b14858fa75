import Foundation
import KeelsonCore
import KeelsonEngine
import KeelsonService
import KeelsonStore

/// `keelson-bench start-child --db PATH`: starts a worker on an existing log (restoring its latest
/// engine snapshot and folding the events after it) and prints the start's time as one line of
/// JSON. The log is changed by the start (a `WorkerStarted`, a lease): run it on a copy.
enum StartChild {
    static let subcommand = "start-child"

    struct Report: Codable {
        var seconds: Double
        var folded: Int64
    }

    static func run(_ arguments: [String]) async throws {
        let path = try Options.database(in: arguments, for: subcommand)
        let store = try Measurements.openStore(path, durability: .normal) { $0.checkIntegrityOnOpen = false }
        let snapshot = try await store.engineSnapshots().last?.position ?? 0
        let settings = Worker.Settings(
            name: "worker:start-child-\(UUID().uuidString.prefix(8))",
            stateRoot: URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("start-child-state").path)
        let worker = Worker(store: store, settings: settings, declarations: ConfigRuntimes())
        let (_, time) = try await timed { try await worker.start() }
        let folded = await worker.engineState.position - snapshot
        FileHandle.standardOutput.write(try JSONEncoder().encode(Report(seconds: time.seconds, folded: folded)) + Data("\n".utf8))
    }
}
