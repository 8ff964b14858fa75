/// The one grammar for the names people give things — applications, services, release channels,
/// runtimes — as Kubernetes' DNS-1123 labels: 1 to 63 lower-case letters, digits and `-`, starting
/// and ending with a letter or a digit. A name that fits can be written in a path (`shop/web@prod`),
/// a URL, a stream id, a file name and a Kubernetes object name without escaping.
///
/// The compiler checks every name it reads against it (at file:line), and so do the API and the
/// CLI for names they are given; events already in a log are read as they are.
public enum Names {
    public enum Kind: String, Sendable {
        case application
        case service
        case channel = "release channel"
        case runtime
    }

    public static let maxLength = 63

    public static func isValid(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...maxLength).contains(bytes.count), isAlphanumeric(bytes.first!), isAlphanumeric(bytes.last!) else { return false }
        return bytes.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: "-") }
    }

    /// What is wrong with `name` as a name of `kind`, or nil when it fits.
    public static func problem(_ name: String, kind: Kind) -> String? {
        guard !isValid(name) else { return nil }
        return "\(article(kind)) \(kind.rawValue) name is 1 to \(maxLength) lower-case letters, digits and '-', "
            + "starting and ending with a letter or digit; found \(BoundedInput.quoted(name))"
    }

    /// Release versions: 1 to 128 characters, letters, digits and `.`, `_`, `+`, `-`, starting
    /// with a letter or a digit (`1.4.2`, `v2.0.0-rc.1`, `1.0.0+build.5`, a commit id).
    public static let maxVersionLength = 128

    public static func versionProblem(_ version: String) -> String? {
        let bytes = Array(version.utf8)
        let fits = (1...maxVersionLength).contains(bytes.count) && isAlphanumeric(bytes.first!, upper: true)
            && bytes.allSatisfy { isAlphanumeric($0, upper: true) || [UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "+"), UInt8(ascii: "-")].contains($0) }
        guard !fits else { return nil }
        return "a release version is 1 to \(maxVersionLength) letters, digits, '.', '_', '+' and '-', "
            + "starting with a letter or digit; found \(BoundedInput.quoted(version))"
    }

    private static func isAlphanumeric(_ byte: UInt8, upper: Bool = false) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
            || (upper && (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte))
    }

    private static func article(_ kind: Kind) -> String {
        kind == .application ? "an" : "a"
    }
}

extension ServiceInstanceID {
    /// `application/service@channel` from outside (a flag, a path, a body): every part checked
    /// against ``Names``. (`init?(_:)` reads what is already in the log, and checks structure only.)
    public static func parse(_ text: String) -> Result<ServiceInstanceID, InputProblem> {
        guard let id = ServiceInstanceID(text) else {
            return .failure(InputProblem("expected an instance as APPLICATION/SERVICE@CHANNEL (e.g. shop/web@prod), found \(BoundedInput.quoted(text))"))
        }
        for (name, kind) in [(id.application, Names.Kind.application), (id.service, .service), (id.channel, .channel)] {
            if let problem = Names.problem(name, kind: kind) { return .failure(InputProblem(problem)) }
        }
        return .success(id)
    }
}
