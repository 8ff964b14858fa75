import Foundation
import Testing

@testable import KeelsonRuntimes

@Suite("Running programs")
struct ProgramRunnerTests {
    /// A script that prints `ran`, in a new folder.
    static func script() throws -> (folder: URL, path: String) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-runner-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let path = folder.appendingPathComponent("program.sh").path
        try "#!/bin/sh\necho ran\n".write(toFile: path, atomically: false, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        return (folder, path)
    }

    @Test("a program file still open for writing somewhere (ETXTBSY) starts once it is closed; held open, the start fails saying why")
    func textFileBusy() async throws {
        let (folder, path) = try Self.script()
        defer { try? FileManager.default.removeItem(at: folder) }

        // Held open for writing for a moment, as by a process forked while the file was written.
        let writer = try #require(FileHandle(forWritingAtPath: path))
        let closer = Task {
            try await Task.sleep(for: .milliseconds(150))
            try writer.close()
        }
        let outcome = try await ProgramRunner().run(path, arguments: [], environment: [:], workingDirectory: nil, stdin: nil, timeout: .seconds(30))
        try await closer.value
        #expect(outcome.exitCode == 0 && outcome.stdout == "ran\n", "\(outcome)")

        // Held open throughout: an error that says what, after a bounded number of tries.
        let holder = try #require(FileHandle(forWritingAtPath: path))
        defer { try? holder.close() }
        let started = ContinuousClock.now
        await #expect {
            _ = try await ProgramRunner().run(path, arguments: [], environment: [:], workingDirectory: nil, stdin: nil, timeout: .seconds(30))
        } throws: { error in
            "\(error)".contains("could not start '\(path)'") && "\(error)".contains("busy")
        }
        #expect(ContinuousClock.now - started < .seconds(60), "a handful of tries, about a second of waiting between them")
    }
}
