import Foundation

/// The benchmark's settings, parsed by hand from the command line (the target has no
/// argument-parser dependency, and there are only a few options).
struct Options {
    /// Size of the big log (batched append, rebuild, point-in-time reads, open).
    var events = 1_000_000
    /// Small sizes everywhere, to smoke-test the benchmark in seconds.
    var quick = false
    /// Events in part 10's big timeline log.
    var timelineEvents = 10_000_000
    /// Part 14's fleet: services (× 5 channels) and days.
    var historyServices = 2_000
    var historyDays = 30
    /// Where the markdown report goes.
    var outputPath = "docs/benchmarks.md"
    /// Scratch directory for the database files; `nil` means a fresh temp dir, deleted at the end.
    var directory: String?
    /// The parts to run (1–9, 11–13); all of them unless `--parts` narrows it.
    var parts: Set<Int> = Set(1...9).union([11, 12, 13])

    static let usage = """
        usage: keelson-bench [--events N] [--quick] [--output PATH] [--dir DIR] [--parts LIST]

          --events N     events in the big log (default 1,000,000; must be a multiple of 100)
          --quick        small sizes everywhere, to smoke-test in seconds
          --output PATH  where to write the markdown report (default docs/benchmarks.md)
          --dir DIR      keep the database files in DIR (default: a temp dir, deleted at the end)
          --parts LIST   run only these parts, e.g. 1,3 (default 1–9 and 11–13; part 10, the
                         10M-event timeline, only when asked for: --parts 10)
          --timeline-events N   events in part 10's big log (default 10,000,000)
          --history-services N  services (× 5 channels) in part 14's month of history (default 2,000;
                                part 14 runs only when asked for: --parts 14)
          --history-days N      days in part 14 (default 30)

        On a database a run kept (--dir), one line of JSON each:
          keelson-bench replay-child --db PATH    time Replay.run over the whole log
          keelson-bench snapshot-child --db PATH  time reading its latest engine snapshot (5 times)
          keelson-bench start-child --db PATH     time a worker's start (changes the log: use a copy)
          keelson-bench release-child --db PATH [--releases N]
                                                  part 12e on a kept fleet log (changes it: use a copy)

        Build and run in release mode:
          swift build -c release --scratch-path .build-bench --product keelson-bench
          .build-bench/release/keelson-bench
        """

    struct UsageError: Error, CustomStringConvertible {
        var description: String
    }

    /// The value of `--db` in a subcommand's arguments.
    static func database(in arguments: [String], for subcommand: String) throws -> String {
        guard let index = arguments.firstIndex(of: "--db"), index + 1 < arguments.count else {
            throw UsageError(description: "\(subcommand) needs --db PATH")
        }
        return arguments[index + 1]
    }

    static func parse(_ arguments: [String]) throws -> Options {
        var options = Options()
        var eventsGiven = false
        var remaining = arguments[...]
        func value(for flag: String) throws -> String {
            guard let value = remaining.popFirst() else { throw UsageError(description: "\(flag) needs a value") }
            return value
        }
        while let argument = remaining.popFirst() {
            switch argument {
            case "--events":
                let text = try value(for: argument).replacingOccurrences(of: "_", with: "")
                    .replacingOccurrences(of: ",", with: "")
                guard let count = Int(text), count >= 100, count % 100 == 0 else {
                    throw UsageError(description: "--events needs a positive multiple of 100, not \(text)")
                }
                options.events = count
                eventsGiven = true
            case "--quick":
                options.quick = true
            case "--output":
                options.outputPath = try value(for: argument)
            case "--dir":
                options.directory = try value(for: argument)
            case "--parts":
                let list = try value(for: argument).split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
                guard !list.isEmpty, list.allSatisfy({ $0.map((1...14).contains) ?? false }) else {
                    throw UsageError(description: "--parts takes numbers from 1 to 14, e.g. 1,3")
                }
                options.parts = Set(list.compactMap { $0 })
            case "--timeline-events":
                guard let count = Int(try value(for: argument)), count >= 1_000 else {
                    throw UsageError(description: "--timeline-events takes a number ≥ 1000")
                }
                options.timelineEvents = count
            case "--history-services", "--history-days":
                guard let count = Int(try value(for: argument)), count >= 1, count <= 100_000 else {
                    throw UsageError(description: "\(argument) takes a number from 1 to 100,000")
                }
                if argument == "--history-services" { options.historyServices = count } else { options.historyDays = count }
            case "--help", "-h":
                print(usage)
                exit(0)
            default:
                throw UsageError(description: "unknown argument \(argument)")
            }
        }
        if options.quick && !eventsGiven { options.events = 20_000 }
        return options
    }

    /// The sizes of every part, derived from `events` and `quick`.
    var sizes: Sizes { quick ? .quick(events: events) : .standard(events: events) }

    /// The options as they would be typed again, to print in the report.
    var commandLine: String {
        var words = [".build-bench/release/keelson-bench"]
        if quick { words.append("--quick") }
        if events != (quick ? 20_000 : 1_000_000) { words += ["--events", String(events)] }
        if parts != Set(1...9).union([11, 12, 13]) { words += ["--parts", parts.sorted().map(String.init).joined(separator: ",")] }
        if parts.contains(10) && timelineEvents != 10_000_000 { words += ["--timeline-events", String(timelineEvents)] }
        if parts.contains(14) && historyServices != 2_000 { words += ["--history-services", String(historyServices)] }
        if parts.contains(14) && historyDays != 30 { words += ["--history-days", String(historyDays)] }
        if outputPath != "docs/benchmarks.md" { words += ["--output", outputPath] }
        return words.joined(separator: " ")
    }
}

/// How much work each part does.
struct Sizes {
    /// Events in the big log, appended 100 per call with NORMAL (part 1, and the log of parts 4–6).
    var logEvents: Int
    /// Events appended 100 per call with FULL (part 1).
    var fullBatchedEvents: Int
    /// Events per append call in part 1.
    var batchSize = 100
    /// Streams cycled through by the batched appends.
    var streams = 1_000
    /// Part 1 alternates Keelson and the C baseline this many times, so that drift (page-cache
    /// writeback, a noisy neighbour) hits both alike.
    var segments: Int
    /// One event per transaction (part 2).
    var singleFull: Int
    var singleNormal: Int
    /// Concurrent appenders (part 3).
    var appenders = 32
    var eventsPerAppender: Int
    /// Rounds of the short runs of parts 2 and 3 (the median round is reported).
    var rounds: Int
    /// Repetitions of each point-in-time read (part 5) and of each open (part 6).
    var readRepetitions: Int
    var openRepetitions: Int

    static func standard(events: Int) -> Sizes {
        Sizes(
            logEvents: events, fullBatchedEvents: events, segments: 10,
            singleFull: 3_000, singleNormal: 10_000, eventsPerAppender: 200,
            rounds: 3, readRepetitions: 20, openRepetitions: 3)
    }

    static func quick(events: Int) -> Sizes {
        Sizes(
            logEvents: events, fullBatchedEvents: events, segments: 2,
            singleFull: 300, singleNormal: 1_000, eventsPerAppender: 20,
            rounds: 1, readRepetitions: 5, openRepetitions: 2)
    }
}
