import Foundation
import KeelsonCore
import KeelsonEngine
import KeelsonService
import KeelsonStore

/// `keelson-bench release-child --db PATH [--releases N]`: part 12e on a kept fleet log — a worker
/// runs while `StartBenchmark.releaseCallers` callers release single services of the fleet (the
/// next when their call returned) — and prints the rate as one line of JSON. Changes the log:
/// run it on a copy.
enum ReleaseChild {
    static let subcommand = "release-child"

    struct Report: Codable {
        var releases: Int
        var seconds: Double
        var releasesPerSecond: Double
    }

    static func run(_ arguments: [String]) async throws {
        let path = try Options.database(in: arguments, for: subcommand)
        let releases = arguments.firstIndex(of: "--releases").flatMap { $0 + 1 < arguments.count ? Int(arguments[$0 + 1]) : nil } ?? 1_000
        let store = try Measurements.openStore(path, durability: .normal) { $0.checkIntegrityOnOpen = false }
        let control = ControlPlane(store: store)
        var settings = Worker.Settings(
            name: "worker:release-child-\(UUID().uuidString.prefix(8))",
            stateRoot: URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("release-child-state").path)
        settings.snapshotEvery = 0
        let worker = Worker(store: store, settings: settings, declarations: ConfigRuntimes())
        let running = Task { try await worker.run() }
        try await Task.sleep(for: .seconds(2))
        let (_, time) = try await timed {
            try await StartBenchmark.releaseSingles(control, count: releases, version: "3.0.\(Int(Date().timeIntervalSince1970))")
        }
        running.cancel()
        _ = await running.result
        let report = Report(releases: releases, seconds: time.seconds, releasesPerSecond: Double(releases) / max(time.seconds, 1e-9))
        FileHandle.standardOutput.write(try JSONEncoder().encode(report) + Data("\n".utf8))
    }
}
