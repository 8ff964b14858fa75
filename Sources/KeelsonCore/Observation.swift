/// A service instance, `application/service@channel`.
public struct ServiceInstanceID: Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    public var application: String
    public var service: String
    public var channel: String

    public init(application: String, service: String, channel: String) {
        self.application = application
        self.service = service
        self.channel = channel
    }

    /// Parses `application/service@channel`: three names, none empty, the channel after the first
    /// `@` and the service after the only `/` before it. (Every event of an instance names it: a
    /// scan of its bytes, not a split.)
    public init?(_ text: String) {
        let bytes = text.utf8
        guard let at = bytes.firstIndex(of: UInt8(ascii: "@")),
            let slash = bytes[..<at].firstIndex(of: UInt8(ascii: "/"))
        else { return nil }
        let serviceStart = bytes.index(after: slash), channelStart = bytes.index(after: at)
        guard slash > bytes.startIndex, serviceStart < at, channelStart < bytes.endIndex,
            !bytes[serviceStart..<at].contains(UInt8(ascii: "/"))
        else { return nil }
        self.init(application: String(text[..<slash]), service: String(text[serviceStart..<at]), channel: String(text[channelStart...]))
    }

    public var description: String { "\(application)/\(service)@\(channel)" }

    /// The order of the descriptions (`application/service@channel`), without building them: for
    /// ASCII names (every valid one) that is the order of their bytes in turn; other names fall
    /// back to comparing the descriptions (Unicode's order). Sorting a fleet's ids is hot.
    public static func < (lhs: ServiceInstanceID, rhs: ServiceInstanceID) -> Bool {
        guard lhs.isASCII, rhs.isASCII else { return lhs.description < rhs.description }
        var left = DescriptionBytes(lhs), right = DescriptionBytes(rhs)
        while true {
            switch (left.next(), right.next()) {
            case (nil, nil): return false
            case (nil, _): return true
            case (_, nil): return false
            case (let a?, let b?): if a != b { return a < b }
            }
        }
    }

    private var isASCII: Bool {
        application.utf8.allSatisfy { $0 < 0x80 } && service.utf8.allSatisfy { $0 < 0x80 } && channel.utf8.allSatisfy { $0 < 0x80 }
    }

    /// The bytes of `description`, one at a time.
    private struct DescriptionBytes: IteratorProtocol {
        var application: String.UTF8View.Iterator
        var service: String.UTF8View.Iterator
        var channel: String.UTF8View.Iterator
        var part = 0

        init(_ id: ServiceInstanceID) {
            application = id.application.utf8.makeIterator()
            service = id.service.utf8.makeIterator()
            channel = id.channel.utf8.makeIterator()
        }

        mutating func next() -> UInt8? {
            while true {
                switch part {
                case 0:
                    if let byte = application.next() { return byte }
                    part = 1
                case 1:
                    part = 2
                    return UInt8(ascii: "/")
                case 2:
                    if let byte = service.next() { return byte }
                    part = 3
                case 3:
                    part = 4
                    return UInt8(ascii: "@")
                case 4:
                    if let byte = channel.next() { return byte }
                    part = 5
                default:
                    return nil
                }
            }
        }
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let parsed = ServiceInstanceID(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not app/service@channel: \(text)"))
        }
        self = parsed
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

extension Sequence<ServiceInstanceID> {
    /// The ids in their order (`<`): sorted by their descriptions, each built once — the same
    /// order, faster for a fleet's thousands of ids than comparing them part by part.
    public func sortedByDescription() -> [ServiceInstanceID] {
        map { (key: $0.description, id: $0) }.sorted { $0.key < $1.key }.map(\.id)
    }
}

/// How healthy a runtime object is.
public enum Health: String, Codable, Sendable, Hashable {
    case healthy, unhealthy, unknown
}

/// One object a runtime runs for an instance: a replica, a Deployment, an ECS service…
public struct ObservedObject: Codable, Sendable, Hashable {
    public var name: String
    public var version: String?
    public var desiredReplicas: Int
    public var readyReplicas: Int
    public var health: Health
    public var message: String?
    /// Whether the object differs from what Keelson last applied.
    public var drifted: Bool

    public init(
        name: String, version: String?, desiredReplicas: Int, readyReplicas: Int, health: Health,
        message: String? = nil, drifted: Bool = false
    ) {
        self.name = name
        self.version = version
        self.desiredReplicas = desiredReplicas
        self.readyReplicas = readyReplicas
        self.health = health
        self.message = message
        self.drifted = drifted
    }
}

/// What a fetch saw: the instance's objects, sorted by name (so equal observations encode equal).
public struct Observation: Codable, Sendable, Hashable {
    public var objects: [ObservedObject]

    public init(objects: [ObservedObject]) {
        self.objects = objects.sorted { $0.name < $1.name }
    }

    /// Healthy when every object is, with as many ready replicas as desired.
    public var isHealthy: Bool {
        !objects.isEmpty && objects.allSatisfy { $0.health == .healthy && $0.readyReplicas >= $0.desiredReplicas }
    }

    /// The versions running, sorted.
    public var versions: [String] { Array(Set(objects.compactMap(\.version))).sorted() }
}

/// What an apply did.
public struct ApplyResult: Codable, Sendable, Hashable {
    public var succeeded: Bool
    public var durationMilliseconds: Int64
    /// A bounded excerpt of the output (programs' stdout/stderr, API responses).
    public var output: String
    public var error: String?

    public init(succeeded: Bool, durationMilliseconds: Int64, output: String = "", error: String? = nil) {
        self.succeeded = succeeded
        self.durationMilliseconds = durationMilliseconds
        self.output = output
        self.error = error
    }
}
