/// Path arithmetic on strings, in plain Swift. Foundation's `NSString` path methods trap on some
/// inputs on Linux (`deletingLastPathComponent` of `"0"`, `"x/"` or `"."`), and paths arrive from
/// outside (a config upload's `source`, a file name in it), so Keelson does not call them.
public enum FilePaths {
    /// The path without its last component: `a/b` → `a`, `/x` → `/`, `abc` → `` (as
    /// `NSString.deletingLastPathComponent` answers, trailing slashes ignored).
    public static func parent(_ path: String) -> String {
        let trimmed = withoutTrailingSlashes(path)
        if trimmed == "/" { return "/" }
        guard let slash = trimmed.lastIndex(of: "/") else { return "" }
        let head = withoutTrailingSlashes(trimmed[..<slash])
        return head.isEmpty ? "/" : String(head)
    }

    /// The last component: `a/b` → `b`, `/` → `/`, `x/` → `x`.
    public static func lastComponent(_ path: String) -> String {
        let trimmed = withoutTrailingSlashes(path)
        if trimmed == "/" { return "/" }
        guard let slash = trimmed.lastIndex(of: "/") else { return String(trimmed) }
        return String(trimmed[trimmed.index(after: slash)...])
    }

    /// `component` appended to `base` with one `/` between them.
    public static func join(_ base: String, _ component: String) -> String {
        let tail = component.drop { $0 == "/" }
        if base.isEmpty { return String(tail) }
        if tail.isEmpty { return base }
        return (base.hasSuffix("/") ? base : base + "/") + tail
    }

    /// An absolute form of `path` (relative paths are taken from `directory`) with `.`, `..` and
    /// repeated slashes removed; `..` above the root stays at the root.
    public static func standardized(_ path: String, from directory: String = "/") -> String {
        let absolute = path.hasPrefix("/") ? path : join(directory, path)
        var parts: [Substring] = []
        for part in absolute.split(separator: "/", omittingEmptySubsequences: true) {
            switch part {
            case ".": continue
            case "..": if !parts.isEmpty { parts.removeLast() }
            default: parts.append(part)
            }
        }
        return "/" + parts.joined(separator: "/")
    }

    /// `path` with `.`, `..` and repeated slashes removed, kept relative when it is: `k8s/` →
    /// `k8s`, `./a/../b` → `b`, `` → `.`.
    public static func normalized(_ path: String) -> String {
        if path.hasPrefix("/") { return standardized(path) }
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch part {
            case ".": continue
            case "..": if let last = parts.last, last != ".." { parts.removeLast() } else { parts.append(part) }
            default: parts.append(part)
            }
        }
        return parts.isEmpty ? "." : parts.joined(separator: "/")
    }

    private static func withoutTrailingSlashes<S: StringProtocol>(_ path: S) -> Substring {
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        return trimmed
    }
}
