import Foundation
import Testing

/// Logs written by earlier Keelson versions keep working: `Tests/Fixtures/logs/engine-2.db` is a
/// full rollout recorded by engine version 2 (schema 0008), `engine-3.db` one recorded by engine
/// version 3 with whole projection snapshots (schema 0010) (`tools/fixtures/record-log.sh`: releases, a worker
/// SIGKILLed mid-apply and resumed, approvals, a gating alert, a bad release rolled back).
@Suite("A log recorded by engine version 2")
struct UpgradeFixtureTests {
    static let fixture = FirstHourTests.repository.appendingPathComponent("Tests/Fixtures/logs/engine-2.db")

    @Test("opens, passes db check, rebuilds its projections, replays every decision identically, and reads")
    func engineTwoLog() async throws {
        let cli = CLI()
        try FileManager.default.copyItem(atPath: Self.fixture.path, toPath: cli.db)
        let types = try await cli.run(["events", "--limit", "1000", "-o", "json", "--db", cli.db])
        let events = try #require(try JSONSerialization.jsonObject(with: Data(types.stdout.utf8)) as? [[String: Any]], "\(types.stderr)")
        let kinds = Set(events.compactMap { $0["type"] as? String })
        for kind in ["WorkerStarted", "ApprovalGranted", "AlertFired", "AlertResolved", "ReleaseMarkedBad", "ApplyFailed", "StateUnchanged"] {
            #expect(kinds.contains(kind), "the fixture holds \(kind)")
        }
        #expect(events.filter { $0["type"] as? String == "WorkerStarted" }.count == 2, "a worker restart")

        let checked = try await cli.run(["db", "check", "--db", cli.db])
        #expect(checked.status == 0, "\(checked.stdout)\(checked.stderr)")
        let rebuilt = try await cli.run(["db", "rebuild", "--db", cli.db])
        #expect(rebuilt.status == 0, "\(rebuilt.stdout)\(rebuilt.stderr)")
        #expect(try await cli.run(["db", "check", "--db", cli.db]).status == 0)

        let replay = try await cli.run(["replay", "--verify", "--db", cli.db])
        #expect(replay.status == 0, "\(replay.stdout)\(replay.stderr)")
        #expect(replay.stdout.contains("87 identical, 0 different"), "\(replay.stdout)")
        // What engine 3 would have decided on the same log: the instances that kept 1.0.0 while
        // 1.1.0-bad failed in staging are converged on 1.0.0, not on the release held back.
        let counterfactual = try await cli.run(["replay", "--engine", "3", "--db", cli.db])
        #expect(counterfactual.status == 0, "\(counterfactual.stderr)")
        #expect(counterfactual.stdout.contains("82 identical, 5 different (with engine version 3)"), "\(counterfactual.stdout)")
        #expect(counterfactual.stdout.contains("shop/web@prod-eu  (engine 2 → 3)\n  version: 1.1.0-bad → 1.0.0"), "\(counterfactual.stdout)")
        #expect(try await cli.run(["replay", "--verify", "--engine", "3", "--db", cli.db]).status == 1)
        #expect(try await cli.run(["replay", "--engine", "current", "--db", cli.db]).stdout == counterfactual.stdout)
        let unknown = try await cli.run(["replay", "--engine", "7", "--db", cli.db])
        #expect(unknown.status == 64 && unknown.stderr.contains("'recorded', 'current', '2' or '3'"), "\(unknown.stderr)")

        let reissued = try await cli.run(["explain", "shop/web@staging", "--position", "53", "--db", cli.db])
        #expect(reissued.stdout.contains("resuming after a restart: re-issuing the apply of 1.0.0"), "\(reissued.stdout)")

        let status = try await cli.run(["status", "-o", "json", "--db", cli.db])
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [[String: Any]])
        let byInstance = Dictionary(uniqueKeysWithValues: rows.map { ($0["instance"] as! String, $0) })
        #expect(byInstance.count == 8)
        #expect(byInstance["shop/web@staging"]?["status"] as? String == "rolledBack")
        #expect(byInstance["shop/worker@prod-eu"]?["lastGood"] as? String == "1.0.0")
        let timeline = try await cli.run(["timeline", "shop/web@staging", "--limit", "500", "--db", cli.db])
        #expect(timeline.stdout.contains("resuming after a restart"), "\(timeline.stdout)")
    }

    static let engineThree = FirstHourTests.repository.appendingPathComponent("Tests/Fixtures/logs/engine-3.db")

    @Test("a log with whole projection snapshots is migrated to row history: check, replay and reads of the past agree")
    func engineThreeLog() async throws {
        let cli = CLI()
        try FileManager.default.copyItem(atPath: Self.engineThree.path, toPath: cli.db)
        let snapshotTables = "SELECT COUNT(*) FROM sqlite_master WHERE name LIKE '%_snapshots' AND name <> 'engine_snapshots'"
        #expect(try Self.query(cli.db, snapshotTables) == "6", "the fixture holds the old snapshot tables")

        let checked = try await cli.run(["db", "check", "--db", cli.db])
        #expect(checked.status == 0, "\(checked.stdout)\(checked.stderr)")
        #expect(checked.stdout.contains("instance_status: ok"), "\(checked.stdout)")
        #expect(try Self.query(cli.db, snapshotTables) == "0", "the snapshot tables are gone")
        #expect(Int(try Self.query(cli.db, "SELECT COUNT(*) FROM instance_status_history")) ?? 0 > 100)
        let streams = try Self.query(cli.db, "SELECT COUNT(DISTINCT stream_id) FROM events")
        #expect(try Self.query(cli.db, "SELECT COUNT(*) FROM stream_catalogue") == streams)

        let replay = try await cli.run(["replay", "--verify", "--db", cli.db])
        #expect(replay.status == 0, "\(replay.stdout)\(replay.stderr)")
        #expect(replay.stdout.contains("86 identical, 0 different"), "\(replay.stdout)")

        // The past, read from the history: what the snapshots and a fold gave before the migration
        // (recorded with the binary that wrote the fixture).
        func statuses(at position: Int) async throws -> [String: String] {
            let run = try await cli.run(["status", "--position", String(position), "-o", "json", "--db", cli.db])
            let rows = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [[String: Any]], "\(run.stderr)")
            return Dictionary(uniqueKeysWithValues: rows.map { ($0["instance"] as! String, "\($0["status"]!) \($0["decisionPosition"]!)") })
        }
        let early = try await statuses(at: 22)
        #expect(early["shop/web@staging"] == "converging 22")
        #expect(early["shop/web@canary"] == "idle 0")
        let late = try await statuses(at: 195)
        #expect(late["shop/web@staging"] == "rollingBack 189")
        #expect(late["shop/web@prod-us"] == "converged 195")
        #expect(late["shop/worker@staging"] == "converged 85")
        let now = try await statuses(at: 200)
        #expect(now["shop/web@staging"]?.hasPrefix("rolledBack") == true, "\(now)")
    }

    @Test("db archive moves closed history out and every reader reads through it; db restore brings it back")
    func archiveAndRestore() async throws {
        let cli = CLI()
        try FileManager.default.copyItem(atPath: Self.engineThree.path, toPath: cli.db)
        let archivePath = cli.directory.appendingPathComponent("archive-1.db").path
        func reads() async throws -> [String] {
            [
                try await cli.run(["replay", "--verify", "--db", cli.db]).stdout,
                try await cli.run(["timeline", "shop/web@staging", "--limit", "500", "--db", cli.db]).stdout,
                try await cli.run(["status", "--position", "120", "-o", "json", "--db", cli.db]).stdout,
                try await cli.run(["explain", "shop/web@staging", "--position", "53", "--db", cli.db]).stdout,
                try await cli.run(["events", "--stream", "instance:shop/web@staging", "--limit", "1000", "-o", "json", "--db", cli.db]).stdout,
            ]
        }
        let before = try await reads()
        #expect(before[0].contains("86 identical, 0 different"))

        // The fixture's events were recorded over a minute or two: archive up to its 150th.
        let at = try Self.query(cli.db, "SELECT strftime('%Y-%m-%dT%H:%M:%fZ', recorded_at / 1000.0, 'unixepoch') FROM events WHERE position = 151")
        let archived = try await cli.run(["db", "archive", "--before", at, "--to", archivePath, "-o", "json", "--db", cli.db])
        #expect(archived.status == 0, "\(archived.stderr)")
        let record = try #require(try JSONSerialization.jsonObject(with: Data(archived.stdout.utf8)) as? [String: Any], "\(archived.stdout)")
        let last = try #require(record["lastPosition"] as? Int)
        #expect(record["firstPosition"] as? Int == 1 && last >= 100 && last <= 150, "\(record)")
        #expect(try Self.query(cli.db, "SELECT MIN(position) FROM events") == String(last + 1))
        #expect(Self.mode(archivePath) == 0o400)

        #expect(try await reads() == before, "every read gives what it gave before the archive")
        let checked = try await cli.run(["db", "check", "--db", cli.db])
        #expect(checked.status == 0 && checked.stdout.contains("archives:    ok (1: positions 1–\(last)"), "\(checked.stdout)")

        let again = try await cli.run(["db", "archive", "--before", at, "--to", archivePath, "--db", cli.db])
        #expect(again.status != 0 && again.stderr.contains("already exists"), "\(again.stderr)")
        let none = try await cli.run(["db", "archive", "--before", "2001-01-01T00:00:00Z", "--to", archivePath + ".2", "--db", cli.db])
        #expect(none.status != 0 && none.stderr.contains("nothing to archive"), "\(none.stderr)")

        // A changed archive: check says so, restore refuses.
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: archivePath)
        let copy = archivePath + ".good"
        try FileManager.default.copyItem(atPath: archivePath, toPath: copy)
        _ = try Self.query(archivePath, "UPDATE events SET recorded_at = recorded_at + 1 WHERE position = 7")
        let tampered = try await cli.run(["db", "check", "--db", cli.db])
        #expect(tampered.status == 1 && tampered.stdout.contains("hash to"), "\(tampered.stdout)")
        let refused = try await cli.run(["db", "restore", archivePath, "--db", cli.db])
        #expect(refused.status != 0 && refused.stderr.contains("does not hold what was archived"), "\(refused.stderr)")
        try FileManager.default.removeItem(atPath: archivePath)
        let missing = try await cli.run(["status", "--db", cli.db])
        #expect(missing.status != 0 && missing.stderr.contains("archive-1.db, which is missing"), "\(missing.stderr)")
        try FileManager.default.moveItem(atPath: copy, toPath: archivePath)

        let restored = try await cli.run(["db", "restore", archivePath, "--db", cli.db])
        #expect(restored.status == 0, "\(restored.stderr)")
        #expect(try Self.query(cli.db, "SELECT MIN(position) FROM events") == "1")
        #expect(try await reads() == before)
        #expect(try await cli.run(["db", "check", "--db", cli.db]).status == 0)
    }

    static func mode(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions]) as? Int ?? -1) & 0o777
    }

    /// One value read straight from the file with the sqlite3 shell (not through the CLI under test).
    static func query(_ path: String, _ sql: String) throws -> String {
        let sqlite = Process()
        sqlite.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        sqlite.arguments = [path, sql]
        let out = Pipe()
        sqlite.standardOutput = out
        try sqlite.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        sqlite.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
