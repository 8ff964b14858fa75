import Foundation

/// One line of the results table. Cells are preformatted text; empty cells print as "—".
struct ReportRow {
    var part: String
    var measurement: String
    var events = ""
    var wallTime = ""
    var rate = ""
    var baseline = ""
    var ratio = ""
    var goal = ""
    /// Whether the goal was met; `nil` when the row has no goal.
    var met: Bool?
    /// The figure the goal is about, for the list of goals.
    var measured = ""
}

/// Facts about the machine, as `nproc`, `uname` and /proc tell them.
struct MachineFacts {
    var cores: String
    var architecture: String
    var kernel: String
    var cpuModel: String
    var memory: String
    var fileSystem: String

    static func gather(scratchDirectory: String) -> MachineFacts {
        let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("model name") }?
            .split(separator: ":", maxSplits: 1).last?.trimmingCharacters(in: .whitespaces)
        let memoryKB = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("MemTotal:") }?
            .split(separator: " ").dropFirst().first.flatMap { Double($0) }
        return MachineFacts(
            cores: command("nproc") ?? "?", architecture: command("uname", "-m") ?? "?",
            kernel: command("uname", "-sr") ?? "?", cpuModel: cpu ?? "unknown CPU",
            memory: memoryKB.map { String(format: "%.1f GiB", $0 / 1_048_576) } ?? "?",
            fileSystem: command("findmnt", "-n", "-o", "FSTYPE", "--target", scratchDirectory) ?? "?")
    }

    /// The trimmed standard output of a short command, or `nil` if it failed.
    private static func command(_ arguments: String...) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// The whole report: header facts, the results table, the goals and what each part does.
struct Report {
    var date: Date
    var machine: MachineFacts
    var sqliteVersion: String
    var command: String
    var totalTime: Duration
    var rows: [ReportRow]
    /// Paragraphs describing the setup of each part.
    var notes: [String]

    /// Text below this line in an existing report is hand-written and kept on rewrite.
    static let keptNotesMarker = "<!-- Hand-written notes below this line are kept when keelson-bench rewrites this file. -->"

    var table: String {
        let header = ["#", "Measurement", "Events", "Wall time (or value)", "Events/s", "Baseline", "Ratio", "Goal"]
        var lines = [
            "| " + header.joined(separator: " | ") + " |",
            "|" + header.map { _ in "---" }.joined(separator: "|") + "|",
        ]
        for row in rows {
            var goal = row.goal
            if let met = row.met { goal += met ? " — **met**" : " — **missed**" }
            let cells = [row.part, row.measurement, row.events, row.wallTime, row.rate, row.baseline, row.ratio, goal]
            lines.append("| " + cells.map { $0.isEmpty ? "—" : $0.replacingOccurrences(of: "|", with: "\\|") }
                .joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n")
    }

    var goals: String {
        rows.filter { $0.met != nil }.map { row in
            "- \(row.met! ? "Met" : "**Missed**") (\(row.part)): \(row.goal); measured \(row.measured)."
        }.joined(separator: "\n")
    }

    func markdown(keeping keptNotes: String?) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate, .withTime, .withColonSeparatorInTime, .withSpaceBetweenDateAndTime]
        formatter.timeZone = TimeZone(identifier: "UTC")
        var text = """
            # Benchmarks

            Measured by `keelson-bench` (`tools/bench`), release build, on \(formatter.string(from: date)) UTC.
            This file is written by the benchmark; rerun it to refresh the numbers.

            | | |
            |---|---|
            | Machine | \(machine.cores) cores (`nproc`), \(machine.architecture) (`uname -m`), \(machine.cpuModel), \(machine.memory) RAM, \(machine.kernel) |
            | Database files | a scratch directory on \(machine.fileSystem) |
            | SQLite | \(sqliteVersion) (the system library, through GRDB) |
            | Total run time | \(Format.duration(totalTime)) |

            Reproduce (from the package root):

            ```sh
            swift build -c release --scratch-path .build-bench --product keelson-bench
            \(command)
            ```

            ## Results

            \(table)

            ## Goals

            \(goals)

            ## What each part does

            """
        text += notes.map { "- " + $0 }.joined(separator: "\n") + "\n\n"
        text += Self.keptNotesMarker + "\n"
        if let keptNotes { text += keptNotes }
        return text
    }

    /// Writes the report to `path`, keeping the hand-written notes below the marker if any.
    func write(to path: String) throws {
        let existing = try? String(contentsOfFile: path, encoding: .utf8)
        let kept = existing?.range(of: Self.keptNotesMarker + "\n").map { String(existing![$0.upperBound...]) }
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try markdown(keeping: kept).write(to: url, atomically: true, encoding: .utf8)
    }
}

/// How numbers print in the report.
enum Format {
    /// 1234567 → "1,234,567".
    static func count<N: BinaryInteger>(_ value: N) -> String {
        let digits = String(value.magnitude)
        var grouped = ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { grouped += "," }
            grouped.append(digit)
        }
        return (value < 0 ? "-" : "") + grouped
    }

    /// "1 round", "3 rounds".
    static func plural(_ count: Int, _ noun: String) -> String { "\(count) \(noun)\(count == 1 ? "" : "s")" }

    static func rate(_ perSecond: Double) -> String { count(Int(perSecond.rounded())) }

    static func duration(_ duration: Duration) -> String {
        let seconds = duration.seconds
        if seconds >= 120 { return "\(Int(seconds) / 60) min \(Int(seconds) % 60) s" }
        if seconds >= 1 { return String(format: "%.2f s", seconds) }
        return milliseconds(seconds * 1_000)
    }

    static func milliseconds(_ value: Double) -> String {
        value >= 100 ? String(format: "%.0f ms", value) : String(format: "%.1f ms", value)
    }

    static func ratio(_ value: Double) -> String {
        value >= 10 ? String(format: "%.0f×", value) : String(format: "%.2f×", value)
    }

    /// Memory and file sizes print in MiB (2^20 bytes); `ru_maxrss` is in KiB.
    static func mebibytes(kilobytes: Int) -> String { String(format: "%.1f MiB", Double(kilobytes) / 1_024) }

    static func mebibytes(bytes: Int64) -> String { String(format: "%.1f MiB", Double(bytes) / 1_048_576) }
}
