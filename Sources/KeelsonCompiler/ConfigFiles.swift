import KeelsonCore
import Foundation

/// Where config and manifest files are read from: the disk when config is applied, or the
/// file texts a `ConfigApplied` event recorded, so that a release compiles against exactly the
/// config in force — whatever has happened to the files since.
public protocol ConfigFiles: AnyObject {
    func isDirectory(_ path: String) -> Bool?
    /// Names (not paths) of the entries of a directory, recursively for subfolders ("a/b.yaml").
    func entries(of directory: String) -> [String]
    func contents(of path: String) -> String?
    /// Every file read so far, by path (what a `ConfigApplied` event records).
    var read: [String: String] { get }
}

/// Files on disk. Remembers every file it read, for the `ConfigApplied` event.
public final class DiskFiles: ConfigFiles {
    public private(set) var read: [String: String] = [:]

    public init() {}

    public func isDirectory(_ path: String) -> Bool? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return nil }
        return isDirectory.boolValue
    }

    public func entries(of directory: String) -> [String] {
        (FileManager.default.enumerator(atPath: directory)?.allObjects as? [String] ?? []).sorted()
    }

    public func contents(of path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let text = String(decoding: data, as: UTF8.self)
        read[path] = text
        return text
    }
}

/// Files recorded earlier (by path), e.g. from a `ConfigApplied` event.
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
        return files.keys.filter { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }.sorted()
    }

    public func contents(of path: String) -> String? {
        let text = files[path]
        if let text { read[path] = text }
        return text
    }
}
