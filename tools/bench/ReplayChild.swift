import Foundation
import KeelsonEngine
import KeelsonStore

/// `keelson-bench replay-child --db PATH`: replays every decision of an existing log (what
/// `keelson replay --verify` runs) and prints its time as one line of JSON — for comparing two
/// builds on the same log without running a whole part.
enum ReplayChild {
    static let subcommand = "replay-child"

    struct Report: Codable {
        var decisions: Int
        var matched: Int
        var seconds: Double
        var decisionsPerSecond: Double
    }

    static func run(_ arguments: [String]) async throws {
        let path = try Options.database(in: arguments, for: subcommand)
        let store = try Measurements.openStore(path, durability: .normal) { $0.checkIntegrityOnOpen = false }
        let (report, time) = try await timed { try await Replay.run(store: store) }
        let out = Report(decisions: report.decisions, matched: report.matched, seconds: time.seconds,
                         decisionsPerSecond: Double(report.decisions) / max(time.seconds, 1e-9))
        FileHandle.standardOutput.write(try JSONEncoder().encode(out) + Data("\n".utf8))
    }
}
