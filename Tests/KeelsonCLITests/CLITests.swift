import Foundation
import KeelsonTestSupport
import Testing

/// Runs the built `keelson` binary as a user would.
struct CLI {
    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static let binary: URL = {
        // To run these tests against another build (to see them fail before a change).
        if let path = ProcessInfo.processInfo.environment["KEELSON_CLI_BINARY"], !path.isEmpty { return URL(fileURLWithPath: path) }
        // swift test runs the test bundle from the build directory, next to the `keelson` binary.
        let buildDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [buildDirectory, buildDirectory.deletingLastPathComponent()] {
            let url = candidate.appendingPathComponent("keelson")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        let fromSource = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/debug/keelson")
        return fromSource
    }()

    let directory: URL

    init() {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-cli-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    /// A CLI working in an existing folder.
    init(directory: URL) {
        self.directory = directory
    }

    var db: String { directory.appendingPathComponent("k.db").path }

    /// Runs the binary and waits for it on a thread of its own (see ``onOwnThread(stackSize:_:)``).
    @discardableResult
    func run(_ arguments: [String], environment: [String: String] = [:]) async throws -> Output {
        let cli = self
        return try await onOwnThread { try cli.runBlocking(arguments, environment: environment) }
    }

    private func runBlocking(_ arguments: [String], environment: [String: String]) throws -> Output {
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = arguments
        process.currentDirectoryURL = directory
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Output(
            status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self))
    }
}

@Suite("The keelson command line")
struct CLITests {
    @Test("append, list as table and JSON, filter by stream and type")
    func eventsRoundTrip() async throws {
        let cli = CLI()
        let appended = try await cli.run(["events", "append", "app:shop", "Note", "--data", #"{"text":"hello"}"#, "--db", cli.db])
        #expect(appended.status == 0, "\(appended.stderr)")
        #expect(appended.stdout.contains("position 1"))
        try await cli.run(["events", "append", "service:shop/web", "Other", "--db", cli.db, "--actor", "alice"])

        let table = try await cli.run(["events", "--db", cli.db])
        #expect(table.status == 0)
        #expect(table.stdout.contains("POSITION"))
        #expect(table.stdout.contains("app:shop"))
        #expect(table.stdout.contains("alice"))

        let json = try await cli.run(["events", "--stream", "app:shop", "-o", "json", "--db", cli.db])
        let decoded = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as! [[String: Any]]
        #expect(decoded.count == 1)
        #expect(decoded[0]["type"] as? String == "Note")
        #expect((decoded[0]["payload"] as? [String: Any])?["text"] as? String == "hello")

        let byType = try await cli.run(["events", "list", "--type", "Other", "-o", "json", "--db", cli.db])
        let other = try JSONSerialization.jsonObject(with: Data(byType.stdout.utf8)) as! [[String: Any]]
        #expect(other.map { $0["position"] as? Int } == [2])

        // KEELSON_DB works like --db.
        let viaEnvironment = try await cli.run(["events", "-o", "json"], environment: ["KEELSON_DB": cli.db])
        #expect((try JSONSerialization.jsonObject(with: Data(viaEnvironment.stdout.utf8)) as! [Any]).count == 2)
    }

    @Test("a version conflict is one clear line on stderr and a non-zero exit")
    func conflict() async throws {
        let cli = CLI()
        try await cli.run(["events", "append", "app:shop", "Note", "--db", cli.db])
        let result = try await cli.run(["events", "append", "app:shop", "Note", "--expect-version", "none", "--db", cli.db])
        #expect(result.status != 0)
        #expect(result.stderr.contains("version conflict on stream app:shop: expected no stream, found version 1"))
        #expect(result.stderr.split(separator: "\n").count == 1)
    }

    @Test("db check is clean on a full database and exits 1 on a planted projection difference")
    func dbCheck() async throws {
        let cli = CLI()
        for index in 0..<30 {
            try await cli.run(["events", "append", "stream-\(index % 4)", "Tick", "--db", cli.db])
        }
        let clean = try await cli.run(["db", "check", "--db", cli.db])
        #expect(clean.status == 0, "\(clean.stdout)\(clean.stderr)")
        #expect(clean.stdout.contains("check: clean"))

        let db = cli.db
        let planted = try await onOwnThread { () throws -> Int32 in
            let sqlite = Process()
            sqlite.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
            sqlite.arguments = [db, "UPDATE stream_catalogue SET version = 42 WHERE stream_id = 'stream-1'"]
            try sqlite.run()
            sqlite.waitUntilExit()
            return sqlite.terminationStatus
        }
        #expect(planted == 0)

        let dirty = try await cli.run(["db", "check", "--db", cli.db])
        #expect(dirty.status == 1)
        #expect(dirty.stdout.contains("stream_catalogue [stream_id=stream-1]: live {version=42} ≠ rebuilt {version=8}"))
        let json = try await cli.run(["db", "check", "-o", "json", "--db", cli.db])
        #expect(json.status == 1)
        let report = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as! [String: Any]
        #expect(report["ok"] as? Bool == false)

        #expect(try await cli.run(["db", "rebuild", "--db", cli.db]).status == 0)
        #expect(try await cli.run(["db", "check", "--db", cli.db]).status == 0)
    }

    @Test("a file that is not a database gives one clear line, not a crash")
    func notADatabase() async throws {
        let cli = CLI()
        let path = cli.directory.appendingPathComponent("notes.txt").path
        try "hello".write(toFile: path, atomically: true, encoding: .utf8)
        let result = try await cli.run(["events", "--db", path])
        #expect(result.status == 1)
        #expect(result.stderr == "Error: \(path) is not a Keelson database (not an SQLite file)\n")
    }

    @Test("bad arguments are explained")
    func badArguments() async throws {
        let cli = CLI()
        let badData = try await cli.run(["events", "append", "a", "T", "--data", "{nope", "--db", cli.db])
        #expect(badData.status != 0)
        #expect(badData.stderr.contains("--data is not valid JSON"))
        let badSince = try await cli.run(["events", "--since", "yesterday-ish", "--db", cli.db])
        #expect(badSince.status != 0)
        #expect(badSince.stderr.contains("--since"))
        // Nothing was written: the database was never even created.
        #expect(!FileManager.default.fileExists(atPath: cli.db))
        let missing = try await cli.run(["events", "--db", cli.db])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("no Keelson database at \(cli.db)"))
    }

    @Test("--follow prints events appended after it started")
    func follow() async throws {
        let cli = CLI()
        try await cli.run(["events", "append", "a", "Before", "--db", cli.db])
        let process = Process()
        process.executableURL = CLI.binary
        process.arguments = ["events", "--follow", "-o", "json", "--db", cli.db]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        defer { process.terminate() }
        // Never hang the suite: stop the follower after a while, which ends the line stream.
        let watchdog = Task {
            try await Task.sleep(for: .seconds(30))
            process.terminate()
        }
        defer { watchdog.cancel() }
        // Read lines as they arrive; the first is the existing event.
        let lines = AsyncStream<String> { continuation in
            out.fileHandleForReading.readabilityHandler = { handle in
                let data = handle.availableData
                if data.isEmpty { continuation.finish(); return }
                for line in String(decoding: data, as: UTF8.self).split(separator: "\n") { continuation.yield(String(line)) }
            }
        }
        var iterator = lines.makeAsyncIterator()
        #expect(await iterator.next()?.contains("\"Before\"") == true)
        try await cli.run(["events", "append", "a", "After", "--db", cli.db])
        #expect(await iterator.next()?.contains("\"After\"") == true)
    }

    @Test("version and help")
    func versionAndHelp() async throws {
        let cli = CLI()
        let version = try await cli.run(["version"])
        #expect(version.status == 0)
        #expect(version.stdout.hasPrefix("keelson "))
        #expect(version.stdout.contains("(schema 0"))
        let help = try await cli.run(["events", "--help"])
        #expect(help.stdout.contains("--follow"))
        #expect(help.stdout.contains("Examples"))
        let listHelp = try await cli.run(["events", "list", "--help"])
        #expect(listHelp.stdout.contains("--since <time>"))
    }

    @Test("demo applies examples/shop, releases shop/web, runs it on staging and reports a clean check")
    func demo() async throws {
        let cli = CLI()
        let shop = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("examples/shop").path
        let result = try await cli.run(["demo", "-f", shop, "--db", cli.db])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("release shop/web 1.4.1"))
        #expect(result.stdout.contains("shop/web@prod-eu"))
        #expect(result.stdout.contains("check: clean"))
        let again = try await cli.run(["demo", "-f", shop, "--db", cli.db])
        #expect(again.stdout.contains("config unchanged"))
        #expect(again.stdout.contains("release shop/web 1.4.2"))
        #expect(try await cli.run(["demo", "--db", cli.db]).stderr.contains("no config at examples/shop"))
        // The demo ran shop/web@staging for real, and the second run replaced the first replica.
        #expect(result.stdout.contains("started r1"))
        #expect(again.stdout.contains("started r2") && again.stdout.contains("stopped r1"))
        let removed = try await cli.run(["runtime", "remove", "shop/web@staging", "--db", cli.db])
        #expect(removed.stdout.contains("stopped r2"), "\(removed.stdout)\(removed.stderr)")
    }
}

@Suite("keelson validate")
struct ValidateCLITests {
    @Test("a valid directory passes; a bad file is reported at file:line:column and exits 1")
    func validate() async throws {
        let cli = CLI()
        let folder = cli.directory.appendingPathComponent("config")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try """
            kind: Runtime
            name: local
            type: local
            """.write(to: folder.appendingPathComponent("platform.yaml"), atomically: true, encoding: .utf8)
        try """
            kind: Application
            name: shop
            channels:
              - name: staging
                runtime: local
              - name: prod
                runtime: local
                after: staging
            """.write(to: folder.appendingPathComponent("shop.yaml"), atomically: true, encoding: .utf8)
        let ok = try await cli.run(["validate", "-f", "config"])
        #expect(ok.status == 0, "\(ok.stdout)")
        #expect(ok.stdout.contains("shop: staging, prod"))

        try """
            kind: Application
            name: shop
            channels:
              - name: staging
                runtime: locl
            """.write(to: folder.appendingPathComponent("shop.yaml"), atomically: true, encoding: .utf8)
        let bad = try await cli.run(["validate", "-f", "config"])
        #expect(bad.status == 1)
        #expect(bad.stdout.contains("config/shop.yaml:5:14: Application shop › channels[0].runtime: unknown runtime 'locl' (did you mean 'local'?)"))
        let json = try await cli.run(["validate", "-f", "config", "-o", "json"])
        let report = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as! [String: Any]
        #expect(report["ok"] as? Bool == false)
        #expect((report["problems"] as? [[String: Any]])?.first?["line"] as? Int == 5)

        let missing = try await cli.run(["validate", "-f", "nowhere"])
        #expect(missing.status == 1)
        #expect(missing.stdout.contains("nowhere: no such file or directory"))
    }
}

@Suite("keelson apply, release, get desired")
struct ApplyReleaseCLITests {
    static let shop = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("examples/shop").path

    func events(_ cli: CLI, type: String) async throws -> [[String: Any]] {
        let listed = try await cli.run(["events", "--type", type, "--limit", "1000", "-o", "json", "--db", cli.db])
        return try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as! [[String: Any]]
    }

    @Test("apply records config; release compiles every channel; re-applying the same config appends nothing")
    func applyAndRelease() async throws {
        let cli = CLI()
        let applied = try await cli.run(["apply", "-f", Self.shop, "--db", cli.db])
        #expect(applied.status == 0, "\(applied.stderr)")
        #expect(try await events(cli, type: "ConfigApplied").count == 1)

        let released = try await cli.run(["release", "shop/web", "--version", "1.4.2", "--db", cli.db])
        #expect(released.status == 0, "\(released.stderr)")
        #expect(released.stdout.contains("shop/web@prod-eu"))
        #expect(try await events(cli, type: "DesiredStateCompiled").count == 4)
        #expect(try await events(cli, type: "ReleaseRequested").count == 1)

        let again = try await cli.run(["apply", "-f", Self.shop, "--db", cli.db])
        #expect(again.status == 0)
        #expect(again.stdout.contains("config unchanged"))
        #expect(again.stdout.contains("no desired state changes"))
        #expect(try await events(cli, type: "DesiredStateCompiled").count == 4)
        #expect(try await events(cli, type: "ConfigApplied").count == 1)

        let desired = try await cli.run(["get", "desired", "shop/web@prod-eu", "-o", "json", "--db", cli.db])
        let entries = try JSONSerialization.jsonObject(with: Data(desired.stdout.utf8)) as! [[String: Any]]
        #expect(entries.count == 1)
        #expect(entries[0]["version"] as? String == "1.4.2")
        #expect((entries[0]["document"] as? [String: Any])?["replicas"] as? Int == 4)
        let yaml = try await cli.run(["get", "desired", "shop/web", "-o", "yaml", "--db", cli.db])
        #expect(yaml.stdout.contains("instance: shop/web@staging"))
        #expect(try await cli.run(["db", "check", "--db", cli.db]).status == 0)
    }

    @Test("a changed config recompiles released services and shows the diff; --dry-run records nothing")
    func changedConfig() async throws {
        let cli = CLI()
        let folder = cli.directory.appendingPathComponent("shop")
        try FileManager.default.copyItem(atPath: Self.shop, toPath: folder.path)
        #expect(try await cli.run(["apply", "-f", "shop", "--db", cli.db]).status == 0)
        #expect(try await cli.run(["release", "shop/web", "--version", "1.4.2", "--db", cli.db]).status == 0)
        let web = folder.appendingPathComponent("web.yaml")
        try (try String(contentsOf: web, encoding: .utf8)).replacingOccurrences(of: "replicas: 3", with: "replicas: 5")
            .write(to: web, atomically: true, encoding: .utf8)

        let dryRun = try await cli.run(["apply", "-f", "shop", "--dry-run", "--db", cli.db])
        #expect(dryRun.stdout.contains("would record"))
        #expect(dryRun.stdout.contains("shop/web@prod-us"))
        #expect(dryRun.stdout.contains("~ replicas: 3 → 5"))
        #expect(!dryRun.stdout.contains("shop/web@prod-eu"))
        #expect(try await events(cli, type: "DesiredStateCompiled").count == 4)

        let applied = try await cli.run(["apply", "-f", "shop", "--db", cli.db])
        #expect(applied.stdout.contains("~ replicas: 3 → 5"))
        #expect(try await events(cli, type: "DesiredStateCompiled").count == 5)
        #expect(try await events(cli, type: "ConfigApplied").count == 2)
    }

    @Test("a config or release that does not compile appends one CompileFailed and changes nothing")
    func compileFailed() async throws {
        let cli = CLI()
        let folder = cli.directory.appendingPathComponent("shop")
        try FileManager.default.copyItem(atPath: Self.shop, toPath: folder.path)
        #expect(try await cli.run(["apply", "-f", "shop", "--db", cli.db]).status == 0)
        #expect(try await cli.run(["release", "shop/web", "--version", "1.4.2", "--db", cli.db]).status == 0)

        let badRelease = try await cli.run(["release", "shop/web", "--version", "latest", "--db", cli.db])
        #expect(badRelease.status == 1)
        #expect(badRelease.stderr.contains("parameter 'version' must match"))
        try "kind: Runtime\nname: local\ntype: lokal\n".write(
            to: folder.appendingPathComponent("platform.yaml"), atomically: true, encoding: .utf8)
        let badApply = try await cli.run(["apply", "-f", "shop", "--db", cli.db])
        #expect(badApply.status == 1)
        #expect(badApply.stderr.contains("shop/platform.yaml:3:7: Runtime local › type: unknown runtime type 'lokal' (did you mean 'local'?)"))

        let failed = try await events(cli, type: "CompileFailed")
        #expect(failed.map { $0["stream"] as? String } == ["service:shop/web", "config"])
        #expect(try await events(cli, type: "DesiredStateCompiled").count == 4)
        #expect(try await events(cli, type: "ConfigApplied").count == 1)
        #expect(try await events(cli, type: "ReleaseRequested").count == 1)
    }

    @Test("two separate processes compile the same digests (each has its own hash seed)")
    func digestsAcrossProcesses() async throws {
        let cli = CLI()
        #expect(try await cli.run(["apply", "-f", Self.shop, "--db", cli.db]).status == 0)
        func digests() async throws -> [String] {
            let run = try await cli.run(["release", "shop/web", "--version", "1.4.2", "--dry-run", "-o", "json", "--db", cli.db])
            let report = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as! [String: Any]
            return (report["changes"] as! [[String: Any]]).map { $0["digest"] as! String }
        }
        let first = try await digests()
        #expect(first.count == 4)
        #expect(try await digests() == first)
        #expect(try await events(cli, type: "DesiredStateCompiled").isEmpty)
    }

    @Test("release without a database is a clear error and creates none; before any apply, too")
    func releaseWithoutConfig() async throws {
        let cli = CLI()
        let missing = try await cli.run(["release", "shop/web", "--version", "1.0.0", "--db", cli.db])
        #expect(missing.status == 64)
        #expect(missing.stderr.contains("no Keelson database at \(cli.db)"), "\(missing.stderr)")
        #expect(missing.stderr.contains("`keelson up`"), "\(missing.stderr)")
        #expect(!FileManager.default.fileExists(atPath: cli.db), "a command that fails for lack of a database creates none")

        // A database without config (made by `token create`): the release says what is missing.
        #expect(try await cli.run(["token", "create", "--role", "viewer", "--name", "v", "--db", cli.db]).status == 0)
        let result = try await cli.run(["release", "shop/web", "--version", "1.0.0", "--db", cli.db])
        #expect(result.status == 1)
        #expect(result.stderr.contains("no config has been applied yet, so there is no application 'shop'"), "\(result.stderr)")
    }
}

@Suite("keelson schema")
struct SchemaCLITests {
    /// The first `python3` on PATH — the one .ci/run makes sure has jsonschema and PyYAML.
    static let python: String? = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
        .map { "\($0)/python3" }.first { FileManager.default.isExecutableFile(atPath: $0) }

    @Test("is a valid JSON Schema that accepts examples/shop and names a misspelt field",
          .enabled(if: python != nil))
    func schema() async throws {
        let cli = CLI()
        let schema = try await cli.run(["schema"])
        #expect(schema.status == 0)
        let file = cli.directory.appendingPathComponent("schema.json")
        try schema.stdout.write(to: file, atomically: true, encoding: .utf8)
        let script = """
            import glob, json, sys, yaml, jsonschema
            class Loader(yaml.SafeLoader): pass
            # Like editors, read timestamps as strings.
            Loader.yaml_implicit_resolvers = {k: [r for r in v if r[0] != 'tag:yaml.org,2002:timestamp']
                                              for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
            schema = json.load(open(sys.argv[1]))
            jsonschema.Draft202012Validator.check_schema(schema)
            validator = jsonschema.Draft202012Validator(schema)
            for path in sorted(glob.glob(sys.argv[2] + '/*.yaml')):
                for doc in yaml.load_all(open(path), Loader=Loader):
                    for error in validator.iter_errors(doc):
                        print('INVALID', path, error.message)
            bad = {'kind': 'Runtime', 'name': 'x', 'type': 'local', 'label': {}}
            print('BAD', [e.message for e in validator.iter_errors(bad)])
            """
        let python = Self.python!, schemaPath = file.path
        let (status, output) = try await onOwnThread { () throws -> (Int32, String) in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: python)
            process.arguments = ["-c", script, schemaPath, ApplyReleaseCLITests.shop]
            let out = Pipe()
            process.standardOutput = out
            process.standardError = out
            try process.run()
            let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return (process.terminationStatus, output)
        }
        #expect(status == 0, "\(output)")
        #expect(!output.contains("INVALID"), "\(output)")
        #expect(output.contains("'label' was unexpected"), "\(output)")
    }
}

@Suite("keelson runtime, get current")
struct RuntimeCLITests {
    @Test("runtime list/check, runtime apply runs shop/web for real, get current shows it, runtime remove stops it; db check is clean")
    func localRuntime() async throws {
        let cli = CLI()
        // A copy of examples/shop on its own port range, so that it never meets a demo on this machine.
        let shop = cli.directory.appendingPathComponent("shop")
        try FileManager.default.copyItem(atPath: ApplyReleaseCLITests.shop, toPath: shop.path)
        let platform = shop.appendingPathComponent("platform.yaml")
        try String(contentsOf: platform, encoding: .utf8).replacingOccurrences(of: "18000-18099", with: "19400-19409")
            .write(to: platform, atomically: true, encoding: .utf8)
        #expect(try await cli.run(["apply", "-f", "shop", "--db", cli.db]).status == 0)
        #expect(try await cli.run(["release", "shop/web", "--version", "1.0.0", "--db", cli.db]).status == 0)

        let list = try await cli.run(["runtime", "list", "-o", "json", "--db", cli.db])
        let runtimes = try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as! [[String: Any]]
        #expect(runtimes.map { $0["name"] as? String } == ["local", "sim-eu", "sim-us"])
        #expect((runtimes[0]["settings"] as? [String: String])?["ports"] == "19400-19409")

        let check = try await cli.run(["runtime", "check", "local", "--db", cli.db])
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        #expect(check.stdout.contains("✓ state directory: \(cli.directory.path)/state/local is writable"))
        #expect(check.stdout.contains("✓ ports: 10 of 10 ports in 19400-19409 are free"))
        let typo = try await cli.run(["runtime", "check", "locl", "--db", cli.db])
        #expect(typo.status != 0)
        #expect(typo.stderr.contains("no runtime named 'locl' (did you mean 'local'?)"))

        let applied = try await cli.run(["runtime", "apply", "shop/web@staging", "--db", cli.db])
        #expect(applied.status == 0, "\(applied.stdout)\(applied.stderr)")
        #expect(applied.stdout.contains("started r1"))
        let current = try await cli.run(["get", "current", "shop/web@staging", "-o", "json", "--db", cli.db])
        let entries = try JSONSerialization.jsonObject(with: Data(current.stdout.utf8)) as! [[String: Any]]
        #expect(entries.first?["healthy"] as? Bool == true)
        #expect(entries.first?["versions"] as? [String] == ["1.0.0"])
        let table = try await cli.run(["get", "current", "shop/web@staging", "--refresh", "--db", cli.db])
        #expect(table.stdout.contains("shop/web@staging on local: healthy, running 1.0.0"))

        // watch fetches at the cadence and prints what changes (here: once, stable).
        let watch = try await cli.run(["runtime", "watch", "shop/web@staging", "--for", "3s", "--db", cli.db])
        #expect(watch.status == 0, "\(watch.stderr)")
        #expect(watch.stdout.contains("shop/web@staging  stable: 1.0.0, 1/1 ready"))

        // The deliberately bad version fails its health check; the good replica keeps serving.
        #expect(try await cli.run(["release", "shop/web", "--version", "1.1.0-bad", "--db", cli.db]).status == 0)
        let bad = try await cli.run(["runtime", "apply", "shop/web@staging", "--db", cli.db])
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("failed its health check 3 time(s) in a row"))

        let removed = try await cli.run(["runtime", "remove", "shop/web@staging", "--db", cli.db])
        #expect(removed.status == 0, "\(removed.stderr)")
        #expect(removed.stdout.contains("stopped r1"))
        let after = try await cli.run(["get", "current", "shop/web@staging", "--db", cli.db])
        #expect(after.stdout.contains("nothing running"))
        let types = try await ApplyReleaseCLITests().events(cli, type: "ApplyFailed")
        #expect(types.count == 1)
        let dbCheck = try await cli.run(["db", "check", "--db", cli.db])
        #expect(dbCheck.status == 0)
        #expect(dbCheck.stdout.contains("current_state: ok"))
    }

    @Test("get current before any fetch, and runtime commands before any config, are clear errors")
    func clearErrors() async throws {
        let cli = CLI()
        #expect(try await cli.run(["apply", "-f", ApplyReleaseCLITests.shop, "--db", cli.db]).status == 0)
        let none = try await cli.run(["get", "current", "shop/web", "--db", cli.db])
        #expect(none.status != 0)
        #expect(none.stderr.contains("no observation of shop/web has been recorded yet"))
        let empty = CLI()
        _ = try await empty.run(["events", "append", "app:x", "Note", "--db", empty.db])
        let noConfig = try await empty.run(["runtime", "list", "--db", empty.db])
        #expect(noConfig.status != 0)
        #expect(noConfig.stderr.contains("no config has been applied"))
        let notInstance = try await cli.run(["runtime", "apply", "shop/web", "--db", cli.db])
        #expect(notInstance.stderr.contains("expected an instance as APPLICATION/SERVICE@CHANNEL (e.g. shop/web@prod), found \"shop/web\""))
    }
}

@Suite("keelson worker, status, approve, replay, explain")
struct EngineCLITests {
    static let config = """
        kind: Runtime
        name: sim
        type: simulated
        settings: {applyLatency: 0s, timeToHealthy: 1s}
        ---
        kind: Application
        name: shop
        channels:
          - name: staging
            runtime: sim
            rules: {watch: 1s}
          - name: prod
            runtime: sim
            after: [staging]
            rules:
              watch: 1s
              approval: {approvers: 1}
        ---
        kind: Service
        name: web
        application: shop
        run: {simulated: {}}
        """

    func status(_ cli: CLI) async throws -> [String: [String: Any]] {
        let listed = try await cli.run(["status", "-o", "json", "--db", cli.db])
        let entries = try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as! [[String: Any]]
        return Dictionary(uniqueKeysWithValues: entries.map { ($0["instance"] as! String, $0) })
    }

    /// Runs `keelson worker` in the background until `done` says so (or 90 s pass), stops it with
    /// SIGTERM and returns what it printed: no fixed durations, so a loaded machine only makes it
    /// slower, not wrong.
    static func runWorker(
        _ cli: CLI, name: String, until done: ([String: [String: Any]]) -> Bool
    ) async throws -> (status: Int32?, stdout: String) {
        let worker = try ServerProcess(cli, arguments: ["worker", "--name", name, "--db", cli.db], log: "\(name).log")
        let deadline = Date().addingTimeInterval(90)
        while Date() < deadline, !done(try await EngineCLITests().status(cli)) {
            try await Task.sleep(for: .milliseconds(200))
        }
        worker.signal(SIGTERM)
        return (try await worker.waitForExit(), worker.log)
    }

    @Test("a release converges in staging, waits for approval in prod, converges after `approve`; replay --verify is clean")
    func promotion() async throws {
        let cli = CLI()
        try Self.config.write(to: cli.directory.appendingPathComponent("shop.yaml"), atomically: true, encoding: .utf8)
        let applied = try await cli.run(["apply", "-f", "shop.yaml", "--db", cli.db])
        #expect(applied.stdout.contains("recorded: release policy of shop (staging → prod)"))
        #expect(try await cli.run(["release", "shop/web", "--version", "1.0.0", "--db", cli.db]).status == 0)

        let first = try await Self.runWorker(cli, name: "worker:one") {
            $0["shop/web@staging"]?["status"] as? String == "converged" && $0["shop/web@prod"]?["waitingFor"] as? String == "approval"
        }
        #expect(first.status == 0, "\(first.stdout)")
        #expect(first.stdout.contains("shop/web@staging  converging: applying 1.0.0  [apply 1.0.0]"), "\(first.stdout)")
        #expect(first.stdout.contains("shop/web@prod  waiting: 1.0.0 waits: approval: 0 of 1"))
        var entries = try await status(cli)
        #expect(entries["shop/web@staging"]?["status"] as? String == "converged")
        #expect(entries["shop/web@prod"]?["status"] as? String == "waiting")
        let waiting = try await cli.run(["status", "--status", "waiting,failed", "--db", cli.db])
        #expect(waiting.stdout.contains("shop/web@prod") && !waiting.stdout.contains("shop/web@staging"), "\(waiting.stdout)")
        #expect(try await cli.run(["status", "shop/web", "--status", "rejected", "--db", cli.db]).stdout == "no instance in shop/web is rejected\n")
        let bogus = try await cli.run(["status", "--status", "fine", "--db", cli.db])
        #expect(bogus.status == 64 && bogus.stderr.contains(#"unknown status "fine""#), "\(bogus.stderr)")

        let approved = try await cli.run(["approve", "shop/web@prod", "--db", cli.db], environment: ["USER": "bob"])
        #expect(approved.stdout == "approved 1.0.0 for shop/web@prod, as user bob (on the database file)\n")
        let second = try await Self.runWorker(cli, name: "worker:two") { $0["shop/web@prod"]?["lastGood"] as? String == "1.0.0" }
        #expect(second.stdout.contains("shop/web@prod  converging: applying 1.0.0"), "\(second.stdout)")
        entries = try await status(cli)
        #expect(entries["shop/web@prod"]?["status"] as? String == "converged", "\(entries)")
        #expect(entries["shop/web@prod"]?["lastGood"] as? String == "1.0.0")

        let replay = try await cli.run(["replay", "--verify", "--db", cli.db])
        #expect(replay.status == 0, "\(replay.stdout)")
        #expect(replay.stdout.contains(" identical, 0 different"))
        let explain = try await cli.run(["explain", "shop/web@prod", "--db", cli.db])
        #expect(explain.stdout.contains("status:   converged"))
        #expect(explain.stdout.contains("approvals: 1.0.0: user:bob"))
        #expect(try await cli.run(["db", "check", "--db", cli.db]).status == 0)
    }

    @Test("signals are recorded with their actor; bad arguments are explained")
    func signals() async throws {
        let cli = CLI()
        try Self.config.write(to: cli.directory.appendingPathComponent("shop.yaml"), atomically: true, encoding: .utf8)
        _ = try await cli.run(["apply", "-f", "shop.yaml", "--db", cli.db])
        _ = try await cli.run(["release", "shop/web", "--version", "1.0.0", "--db", cli.db])
        #expect(try await cli.run(["pause", "shop", "--reason", "incident", "--db", cli.db]).stdout == "paused shop\n")
        #expect(try await cli.run(["resume", "shop", "--db", cli.db]).stdout == "resumed shop\n")
        let fired = try await cli.run(["alert", "fire", "HighErrorRate", "--label", "severity=critical", "--label", "service=web", "--db", cli.db])
        #expect(fired.stdout == "firing: HighErrorRate{alertname=\"HighErrorRate\",service=\"web\",severity=\"critical\"}\n")
        #expect(try await cli.run(["alert", "resolve", "HighErrorRate", "--label", "severity=critical", "--label", "service=web", "--db", cli.db]).status == 0)
        #expect(try await cli.run(["reject", "shop/web@prod", "--reason", "breaks checkout", "--db", cli.db]).stdout.contains("rejected 1.0.0 for shop/web@prod"))
        #expect(try await cli.run(["rollback", "shop/web@staging", "--db", cli.db]).status == 0)
        var types: [[String: Any]] = []
        for type in ["Paused", "AlertFired", "ApprovalRejected", "RollbackRequested"] {
            types += try await ApplyReleaseCLITests().events(cli, type: type)
        }
        #expect(types.count == 4)
        #expect(try await cli.run(["approve", "shop/web", "--db", cli.db]).stderr.contains("expected an instance as APPLICATION/SERVICE@CHANNEL"))
        #expect(try await cli.run(["pause", "shop web", "--db", cli.db]).stderr.contains("an application name is 1 to 63"))
        #expect(try await cli.run(["alert", "fire", "X", "--label", "nolabel", "--db", cli.db]).stderr.contains("'--label <k=v>': expected k=v, found \"nolabel\""))
        #expect(try await cli.run(["approve", "shop/api@prod", "--db", cli.db]).stderr.contains("unknown service 'shop/api'"))
        #expect(try await cli.run(["explain", "shop/web@prod", "--db", cli.db]).stderr.contains("no decision about shop/web@prod"))
    }
}

@Suite("The worker with real processes")
struct RealRollbackCLITests {
    @Test("shop/web on the local runtime: 1.0.0 converges and passes its watch; 1.1.0-bad fails its health check and is rolled back to 1.0.0 by itself")
    func rollback() async throws {
        let cli = CLI()
        let shop = cli.directory.appendingPathComponent("shop")
        try FileManager.default.copyItem(atPath: ApplyReleaseCLITests.shop, toPath: shop.path)
        for (file, from, to) in [("platform.yaml", "18000-18099", "19500-19509"), ("shop.yaml", "watch: 30s", "watch: 2s")] {
            let url = shop.appendingPathComponent(file)
            try String(contentsOf: url, encoding: .utf8).replacingOccurrences(of: from, with: to).write(to: url, atomically: true, encoding: .utf8)
        }
        #expect(try await cli.run(["apply", "-f", "shop", "--db", cli.db]).status == 0)
        #expect(try await cli.run(["release", "shop/web", "--version", "1.0.0", "--db", cli.db]).status == 0)
        let first = try await EngineCLITests.runWorker(cli, name: "worker:first") { $0["shop/web@staging"]?["lastGood"] as? String == "1.0.0" }
        #expect(first.stdout.contains("shop/web@staging  converged: 1.0.0 passed its watch of 2s  [mark 1.0.0 good]"), "\(first.stdout)")

        #expect(try await cli.run(["release", "shop/web", "--version", "1.1.0-bad", "--db", cli.db]).status == 0)
        let second = try await EngineCLITests.runWorker(cli, name: "worker:second") { $0["shop/web@staging"]?["status"] as? String == "rolledBack" }
        #expect(second.stdout.contains("shop/web@staging  rollingBack: 1.1.0-bad failed: its apply failed"), "\(second.stdout)")
        #expect(second.stdout.contains("shop/web@staging  rolledBack: rolled back to 1.0.0"), "\(second.stdout)")
        let current = try await cli.run(["get", "current", "shop/web@staging", "-o", "json", "--db", cli.db])
        let entries = try JSONSerialization.jsonObject(with: Data(current.stdout.utf8)) as! [[String: Any]]
        #expect(entries.first?["versions"] as? [String] == ["1.0.0"])
        #expect(entries.first?["healthy"] as? Bool == true)
        let bad = try await ApplyReleaseCLITests().events(cli, type: "ReleaseMarkedBad")
        #expect(bad.count == 1)
        #expect(try await cli.run(["replay", "--verify", "--db", cli.db]).status == 0)
        #expect(try await cli.run(["db", "check", "--db", cli.db]).status == 0)
        #expect(try await cli.run(["runtime", "remove", "shop/web@staging", "--db", cli.db]).status == 0)
    }
}

@Suite("keelson release --wait")
struct WaitCLITests {
    @Test("--wait follows the rollout: exit 2 at the timeout while prod waits for approval, 0 once converged, 1 when the release fails and is rolled back")
    func wait() async throws {
        let cli = CLI()
        let config = EngineCLITests.config
            .replacingOccurrences(of: "settings: {applyLatency: 0s, timeToHealthy: 1s}", with: "settings: {applyLatency: 0s, timeToHealthy: 1s, unhealthyVersions: [2.0.0]}")
            .replacingOccurrences(of: "run: {simulated: {}}", with: "run: {simulated: {}}\nprogressDeadline: 3s")
        try config.write(to: cli.directory.appendingPathComponent("shop.yaml"), atomically: true, encoding: .utf8)
        #expect(try await cli.run(["apply", "-f", "shop.yaml", "--db", cli.db]).status == 0)
        let worker = Process()
        worker.executableURL = CLI.binary
        worker.arguments = ["worker", "--db", cli.db]
        worker.currentDirectoryURL = cli.directory
        worker.standardOutput = FileHandle.nullDevice
        worker.standardError = FileHandle.nullDevice
        try worker.run()
        defer {
            worker.terminate()
            worker.waitUntilExit()
        }

        let held = try await cli.run(["release", "shop/web", "--version", "1.0.0", "--wait", "--timeout", "20s", "--db", cli.db])
        #expect(held.status == 2, "\(held.stdout)\(held.stderr)")
        #expect(held.stdout.contains("shop/web@prod  waiting (approval): 1.0.0 waits: approval: 0 of 1"), "\(held.stdout)")
        #expect(held.stdout.contains("timed out: 1 of 2 instance(s) converged"))
        #expect(held.stdout.contains("── staging ✓ 1/1 · prod 0/1 waiting (approval)"), "progress per channel, in promotion order: \(held.stdout)")

        #expect(try await cli.run(["approve", "shop/web@prod", "--db", cli.db]).status == 0)
        let done = try await cli.run(["release", "shop/web", "--version", "1.0.0", "--wait", "--timeout", "30s", "--db", cli.db])
        #expect(done.status == 0, "\(done.stdout)\(done.stderr)")
        #expect(done.stdout.contains("converged: 2 of 2 instance(s)"))

        let bad = try await cli.run(["release", "shop/web", "--version", "2.0.0", "--wait", "--timeout", "40s", "--db", cli.db])
        #expect(bad.status == 1, "\(bad.stdout)\(bad.stderr)")
        // Where it failed, and what the other instance did.
        #expect(bad.stdout.contains("rollout of 2.0.0 failed in shop/web@staging\n"), "\(bad.stdout)")
        #expect(bad.stdout.contains("  held back, 2.0.0 never applied (runs 1.0.0): shop/web@prod"), "\(bad.stdout)")
        #expect(bad.stdout.contains("2.0.0 failed: not healthy within its progress deadline of 3s") || bad.stdout.contains("failed in staging: not healthy"))
        #expect(bad.stdout.hasPrefix("recorded: release shop/web 2.0.0"))
    }
}
