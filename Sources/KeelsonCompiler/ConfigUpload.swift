import KeelsonCore
import Foundation

/// What `keelson apply` sends to a server: the files the config reads, read from this machine's
/// disk exactly as an apply on a database file would read them — so that the server, which judges
/// the uploaded files by their paths alone, answers what `keelson apply --db` would have.
///
/// Some problems only this machine can see: a byte that is not UTF-8, a file too large or not a
/// regular file, a symbolic link out of the config directory. The config is read twice — from the
/// disk, then from the files that would be uploaded, as the server will — and when the two
/// readings disagree, the disk's problems are the answer and nothing is sent.
public enum ConfigUpload {
    public enum Outcome {
        /// Every file the config read (path as named, text), sorted by path.
        case files([(path: String, text: String)])
        /// Problems the server could not see from the uploaded files.
        case problems([ConfigDiagnostic])
    }

    public static func collect(source: String, allowing: [String]) -> Outcome {
        let disk = DiskFiles()
        let fromDisk = diagnostics(source: source, files: disk, allowing: allowing)
        let recorded = RecordedFiles(disk.read)
        let fromUpload = diagnostics(source: source, files: recorded, allowing: allowing)
        guard fromDisk == fromUpload else { return .problems(fromDisk) }
        return .files(disk.read.keys.sorted().map { ($0, disk.read[$0]!) })
    }

    private static func diagnostics(source: String, files: ConfigFiles, allowing: [String]) -> [ConfigDiagnostic] {
        let loaded = ConfigSource.load(path: source, from: files, allowing: allowing)
        var problems = loaded.diagnostics
        if case .failure(let errors) = IntentParser.parse(loaded, files: files) { problems += errors.diagnostics }
        return ConfigErrors(problems).diagnostics
    }
}
