import Foundation
import Testing

/// A database with a config applied and `shop/web` released on a simulated runtime, made once per
/// test in its own folder.
struct Fixture {
    let cli = CLI()
    var db: String { cli.db }
    var directory: URL { cli.directory }

    static let config = """
        kind: Runtime
        name: sim
        type: simulated
        ---
        kind: Application
        name: shop
        channels:
          - name: staging
            runtime: sim
          - name: prod
            runtime: sim
            after: [staging]
        ---
        kind: Service
        name: web
        application: shop
        run: {simulated: {}}
        """

    /// Applies the config and releases shop/web 1.0.0 on a fresh database.
    static func released() async throws -> Fixture {
        let fixture = Fixture()
        try config.write(to: fixture.directory.appendingPathComponent("shop.yaml"), atomically: true, encoding: .utf8)
        let applied = try await fixture.run(["apply", "-f", "shop.yaml", "--db", fixture.db])
        #expect(applied.status == 0, "\(applied)")
        let released = try await fixture.run(["release", "shop/web", "--version", "1.0.0", "--db", fixture.db])
        #expect(released.status == 0, "\(released)")
        return fixture
    }

    func run(_ arguments: [String], environment: [String: String] = [:], seconds: Double = 60) async throws -> BoundedRun.Output {
        try await BoundedRun.run(arguments, in: directory, environment: environment, seconds: seconds)
    }

    /// The log's last position, read straight from the file (not through the CLI under test).
    func lastPosition(_ path: String? = nil) throws -> Int64 {
        let sqlite = Process()
        sqlite.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        sqlite.arguments = [path ?? db, "SELECT COALESCE(MAX(position), 0) FROM events"]
        let out = Pipe()
        sqlite.standardOutput = out
        try sqlite.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        sqlite.waitUntilExit()
        return Int64(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    func sqlite(_ sql: String, _ path: String? = nil) throws {
        let sqlite = Process()
        sqlite.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        sqlite.arguments = [path ?? db, sql]
        try sqlite.run()
        sqlite.waitUntilExit()
        #expect(sqlite.terminationStatus == 0, "sqlite3 \(sql)")
    }

    static func mode(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions]) as? Int ?? -1) & 0o777
    }
}

@Suite("Hardening: every argument is checked before anything happens")
struct ArgumentHardeningTests {
    /// Arguments that used to trap or be accepted, each with a part of the sentence they now get.
    /// Every one is a usage error: exit 64, one sentence, nothing appended.
    static let usageErrors: [(arguments: [String], says: String)] = [
        (["timeline", ""], "application name is 1 to 63"),
        (["timeline", "/"], "application name"),
        (["timeline", "shop@prod"], "expected APPLICATION, APPLICATION/SERVICE"),
        (["timeline", "shop/web@"], "release channel name"),
        (["get", "desired", ""], "application name"),
        (["get", "current", "@"], "expected APPLICATION"),
        (["get", "desired", "shop"], "expected APPLICATION/SERVICE"),
        (["status", ""], "application name"),
        (["status", "shop/web@prod"], "for one instance"),
        (["pause", ""], "application name"),
        (["resume", "sh op"], "application name"),
        (["approve", "shop/web@"], "expected an instance"),
        (["approve", "shop/web@prod", "--release", ""], "a release version is 1 to 128"),
        (["rollback", "a/b@c\u{1B}[31m"], "\\u{1B}"),
        (["explain", ""], "expected an instance"),
        (["mark-bad", "/", "--release", "1"], "application name"),
        (["mark-bad", "shop", "--release", "1"], "expected APPLICATION/SERVICE"),
        (["runtime", "check", ""], "a runtime name"),
        (["runtime", "apply", "x"], "expected an instance"),
        (["runtime", "watch", "shop/web", "--for", "1e300d"], "--for"),
        (["alert", "fire", ""], "the alert's name is 1 to 256"),
        (["alert", "fire", "A", "--label", "=v"], "expected k=v"),
        (["token", "create", "--role", "root", "--name", "x"], "expected viewer, deployer or admin"),
        (["events", "append", "", "Note"], "a stream id is 1 to 256"),
        (["events", "append", "app:shop", ""], "an event type is a letter"),
        (["events", "append", "app:shop", "Note", "--expect-version", "-1"], "expected a stream version"),
        (["events", "append", "app:shop", "Note", "--data", "@/dev/null"], "not a regular file"),
        (["events", "--stream", ""], "a stream id"),
        (["events", "--limit", "-5"], "from 1 to 10000"),
        (["events", "--limit", "0"], "0 only with --follow"),
        (["events", "--limit", "10001"], "from 1 to 10000"),
        (["events", "--from", "0"], "from 1 to"),
        (["events", "--from", "-1"], "from 1 to"),
        (["events", "--from", "99999999999999999999"], "from 1 to"),
        (["events", "--since", "1h", "--until", "2h"], "is later than --until"),
        (["timeline", "--limit", "0"], "from 1 to 10000"),
        (["timeline", "--before", "-1"], "from 1 to"),
        (["timeline", "--kind", "nope"], "unknown kind"),
        (["timeline", "--since", "2026-01-02", "--until", "2026-01-01"], "is later than --until"),
        (["streams", "--at", "-1"], "expected a log position"),
        (["streams", "--at", "1", "--at-time", "1h"], "not both"),
        (["replay", "--from", "10", "--to", "5"], "--from 10 is after --to 5"),
        (["replay", "--from", "-5"], "expected a log position"),
        (["replay", "--engine", "future"], "--engine"),
        (["explain", "shop/web@prod", "--position", "0"], "from 1 to"),
        (["db", "rebuild", "--projection", "nope"], "unknown projection"),
        (["db", "backup", ""], "expected a file path"),
        (["worker", "--duration", "99999999999999d"], "longer than the longest duration"),
        (["worker", "--name", ""], "--name is 1 to 128"),
        (["serve", "--listen", "127.0.0.1:99999"], "expected HOST:PORT"),
        (["serve", "--listen", ":7420"], "expected HOST:PORT"),
        (["serve", "--max-body", "-1"], "from 1 to 1073741824"),
        (["serve", "--log-level", "loud"], "expected one of trace"),
        (["up", "--version", "1 0"], "a release version"),
        (["events", "--db", ""], "expected a file path"),
    ]

    @Test("bad positional arguments and options are usage errors (exit 64, a sentence), never a trap")
    func usageErrors() async throws {
        let fixture = try await Fixture.released()
        let before = try fixture.lastPosition()
        for (arguments, says) in Self.usageErrors {
            let result = try await fixture.run(arguments + (arguments.contains("--db") ? [] : ["--db", fixture.db]))
            #expect(!result.signaled && !result.timedOut, "\(arguments): \(result)")
            #expect(result.status == 64, "\(arguments): \(result)")
            #expect(result.stderr.contains(says), "\(arguments): \(result)")
            // Control characters from the command line never reach the terminal raw.
            #expect(!result.stderr.contains("\u{1B}"), "\(arguments): \(result)")
            #expect(try fixture.lastPosition() == before, "\(arguments) appended something")
        }
    }

    /// `--since/--until/--at/--at-time` and `replay --until` go through PointInTime.parse: its
    /// sentence, naming the flag.
    static let timeFlags: [[String]] = [
        ["events", "--since"], ["events", "--until"], ["timeline", "--since"], ["timeline", "--until"],
        ["streams", "--at-time"], ["explain", "shop/web@staging", "--at"], ["replay", "--until"],
    ]

    @Test("time flags with 1e300d, infs, huge ages or years out of range: the parser's sentence, naming the flag, exit 64")
    func timeFlags() async throws {
        let fixture = try await Fixture.released()
        for command in Self.timeFlags {
            for value in ["1e300d", "infs", "nan", "9999999999999999999d", "200y", "1000000w", "-5m", "10000-01-01", ""] {
                let result = try await fixture.run(command + [value, "--db", fixture.db])
                let flag = command.last!
                #expect(!result.signaled && result.status == 64, "\(command) \(value): \(result)")
                let sentence = ["expected an age", "100 years", "1970 to 9999", "longest duration"].contains { result.stderr.contains($0) }
                #expect(result.stderr.contains("'\(flag) <time>'") && sentence, "\(command) \(value): \(result)")
            }
        }
    }

    @Test("duration flags go through the bounded duration parser: 365 days at most, exit 64")
    func durationFlags() async throws {
        let fixture = try await Fixture.released()
        for arguments in [
            ["runtime", "apply", "shop/web@staging", "--timeout", "99999999999999d"],
            ["runtime", "watch", "shop/web", "--for", "366d"],
            ["worker", "--duration", "1e3s"],
            ["status", "--request-timeout", "infs"],
        ] {
            let result = try await fixture.run(arguments + ["--db", fixture.db])
            #expect(!result.signaled && result.status == 64, "\(arguments): \(result)")
            #expect(result.stderr.contains("duration") || result.stderr.contains("longest"), "\(arguments): \(result)")
        }
    }

    @Test("a worker's lease and run lengths are bounded where they enter: out of range is exit 64 naming the flag; in range runs")
    func workerTuningFlags() async throws {
        let fixture = try await Fixture.released()
        for arguments in [
            ["worker", "--unchanged-run-length", "2d"], ["worker", "--unchanged-run-length", "-1s"],
            ["worker", "--lease-duration", "0s"], ["worker", "--lease-duration", "2h"],
            ["serve", "--unchanged-run-length", "99999999999999d"],
        ] {
            let result = try await fixture.run(arguments + ["--db", fixture.db])
            #expect(!result.signaled && result.status == 64, "\(arguments): \(result)")
            #expect(result.stderr.contains(arguments[1]), "\(arguments): \(result)")
        }
        let good = try await fixture.run(["worker", "--unchanged-run-length", "0s", "--lease-duration", "5s", "--duration", "1s", "--db", fixture.db])
        #expect(good.status == 0, "\(good)")
    }

    @Test("release --wait --timeout 99999999999999d is refused before the release is recorded")
    func releaseWaitTimeout() async throws {
        let fixture = try await Fixture.released()
        let before = try fixture.lastPosition()
        let result = try await fixture.run(["release", "shop/web", "--version", "2.0.0", "--wait", "--timeout", "99999999999999d", "--db", fixture.db])
        #expect(!result.signaled && result.status == 64, "\(result)")
        #expect(result.stderr.contains("--timeout"), "\(result)")
        #expect(try fixture.lastPosition() == before, "the release was recorded")
        // And the same with a good timeout is accepted (through the parser, not around it).
        let good = try await fixture.run(["release", "shop/web", "--version", "2.0.0", "--dry-run", "--wait", "--timeout", "1s", "--db", fixture.db])
        #expect(good.status == 0, "\(good)")
    }

    @Test("positions past the end of the log are usage errors")
    func positionsPastTheEnd() async throws {
        let fixture = try await Fixture.released()
        let past = String(try fixture.lastPosition() + 1000)
        for arguments in [["events", "--from", past], ["replay", "--from", past], ["streams", "--at", past], ["explain", "shop/web@staging", "--position", past]] {
            let result = try await fixture.run(arguments + ["--db", fixture.db])
            #expect(result.status == 64 && result.stderr.contains("past the end of the log"), "\(arguments): \(result)")
        }
    }
}

@Suite("Hardening: the CLI as a client of a server")
struct ClientHardeningTests {
    static let badServers: [(url: String, says: String)] = [
        ("http://127.0.0.1:99999", "the port: expected a port from 1 to 65535"),
        ("http://127.0.0.1:0", "the port"),
        ("http://127.0.0.1:-1", "the port"),
        ("http://127.0.0.1:port", "the port"),
        ("ftp://127.0.0.1:7420", "the scheme is http or https"),
        ("127.0.0.1:7420", "no scheme"),
        ("http://", "no host"),
        ("http://user:secret@127.0.0.1:7420", "no user or password"),
        ("http://127.0.0.1:7420/?x=1", "no query"),
        ("http://exa mple.com", "a URL has no spaces or control characters"),
        ("http://127.0.0.1:7420\u{1B}[2J", "a URL has no spaces or control characters"),
        ("http://[::1", "an IPv6 host ends with"),
    ]

    @Test("KEELSON_SERVER and --server are checked (scheme, host, port) before anything connects")
    func badServers() async throws {
        let fixture = Fixture()
        for (url, says) in Self.badServers {
            let viaEnvironment = try await fixture.run(["status"], environment: ["KEELSON_SERVER": url], seconds: 30)
            #expect(!viaEnvironment.signaled && viaEnvironment.status == 64, "\(url): \(viaEnvironment)")
            #expect(viaEnvironment.stderr.contains("KEELSON_SERVER: \(says)"), "\(url): \(viaEnvironment)")
            #expect(!viaEnvironment.stderr.contains("\u{1B}"))
            let viaFlag = try await fixture.run(["events", "--server", url], seconds: 30)
            #expect(viaFlag.status == 64 && viaFlag.stderr.contains("--server: \(says)"), "\(url): \(viaFlag)")
        }
    }

    @Test("a closed port fails at once, with a sentence")
    func closedPort() async throws {
        let fixture = Fixture()
        let port = try SilentListener.closedPort()
        let result = try await fixture.run(["status"], environment: ["KEELSON_SERVER": "http://127.0.0.1:\(port)"], seconds: 60)
        #expect(!result.timedOut && result.status == 1, "\(result)")
        #expect(result.stderr.contains("cannot reach the Keelson server at http://127.0.0.1:\(port)"), "\(result)")
        #expect(result.seconds < 30, "took \(result.seconds)s")
    }

    @Test("a port that accepts and never answers: the request timeout ends it (plain requests and the live stream)")
    func silentServer() async throws {
        let fixture = Fixture()
        let listener = try SilentListener()
        defer { listener.close() }
        let url = "http://127.0.0.1:\(listener.port)"
        let status = try await fixture.run(["status", "--request-timeout", "2s"], environment: ["KEELSON_SERVER": url], seconds: 60)
        #expect(!status.timedOut && status.status == 1, "\(status)")
        #expect(status.stderr.contains("did not answer"), "\(status)")
        #expect(status.seconds < 30, "took \(status.seconds)s")
        // The environment sets it too; the live stream's first answer is bounded the same way.
        let follow = try await fixture.run(["events", "--follow"], environment: ["KEELSON_SERVER": url, "KEELSON_REQUEST_TIMEOUT": "2s"], seconds: 60)
        #expect(!follow.timedOut && follow.status == 1, "\(follow)")
        #expect(follow.seconds < 30, "took \(follow.seconds)s")
        let wait = try await fixture.run(
            ["release", "shop/web", "--version", "1.0.0", "--wait", "--request-timeout", "2s"], environment: ["KEELSON_SERVER": url], seconds: 60)
        #expect(!wait.timedOut && wait.status == 1, "\(wait)")
    }

    @Test("HTTPS against a port that never answers ends at the connect timeout")
    func httpsAgainstPlainPort() async throws {
        let fixture = Fixture()
        let listener = try SilentListener()
        defer { listener.close() }
        let result = try await fixture.run(["status"], environment: ["KEELSON_SERVER": "https://127.0.0.1:\(listener.port)"], seconds: 90)
        #expect(!result.timedOut && result.status == 1, "\(result)")
        #expect(result.seconds < 45, "took \(result.seconds)s")
    }

    @Test("against a real server: requests work within the timeouts, and HTTPS against its plain port fails fast")
    func realServer() async throws {
        let fixture = try await Fixture.released()
        let server = try ServerProcess(
            CLI(directory: fixture.directory), arguments: ["serve", "--db", fixture.db, "--listen", "127.0.0.1:0", "--worker-name", "server:timeouts"],
            log: "serve.log")
        defer { server.signal(SIGKILL) }
        #expect(try await server.waitFor("listening on http://127.0.0.1:"), "\(server.log)")
        let url = try #require(server.log.firstMatch(of: /listening on (http:\/\/127\.0\.0\.1:[0-9]+)/)?.1).description
        let token = try String(contentsOfFile: fixture.directory.appendingPathComponent("admin.token").path, encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let status = try await fixture.run(["status", "--request-timeout", "30s"], environment: ["KEELSON_SERVER": url, "KEELSON_TOKEN": token])
        #expect(status.status == 0 && status.stdout.contains("shop/web@staging"), "\(status)")
        let https = try await fixture.run(
            ["status"], environment: ["KEELSON_SERVER": url.replacingOccurrences(of: "http://", with: "https://"), "KEELSON_TOKEN": token], seconds: 90)
        #expect(!https.timedOut && https.status == 1 && https.stderr.contains("cannot reach the Keelson server"), "\(https)")
        #expect(https.seconds < 45, "took \(https.seconds)s")
    }

    /// Commands that work on the database file only.
    static let fileOnly: [[String]] = [
        ["replay"], ["db", "check"],
        ["db", "rebuild"], ["db", "backup", "copy.db"], ["events", "append", "app:shop", "Note"], ["worker", "--duration", "1s"],
        ["runtime", "apply", "shop/web@staging"], ["runtime", "remove", "shop/web@staging"], ["runtime", "watch", "shop/web", "--for", "1s"],
        ["demo"],
    ]

    @Test("commands that work on the database file refuse to run when KEELSON_SERVER is set without --db")
    func fileOnlyCommands() async throws {
        let fixture = try await Fixture.released()
        let before = try fixture.lastPosition()
        for arguments in Self.fileOnly {
            let result = try await fixture.run(arguments, environment: ["KEELSON_SERVER": "http://127.0.0.1:7420", "KEELSON_DB": fixture.db])
            #expect(result.status == 64, "\(arguments): \(result)")
            #expect(result.stderr.contains("works on the database file") && result.stderr.contains("--db"), "\(arguments): \(result)")
            #expect(try fixture.lastPosition() == before)
        }
    }

    @Test("--db beats KEELSON_SERVER; --server and --db together are refused; schema needs neither")
    func serverAndFile() async throws {
        let fixture = try await Fixture.released()
        let environment = ["KEELSON_SERVER": "http://127.0.0.1:1"]
        let streams = try await fixture.run(["streams", "--db", fixture.db], environment: environment)
        #expect(streams.status == 0, "\(streams)")
        let status = try await fixture.run(["status", "--db", fixture.db], environment: environment)
        #expect(status.status == 0 && status.stdout.contains("shop/web@staging"), "\(status)")
        let both = try await fixture.run(["status", "--db", fixture.db, "--server", "http://127.0.0.1:1"])
        #expect(both.status == 64 && both.stderr.contains("not both"), "\(both)")
        let schema = try await fixture.run(["schema"], environment: environment)
        #expect(schema.status == 0)
    }
}

@Suite("Hardening: opening the database")
struct StoreOpeningHardeningTests {
    @Test("--db naming a FIFO, a device or a directory is refused at once, by every command")
    func notARegularFile() async throws {
        let fixture = Fixture()
        let fifo = fixture.directory.appendingPathComponent("pipe.db").path
        #expect(mkfifo(fifo, 0o600) == 0)
        for arguments in [["events"], ["status"], ["events", "append", "a", "B"], ["db", "check"], ["serve", "--listen", "127.0.0.1:0"], ["worker"]] {
            let result = try await fixture.run(arguments + ["--db", fifo], seconds: 30)
            #expect(!result.timedOut && result.status == 1, "\(arguments): \(result)")
            #expect(result.stderr.contains("is a FIFO (named pipe); a Keelson database is a regular file"), "\(arguments): \(result)")
        }
        let device = try await fixture.run(["events", "--db", "/dev/zero"], seconds: 30)
        #expect(device.status == 1 && device.stderr.contains("is a device"), "\(device)")
        // A FIFO where SQLite would put the -wal is refused too.
        #expect(mkfifo(fixture.db + "-wal", 0o600) == 0)
        let wal = try await fixture.run(["events", "append", "a", "B", "--db", fixture.db], seconds: 30)
        #expect(wal.status == 1 && wal.stderr.contains("its -wal file is a FIFO"), "\(wal)")
        // --token-file and --data @FILE read regular files only.
        let token = try await fixture.run(["status", "--server", "http://127.0.0.1:1", "--token-file", fifo], seconds: 30)
        #expect(token.status == 64 && token.stderr.contains("is not a regular file"), "\(token)")
    }

    @Test("a new database, its -wal and -shm are 0600, the folders Keelson creates 0700; a file others can read is warned about")
    func permissions() async throws {
        let fixture = Fixture()
        let db = fixture.directory.appendingPathComponent("new/sub/k.db").path
        let appended = try await fixture.run(["events", "append", "app:shop", "Note", "--db", db])
        #expect(appended.status == 0, "\(appended)")
        #expect(Fixture.mode(db) == 0o600)
        #expect(Fixture.mode(fixture.directory.appendingPathComponent("new").path) == 0o700)
        #expect(Fixture.mode(fixture.directory.appendingPathComponent("new/sub").path) == 0o700)
        // While a reader holds it open, SQLite keeps -wal and -shm beside it: with the file's mode.
        let follower = try ServerProcess(CLI(directory: fixture.directory), arguments: ["events", "--follow", "--db", db], log: "follow.log")
        defer { follower.signal(SIGKILL) }
        #expect(try await follower.waitFor("Note"))
        let appendedAgain = try await fixture.run(["events", "append", "app:shop", "Note", "--db", db])
        #expect(appendedAgain.status == 0)
        for suffix in ["-wal", "-shm"] {
            #expect(FileManager.default.fileExists(atPath: db + suffix), "\(suffix) missing")
            #expect(Fixture.mode(db + suffix) == 0o600, "\(suffix): \(String(Fixture.mode(db + suffix), radix: 8))")
        }
        // The local runtimes' state folder, made by the commands that run runtimes.
        let worker = try await fixture.run(["worker", "--duration", "1s", "--db", db])
        #expect(worker.status == 0, "\(worker)")
        #expect(Fixture.mode(fixture.directory.appendingPathComponent("new/sub/state").path) == 0o700)
        // An existing file others can read works, with a warning.
        #expect(chmod(db, 0o644) == 0)
        let listed = try await fixture.run(["events", "--db", db])
        #expect(listed.status == 0 && listed.stderr.contains("can be read by other users (mode 644)") && listed.stderr.contains("chmod 600"), "\(listed)")
    }
}

@Suite("Hardening: read-only databases")
struct ReadOnlyHardeningTests {
    static let readCommands: [[String]] = [
        ["status"], ["events"], ["streams"], ["timeline"], ["timeline", "shop/web"], ["explain", "shop/web@staging"],
        ["replay"], ["get", "desired", "shop/web"], ["db", "check"], ["runtime", "list"], ["token", "list"],
    ]

    /// A released fixture with a decision recorded (so that explain has something to show).
    static func decided() async throws -> Fixture {
        let fixture = try await Fixture.released()
        let worker = try await fixture.run(["worker", "--duration", "8s", "--db", fixture.db])
        #expect(worker.status == 0, "\(worker)")
        return fixture
    }

    static func digest(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    @Test("--read-only reads every way and changes nothing in the file")
    func readOnlyFlag() async throws {
        let fixture = try await Self.decided()
        let before = try Self.digest(fixture.db)
        for arguments in Self.readCommands {
            let result = try await fixture.run(arguments + ["--read-only", "--db", fixture.db])
            #expect(result.status == 0, "\(arguments): \(result)")
        }
        #expect(try Self.digest(fixture.db) == before)
        let refresh = try await fixture.run(["get", "current", "shop/web", "--refresh", "--read-only", "--db", fixture.db])
        #expect(refresh.status == 64, "\(refresh)")
    }

    @Test("on a read-only mount: every read command works by itself, write commands fail with a sentence")
    func readOnlyMount() async throws {
        let fixture = try await Self.decided()
        // A backup (one file, no -wal) as an incident copy, on a read-only bind mount in a private mount namespace.
        let source = fixture.directory.appendingPathComponent("incident")
        let mount = fixture.directory.appendingPathComponent("ro")
        try FileManager.default.createDirectory(at: source, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: mount, withIntermediateDirectories: true)
        let backup = try await fixture.run(["db", "backup", source.appendingPathComponent("k.db").path, "--db", fixture.db])
        #expect(backup.status == 0, "\(backup)")
        let copy = mount.appendingPathComponent("k.db").path
        func onMount(_ arguments: [String]) async throws -> BoundedRun.Output {
            let script = "mount --bind -o ro \"$0\" \"$1\" && shift && exec \"$@\""
            return try await BoundedRun.run(
                arguments, in: fixture.directory, seconds: 60,
                prefix: ["/usr/bin/unshare", "-m", "/bin/sh", "-c", script, source.path, mount.path])
        }
        let probe = try await onMount(["version"])
        try #require(probe.status == 0, "this sandbox cannot make a read-only bind mount: \(probe)")
        for arguments in Self.readCommands {
            let result = try await onMount(arguments + ["--db", copy])
            #expect(result.status == 0, "\(arguments): \(result)")
        }
        let check = try await onMount(["db", "check", "--db", copy])
        #expect(check.stdout.contains("check: clean"), "\(check)")
        for arguments in [["events", "append", "app:shop", "Note"], ["approve", "shop/web@prod", "--release", "1.0.0"], ["db", "rebuild"]] {
            let result = try await onMount(arguments + ["--db", copy])
            #expect(result.status == 1, "\(arguments): \(result)")
            #expect(result.stderr.contains("cannot be written") && result.stderr.contains("not writable"), "\(arguments): \(result)")
        }
    }

    @Test("a database with commits in its -wal, on a read-only mount without -shm: refused with a sentence, not read half")
    func walWithoutShm() async throws {
        let fixture = try await Fixture.released()
        // Hold the database open so the -wal keeps its commits, append more, copy file and -wal only.
        let holder = try ServerProcess(CLI(directory: fixture.directory), arguments: ["events", "--follow", "--db", fixture.db], log: "hold.log")
        defer { holder.signal(SIGKILL) }
        #expect(try await holder.waitFor("ReleaseRequested"))
        #expect(try await fixture.run(["events", "append", "app:shop", "Note", "--db", fixture.db]).status == 0)
        let source = fixture.directory.appendingPathComponent("copied")
        let mount = fixture.directory.appendingPathComponent("ro")
        try FileManager.default.createDirectory(at: source, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: mount, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: fixture.db, toPath: source.appendingPathComponent("k.db").path)
        try FileManager.default.copyItem(atPath: fixture.db + "-wal", toPath: source.appendingPathComponent("k.db-wal").path)
        let script = "mount --bind -o ro \"$0\" \"$1\" && shift && exec \"$@\""
        let result = try await BoundedRun.run(
            ["events", "--db", mount.appendingPathComponent("k.db").path], in: fixture.directory, seconds: 60,
            prefix: ["/usr/bin/unshare", "-m", "/bin/sh", "-c", script, source.path, mount.path])
        try #require(!result.stderr.contains("mount:"), "this sandbox cannot make a read-only bind mount: \(result)")
        #expect(result.status == 1, "\(result)")
        #expect(result.stderr.contains("-wal holds commits"), "\(result)")
    }

    @Test("another user's database (readable, not writable) is opened read-only by itself")
    func anotherUsersFile() async throws {
        let fixture = try await Self.decided()
        let shared = fixture.directory.appendingPathComponent("shared")
        try FileManager.default.createDirectory(at: shared, withIntermediateDirectories: true)
        let copy = shared.appendingPathComponent("k.db").path
        #expect(try await fixture.run(["db", "backup", copy, "--db", fixture.db]).status == 0)
        #expect(chmod(copy, 0o644) == 0 && chmod(shared.path, 0o755) == 0 && chmod(fixture.directory.path, 0o755) == 0)
        let nobody = ["/usr/bin/setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
        let probe = try await BoundedRun.run(["version"], in: URL(fileURLWithPath: "/tmp"), prefix: nobody)
        try #require(probe.status == 0, "cannot run as nobody here: \(probe)")
        for arguments in Self.readCommands {
            let result = try await BoundedRun.run(arguments + ["--db", copy], in: URL(fileURLWithPath: "/tmp"), prefix: nobody)
            #expect(result.status == 0, "\(arguments): \(result)")
        }
        let write = try await BoundedRun.run(["events", "append", "app:shop", "Note", "--db", copy], in: URL(fileURLWithPath: "/tmp"), prefix: nobody)
        #expect(write.status == 1 && write.stderr.contains("cannot be written: the file is not writable"), "\(write)")
    }
}

@Suite("Hardening: backups and recorded values")
struct BackupAndPayloadHardeningTests {
    @Test("db backup copies every acknowledged event (those in the -wal too) while a writer appends; the copy is 0600 and checks clean")
    func backupWhileWriting() async throws {
        let fixture = try await Fixture.released()
        // A writer holds the database open (the -wal keeps commits) and appends while the backup runs.
        let holder = try ServerProcess(CLI(directory: fixture.directory), arguments: ["events", "--follow", "--db", fixture.db], log: "hold.log")
        defer { holder.signal(SIGKILL) }
        #expect(try await holder.waitFor("ReleaseRequested"))
        for index in 0..<20 { #expect(try await fixture.run(["events", "append", "app:shop", "Note", "--data", "{\"n\":\(index)}", "--db", fixture.db]).status == 0) }
        let acknowledged = try fixture.lastPosition()
        async let more: [Int32] = {
            var statuses: [Int32] = []
            for _ in 0..<20 { statuses.append(try await fixture.run(["events", "append", "app:other", "Note", "--db", fixture.db]).status) }
            return statuses
        }()
        let copy = fixture.directory.appendingPathComponent("backups/k-copy.db").path
        let backup = try await fixture.run(["db", "backup", copy, "-o", "json", "--db", fixture.db])
        let statuses = try await more
        #expect(statuses.allSatisfy { $0 == 0 })
        #expect(backup.status == 0, "\(backup)")
        let report = try JSONSerialization.jsonObject(with: Data(backup.stdout.utf8)) as? [String: Any]
        let copied = (report?["lastPosition"] as? NSNumber)?.int64Value ?? -1
        #expect(copied >= acknowledged)
        #expect(try fixture.lastPosition(copy) == copied)
        #expect(Fixture.mode(copy) == 0o600)
        #expect(!FileManager.default.fileExists(atPath: copy + "-wal"))
        let check = try await fixture.run(["db", "check", "--db", copy])
        #expect(check.status == 0 && check.stdout.contains("check: clean"), "\(check)")
        // An existing destination is never overwritten.
        let again = try await fixture.run(["db", "backup", copy, "--db", fixture.db])
        #expect(again.status == 1 && again.stderr.contains("already exists"), "\(again)")
        #expect(try fixture.lastPosition(copy) == copied)
    }

    static let refusedPayloads: [(type: String, payload: String, says: String)] = [
        ("PolicyCompiled", #"{"configDigest":"x","policy":{"application":"shop","channels":[{"name":"prod","after":[],"soakSeconds":1000000000000000000,"approvals":0,"windows":[],"freezes":[],"alertGates":[],"watchSeconds":300}]}}"#,
         "soakSeconds: expected 0 to 31536000 seconds"),
        ("PolicyCompiled", #"{"configDigest":"x","policy":{"application":"shop","channels":[{"name":"prod","after":[],"soakSeconds":0,"approvals":0,"windows":[],"freezes":[],"alertGates":[],"watchSeconds":-1}]}}"#,
         "watchSeconds: expected 0 to"),
        ("PolicyCompiled", #"{"soak":"forever"}"#, "does not decode as PolicyCompiled"),
        ("DesiredStateCompiled", #"{"instance":"shop/web@prod","digest":"d","document":"{\"progressDeadlineSeconds\":9999999999999}","version":"1","parameters":{},"configDigest":"c"}"#,
         "document.progressDeadlineSeconds: expected 1 to 31536000"),
        ("DesiredStateCompiled", #"{"instance":"shop/web@prod"}"#, "does not decode as DesiredStateCompiled"),
        ("DecisionMade", #"{"x":1}"#, "does not decode as DecisionMade"),
        ("ApprovalGranted", #"[]"#, "does not decode as ApprovalGranted"),
    ]

    @Test("events append refuses a Keelson event type whose payload does not decode or is out of bounds")
    func appendRefused() async throws {
        let fixture = try await Fixture.released()
        let before = try fixture.lastPosition()
        for (type, payload, says) in Self.refusedPayloads {
            let result = try await fixture.run(["events", "append", "app:shop", type, "--data", payload, "--db", fixture.db])
            #expect(result.status == 64, "\(type): \(result)")
            #expect(result.stderr.contains(says), "\(type): \(result)")
            #expect(try fixture.lastPosition() == before)
        }
        // Other types, and good payloads of Keelson's, are appended as before.
        #expect(try await fixture.run(["events", "append", "app:shop", "Note", "--data", #"{"soakSeconds":1e300}"#, "--db", fixture.db]).status == 0)
        #expect(try await fixture.run(["events", "append", "alerts", "AlertFired", "--data", #"{"name":"A","labels":{}}"#, "--db", fixture.db]).status == 0)
    }

    @Test("db check lists recorded events with out-of-range or undecodable payloads, by position, without trapping")
    func checkReportsRecordedValues() async throws {
        let fixture = try await Fixture.released()
        // Written around the CLI, as an old Keelson or a hand would have: straight into the file.
        let last = try fixture.lastPosition()
        for (offset, payload) in Self.refusedPayloads.enumerated() {
            let escaped = payload.payload.replacingOccurrences(of: "'", with: "''")
            try fixture.sqlite(
                "INSERT INTO events (position, stream_id, version, type, payload, recorded_at) VALUES (\(last + 1 + Int64(offset)), 'hand:\(offset)', 1, '\(payload.type)', '\(escaped)', 0)")
        }
        let rebuilt = try await fixture.run(["db", "rebuild", "--db", fixture.db])
        #expect(rebuilt.status == 0 && !rebuilt.signaled, "\(rebuilt)")
        let check = try await fixture.run(["db", "check", "--db", fixture.db])
        #expect(!check.signaled && check.status == 1, "\(check)")
        for (offset, payload) in Self.refusedPayloads.enumerated() {
            #expect(check.stdout.contains("position \(last + 1 + Int64(offset)) (\(payload.type)): ") && check.stdout.contains(payload.says), "\(payload.says): \(check)")
        }
        #expect(check.stdout.contains("\(Self.refusedPayloads.count) event(s) with a payload out of bounds or unreadable"), "\(check)")
        let json = try await fixture.run(["db", "check", "-o", "json", "--db", fixture.db])
        let report = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect(((report?["events"] as? [String: Any])?["problems"] as? [Any])?.count == Self.refusedPayloads.count)
        // A recorded decision that cannot be read is not one that replays identically.
        let undecodable = last + 1 + Int64(Self.refusedPayloads.firstIndex { $0.payload == #"{"x":1}"# && $0.type == "DecisionMade" }!)
        let replay = try await fixture.run(["replay", "--verify", "--db", fixture.db])
        #expect(replay.status == 1 && !replay.signaled, "\(replay)")
        #expect(replay.stdout.contains("position \(undecodable)  hand:") && replay.stdout.contains("the recorded decision cannot be read: the payload does not decode as DecisionMade"), "\(replay)")
        // The other readers of the log do not trap on them either.
        for arguments in [["status"], ["timeline"], ["replay"], ["events", "-o", "json"], ["streams"]] {
            let result = try await fixture.run(arguments + ["--db", fixture.db])
            #expect(!result.signaled && [0, 1].contains(result.status), "\(arguments): \(result)")
        }
    }
}
