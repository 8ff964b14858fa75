import KeelsonCore
import Foundation

/// Which files a config may have read into the log. Every file the compiler reads — config files
/// found in the config directory, Kubernetes manifests, ECS task definitions — is recorded in full
/// by `ConfigApplied`, which every viewer of the log can read; so a config may only read files
/// inside its own directory (the folder given to `apply`/`validate`, or the folder of a single
/// file), after symbolic links are resolved, or inside a directory the person applying it allowed
/// explicitly (`keelson apply --allow-files-from DIR`). Programs and working directories are run,
/// not read, and are not checked here (docs/config.md says why).
public struct FileAccess: Sendable, Hashable {
    /// Resolved directories files may come from; nil: anywhere (a config already in the log,
    /// whose files were checked when it was applied).
    public var directories: [String]?
    /// The config directory, as given (for messages).
    public var configDirectory: String

    /// No restriction: for configs read back from the log.
    public static let anywhere = FileAccess(directories: nil, configDirectory: "")

    public init(directories: [String]?, configDirectory: String) {
        self.directories = directories
        self.configDirectory = configDirectory
    }

    /// The config directory of `path` (itself when a directory, else its folder) and the
    /// allowed directories, resolved through `files`.
    public static func within(configPath path: String, allowing allowed: [String] = [], files: ConfigFiles) -> FileAccess {
        let isDirectory = files.isDirectory(path) ?? false
        let resolved = files.resolvedPath(path)
        let directory = isDirectory ? resolved : FilePaths.parent(resolved)
        let shown = isDirectory ? path : (FilePaths.parent(path).isEmpty ? "." : FilePaths.parent(path))
        return FileAccess(
            directories: [directory.isEmpty ? "/" : directory] + allowed.map { files.resolvedPath($0) }, configDirectory: shown)
    }

    /// What is wrong with reading `path`, or nil when it may be read.
    public func problem(reading path: String, files: ConfigFiles) -> String? {
        guard let directories else { return nil }
        let resolved = files.resolvedPath(path)
        if directories.contains(where: { LexicalPath.isInside(resolved, $0) }) { return nil }
        let shown = resolved == path ? "\(BoundedInput.quoted(path)) is" : "\(BoundedInput.quoted(path)) resolves to \(BoundedInput.quoted(resolved)),"
        return "\(shown) outside the config directory \(BoundedInput.quoted(configDirectory)); "
            + "a config may only read files inside it, or inside a directory allowed with `keelson apply --allow-files-from DIR`"
    }
}
