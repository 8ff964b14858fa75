/// What an appender believes a stream's current version is (optimistic concurrency).
///
/// Versions are 1-based: a stream with three events is at version 3; a stream that does not
/// exist yet is at version 0.
public enum ExpectedVersion: Sendable, Hashable, CustomStringConvertible {
    /// Append whatever the stream's version is.
    case any
    /// The stream must not exist yet.
    case noStream
    /// The stream's last event must have exactly this version.
    case exact(Int64)

    /// Whether a stream currently at `version` satisfies this expectation.
    public func isSatisfied(byCurrentVersion version: Int64) -> Bool {
        switch self {
        case .any: true
        case .noStream: version == 0
        case .exact(let expected): version == expected
        }
    }

    public var description: String {
        switch self {
        case .any: "any"
        case .noStream: "no stream"
        case .exact(let version): "version \(version)"
        }
    }
}
