import Foundation
import KeelsonStore

/// Part 4 rebuilds the projections in a child process (this same executable, run with a hidden
/// subcommand), so that the peak memory measured is the rebuild's own and not the benchmark's.
enum RebuildChild {
    static let subcommand = "rebuild-child"

    /// What the child prints on stdout, as one line of JSON.
    struct Report: Codable {
        var openOnly: Bool
        var openSeconds: Double
        var rebuildSeconds: Double?
        var eventsFolded: Int64?
        /// The child's own peak resident set size (`VmHWM`), read just before it reports.
        var selfPeakKilobytes: Int
    }

    /// Child side: `rebuild-child --db PATH [--open-only]`. Opens the store (without the
    /// integrity check, which part 6 measures) and rebuilds every projection unless `--open-only`,
    /// prints its report, then waits for its standard input to close so that the parent can read
    /// its memory figures from /proc while it is still alive.
    static func run(_ arguments: [String]) async throws {
        let path = try Options.database(in: arguments, for: subcommand)
        let openOnly = arguments.contains("--open-only")
        let (store, openTime) = try await timed {
            try Measurements.openStore(path, durability: .normal) { $0.checkIntegrityOnOpen = false }
        }
        var report = Report(openOnly: openOnly, openSeconds: openTime.seconds, selfPeakKilobytes: 0)
        if !openOnly {
            let (folded, rebuildTime) = try await timed { try await store.rebuildProjections() }
            report.rebuildSeconds = rebuildTime.seconds
            report.eventsFolded = folded
        }
        report.selfPeakKilobytes = peakKilobytes(status: "/proc/self/status") ?? 0
        FileHandle.standardOutput.write(try JSONEncoder().encode(report) + Data("\n".utf8))
        _ = FileHandle.standardInput.readDataToEndOfFile()
        withExtendedLifetime(store) {}
    }

    /// What the parent learns from one child.
    struct Outcome {
        var report: Report
        /// The child's peak resident set size, read by the parent from /proc/PID/status.
        var peakKilobytes: Int
    }

    /// Parent side: runs a child on `database` and waits for it.
    ///
    /// The peak is the child's `VmHWM`, the high-water mark of its own address space. Not
    /// `getrusage(RUSAGE_CHILDREN).ru_maxrss`: Linux carries the high-water mark of the address
    /// space a process had before `execve` into its `ru_maxrss`, and a spawned child starts as a
    /// copy of (or a loan of) this big benchmark process, so that figure would count the parent's
    /// memory too.
    static func spawn(database: String, openOnly: Bool) async throws -> Outcome {
        let process = Process()
        process.executableURL = try executableURL()
        process.arguments = [subcommand, "--db", database] + (openOnly ? ["--open-only"] : [])
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()

        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }  // the child ended without reporting
            line += chunk
        }
        let peak = peakKilobytes(status: "/proc/\(process.processIdentifier)/status")
        try input.fileHandleForWriting.close()
        process.waitUntilExit()
        guard process.terminationReason == .exit, process.terminationStatus == 0, let peak else {
            throw BenchmarkError(description: "\(subcommand) failed with status \(process.terminationStatus)")
        }
        return Outcome(report: try JSONDecoder().decode(Report.self, from: line), peakKilobytes: peak)
    }

    static func executableURL() throws -> URL {
        URL(fileURLWithPath: try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
    }

    /// `VmHWM` (peak resident set size, in kB) from a /proc status file.
    static func peakKilobytes(status path: String) -> Int? {
        guard let status = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }?
            .split(separator: " ").dropFirst().first.flatMap { Int($0) }
    }
}
