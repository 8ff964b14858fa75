import Foundation

// keelson-bench: measures the event store against SQLite's C API and against its goals, prints a
// markdown table and writes it to docs/benchmarks.md. See `Options.usage`.

let arguments = Array(CommandLine.arguments.dropFirst())

do {
    // Subcommands: a child process of a part, or a tool run on an existing log.
    let subcommands: [String: ([String]) async throws -> Void] = [
        RebuildChild.subcommand: RebuildChild.run, FleetChild.subcommand: FleetChild.run,
        ReplayChild.subcommand: ReplayChild.run, SnapshotChild.subcommand: SnapshotChild.run,
        StartChild.subcommand: StartChild.run, ReleaseChild.subcommand: ReleaseChild.run,
    ]
    if let name = arguments.first, let subcommand = subcommands[name] {
        try await subcommand(Array(arguments.dropFirst()))
        exit(0)
    }
    _ = Progress.start
    let options = try Options.parse(arguments)
    let temporary = options.directory == nil
    let directory = options.directory.map { URL(fileURLWithPath: $0) }
        ?? FileManager.default.temporaryDirectory.appendingPathComponent("keelson-bench-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { if temporary { try? FileManager.default.removeItem(at: directory) } }

    let report = try await Benchmark(options: options, directory: directory).run()
    print(report.table)
    try report.write(to: options.outputPath)
    Progress.log("wrote \(options.outputPath); total \(Format.duration(report.totalTime))")
} catch let error as Options.UsageError {
    FileHandle.standardError.write(Data("keelson-bench: \(error)\n\n\(Options.usage)\n".utf8))
    exit(2)
} catch {
    FileHandle.standardError.write(Data("keelson-bench: \(error)\n".utf8))
    exit(1)
}
