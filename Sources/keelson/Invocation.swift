import Foundation
import KeelsonCore

/// How the person who ran this `keelson` can run it again, for the commands Keelson suggests.
enum Invocation {
    /// `ARGUMENTS` as a command to paste: after `swift run -q keelson` when this binary is
    /// SwiftPM's build in the current directory, `keelson` when that name on `PATH` is this binary,
    /// else its path; then `--db PATH` (options follow the subcommand) unless the database is the
    /// default one.
    static func keelson(_ arguments: String, db: String?) -> String {
        command + " " + arguments + (db.map { " --db \(Shell.quoted($0))" } ?? "")
    }

    static let command: String = {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments.first ?? "keelson"
        let here = FileManager.default.currentDirectoryPath
        if executable.hasPrefix(FilePaths.join(here, ".build") + "/"), FileManager.default.fileExists(atPath: FilePaths.join(here, "Package.swift")) {
            return "swift run -q keelson"
        }
        for folder in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let candidate = FilePaths.join(String(folder), "keelson")
            let resolved = (try? FileManager.default.destinationOfSymbolicLink(atPath: candidate)).map {
                $0.hasPrefix("/") ? $0 : FilePaths.join(String(folder), $0)
            } ?? candidate
            if FileManager.default.isExecutableFile(atPath: candidate) {
                return FilePaths.standardized(resolved) == FilePaths.standardized(executable) ? "keelson" : Shell.quoted(executable)
            }
        }
        return Shell.quoted(executable)
    }()
}

/// Quoting for commands printed to be pasted into a POSIX shell.
enum Shell {
    static func quoted(_ word: String) -> String {
        let plain = word.unicodeScalars.allSatisfy {
            CharacterSet.alphanumerics.contains($0) && $0.isASCII || "-_./:=@%+,".unicodeScalars.contains($0)
        }
        return plain && !word.isEmpty ? word : "'" + word.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
    }
}
