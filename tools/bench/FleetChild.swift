import Foundation

/// Part 11 runs each fleet in a child process (this same executable, run with a hidden
/// subcommand), so that its peak memory and idle CPU are the worker's and the store's own, not
/// those of the benchmark's other parts (their prepared workloads and logs).
enum FleetChild {
    static let subcommand = "fleet-child"

    /// Child side: `fleet-child --dir DIR --services N`. Runs the fleet, prints its result as one
    /// line of JSON (peak RSS: the child's own `VmHWM` before the replay); progress goes to
    /// standard error.
    static func run(_ arguments: [String]) async throws {
        func value(_ flag: String) -> String? {
            arguments.firstIndex(of: flag).flatMap { $0 + 1 < arguments.count ? arguments[$0 + 1] : nil }
        }
        guard let directory = value("--dir"), let services = value("--services").flatMap(Int.init), services > 0 else {
            throw Options.UsageError(description: "\(subcommand) needs --dir DIR --services N")
        }
        let result = try await FleetBenchmark.run(directory: URL(fileURLWithPath: directory), services: services) { Progress.log($0) }
        FileHandle.standardOutput.write(try JSONEncoder().encode(result) + Data("\n".utf8))
    }

    /// Parent side: runs one fleet in a child and returns its result.
    static func spawn(directory: URL, services: Int) throws -> FleetBenchmark.Result {
        let process = Process()
        process.executableURL = try RebuildChild.executableURL()
        process.arguments = [subcommand, "--dir", directory.path, "--services", String(services)]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            throw BenchmarkError(description: "\(subcommand) failed with status \(process.terminationStatus)")
        }
        return try JSONDecoder().decode(FleetBenchmark.Result.self, from: data)
    }
}
