import Foundation
import GRDB
import KeelsonCore
import KeelsonTestSupport
import Testing
@testable import KeelsonStore

@Suite("The events table is append-only in the database itself")
struct AppendOnlyTests {
    @Test("UPDATE and DELETE through a raw connection fail and change nothing")
    func rawConnection() async throws {
        let directory = TemporaryDirectory()
        let store = try makeStore(directory)
        try await store.append([note("a"), note("b")], to: "app:shop")
        let queue = try DatabaseQueue(path: store.path)
        for sql in [
            "UPDATE events SET payload = '{}' WHERE position = 1",
            "UPDATE events SET stream_id = 'other'",
            "DELETE FROM events WHERE position = 2",
            "DELETE FROM events",
        ] {
            let error = #expect(throws: DatabaseError.self) { try queue.write { try $0.execute(sql: sql) } }
            #expect(error?.message?.contains("append-only") == true, "\(sql)")
        }
        #expect(try await store.events(EventFilter()).map(\.payload) == [#"{"text":"a"}"#, #"{"text":"b"}"#])
    }

    @Test("UPDATE and DELETE through the sqlite3 command-line tool fail", .enabled(if: sqlite3Path != nil))
    func sqlite3Tool() async throws {
        let directory = TemporaryDirectory()
        let store = try makeStore(directory)
        try await store.append([note("a")], to: "app:shop")
        try store.close()
        for sql in ["UPDATE events SET type = 'X';", "DELETE FROM events;"] {
            let database = directory.path("test.db")
            let (status, message) = try await onOwnThread { () throws -> (Int32, String) in
                let process = Process()
                process.executableURL = URL(fileURLWithPath: sqlite3Path!)
                process.arguments = [database, sql]
                let stderr = Pipe()
                process.standardError = stderr
                try process.run()
                let message = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                process.waitUntilExit()
                return (process.terminationStatus, message)
            }
            #expect(status != 0)
            #expect(message.contains("append-only"))
        }
        let reopened = try makeStore(directory)
        #expect(try await reopened.events(EventFilter()).map(\.type) == ["Note"])
    }
}

let sqlite3Path: String? = ["/usr/bin/sqlite3", "/usr/local/bin/sqlite3"].first {
    FileManager.default.isExecutableFile(atPath: $0)
}
