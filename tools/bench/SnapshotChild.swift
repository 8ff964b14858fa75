import Foundation
import KeelsonCore
import KeelsonStore

/// `keelson-bench snapshot-child --db PATH`: reads and decodes the latest engine snapshot of an
/// existing log, five times, and prints the times as one line of JSON (for profiling a start).
enum SnapshotChild {
    static let subcommand = "snapshot-child"

    struct Report: Codable {
        var instances: Int
        var seconds: [Double]
    }

    static func run(_ arguments: [String]) async throws {
        let path = try Options.database(in: arguments, for: subcommand)
        let store = try Measurements.openStore(path, durability: .normal) { $0.checkIntegrityOnOpen = false }
        var report = Report(instances: 0, seconds: [])
        for _ in 0..<5 {
            let (snapshot, time) = try await timed { try await store.latestEngineSnapshot() }
            report.instances = snapshot?.records.count ?? 0
            report.seconds.append(time.seconds)
        }
        FileHandle.standardOutput.write(try JSONEncoder().encode(report) + Data("\n".utf8))
    }
}
