import KeelsonCore
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a file could not be read as config text.
public enum FileProblem: Error, Sendable, Hashable {
    case missing
    /// A directory, a FIFO, a device…: reading one could block or read without end.
    case notRegularFile
    /// Larger than ``ConfigSource/maxFileBytes``.
    case tooLarge(bytes: Int)
    /// The first byte that is not part of valid UTF-8, with its 1-based line and column (in
    /// characters, as YAML errors count).
    case notUTF8(line: Int, column: Int, byte: UInt8)
    case unreadable

    public var message: String {
        switch self {
        case .missing: "no such file"
        case .notRegularFile: "not a regular file"
        case .tooLarge(let bytes): "the file is \(bytes) bytes, more than the \(ConfigSource.maxFileBytes) bytes a config file may have"
        case .notUTF8(_, _, let byte): "the file is not UTF-8 text: byte 0x\(String(byte, radix: 16, uppercase: true)) cannot start or continue a character here"
        case .unreadable: "cannot read the file"
        }
    }

    var line: Int { if case .notUTF8(let line, _, _) = self { line } else { 0 } }
    var column: Int { if case .notUTF8(_, let column, _) = self { column } else { 0 } }
}

/// Where config and manifest files are read from: the disk when config is applied, or the
/// file texts a `ConfigApplied` event recorded, so that a release compiles against exactly the
/// config in force — whatever has happened to the files since.
public protocol ConfigFiles: AnyObject {
    func isDirectory(_ path: String) -> Bool?
    /// Names (not paths) of the entries of a directory, recursively for subfolders ("a/b.yaml").
    func entries(of directory: String) -> [String]
    func text(of path: String) -> Result<String, FileProblem>
    /// `path` as it really is: absolute, without `.`/`..`, and (on a disk) with symbolic links
    /// resolved — what ``FileAccess`` compares with the config directory.
    func resolvedPath(_ path: String) -> String
    /// Every file read so far, by path (what a `ConfigApplied` event records).
    var read: [String: String] { get }
}

extension ConfigFiles {
    public func contents(of path: String) -> String? {
        try? text(of: path).get()
    }
}

/// Files on disk. Remembers every file it read, for the `ConfigApplied` event. Reads only regular
/// files of at most ``ConfigSource/maxFileBytes``, and only valid UTF-8 (a byte that is not is an
/// error at its line, never silently replaced).
public final class DiskFiles: ConfigFiles {
    public private(set) var read: [String: String] = [:]
    /// Files that exist but were refused (not UTF-8, too large, not a regular file), by path.
    public private(set) var refused: [String: FileProblem] = [:]

    public init() {}

    public func isDirectory(_ path: String) -> Bool? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return nil }
        return isDirectory.boolValue
    }

    public func entries(of directory: String) -> [String] {
        (FileManager.default.enumerator(atPath: directory)?.allObjects as? [String] ?? []).sorted()
    }

    public func text(of path: String) -> Result<String, FileProblem> {
        if let text = read[path] { return .success(text) }
        let result = Self.load(path)
        switch result {
        case .success(let text): read[path] = text
        case .failure(.missing), .failure(.unreadable): break
        case .failure(let problem): refused[path] = problem
        }
        return result
    }

    static func load(_ path: String) -> Result<String, FileProblem> {
        // stat follows symbolic links: what is read is the file a link points at.
        var info = stat()
        guard stat(path, &info) == 0 else { return .failure(errno == ENOENT || errno == ENOTDIR ? .missing : .unreadable) }
        guard (info.st_mode & mode_t(S_IFMT)) == mode_t(S_IFREG) else { return .failure(.notRegularFile) }
        guard Int(info.st_size) <= ConfigSource.maxFileBytes else { return .failure(.tooLarge(bytes: Int(info.st_size))) }
        guard let handle = FileHandle(forReadingAtPath: path) else { return .failure(.unreadable) }
        defer { try? handle.close() }
        // One byte more than allowed: a file that grew since stat is still caught.
        guard let data = try? handle.read(upToCount: ConfigSource.maxFileBytes + 1) ?? Data() else { return .failure(.unreadable) }
        guard data.count <= ConfigSource.maxFileBytes else { return .failure(.tooLarge(bytes: data.count)) }
        return UTF8Text.decode(Array(data))
    }

    public func resolvedPath(_ path: String) -> String {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        if let real = realpath(absolute, nil) {
            defer { free(real) }
            return String(cString: real)
        }
        // A path that does not exist (yet): its folder resolved, its name kept.
        let normal = LexicalPath.normalize(absolute)
        let parent = FilePaths.parent(normal)
        guard parent != normal, !parent.isEmpty else { return normal }
        let resolvedParent = resolvedPath(parent)
        return LexicalPath.normalize(resolvedParent + "/" + FilePaths.lastComponent(normal))
    }
}

/// Files recorded earlier (by path), e.g. from a `ConfigApplied` event, or uploaded by a client.
/// Nothing here touches the disk: paths resolve by their text alone.
public final class RecordedFiles: ConfigFiles {
    public let files: [String: String]
    public private(set) var read: [String: String] = [:]

    public init(_ files: [String: String]) { self.files = files }

    public func isDirectory(_ path: String) -> Bool? {
        if files[path] != nil { return false }
        let prefix = path.hasSuffix("/") ? path : path + "/"
        return files.keys.contains { $0.hasPrefix(prefix) } ? true : nil
    }

    public func entries(of directory: String) -> [String] {
        let prefix = directory.hasSuffix("/") ? directory : directory + "/"
        // `dir/../x.yaml` (a file an allowed directory gave) is not in `dir`.
        return files.keys.filter { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }
            .filter { name in !name.split(separator: "/", omittingEmptySubsequences: false).contains { $0 == ".." || $0 == "." || $0.isEmpty } }
            .sorted()
    }

    public func text(of path: String) -> Result<String, FileProblem> {
        guard let text = files[path] else { return .failure(.missing) }
        read[path] = text
        return .success(text)
    }

    public func resolvedPath(_ path: String) -> String {
        LexicalPath.normalize(path.hasPrefix("/") ? path : "/" + path)
    }
}

/// Paths by their text: `.` and `..` resolved, repeated slashes folded.
enum LexicalPath {
    static func normalize(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch part {
            case ".": continue
            case "..": if !parts.isEmpty { parts.removeLast() }
            default: parts.append(part)
            }
        }
        return "/" + parts.joined(separator: "/")
    }

    /// Whether `path` is `directory` or lies under it (both normalized).
    static func isInside(_ path: String, _ directory: String) -> Bool {
        directory == "/" || path == directory || path.hasPrefix(directory + "/")
    }
}

/// Strict UTF-8 decoding: the position of the first invalid byte, instead of U+FFFD.
enum UTF8Text {
    static func decode(_ bytes: [UInt8]) -> Result<String, FileProblem> {
        if let text = String(validating: bytes, as: UTF8.self) { return .success(text) }
        // Find the first invalid sequence: decode scalar by scalar.
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        var line = 1, column = 1, offset = 0
        var lastWasCR = false
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar):
                offset += UTF8.width(scalar)
                if scalar == "\n" {
                    if !lastWasCR { line += 1 }
                    column = 1
                } else if scalar == "\r" {
                    line += 1
                    column = 1
                } else {
                    column += 1
                }
                lastWasCR = scalar == "\r"
            case .emptyInput:
                return .failure(.unreadable)  // not reached: the bytes were invalid
            case .error:
                return .failure(.notUTF8(line: line, column: column, byte: bytes[min(offset, bytes.count - 1)]))
            }
        }
    }
}
