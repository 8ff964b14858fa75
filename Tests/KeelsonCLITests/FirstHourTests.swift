import Foundation
import Testing

/// What a newcomer meets in the first hour: help that reads well, commands that leave nothing
/// behind when they fail, docs that speak to them, and the getting-started guide's configs.
@Suite("The first hour: help, missing databases, docs, the getting-started guide")
struct FirstHourTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Every command path (`["release"]`, `["db", "check"]`, …), read from the help itself.
    static func commands(_ cli: CLI, under prefix: [String] = []) async throws -> [[String]] {
        let help = try await cli.run(prefix + ["--help"]).stdout
        var found: [[String]] = []
        var inSubcommands = false
        for line in help.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasSuffix("SUBCOMMANDS:") { inSubcommands = true; continue }
            if line.isEmpty { inSubcommands = false; continue }
            guard inSubcommands, line.hasPrefix("  "), !line.hasPrefix("   ") else { continue }
            let name = String(line.dropFirst(2).prefix { $0 != " " })
            if name.isEmpty || name == "help" { continue }
            found.append(prefix + [name])
            found += try await commands(cli, under: prefix + [name])
        }
        return found
    }

    @Test("no --help shows a Swift type's debug description, and every flag has one meaning")
    func help() async throws {
        let cli = CLI()
        let commands = try await Self.commands(cli)
        #expect(commands.count >= 30, "\(commands)")
        #expect(commands.contains(["down"]) && commands.contains(["db", "check"]) && commands.contains(["release"]))
        for command in [[]] + commands {
            let help = try await cli.run(command + ["--help"])
            #expect(help.status == 0, "\(command)")
            for leak in ["(host:", "Optional(", "ListenAddress", "DurationArgument(", "TimeArgument(", "Duration(", "\\("] {
                #expect(!help.stdout.contains(leak), "keelson \(command.joined(separator: " ")) --help shows \(leak): \(help.stdout)")
            }
            let versions = help.stdout.split(separator: "\n").filter { $0.trimmingCharacters(in: .whitespaces).hasPrefix("--version") }
            #expect(versions.count <= 1, "keelson \(command.joined(separator: " ")) --help lists --version \(versions.count) times")
        }
        let root = try await cli.run(["--help"]).stdout
        for group in ["GETTING STARTED SUBCOMMANDS:", "RELEASING SUBCOMMANDS:", "INSPECTING SUBCOMMANDS:"] {
            #expect(root.contains(group), "\(root)")
        }
        #expect(root.contains("keelson up ") && root.contains("keelson explain APP/SVC@CHANNEL"))
        let version = try await cli.run(["--version"])
        #expect(version.status == 0 && version.stdout.hasPrefix("0."), "\(version.stdout)")
        // `--version` after a subcommand is that command's: a release's version.
        let release = try await cli.run(["release", "shop/web", "--version", "1.0.0", "--db", cli.db])
        #expect(!release.stderr.contains("Missing expected argument '--version"), "\(release.stderr)")
        let releaseHelp = try await cli.run(["release", "--help"]).stdout
        for name in ["ReleaseRequested", "DesiredStateCompiled"] { #expect(!releaseHelp.contains(name)) }
        for command in ["up", "serve"] {
            let help = try await cli.run([command, "--help"]).stdout.replacingOccurrences(of: #"\s+"#, with: " ", options: .regularExpression)
            #expect(help.contains("default 127.0.0.1:7420"), "keelson \(command) --help: \(help)")
        }
        let status = try await cli.run(["status", "--help"]).stdout
        #expect(status.contains("DESIRED is the release asked for") && status.contains("TARGET is the release Keelson last applied"))
    }

    @Test("a command that fails because no database exists creates none; a dry run creates none either")
    func missingDatabase() async throws {
        let cli = CLI()
        let commands: [[String]] = [
            ["status"], ["timeline", "shop/web"], ["explain", "shop/web@staging"], ["release", "shop/web", "--version", "1.0.0"],
            ["approve", "shop/web@prod"], ["reject", "shop/web@prod"], ["pause", "shop"], ["resume", "shop"],
            ["rollback", "shop/web@prod"], ["alert", "fire", "HighErrorRate", "--label", "service=web"], ["worker", "--duration", "1s"],
            ["runtime", "list"], ["runtime", "remove", "shop/web@staging"], ["down"], ["down", "--dry-run"], ["db", "check"],
            ["events"], ["streams"], ["replay"], ["get", "desired", "shop/web@staging"],
        ]
        let environment = ["KEELSON_SERVER": "", "KEELSON_DB": ""]
        for command in commands {
            let result = try await cli.run(command, environment: environment)
            #expect(result.status != 0, "keelson \(command.joined(separator: " ")) succeeded without a database: \(result.stdout)")
            #expect(result.stderr.contains("no Keelson database at .keelson/keelson.db"), "keelson \(command.joined(separator: " ")): \(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: cli.directory.appendingPathComponent(".keelson").path),
                    "keelson \(command.joined(separator: " ")) created .keelson")
        }
        let examples = Self.repository.appendingPathComponent("examples/shop").path
        let dryRun = try await cli.run(["apply", "-f", examples, "--dry-run"], environment: environment)
        #expect(dryRun.status == 0, "\(dryRun.stderr)")
        #expect(dryRun.stdout.contains("would record: config"), "\(dryRun.stdout)")
        #expect(!FileManager.default.fileExists(atPath: cli.directory.appendingPathComponent(".keelson").path), "apply --dry-run created .keelson")
        let applied = try await cli.run(["apply", "-f", examples], environment: environment)
        #expect(applied.status == 0, "\(applied.stderr)")
        #expect(FileManager.default.fileExists(atPath: cli.directory.appendingPathComponent(".keelson/keelson.db").path))
    }

    @Test("event tables summarise payloads field by field: no value cut in the middle, one line, control characters escaped")
    func payloadSummary() async throws {
        let cli = CLI()
        let long = String(repeating: "x", count: 500)
        let payload = #"{"a\nb":"line1\nline2\u001b[31m","long":"\#(long)","n":1.5,"t":true,"z":null,"arr":[1,2],"o":{}}"#
        #expect(try await cli.run(["events", "append", "app:x", "Note", "--data", payload, "--db", cli.db]).status == 0)
        let table = try await cli.run(["events", "--db", cli.db]).stdout
        let row = try #require(table.split(separator: "\n").last.map(String.init))
        #expect(row.contains(#"a\nb=line1\nline2\u{1B}[31m arr=[2 items] long=<500 characters>"#), "\(row)")
        #expect(!row.contains("xxxx") && !row.unicodeScalars.contains { $0.value == 0x1B }, "\(row)")
        let json = try await cli.run(["events", "-o", "json", "--db", cli.db]).stdout
        #expect(json.contains(long), "-o json gives the payload whole")
    }

    @Test("the README and docs speak to users: no issues, no files outside the repository")
    func docs() throws {
        let docs = Self.repository.appendingPathComponent("docs")
        let files = [Self.repository.appendingPathComponent("README.md")]
            + (try FileManager.default.contentsOfDirectory(at: docs, includingPropertiesForKeys: nil)).filter { $0.pathExtension == "md" }
        #expect(files.count >= 10)
        #expect(files.contains { $0.lastPathComponent == "getting-started.md" })
        let issue = try Regex(#"(?i)(^|[^-\w])issues?\b"#)
        for file in files {
            let text = try String(contentsOf: file, encoding: .utf8)
            for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                #expect(line.firstMatch(of: issue) == nil, "\(file.lastPathComponent):\(number + 1) speaks of issues: \(line)")
                #expect(!line.contains("../shared") && !line.contains("design.md"), "\(file.lastPathComponent):\(number + 1) names a file outside the repository: \(line)")
            }
        }
    }
}

/// The guide's configs, run for real: a copy of examples/getting-started in a scratch folder,
/// applied by a relative file path as the guide does.
@Suite("docs/getting-started.md, run for real", .serialized)
struct GettingStartedTests {
    static func copy(into cli: CLI, port: Int, ports: ClosedRange<Int>) throws -> URL {
        let source = FirstHourTests.repository.appendingPathComponent("examples/getting-started")
        let target = cli.directory.appendingPathComponent("gs")
        try FileManager.default.copyItem(at: source, to: target)
        try? FileManager.default.removeItem(at: target.appendingPathComponent(".state"))
        for name in ["1-local.yaml", "2-custom.yaml", "3-channels.yaml"] {
            let file = target.appendingPathComponent(name)
            var text = try String(contentsOf: file, encoding: .utf8)
            text = text.replacingOccurrences(of: "ports: 18100-18199", with: "ports: \(ports.lowerBound)-\(ports.upperBound)")
            // The deploy script's port, through the programs' own env.
            text = text.replacingOccurrences(of: "      command: ops/keelson-apply.sh     # relative to this file's folder\n",
                                             with: "      command: ops/keelson-apply.sh\n      env: {APP_PORT: \"\(port)\"}\n")
            text = text.replacingOccurrences(of: "      command: ops/keelson-fetch.sh\n", with: "      command: ops/keelson-fetch.sh\n      env: {APP_PORT: \"\(port)\"}\n")
            try text.write(to: file, atomically: true, encoding: .utf8)
        }
        return target
    }

    static func isZombie(_ pid: pid_t) -> Bool {
        ((try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?.split(separator: ")").last?.split(separator: " ").first) == "Z"
    }

    static func status(_ cli: CLI) async throws -> [String: [String: Any]] {
        let output = try await cli.run(["status", "-o", "json", "--db", cli.db]).stdout
        let rows = (try? JSONSerialization.jsonObject(with: Data(output.utf8))) as? [[String: Any]] ?? []
        return Dictionary(uniqueKeysWithValues: rows.compactMap { row in (row["instance"] as? String).map { ($0, row) } })
    }

    static func waitFor(_ cli: CLI, seconds: Double = 90, _ done: ([String: [String: Any]]) -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if done(try await status(cli)) { return true }
            try await Task.sleep(for: .milliseconds(300))
        }
        return false
    }

    @Test("step 1: two local replicas converge; `down` refuses while a worker runs, then stops them and records it")
    func localStep() async throws {
        let cli = CLI()
        _ = try Self.copy(into: cli, port: 19_790, ports: 19_780...19_789)
        for step in ["1-local.yaml", "2-custom.yaml", "3-channels.yaml"] {
            let validated = try await cli.run(["validate", "-f", "gs/\(step)"])
            #expect(validated.status == 0, "\(step): \(validated.stdout)\(validated.stderr)")
        }
        #expect(try await cli.run(["apply", "-f", "gs/1-local.yaml", "--db", cli.db]).status == 0)
        #expect(try await cli.run(["release", "hello/api", "--version", "1.0.0", "--db", cli.db]).status == 0)
        let worker = try ServerProcess(cli, arguments: ["worker", "--name", "gs", "--db", cli.db], log: "worker-1.log")
        defer { worker.signal(SIGKILL) }
        let converged = try await Self.waitFor(cli) { $0["hello/api@dev"]?["status"] as? String == "converged" }
        #expect(converged, "\(worker.log)")

        let listed = try await cli.run(["down", "--dry-run", "-o", "json", "--db", cli.db])
        let entries = try #require(try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]], "\(listed.stderr)")
        #expect(entries.count == 1 && entries.first?["instance"] as? String == "hello/api@dev")
        let pids = (entries.first?["pids"] as? [Int]) ?? []
        #expect(pids.count == 2, "\(entries)")
        #expect(pids.allSatisfy { kill(pid_t($0), 0) == 0 })

        // The command it names can be pasted: options after the subcommand.
        let table = try await cli.run(["down", "--dry-run", "--db", cli.db])
        #expect(table.stdout.contains("keelson down --db \(cli.db)` stops them"), "\(table.stdout)")

        let refused = try await cli.run(["down", "--db", cli.db])
        #expect(refused.status == 64)
        #expect(refused.stderr.contains("a worker runs on"), "\(refused.stderr)")
        #expect(pids.allSatisfy { kill(pid_t($0), 0) == 0 }, "a refused down stops nothing")

        worker.signal(SIGTERM)
        _ = try await worker.waitForExit()
        let stopped = try await cli.run(["down", "--db", cli.db])
        #expect(stopped.status == 0, "\(stopped.stdout)\(stopped.stderr)")
        #expect(stopped.stdout.contains("stopped 2 process(es) of 1 instance(s)"), "\(stopped.stdout)")
        // Gone (a stopped replica's parent, the worker, has exited: init reaps it a moment later).
        let gone = Date().addingTimeInterval(10)
        while Date() < gone, pids.contains(where: { kill(pid_t($0), 0) == 0 && !Self.isZombie(pid_t($0)) }) {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(pids.allSatisfy { kill(pid_t($0), 0) != 0 || Self.isZombie(pid_t($0)) }, "every replica is gone")
        #expect((try await Self.status(cli))["hello/api@dev"]?["current"] as? [String] == [], "the log says nothing runs")
        let again = try await cli.run(["down", "--db", cli.db])
        #expect(again.stdout.contains("no local process runs"), "\(again.stdout)")
    }

    @Test("step 2: an existing deploy script behind relative fetch/apply programs, from a config applied by a relative path")
    func customStep() async throws {
        let cli = CLI()
        let folder = try Self.copy(into: cli, port: 19_791, ports: 19_780...19_789)
        defer {
            // The deploy script's daemon: stopped as the script stops it.
            let stop = Process()
            stop.executableURL = folder.appendingPathComponent("ops/deploy.sh")
            stop.arguments = ["stop"]
            stop.currentDirectoryURL = folder
            stop.environment = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "APP_PORT": "19791"]
            try? stop.run()
            stop.waitUntilExit()
        }
        #expect(try await cli.run(["apply", "-f", "gs/2-custom.yaml", "--db", cli.db]).status == 0)
        #expect(try await cli.run(["release", "hello/api", "--version", "1.0.0", "--db", cli.db]).status == 0)
        #expect(try await cli.run(["runtime", "check", "vm", "--db", cli.db]).status == 0)
        let worker = try ServerProcess(cli, arguments: ["worker", "--name", "gs", "--db", cli.db], log: "worker-2.log")
        defer { worker.signal(SIGKILL) }
        let converged = try await Self.waitFor(cli) {
            $0["hello/api@dev"]?["status"] as? String == "converged" && $0["hello/api@dev"]?["current"] as? [String] == ["1.0.0"]
        }
        let timeline = try await cli.run(["timeline", "hello/api", "--db", cli.db])
        #expect(converged, "\(timeline.stdout)\n\(worker.log)")
        let version = try String(contentsOf: folder.appendingPathComponent(".state/vm/version"), encoding: .utf8)
        #expect(version == "1.0.0\n", "the deploy script ran in the config's folder")
    }
}
