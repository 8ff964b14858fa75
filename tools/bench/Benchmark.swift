import Foundation
import KeelsonCore
import KeelsonService
import KeelsonStore

/// Progress lines on stderr, stamped with the time since the benchmark started.
enum Progress {
    static let start = ContinuousClock.now

    static func log(_ message: String) {
        let elapsed = (ContinuousClock.now - start).seconds
        FileHandle.standardError.write(Data(String(format: "[%7.1fs] ", elapsed).appending(message + "\n").utf8))
    }
}

/// A measurement that could not be made.
struct BenchmarkError: Error, CustomStringConvertible {
    var description: String
}

/// Runs the parts the options select, one after the other, and collects the report.
final class Benchmark {
    let options: Options
    let sizes: Sizes
    let directory: URL
    let workload: Workload
    private var rows: [ReportRow] = []
    private var notes: [Int: String] = [:]

    init(options: Options, directory: URL) {
        self.options = options
        self.directory = directory
        sizes = options.sizes
        workload = Workload(streams: sizes.streams, batchSize: sizes.batchSize)
    }

    func run() async throws -> Report {
        Progress.log("database files in \(directory.path); big log of \(Format.count(sizes.logEvents)) events")
        let machine = MachineFacts.gather(scratchDirectory: directory.path)
        let parts = options.parts
        var log: String?
        if parts.contains(1) { log = try await batchedAppends() }
        if parts.contains(2) { try await singleAppends() }
        if parts.contains(3) { try await concurrentAppends() }
        if !parts.isDisjoint(with: [4, 5, 6]) {
            let log = if let log { log } else { try await buildLog() }
            if parts.contains(4) { try await rebuild(log) }
            if parts.contains(6) { try await opening(log) }  // before 5, which keeps a store open
            if parts.contains(5) { try await pointInTime(log) }
        }
        if parts.contains(7) { try compile() }
        if parts.contains(8) { try await fetchBytes() }
        if parts.contains(9) { try await engine() }
        if parts.contains(10) { try await timeline() }
        if parts.contains(11) { try await fleet() }
        if parts.contains(12) { try await start() }
        if parts.contains(13) { try await kubernetes() }
        if parts.contains(14) { try await history() }
        return Report(
            date: Date(), machine: machine, sqliteVersion: EventStore.sqliteVersion, command: options.commandLine,
            totalTime: ContinuousClock.now - Progress.start,
            rows: rows.sorted { $0.part.localizedStandardCompare($1.part) == .orderedAscending },
            notes: notes.keys.sorted().map { notes[$0]! })
    }

    // MARK: Files

    /// A fresh database path in the scratch directory (any old file of that name removed).
    private func freshPath(_ name: String) -> String {
        let path = directory.appendingPathComponent(name).path
        remove(path)
        return path
    }

    private func remove(_ path: String) {
        for file in [path, path + "-wal", path + "-shm"] { try? FileManager.default.removeItem(atPath: file) }
    }

    private var logShape: String {
        let calls = sizes.logEvents / sizes.batchSize
        let streams = min(sizes.streams, calls)
        return "\(Format.count(streams)) streams × \(Format.count(sizes.logEvents / streams)) events"
    }

    // MARK: Part 1

    /// Keelson's and the baseline's batched appends, in alternating segments.
    struct PairedRun {
        var keelson: Throughput
        var baseline: Throughput
        /// Keelson's rate over the baseline's, segment by segment.
        var segmentRatios: [Double]
    }

    /// Appends `events` events, `sizes.batchSize` per call, with Keelson (to a fresh
    /// `keelsonPath`) and with the C API (to a fresh `baselinePath`), alternating segment by
    /// segment and which side goes first. Both databases are closed when it returns.
    private func pairedBatched(
        _ durability: Durability, events: Int, keelsonPath: String, baselinePath: String
    ) async throws -> PairedRun {
        try Measurements.createSchema(baselinePath)
        let baseline = try SQLiteBaseline(path: baselinePath, durability: durability)
        let store = try Measurements.openStore(keelsonPath, durability: durability)
        let calls = events / sizes.batchSize
        var keelsonTime = Duration.zero
        var baselineTime = Duration.zero
        var ratios: [Double] = []
        for segment in 0..<sizes.segments {
            let range = calls * segment / sizes.segments..<calls * (segment + 1) / sizes.segments
            let keelson: Duration
            let base: Duration
            if segment.isMultiple(of: 2) {
                keelson = try await Measurements.keelsonBatched(store, calls: range, workload: workload)
                base = try Measurements.baselineBatched(baseline, calls: range, workload: workload)
            } else {
                base = try Measurements.baselineBatched(baseline, calls: range, workload: workload)
                keelson = try await Measurements.keelsonBatched(store, calls: range, workload: workload)
            }
            keelsonTime += keelson
            baselineTime += base
            ratios.append(base / keelson)
            let segmentEvents = range.count * sizes.batchSize
            Progress.log("""
                  \(Format.count(range.upperBound * sizes.batchSize)) events: \
                Keelson \(Format.rate(Double(segmentEvents) / keelson.seconds))/s, \
                C \(Format.rate(Double(segmentEvents) / base.seconds))/s
                """)
        }
        try await checkLength(store, events: events)
        return PairedRun(
            keelson: Throughput(events: calls * sizes.batchSize, time: keelsonTime),
            baseline: Throughput(events: calls * sizes.batchSize, time: baselineTime), segmentRatios: ratios)
    }

    private func checkLength(_ store: EventStore, events: Int) async throws {
        let last = try await store.lastPosition()
        guard last == Int64(events) else {
            throw BenchmarkError(description: "expected \(events) events in \(store.path), found \(last)")
        }
    }

    private func batchedAppends() async throws -> String {
        let batch = sizes.batchSize
        let log = freshPath("log.db")
        var results: [(Durability, PairedRun)] = []
        for (durability, events) in [(Durability.normal, sizes.logEvents), (.full, sizes.fullBatchedEvents)] {
            Progress.log("part 1: Keelson and the C API, \(Format.count(events)) events, \(batch) per append, \(durability.rawValue), in \(sizes.segments) alternating segments…")
            let keelsonPath = durability == .normal ? log : freshPath("batched-full.db")
            let baselinePath = freshPath("baseline-batched-\(durability.rawValue.lowercased()).db")
            let run = try await pairedBatched(durability, events: events, keelsonPath: keelsonPath, baselinePath: baselinePath)
            remove(baselinePath)
            if durability == .full { remove(keelsonPath) }
            Progress.log("  Keelson \(Format.rate(run.keelson.perSecond)) events/s, C \(Format.rate(run.baseline.perSecond)) events/s")
            results.append((durability, run))
        }
        for (index, (durability, run)) in results.enumerated() {
            let ratio = run.keelson.perSecond / run.baseline.perSecond
            let spread = "segments \(Format.ratio(run.segmentRatios.min()!))–\(Format.ratio(run.segmentRatios.max()!))"
            rows.append(ReportRow(
                part: "1\(index == 0 ? "a" : "b")",
                measurement: "Batched append, \(batch) events per call, sequential, \(durability.rawValue)",
                events: Format.count(run.keelson.events), wallTime: Format.duration(run.keelson.time),
                rate: Format.rate(run.keelson.perSecond),
                baseline: "C API: \(Format.rate(run.baseline.perSecond))/s (\(Format.duration(run.baseline.time)))",
                ratio: "\(Format.ratio(ratio)) (\(spread))",
                goal: "batched append \(durability.rawValue) ≥ 0.70× the C API",
                met: ratio >= 0.7, measured: Format.ratio(ratio)))
        }
        notes[1] = """
            **1 Batched append.** `EventStore.append(_:to:)` with \(batch) events per call, one stream per call, \
            \(Format.count(sizes.streams)) streams cycled (`instance:app-NNN/svc-N@channel`), each call awaited \
            before the next; 4 event types, an actor and a correlation id, payloads of \
            \(workload.meanPayloadBytes) bytes of pre-encoded JSON built before the clock starts. NORMAL appends \
            the big log (\(logShape)) that parts 4–6 use; FULL appends \(Format.count(sizes.fullBatchedEvents)) \
            events to a fresh file. Baseline: the same rows, in the same process, into a fresh file whose schema \
            the store's migrations created (indexes, append-only triggers, `CHECK (json_valid(payload))`), \
            through the SQLite C API: `sqlite3_open_v2`, WAL, the same `synchronous`, `BEGIN IMMEDIATE`/`COMMIT` \
            per \(batch) rows, `SELECT MAX(version)` for the stream then one prepared INSERT bound with \
            `sqlite3_bind_*` per row. The two run in \(sizes.segments) alternating segments (each side's file \
            grows alike; which side goes first alternates too); the ratio is of the summed times, with the range of \
            the per-segment ratios beside it. The baseline folds no projection; Keelson also updates the stream \
            catalogue in the same transaction and keeps the versions of its changed rows at a checkpoint every \(Format.count(StoreConfiguration().checkpointEvery)) events.
            """
        return log
    }

    /// The big log for parts 4–6 when part 1 does not run.
    private func buildLog() async throws -> String {
        let log = freshPath("log.db")
        Progress.log("building the log: \(Format.count(sizes.logEvents)) events, \(sizes.batchSize) per append, NORMAL…")
        let store = try Measurements.openStore(log, durability: .normal)
        let time = try await Measurements.keelsonBatched(store, calls: 0..<sizes.logEvents / sizes.batchSize, workload: workload)
        try await checkLength(store, events: sizes.logEvents)
        Progress.log("  \(Format.rate(Double(sizes.logEvents) / time.seconds)) events/s in \(Format.duration(time))")
        return log
    }

    // MARK: Part 2

    private func singleAppends() async throws {
        let rounds = sizes.rounds
        for (index, (durability, count)) in [(Durability.full, sizes.singleFull), (.normal, sizes.singleNormal)].enumerated() {
            let mode = durability.rawValue
            var keelsonRuns: [Throughput] = []
            var baselineRuns: [Throughput] = []
            for round in 1...rounds {
                Progress.log("part 2: Keelson, \(Format.count(count)) appends of one event, \(mode), round \(round)/\(rounds)…")
                let keelsonPath = freshPath("single-\(mode.lowercased()).db")
                keelsonRuns.append(
                    try await Measurements.keelsonSingles(keelsonPath, durability: durability, count: count, workload: workload))
                remove(keelsonPath)
                Progress.log("  \(Format.rate(keelsonRuns.last!.perSecond)) events/s")
                Progress.log("part 2: C API baseline, one row per transaction, \(mode), round \(round)/\(rounds)…")
                let baselinePath = freshPath("baseline-single-\(mode.lowercased()).db")
                baselineRuns.append(
                    try Measurements.baselineSingles(baselinePath, durability: durability, count: count, workload: workload))
                remove(baselinePath)
                Progress.log("  \(Format.rate(baselineRuns.last!.perSecond)) events/s")
            }
            let keelson = Throughput.median(keelsonRuns)
            let baseline = Throughput.median(baselineRuns)
            rows.append(ReportRow(
                part: "2\(index == 0 ? "a" : "b")",
                measurement: "One event per append, sequential, \(mode)",
                events: Format.count(count), wallTime: Format.duration(keelson.time), rate: Format.rate(keelson.perSecond),
                baseline: "C API, 1 row per transaction: \(Format.rate(baseline.perSecond))/s",
                ratio: Format.ratio(keelson.perSecond / baseline.perSecond)))
        }
        notes[2] = """
            **2 One event per transaction.** \(Format.count(sizes.singleFull)) (FULL) and \
            \(Format.count(sizes.singleNormal)) (NORMAL) calls of `append([event], to:)` one after the other, \
            streams cycled, on a store with its default configuration (group commit on, so each commit \
            carries one event here). Baseline: the C API doing one row per transaction with the same pragma. \
            Each side runs \(Format.plural(sizes.rounds, "round")), alternating, each on a fresh file; the median round is \
            shown.
            """
    }

    // MARK: Part 3

    private func concurrentAppends() async throws {
        let appenders = sizes.appenders
        let each = sizes.eventsPerAppender
        var results: [Bool: [Measurements.ConcurrentResult]] = [:]
        for round in 1...sizes.rounds {
            for groupCommit in [false, true] {
                Progress.log("part 3: \(appenders) concurrent appenders × \(each) events, FULL, group commit \(groupCommit ? "on" : "off"), round \(round)/\(sizes.rounds)…")
                let path = freshPath("concurrent-\(groupCommit ? "group" : "single").db")
                let result = try await Measurements.concurrentAppenders(
                    path, groupCommit: groupCommit, appenders: appenders, perAppender: each, workload: workload)
                remove(path)
                Progress.log("  \(Format.rate(result.throughput.perSecond)) events/s, \(Format.count(result.commits)) commits")
                results[groupCommit, default: []].append(result)
            }
        }
        func median(_ runs: [Measurements.ConcurrentResult]) -> Measurements.ConcurrentResult {
            runs.sorted { $0.throughput.perSecond < $1.throughput.perSecond }[runs.count / 2]
        }
        let (on, off) = (median(results[true]!), median(results[false]!))
        let ratio = on.throughput.perSecond / off.throughput.perSecond
        // The store reads its clock once per commit; with group commit off that must be once per event.
        let countsCommits = results[false]!.allSatisfy { $0.commits == $0.throughput.events }
        let perCommit = countsCommits && on.commits > 0
            ? String(format: "%.1f events per commit (%@ commits)", Double(on.throughput.events) / Double(on.commits),
                     Format.count(on.commits))
            : "events per commit not measurable"
        rows.append(ReportRow(
            part: "3", measurement: "\(appenders) concurrent appenders, 1 event per append, FULL, group commit on: \(perCommit)",
            events: Format.count(on.throughput.events), wallTime: Format.duration(on.throughput.time),
            rate: Format.rate(on.throughput.perSecond),
            baseline: "group commit off: \(Format.rate(off.throughput.perSecond))/s (\(Format.duration(off.throughput.time)))",
            ratio: Format.ratio(ratio), goal: "32 concurrent appenders with group commit ≥ 5× without",
            met: ratio >= 5, measured: Format.ratio(ratio)))
        notes[3] = """
            **3 Concurrent appenders.** A task group of \(appenders) tasks, each appending \(each) single events \
            to its own stream, FULL, on a store with the default configuration (group commit on) and on one with \
            `groupCommit = false` (one transaction and one fsync per event). Commits are counted through the \
            store's injected clock, which it reads once per commit (checked: with group commit off it read it \
            exactly once per event\(countsCommits ? "" : " — this check FAILED, so no per-commit figure")). \
            \(Format.plural(sizes.rounds, "round")) of each, alternating, each on a fresh file; the median round of each \
            is shown.
            """
    }

    // MARK: Part 4

    private func rebuild(_ log: String) async throws {
        Progress.log("part 4: child process that only opens the store…")
        let openOnly = try await RebuildChild.spawn(database: log, openOnly: true)
        Progress.log("  peak RSS \(Format.mebibytes(kilobytes: openOnly.peakKilobytes))")
        Progress.log("part 4: child process that rebuilds the projections…")
        let child = try await RebuildChild.spawn(database: log, openOnly: false)
        let seconds = child.report.rebuildSeconds ?? 0
        let folded = Int(child.report.eventsFolded ?? 0)
        let rate = Double(folded) / seconds
        Progress.log("  \(Format.rate(rate)) events/s in \(String(format: "%.2f s", seconds)), peak RSS \(Format.mebibytes(kilobytes: child.peakKilobytes)) (child's own reading: \(Format.mebibytes(kilobytes: child.report.selfPeakKilobytes)))")
        let limitKilobytes = 200_000_000 / 1_024
        rows.append(ReportRow(
            part: "4a", measurement: "Projection rebuild (`rebuildProjections()`), \(logShape)",
            events: Format.count(folded), wallTime: String(format: "%.2f s", seconds), rate: Format.rate(rate),
            goal: "rebuild ≥ 100,000 events/s", met: rate >= 100_000, measured: "\(Format.rate(rate)) events/s"))
        rows.append(ReportRow(
            part: "4b", measurement: "Peak RSS of the rebuild child process",
            wallTime: Format.mebibytes(kilobytes: child.peakKilobytes),
            baseline: "child that only opens: \(Format.mebibytes(kilobytes: openOnly.peakKilobytes))",
            ratio: "rebuild's share +\(Format.mebibytes(kilobytes: child.peakKilobytes - openOnly.peakKilobytes))",
            goal: "rebuild peak RSS ≤ 200 MB (190.7 MiB)", met: child.peakKilobytes <= limitKilobytes,
            measured: Format.mebibytes(kilobytes: child.peakKilobytes)))
        notes[4] = """
            **4 Rebuild.** The log of part 1 (\(logShape), NORMAL). This executable runs itself as a child \
            (`keelson-bench \(RebuildChild.subcommand) --db PATH`): it opens the store (durability NORMAL, no \
            integrity check) and times `rebuildProjections()` alone. Peak memory is the child's peak resident set \
            size (`VmHWM`), which the parent reads from `/proc/PID/status` once the child has reported and while it \
            waits to exit (the child's own reading just before it reported: \(Format.mebibytes(kilobytes: child.report.selfPeakKilobytes))). \
            Not `getrusage(RUSAGE_CHILDREN).ru_maxrss`: Linux folds the peak of the address space a process had \
            before `execve` into it, and a spawned child starts in a copy of the large benchmark process. A second child \
            that only opens the store gives the baseline, so the difference is the rebuild's own share.
            """
    }

    // MARK: Part 5

    private func pointInTime(_ log: String) async throws {
        let store = try Measurements.openStore(log, durability: .normal) { $0.checkIntegrityOnOpen = false }
        let last = try await store.lastPosition()
        let checkpointEvery = store.configuration.checkpointEvery
        let positions = [0.1, 0.5, 1.0].map { max(1, Int64(Double(last) * $0) - 3) }
        _ = try await store.streamCatalogue(atPosition: positions[0])  // warms the reader connection
        var medians: [Double] = []
        var lastRows = 0
        for (index, position) in positions.enumerated() {
            Progress.log("part 5: stream catalogue at position \(Format.count(position)), \(sizes.readRepetitions) times…")
            let (latencies, streams) = try await Measurements.pointInTime(store, at: position, repetitions: sizes.readRepetitions)
            lastRows = streams
            medians.append(latencies.median)
            Progress.log("  median \(Format.milliseconds(latencies.median)), max \(Format.milliseconds(latencies.max))")
            let folded: Int64 = position % checkpointEvery
            rows.append(ReportRow(
                part: "5\(["a", "b", "c"][index])",
                measurement: "Stream catalogue at position \(Format.count(position)) (\(Int(round(Double(position) / Double(last) * 100)))%): checkpoint + \(Format.count(folded)) events folded, \(Format.count(streams)) streams",
                events: Format.count(folded),
                wallTime: "median \(Format.milliseconds(latencies.median)), p99/max \(Format.milliseconds(latencies.percentile(99)))",
                goal: "point-in-time read at \(Format.count(position)) ≤ 50 ms", met: latencies.percentile(99) <= 50,
                measured: "median \(Format.milliseconds(latencies.median)), p99/max \(Format.milliseconds(latencies.percentile(99)))"))
        }
        let target = positions.last!
        Progress.log("part 5: full fold from 0 to \(Format.count(target)) without checkpoints…")
        let (folded, full) = try await Measurements.fullFold(store, to: target)
        let agrees = folded == (try await store.streamCatalogue(atPosition: target))
        Progress.log("  \(Format.duration(full.time)) (\(Format.rate(full.perSecond)) events/s); same rows as the checkpoint read: \(agrees)")
        let flat = medians.max()! <= medians.min()! * 1.5 + 1
        rows.append(ReportRow(
            part: "5d",
            measurement: "Reference: full fold from 0 to \(Format.count(target)) without checkpoints (\(Format.count(lastRows)) streams\(agrees ? ", same rows" : ", ROWS DIFFER"))",
            events: Format.count(full.events), wallTime: Format.duration(full.time), rate: Format.rate(full.perSecond),
            baseline: "5c median: \(Format.milliseconds(medians.last!))",
            ratio: "checkpoints \(Format.ratio(full.time.milliseconds / medians.last!)) faster",
            goal: "point-in-time reads do not grow with the position (5a–5c medians: max ≤ 1.5 × min + 1 ms)", met: flat,
            measured: medians.map(Format.milliseconds).joined(separator: ", ")))
        notes[5] = """
            **5 Point-in-time reads.** `streamCatalogue(atPosition:)` on the big log at 10%, 50% and 100% of it, \
            each minus 3 events so that the read loads the catalogue's versions at the checkpoint before and folds \
            \(Format.count(checkpointEvery - 3)) events forward (the most a checkpoint interval of \
            \(Format.count(checkpointEvery)) can cost); \(sizes.readRepetitions) reads each after one warm-up read, \
            on a store opened in the benchmark process. p99 is by nearest rank, so with \(sizes.readRepetitions) \
            samples it is the maximum. The reference reads every event from position 0 through the public \
            `events(_:)` API in pages of 10,000 and folds them with the same pure `StreamCatalogue` fold — what the \
            read would cost without checkpoints — and checks it gives the same rows.
            """
    }

    // MARK: Part 6

    private func opening(_ log: String) async throws {
        Progress.log("part 6: opening the log with and without quick_check, \(sizes.openRepetitions) times each…")
        let (checked, unchecked) = try await Measurements.openCost(log, repetitions: sizes.openRepetitions)
        let size = Measurements.fileSize(log)
        Progress.log("  with check \(Format.milliseconds(checked.median)), without \(Format.milliseconds(unchecked.median)), file \(Format.mebibytes(bytes: size))")
        rows.append(ReportRow(
            part: "6a", measurement: "Open the big log with `PRAGMA quick_check` (default)",
            events: Format.count(sizes.logEvents), wallTime: "median \(Format.milliseconds(checked.median))",
            baseline: "`checkIntegrityOnOpen = false`: \(Format.milliseconds(unchecked.median))",
            ratio: Format.ratio(checked.median / unchecked.median)))
        rows.append(ReportRow(
            part: "6b", measurement: "Database file size (main file + WAL, after close)",
            events: Format.count(sizes.logEvents), wallTime: Format.mebibytes(bytes: size),
            baseline: "\(size / Int64(sizes.logEvents)) bytes per event"))
        notes[6] = """
            **6 Opening.** `EventStore(path:)` on the big log (after part 4's rebuild), with the default \
            `checkIntegrityOnOpen = true` (`PRAGMA quick_check`) and with `false`, alternating, \
            \(sizes.openRepetitions) times each, medians shown; the file is in the OS page cache (just written), \
            so a cold open costs more. The size includes the catalogue's history.
            """
    }

    // MARK: Part 7

    private func compile() throws {
        let services = options.quick ? 100 : 1_000
        Progress.log("part 7: compiling \(services) services × 5 release channels, 3 rounds…")
        var rounds: [CompileBenchmark.Result] = []
        for _ in 0..<3 { rounds.append(try CompileBenchmark.run(services: services, channels: 5)) }
        let best = rounds.min { ($0.parse + $0.compile) < ($1.parse + $1.compile) }!
        let total = best.parse + best.compile
        Progress.log("  parse \(Format.duration(best.parse)), compile \(Format.duration(best.compile)), \(best.documents) documents")
        rows.append(ReportRow(
            part: "7", measurement: "Parse + compile \(Format.count(services)) services × 5 channels (best of 3): parse \(Format.duration(best.parse)), compile \(Format.duration(best.compile))",
            events: "\(Format.count(best.documents)) documents", wallTime: Format.duration(total),
            goal: "compile 1,000 services × 5 channels ≤ 2 s", met: services == 1_000 ? total <= .seconds(2) : nil,
            measured: Format.duration(total)))
        notes[7] = """
            **7 Compile.** One YAML text in memory: a runtime, an application with 5 ordered channels \
            (soak rules, constants) and \(Format.count(services)) services, each with two parameters (a pattern, a default), \
            templated env, args and health-check port, and a per-channel override. Parse = YAML to \
            checked intent (`ConfigSource.parse` + `IntentParser.parse`, templates checked per channel); \
            compile = `Compiler.compile` of a release of every service (templates rendered, canonical \
            JSON, SHA-256). No events are written.
            """
    }

    // MARK: Part 8

    private func fetchBytes() async throws {
        let instances = options.quick ? 5 : 50
        Progress.log("part 8: a day of fetches of \(instances) stable instances at the stable cadence, compact and whole…")
        let result = try await FetchBenchmark.run(directory: directory, instances: instances)
        let fetches = result.instances * result.fetchesPerInstance
        Progress.log("  \(Format.count(fetches)) fetches recorded in \(Format.duration(result.recordingTime)); \(Int(result.compactPerInstance)) vs \(Int(result.fullPerInstance)) bytes per instance")
        let kib = { (bytes: Double) in String(format: "%.0f KiB", bytes / 1_024) }
        rows.append(ReportRow(
            part: "8", measurement: "Bytes stored per stable instance per day (\(Format.count(result.fetchesPerInstance)) fetches at the 60 s stable cadence; `StateUnchanged` of \(result.compactPayload) B payload; recorded in \(Format.duration(result.recordingTime)))",
            events: Format.count(fetches), wallTime: kib(result.compactPerInstance),
            rate: Format.rate(Double(fetches) / result.recordingTime.seconds),
            baseline: "\(kib(result.fullPerInstance)) (whole `StateFetched`, \(result.fullPayload) B payload)",
            ratio: Format.ratio(result.compactPerInstance / result.fullPerInstance),
            measured: kib(result.compactPerInstance)))
        rows.append(ReportRow(
            part: "8b", measurement: "The same day through a worker (passes a minute apart on a stepped clock): unchanged fetches recorded in runs, one `StateUnchanged` per instance per 10 minutes (\(Format.count(Int(result.workerEvents))) events in the day)",
            events: Format.count(Int(result.workerEvents)), wallTime: kib(result.workerPerInstance), rate: "—",
            baseline: "each fetch recorded: \(kib(result.compactPerInstance))",
            ratio: Format.ratio(result.workerPerInstance / result.compactPerInstance),
            measured: kib(result.workerPerInstance)))
        notes[8] = """
            **8 Fetch recording.** \(result.instances) instances on the simulated runtime, applied and \
            fetched once, then a day of fetches at the stable cadence of `FetchCadence` (60 s: \
            \(Format.count(result.fetchesPerInstance)) per instance), each through `RuntimeRecorder` (a read of the current \
            state and one append, NORMAL). The figure is the growth of the database file (after a \
            checkpoint) divided by the instances: events, their index entries and the projection \
            updates. The baseline stores every fetch as a whole `StateFetched`, as without the \
            compact event. A converging instance is fetched every 2 s, 30× as often, but only while \
            it converges. 8b runs the same number of instances (services of 5 channels) through a \
            worker on a stepped clock: released, converged and settled, then a day of passes a \
            minute apart between two checkpoints; the worker holds each settled instance's \
            unchanged fetches back and records them as one `StateUnchanged` per 10 minutes. (Its \
            new process re-applies each instance once at the start of the day: the simulated \
            runtime keeps its state in the worker's memory.)
            """
    }

    // MARK: Part 9

    private func engine() async throws {
        let services = options.quick ? 20 : 200
        Progress.log("part 9: the worker drives \(services * 3) instances through 3 channels for 15 simulated minutes, then replay…")
        let result = try await EngineBenchmark.run(directory: directory, services: services)
        Progress.log("  \(result.decisions) decisions, \(result.events) events; worker \(Format.duration(result.workerTime)), replay \(Format.duration(result.replayTime)); \(result.converged) of \(result.instances) good")
        rows.append(ReportRow(
            part: "9a", measurement: "Worker on the simulated runtime: \(Format.count(result.instances)) instances released through staging → canary → prod (1 min soaks), 15 simulated minutes; \(Format.count(result.converged)) end converged and good",
            events: Format.count(result.events), wallTime: Format.duration(result.workerTime),
            rate: "\(Format.count(Int(Double(result.decisions) / result.workerTime.seconds))) decisions/s",
            measured: Format.duration(result.workerTime)))
        rows.append(ReportRow(
            part: "9b", measurement: "Replay of every recorded decision in one pass (`keelson replay --verify`): \(Format.count(result.replayMatched)) of \(Format.count(result.decisions)) identical",
            events: "\(Format.count(result.decisions)) decisions", wallTime: Format.duration(result.replayTime),
            rate: "\(Format.count(Int(Double(result.decisions) / result.replayTime.seconds))) decisions/s",
            goal: "every decision replays identically", met: result.replayMatched == result.decisions,
            measured: "\(result.replayMatched) of \(result.decisions)"))
        notes[9] = """
            **9 Engine.** One worker (`applyConcurrency` 64) on a fake clock advanced 10 s per pass (two \
            passes each: decide and launch, then fold the results), simulated runtimes becoming healthy \
            5 s after an apply, NORMAL durability. Wall time is the worker's: folding, deciding, recording \
            decisions with their outbox, the recorded applies and fetches. Replay folds the engine's \
            events once and recomputes each decision at its view position.
            """
    }

    // MARK: Part 10

    private func timeline() async throws {
        let events = options.quick ? 200_000 : options.timelineEvents
        Progress.log("part 10: the timeline of one instance on logs of 1,000 and \(Format.count(events)) events (building the big one takes a while)…")
        let result = try await TimelineBenchmark.run(directory: directory, bigEvents: events) { Progress.log($0) }
        Progress.log("  small p50 \(Format.milliseconds(result.small.median)) p99 \(Format.milliseconds(result.small.percentile(99))); big p50 \(Format.milliseconds(result.big.median)) p99 \(Format.milliseconds(result.big.percentile(99)))")
        rows.append(ReportRow(
            part: "10", measurement: "Timeline: the latest 100 entries of shop/web@prod (`keelson timeline shop/web@prod`), 1,000 queries on a log of \(Format.count(result.bigEvents)) events (\(Format.mebibytes(bytes: result.bytes)), built in \(Format.duration(result.buildTime)))",
            events: Format.count(result.bigEvents),
            wallTime: "p50 \(Format.milliseconds(result.big.median)), p99 \(Format.milliseconds(result.big.percentile(99)))",
            baseline: "log of \(Format.count(result.smallEvents)): p50 \(Format.milliseconds(result.small.median)), p99 \(Format.milliseconds(result.small.percentile(99)))",
            ratio: Format.ratio(result.big.percentile(99) / result.small.percentile(99)),
            goal: "p99 ≤ 20 ms on a 10M-event log", met: result.bigEvents >= 10_000_000 ? result.big.percentile(99) <= 20 : nil,
            measured: "p99 \(Format.milliseconds(result.big.percentile(99)))"))
        notes[10] = """
            **10 Timeline.** Every event of the big log is a `DecisionMade` about one of 10,000 \
            instances (appended 1,000 per call, NORMAL), so every event is a timeline row; \
            shop/web@prod gets 1 % of them. The query is `EventStore.timeline` for that \
            instance (its rows and its service's, newest first, limit 100): a backward scan of the \
            `(application, service, position)` index. The baseline is the same query on a log of \
            1,000 events, in the same run. Runs only with `--parts 10` (or all parts): building the \
            big log takes minutes and about 3 GB of disk; `--timeline-events N` sizes it.
            """
    }

    // MARK: Part 11

    private func fleet() async throws {
        let (small, big) = options.quick ? (4, 200) : (20, 2_000)
        Progress.log("part 11: the engine at fleet scale — \(small * 5) instances, then \(Format.count(big * 5)), through 5 channels on the real clock…")
        var results: [FleetBenchmark.Result] = []
        for services in [small, big] {
            let result = try FleetChild.spawn(directory: directory, services: services)
            Progress.log("  \(Format.count(result.instances)) instances: released in \(Format.duration(result.releaseTime)), first channel requested after \(Format.duration(result.firstChannelRequested)), all converged after \(Format.duration(result.converged)); idle CPU \(String(format: "%.1f", result.idleCPU * 100)) % of a core; peak RSS \(Format.mebibytes(bytes: Int64(result.peakRSS)))")
            results.append(result)
        }
        let (one, all) = (results[0], results[1])
        let full = all.instances >= 10_000
        let perInstance = { (result: FleetBenchmark.Result) in result.converged.seconds / Double(result.instances) }
        let ratio = perInstance(all) / perInstance(one)
        let percent = { (value: Double) in String(format: "%.1f %% of a core", value * 100) }
        rows.append(ReportRow(
            part: "11a", measurement: "Fleet: \(Format.count(all.instances / 5)) services released in one call (\(Format.duration(all.releaseTime))) → every first-channel apply requested",
            events: Format.count(all.instances / 5), wallTime: Format.duration(all.firstChannelRequested),
            baseline: "\(Format.count(one.instances / 5)) services: \(Format.duration(one.firstChannelRequested))",
            goal: "≤ 1 s", met: full ? all.firstChannelRequested <= .seconds(1) : nil, measured: Format.duration(all.firstChannelRequested)))
        rows.append(ReportRow(
            part: "11b", measurement: "Fleet: \(Format.count(all.instances)) instances converged through 5 channels (\(Format.count(all.decisions)) decisions recorded)",
            events: Format.count(all.events), wallTime: Format.duration(all.converged),
            rate: "\(Format.count(Int(Double(all.decisions) / all.converged.seconds))) decisions/s",
            baseline: "\(Format.count(one.instances)) instances: \(Format.duration(one.converged))",
            goal: "≤ 60 s", met: full ? all.converged <= .seconds(60) : nil, measured: Format.duration(all.converged)))
        rows.append(ReportRow(
            part: "11c", measurement: "Fleet: time to converge per instance, \(Format.count(all.instances)) instances against \(Format.count(one.instances))",
            wallTime: Format.milliseconds(perInstance(all) * 1_000),
            baseline: "\(Format.count(one.instances)) instances: \(Format.milliseconds(perInstance(one) * 1_000))",
            ratio: Format.ratio(ratio),
            goal: "≤ 1.5× (flat)", met: full ? ratio <= 1.5 : nil, measured: Format.ratio(ratio)))
        rows.append(ReportRow(
            part: "11d", measurement: "Fleet: CPU of the worker's process while idle, the \(Int(FleetBenchmark.idleWindow.seconds)) s after all \(Format.count(all.instances)) converged",
            wallTime: percent(all.idleCPU), baseline: "\(Format.count(one.instances)) instances: \(percent(one.idleCPU))",
            goal: "≤ 2 % of a core", met: full ? all.idleCPU <= 0.02 : nil, measured: percent(all.idleCPU)))
        rows.append(ReportRow(
            part: "11e", measurement: "Fleet: peak RSS of the process that ran the \(Format.count(all.instances))-instance fleet (worker, store, and the run's own bookkeeping)",
            wallTime: Format.mebibytes(bytes: Int64(all.peakRSS)),
            baseline: "the \(Format.count(one.instances))-instance fleet: \(Format.mebibytes(bytes: Int64(one.peakRSS)))",
            goal: "≤ 300 MB (286.1 MiB)", met: full ? all.peakRSS <= 300_000_000 : nil, measured: Format.mebibytes(bytes: Int64(all.peakRSS))))
        let replayRate = Double(all.replayed) / max(all.replayTime.seconds, 1e-9)
        rows.append(ReportRow(
            part: "11f", measurement: "Fleet: replay of every decision of the \(Format.count(all.instances))-instance rollout (`Replay.run`, what `keelson replay --verify` runs): \(Format.count(all.replayMatched)) of \(Format.count(all.replayed)) identical",
            events: Format.count(all.events), wallTime: Format.duration(all.replayTime), rate: "\(Format.count(Int(replayRate))) decisions/s",
            baseline: "\(Format.count(one.instances)) instances: \(Format.count(Int(Double(one.replayed) / max(one.replayTime.seconds, 1e-9)))) decisions/s",
            goal: "≥ 50,000 decisions/s, all identical", met: full ? replayRate >= 50_000 && all.replayMatched == all.replayed : nil,
            measured: "\(Format.count(Int(replayRate))) decisions/s"))
        notes[11] = """
            **11 Fleet.** One application with 5 channels in order (c1 → … → c5, no soak, no watch), \
            \(Format.count(big)) services on one simulated runtime with zero apply latency and zero time to healthy, \
            released in one call (`DesiredStateRecorder.release` of every service: one transaction). One worker \
            runs as `keelson serve` runs it (`Worker.run()`, the real clock, default settings, the store's default \
            FULL durability); the times count from the start of the release call, read from the worker's \
            decision reports. Each fleet runs in a child process of its own (`keelson-bench \(FleetChild.subcommand)`), \
            the small one (\(Format.count(small)) services) first, as the baseline of the per-instance ratio. Idle CPU is \
            the child's user + system time over the \(Int(FleetBenchmark.idleWindow.seconds)) s after the last instance \
            converged (stable fetches every 60 s included), divided by the wall time. Peak RSS is the child's \
            `VmHWM`: the worker, the store and the run's own bookkeeping, not the benchmark's other parts.
            """
    }

    /// Part 12: a worker's start, `explain`, `status` and releases, on a long log.
    private func start() async throws {
        let (services, events, explains): (Int, Int64, Int) = options.quick ? (200, 100_000, 100) : (2_000, 1_000_000, 500)
        Progress.log("part 12: worker start, explain, status and releases on a log of \(Format.count(Int(events))) events (\(Format.count(services * 5)) instances)…")
        let result = try await StartBenchmark.run(directory: directory, services: services, events: events, explains: explains) { Progress.log($0) }
        Progress.log("  start without a snapshot \(Format.duration(result.startWithout)), after a stop \(Format.duration(result.startAfterStop)), after a crash \(Format.duration(result.startAfterCrash)); explain p99 \(Format.milliseconds(result.explain.percentile(99))); status p99 \(Format.milliseconds(result.status.percentile(99)))")
        let full = result.events >= 1_000_000
        let releaseRate = Double(result.releases) / max(result.releaseTime.seconds, 1e-9)
        let snapshot = "a snapshot of \(Format.mebibytes(bytes: Int64(result.snapshotBytes))) (stored in \(Format.duration(result.snapshotWrite)), read in \(Format.duration(result.snapshotRead)))"
        rows.append(ReportRow(
            part: "12a", measurement: "Worker start on a log of \(Format.count(Int(result.events))) events (\(Format.count(result.instances)) instances) after a stop: from \(snapshot) at the end of the log",
            events: Format.count(Int(result.events)), wallTime: Format.duration(result.startAfterStop),
            baseline: "without a snapshot (the whole log folded): \(Format.duration(result.startWithout))",
            ratio: Format.ratio(result.startWithout.seconds / max(result.startAfterStop.seconds, 1e-9)),
            goal: "≤ 1 s", met: full ? result.startAfterStop <= .seconds(1) : nil, measured: Format.duration(result.startAfterStop)))
        rows.append(ReportRow(
            part: "12b", measurement: "Worker start on the same log after a crash: from a snapshot \(Format.count(Int(result.crashTail))) events before the end (about 5 minutes of this fleet's stable fetches, the most `snapshotInterval` leaves)",
            events: Format.count(Int(result.events)), wallTime: Format.duration(result.startAfterCrash),
            baseline: "without a snapshot: \(Format.duration(result.startWithout))",
            ratio: Format.ratio(result.startWithout.seconds / max(result.startAfterCrash.seconds, 1e-9)),
            goal: "≤ 1 s", met: full ? result.startAfterCrash <= .seconds(1) : nil, measured: Format.duration(result.startAfterCrash)))
        rows.append(ReportRow(
            part: "12c", measurement: "`explain` of a random instance (half at the latest decision, half at a random position in the later half of the log), \(result.explain.milliseconds.count) times",
            events: Format.count(Int(result.events)), wallTime: "p50 \(Format.milliseconds(result.explain.median)), p99 \(Format.milliseconds(result.explain.percentile(99)))",
            goal: "p99 ≤ 50 ms", met: full ? result.explain.percentile(99) <= 50 : nil, measured: "p99 \(Format.milliseconds(result.explain.percentile(99)))"))
        rows.append(ReportRow(
            part: "12d", measurement: "`status` of all \(Format.count(result.instances)) instances (`ControlPlane.status`, what `GET /api/v1/status` answers, without HTTP), 20 times",
            wallTime: "p50 \(Format.milliseconds(result.status.median)), p99 \(Format.milliseconds(result.status.percentile(99)))",
            goal: "≤ 200 ms", met: full ? result.status.percentile(99) <= 200 : nil, measured: "p99 \(Format.milliseconds(result.status.percentile(99)))"))
        rows.append(ReportRow(
            part: "12e", measurement: "\(Format.count(result.releases)) single-service releases from \(StartBenchmark.releaseCallers) callers at once, each releasing the next service when its call returned (`ControlPlane.release`, what `POST /api/v1/releases` runs, without HTTP), while a worker runs and rolls them out",
            events: Format.count(result.releases), wallTime: Format.duration(result.releaseTime), rate: "\(Format.count(Int(releaseRate))) releases/s",
            goal: "≥ 200 releases/s", met: full ? releaseRate >= 200 : nil, measured: "\(Format.count(Int(releaseRate))) releases/s"))
        rows.append(ReportRow(
            part: "12f", measurement: "One instance's state at a random position of the log (its status, desired and current state: `EventStore.row(of:key:atPosition:)` of each, from the projections' row history), \(result.pastInstance.milliseconds.count) times",
            events: Format.count(Int(result.events)), wallTime: "p50 \(Format.milliseconds(result.pastInstance.median)), p99 \(Format.milliseconds(result.pastInstance.percentile(99)))",
            goal: "p99 ≤ 10 ms", met: full ? result.pastInstance.percentile(99) <= 10 : nil, measured: "p99 \(Format.milliseconds(result.pastInstance.percentile(99)))"))
        let slowestPast = result.pastFleet.map(\.milliseconds).max() ?? 0
        rows.append(ReportRow(
            part: "12g", measurement: "Every instance's status at a position (`ControlPlane.status(position:)`, what `GET /api/v1/status?position=` answers, without HTTP), at 10, 30, 50, 70 and 100% of the log",
            events: Format.count(Int(result.events)), wallTime: result.pastFleet.map { Format.milliseconds($0.milliseconds) }.joined(separator: ", "),
            baseline: "now (12d): p50 \(Format.milliseconds(result.status.median))",
            ratio: Format.ratio(slowestPast / max(result.status.median, 1e-9)),
            goal: "≤ 1 s at 10,000 instances", met: full ? slowestPast <= 1_000 : nil, measured: "slowest \(Format.milliseconds(slowestPast))"))
        let total = result.tableBytes.reduce(0) { $0 + $1.bytes }
        let history = result.tableBytes.filter { $0.name.hasSuffix("_history") || $0.name.hasSuffix("_checkpoints") }.reduce(0) { $0 + $1.bytes }
        if total > 0 {
            let largest = result.tableBytes.prefix(8).map { "\($0.name) \(Format.mebibytes(bytes: $0.bytes))" }.joined(separator: ", ")
            rows.append(ReportRow(
                part: "12h", measurement: "The file of 12a–12g by table (SQLite `dbstat`): \(largest)",
                events: Format.count(Int(result.events)), wallTime: Format.mebibytes(bytes: total),
                baseline: "\(total / max(result.events, 1)) bytes per event",
                ratio: "projection history \(String(format: "%.1f", Double(history) / Double(total) * 100)) % (\(Format.mebibytes(bytes: history)))",
                goal: "projection history ≤ 20 % of the file", met: full ? Double(history) <= Double(total) * 0.2 : nil,
                measured: "\(String(format: "%.1f", Double(history) / Double(total) * 100)) %"))
        }
        notes[12] = """
            **12 Start, explain, status, releases.** Part 11's fleet (\(Format.count(result.instances)) instances converged \
            through 5 channels) followed by stable fetches of every instance in turn (`StateUnchanged`, as a worker \
            records an unchanged fetch) until the log holds \(Format.count(Int(result.events))) events \
            (\(Format.mebibytes(bytes: result.fileBytes)) file). A worker starts (`Worker.start()`: claim its name, record \
            its start, fold) without a snapshot, then from a snapshot at the end of the log (what a worker stores when it \
            stops), then from one \(Format.count(Int(result.crashTail))) events older (what a crash can leave). `explain` \
            and `status` are `ControlPlane`'s, as the API and the CLI call them; the releases are of \
            \(Format.count(result.releases)) services, one call each, from \(StartBenchmark.releaseCallers) callers at once, while a \
            worker runs on the same store. 12f and 12g read the past from the projections' row history: a random instance at \
            a random position (three seeks: status, desired, current state, with the document and observation read back \
            from their events), and the whole fleet's status at five positions (a skip scan over the history's keys). \
            12h is the file after 12e, by table and index.
            """
    }

    // MARK: Part 14

    /// Part 14: a month of a fleet's history, and what it costs in the file.
    private func history() async throws {
        let (services, days) = (options.historyServices, options.historyDays)
        let runMinutes = 10
        Progress.log("part 14: \(days) days of \(Format.count(services * 5)) instances on a fake clock…")
        let result = try await HistoryBenchmark.run(directory: directory, services: services, days: days, runMinutes: runMinutes) { Progress.log($0) }
        let full = result.instances >= 10_000 && result.days >= 30
        let total = result.bytesByDay.last ?? 0
        let perInstanceDay = Double(total) / Double(result.instances) / Double(result.days)
        let tables = result.tableBytes.reduce(0) { $0 + $1.bytes }
        let history = result.tableBytes.filter { $0.name.hasSuffix("_history") || $0.name.hasSuffix("_checkpoints") }.reduce(0) { $0 + $1.bytes }
        let growth = zip(result.bytesByDay.dropFirst(), result.bytesByDay).map { $0 - $1 }
        let largest = result.tableBytes.prefix(8).map { "\($0.name) \(Format.mebibytes(bytes: $0.bytes))" }.joined(separator: ", ")
        rows.append(ReportRow(
            part: "14a", measurement: "\(result.days) days of \(Format.count(result.instances)) instances (fake clock; 60 s stable cadence recorded as one run per instance every \(runMinutes) min; 2 releases a day of every service through 5 channels; 1 rollback a day): the file at the end (\(largest))",
            events: Format.count(Int(result.events)), wallTime: Format.mebibytes(bytes: total),
            baseline: "\(Format.count(Int(perInstanceDay))) bytes per instance per day; \(total / max(result.events, 1)) bytes per event",
            ratio: "growth per day: min \(Format.mebibytes(bytes: growth.min() ?? 0)), max \(Format.mebibytes(bytes: growth.max() ?? 0))",
            goal: "≤ 3 GB at 10,000 instances over 30 days (≤ 10 KiB per instance per day)",
            met: full ? total <= 3_000_000_000 && perInstanceDay <= 10_240 : nil, measured: "\(Format.count(Int(perInstanceDay))) bytes per instance per day"))
        rows.append(ReportRow(
            part: "14b", measurement: "Projection history (the `_history` and `_checkpoints` tables) in that file",
            wallTime: Format.mebibytes(bytes: history), baseline: "all tables and indexes: \(Format.mebibytes(bytes: tables))",
            goal: "≤ 20 % of the file", met: full ? Double(history) <= Double(tables) * 0.2 : nil,
            measured: String(format: "%.1f %%", Double(history) / Double(max(tables, 1)) * 100)))
        rows.append(ReportRow(
            part: "14c", measurement: "Point in time on that log: one instance's state at a random position (status, desired, current), 1,000 times; every instance's status at 25/50/75/100 %",
            events: Format.count(Int(result.events)),
            wallTime: "one: p50 \(Format.milliseconds(result.pastInstance.median)), p99 \(Format.milliseconds(result.pastInstance.percentile(99))); fleet: \(result.pastFleet.map(Format.milliseconds).joined(separator: ", "))",
            goal: "one p99 ≤ 10 ms; fleet ≤ 1 s", met: full ? result.pastInstance.percentile(99) <= 10 && (result.pastFleet.max() ?? 0) <= 1_000 : nil,
            measured: "p99 \(Format.milliseconds(result.pastInstance.percentile(99))), fleet max \(Format.milliseconds(result.pastFleet.max() ?? 0))"))
        rows.append(ReportRow(
            part: "14d", measurement: "Rebuild of every projection, and `db check`'s verify (a rebuild into scratch tables compared row by row), on that log",
            events: Format.count(Int(result.events)), wallTime: "rebuild \(Format.duration(result.rebuild)), verify \(Format.duration(result.verify))",
            rate: "\(Format.rate(Double(result.events) / max(result.rebuild.seconds, 1e-9))) events/s rebuilt",
            goal: "complete, times reported", met: full ? true : nil, measured: "rebuild \(Format.duration(result.rebuild))"))
        notes[14] = """
            **14 A month of history.** Generated in \(Format.duration(result.generation)): the events a worker and the CLI append \
            for this fleet, typed and folded by every projection, with the store's clock set to each moment (a fake clock \
            starting 2026-12-01). Each instance's unchanged fetches (every 60 s) are one `StateUnchanged` run per \
            \(runMinutes) minutes, as the worker records a settled instance's (`unchangedRunLength`); at 09:00 and 15:00 \
            every service is released (`ReleaseRequested`, a `DesiredStateCompiled` per instance with a ~400-byte document), \
            and each instance, channel after channel, records a decision to apply, its `ApplyRequested` (with the document), \
            `ApplyStarted`, `ApplySucceeded`, the `StateFetched` after it and the decision that it converged; at 12:00 one \
            service's release is marked bad and rolled back on its 5 instances. The size is the main file and its WAL at \
            the end of each day (NORMAL durability; by day: \(result.bytesByDay.map { Format.mebibytes(bytes: $0) }.joined(separator: ", "))); \
            the tables' sizes are SQLite's `dbstat` at the end.
            """
    }

    // MARK: Part 13

    private func kubernetes() async throws {
        let services = options.quick ? 10 : 200
        let passes = options.quick ? 30 : 1_440
        Progress.log("part 13: \(services * 5) instances on the Kubernetes runtime (test API server), converged, then \(passes) passes a minute apart…")
        let result = try await KubernetesBenchmark.run(directory: directory, services: services, passes: passes)
        Progress.log("  \(Format.count(result.fetches)) fetches in \(Format.duration(result.dayTime)); \(Int(result.bytesPerInstanceDay)) bytes per instance per day")
        let day = result.passes == 1_440 ? "a day" : "\(result.passes) minutes"
        rows.append(ReportRow(
            part: "13a", measurement: "Kubernetes runtime: \(Format.count(result.instances)) instances (one Deployment each) fetched by the worker, 16 at a time, \(Format.count(result.passes)) passes a minute apart on the test API server (\(Format.count(result.apiRequests)) API requests: a GET per fetch, a dry-run apply only for an object that changed)",
            events: Format.count(result.fetches), wallTime: Format.duration(result.dayTime),
            rate: Format.rate(result.fetchRate),
            baseline: "\(Format.rate(result.baselineRate))/s plain GETs (\(Format.count(result.baselineGets)) in \(Format.duration(result.baselineTime)))",
            ratio: Format.ratio(result.fetchRate / result.baselineRate),
            measured: "\(Format.rate(result.fetchRate)) fetches/s"))
        let kib = String(format: "%.1f KiB", result.bytesPerInstanceDay / 1_024)
        rows.append(ReportRow(
            part: "13b", measurement: "Kubernetes runtime: bytes recorded per stable instance per day (the growth of the file over \(day) of the \(Format.count(result.instances)) settled instances; \(Format.count(Int(result.events))) events, \(result.wholeObservations) whole observations)",
            events: Format.count(Int(result.events)), wallTime: kib, rate: "—",
            measured: kib))
        notes[13] = """
            **13 Kubernetes.** The test API server (a fake that speaks the Kubernetes API, run in this \
            process over HTTP on 127.0.0.1: no real API server can be installed where the benchmark \
            runs) holds \(Format.count(result.instances)) Deployments, one per instance: \(services) services × \
            5 channels, each channel a namespace, released through the channels in order by a worker \
            on a stepped clock (converged in \(Format.duration(result.convergeTime))) and settled for an hour. \
            Then \(Format.count(result.passes)) passes a minute apart: at the stable cadence every instance \
            is fetched at every pass, by the worker, at most 16 at a time (`fetchConcurrency`). A fetch \
            is a GET of the Deployment; the drift check (a server-side dry-run apply of its manifests) \
            is asked again only when the object's `resourceVersion` or the desired state moved. 13a's rate is the fetches over the time of the passes (decisions and recording \
            included); its baseline is the least a fetch could be — one plain GET per Deployment, 16 \
            at a time, through the same client in the same process. 13b is the file's growth over \
            the passes (between two checkpoints), per instance, scaled to a day: unchanged \
            observations are recorded as `StateUnchanged` runs, whole observations only when \
            something changes.
            """
    }
}
