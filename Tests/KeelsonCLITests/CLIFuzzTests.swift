import Foundation
import KeelsonTestSupport
import Testing

/// Random and mutated command lines for every command, run as the real binary against a temporary
/// database. Whatever the arguments: the process exits 0, 1 or 64 (2 for a `--wait` that timed
/// out) — never a signal or a trap —, it ends within a bound, and a usage error (64) appends
/// nothing; a failure (1) appends at most the failure records Keelson documents (a CompileFailed,
/// a failed apply and its fetch).
///
/// Bounded for CI: `KEELSON_FUZZ_SECONDS` (default 30) of cases, at least 40 cases unless twice
/// that time has passed (a loaded machine runs fewer); `KEELSON_FUZZ_SEED` replays a run (a
/// failing case prints its seed and its arguments). The fixed default seed makes CI deterministic.
@Suite("Fuzzing the command line")
struct CLIFuzzTests {
    /// Values that have broken command lines: empty, huge and negative numbers, infinities, control
    /// characters, very long strings, odd paths and URLs.
    static let hostile: [String] = [
        "", " ", "-", "--", "-5", "-1", "0", "-0", "00", "0x10", "+5", "1.5", "9223372036854775807", "-9223372036854775808",
        "9223372036854775808", "99999999999999999999", String(repeating: "9", count: 300), "1e300d", "1e300", "1e16d", "infs", "inf",
        "-inf", "nan", "NaN", "9999999999999d", "1d9223372036854775807s", "9223372036854775807m", "365d1s", "1000000w", "-5m",
        "10000-01-01", "1969-12-31T23:59:59Z", "\u{1B}[31mred\u{1B}[0m", "a\nb", "tab\there", "\r", "\u{7F}", "\u{202E}evil",
        String(repeating: "x", count: 5000), String(repeating: "/", count: 100), "../../../../etc/passwd", "/dev/zero", "/dev/null",
        "/proc/self/mem", ".", "/", "@", "/@", "a/b", "a/b/c@d@e", "shop/web@", "@prod", "ü/ß@π", "💥", "Shop/Web@Prod", "%s%n%x", "${HOME}",
        "http://127.0.0.1:99999", "https://127.0.0.1:1", "http://127.0.0.1:0", "ftp://x", "http://[::1", "http://user@h:1",
        "{", "[]", "null", "\"x\"", #"{"soakSeconds":1e400}"#, "@/dev/zero", "@missing.json", "=", "k=", "=v",
    ]

    /// A kind of argument: plausible values (so that commands get past their first check) and,
    /// half the time, a hostile one.
    enum Kind {
        case instance, scope, service, time, position, limit, duration, version, text, stream, type, json, kind, output
        case projection, role, tokenName, label, newPath, url

        var plausible: [String] {
            switch self {
            case .instance: ["shop/web@staging", "shop/web@prod"]
            case .scope: ["shop", "shop/web", "shop/web@prod"]
            case .service: ["shop/web"]
            case .time: ["1h", "2d", "1.5h", "2026-01-01T00:00:00Z", "1970-01-01"]
            case .position: ["1", "2", "3", "4"]
            case .limit: ["1", "10", "10000"]
            case .duration: ["0s", "1s"]
            case .version: ["1.0.0", "2.0.0", "1.0.0-rc.1"]
            case .text: ["hello", "checked dashboards"]
            case .stream: ["app:shop", "fuzz:1"]
            case .type: ["Note", "Tick"]
            case .json: ["{}", #"{"a":1}"#]
            case .kind: ["decision", "release", "apply"]
            case .output: ["table", "json", "yaml"]
            case .projection: ["timeline", "desired_state"]
            case .role: ["viewer", "deployer", "admin"]
            case .tokenName: ["ci", "fuzz-token"]
            case .label: ["service=web", "severity=critical"]
            case .newPath: ["copy-\(UUID().uuidString.prefix(8)).db"]
            case .url: ["http://127.0.0.1:1"]
            }
        }
    }

    /// One command: its words, positional kinds, and options that may be added.
    struct Shape {
        var words: [String]
        var positionals: [Kind] = []
        var options: [(String, Kind?)] = []
        /// Exit 2 is this command's answer too (a --wait that timed out).
        var mayTimeOut = false
    }

    static let shapes: [Shape] = [
        Shape(words: ["events"], options: [("--stream", .stream), ("--type", .type), ("--since", .time), ("--until", .time), ("--from", .position),
                                           ("--limit", .limit), ("-o", .output), ("--read-only", nil), ("--server", .url), ("--request-timeout", .duration)]),
        Shape(words: ["events", "append"], positionals: [.stream, .type], options: [("--data", .json), ("--expect-version", .position), ("--actor", .text)]),
        Shape(words: ["timeline"], positionals: [.scope], options: [("--since", .time), ("--until", .time), ("--kind", .kind), ("--before", .position),
                                                                     ("--limit", .limit), ("-o", .output), ("--read-only", nil)]),
        Shape(words: ["status"], positionals: [.scope], options: [("-o", .output), ("--status", .text), ("--server", .url), ("--token-file", .newPath)]),
        Shape(words: ["explain"], positionals: [.instance], options: [("--at", .time), ("--position", .position), ("-o", .output)]),
        Shape(words: ["streams"], options: [("--at", .position), ("--at-time", .time), ("-o", .output), ("--read-only", nil), ("--server", .url)]),
        Shape(words: ["replay"], options: [("--from", .position), ("--to", .position), ("--until", .time), ("--verify", nil), ("--engine", .text), ("-o", .output)]),
        Shape(words: ["get", "desired"], positionals: [.service], options: [("-o", .output)]),
        Shape(words: ["get", "current"], positionals: [.instance], options: [("-o", .output)]),
        Shape(words: ["approve"], positionals: [.instance], options: [("--release", .version), ("--comment", .text)]),
        Shape(words: ["reject"], positionals: [.instance], options: [("--release", .version), ("--reason", .text)]),
        Shape(words: ["pause"], positionals: [.scope], options: [("--reason", .text)]),
        Shape(words: ["resume"], positionals: [.scope]),
        Shape(words: ["rollback"], positionals: [.instance], options: [("--reason", .text)]),
        Shape(words: ["mark-bad"], positionals: [.service], options: [("--release", .version), ("--reason", .text)]),
        Shape(words: ["alert", "fire"], positionals: [.text], options: [("--label", .label)]),
        Shape(words: ["alert", "resolve"], positionals: [.text], options: [("--label", .label)]),
        Shape(words: ["db", "check"], options: [("-o", .output), ("--read-only", nil)]),
        Shape(words: ["db", "rebuild"], options: [("--projection", .projection)]),
        Shape(words: ["db", "backup"], positionals: [.newPath]),
        Shape(words: ["runtime", "list"], options: [("-o", .output)]),
        Shape(words: ["runtime", "check"], positionals: [.text]),
        Shape(words: ["runtime", "apply"], positionals: [.instance], options: [("--timeout", .duration)]),
        Shape(words: ["token", "list"]),
        Shape(words: ["token", "create"], options: [("--role", .role), ("--name", .tokenName)]),
        Shape(words: ["token", "revoke"], positionals: [.tokenName]),
        Shape(words: ["release"], positionals: [.service], options: [("--version", .version), ("--param", .label), ("--dry-run", nil),
                                                                      ("--wait", nil), ("--timeout", .duration)], mayTimeOut: true),
        Shape(words: ["worker"], options: [("--duration", .duration), ("--name", .text), ("--unchanged-run-length", .duration)]),
        Shape(words: ["schema"]),
        Shape(words: ["version"], options: [("-o", .output)]),
    ]

    /// The documented records of a failure (exit 1): what a failed compile or apply leaves.
    static let failureRecords: Set<String> = ["CompileFailed", "ApplyStarted", "ApplyFailed", "StateFetched", "StateUnchanged", "FetchFailed"]

    static func value(_ kind: Kind, _ random: inout SeededRandom) -> String {
        random.chance(0.5) ? random.pick(kind.plausible) : random.pick(hostile)
    }

    /// A command line for `shape`: its words, positionals, some options, then a mutation or two.
    static func arguments(for shape: Shape, _ random: inout SeededRandom) -> [String] {
        var arguments = shape.words
        for kind in shape.positionals where random.chance(0.9) { arguments.append(value(kind, &random)) }
        for (flag, kind) in shape.options where random.chance(0.35) {
            arguments.append(flag)
            if let kind { arguments.append(value(kind, &random)) }
        }
        // A worker or a watch runs until told to stop: it always gets a bound.
        if shape.words == ["worker"] && !arguments.contains("--duration") { arguments += ["--duration", "0s"] }
        for _ in 0..<Int.random(in: 0...2, using: &random) where arguments.count > shape.words.count {
            let index = Int.random(in: shape.words.count..<arguments.count, using: &random)
            switch Int.random(in: 0..<4, using: &random) {
            case 0: arguments.remove(at: index)
            case 1: arguments[index] = random.pick(hostile)
            case 2: arguments.insert(random.pick(hostile), at: index)
            default: arguments.append(random.pick(shape.options.map(\.0) + ["--db", "-o", "--help"]))
            }
        }
        if shape.words == ["release"] && arguments.contains("--wait") {
            // A --wait that is accepted waits for a worker that never comes: keep it short.
            arguments = arguments.filter { $0 != "--timeout" } + ["--timeout", random.pick(["1s", "0s", "1e300d", "99999999999999d", "-5m"])]
        }
        return arguments
    }

    @Test("random and mutated arguments for every command: exit 0, 1 or 64, within a bound, nothing appended on a usage error")
    func fuzz() async throws {
        let environment = ProcessInfo.processInfo.environment
        let budget = Double(environment["KEELSON_FUZZ_SECONDS"] ?? "") ?? 30
        let seed = UInt64(environment["KEELSON_FUZZ_SEED"] ?? "") ?? 0x6B65_656C_736F_6E
        var random = SeededRandom(seed: seed)
        let fixture = try await Fixture.released()
        let started = Date()
        var cases = 0
        var failures: [String] = []
        func goOn() -> Bool {
            let elapsed = Date().timeIntervalSince(started)
            return failures.count < 5 && elapsed < 2 * budget && (elapsed < budget || cases < 40)
        }
        while goOn() {
            let shape = random.pick(Self.shapes)
            let arguments = Self.arguments(for: shape, &random)
            let withDatabase = arguments.contains("--server") || arguments.contains("--db") ? arguments : arguments + ["--db", fixture.db]
            let before = try fixture.lastPosition()
            let result = try await fixture.run(withDatabase, seconds: 45)
            let after = try fixture.lastPosition()
            cases += 1
            let allowed: Set<Int32> = shape.mayTimeOut ? [0, 1, 2, 64] : [0, 1, 64]
            var problem: String?
            if result.signaled || result.timedOut || !allowed.contains(result.status) {
                problem = "ended badly"
            } else if result.status == 64 && after != before {
                problem = "a usage error appended \(after - before) event(s)"
            } else if result.status == 1 && after != before {
                let types = try Self.types(fixture, after: before)
                if !types.isSubset(of: Self.failureRecords) { problem = "a failure appended \(types.sorted())" }
            } else if result.status != 0 && result.stderr.contains("\u{1B}") {
                problem = "a raw control character reached the terminal"
            }
            if let problem {
                let shown = withDatabase.map { "'" + Self.visible(String($0.prefix(120))).replacingOccurrences(of: "'", with: "'\\''") + "'" }
                    .joined(separator: " ")
                failures.append("seed \(seed), case \(cases): \(problem): keelson \(shown)\n\(Self.visible(result.description))")
            }
        }
        print("CLI fuzz: \(cases) cases in \(Int(Date().timeIntervalSince(started)))s, seed \(seed)")
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n\n"))")
    }

    /// Control characters as `\u{1B}`, so that a failing case prints as text (the output too).
    static func visible(_ text: String) -> String {
        text.unicodeScalars.map { $0 != "\n" && ($0.value < 0x20 || (0x7F...0x9F).contains($0.value)) ? "\\u{\(String($0.value, radix: 16))}" : String($0) }.joined()
    }

    static func types(_ fixture: Fixture, after position: Int64) throws -> Set<String> {
        let sqlite = Process()
        sqlite.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        sqlite.arguments = [fixture.db, "SELECT DISTINCT type FROM events WHERE position > \(position)"]
        let out = Pipe()
        sqlite.standardOutput = out
        try sqlite.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        sqlite.waitUntilExit()
        return Set(String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init))
    }
}
