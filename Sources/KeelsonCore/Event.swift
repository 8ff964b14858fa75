import Foundation

/// An event about to be appended: its type, payload and provenance. The store assigns the
/// position, the version within the stream and the recorded-at time.
public struct NewEvent: Sendable, Hashable {
    /// The event type, e.g. `ConfigApplied`.
    public var type: String
    /// The payload's schema version, so that old payloads can be upcast when read.
    public var schemaVersion: Int
    /// The payload as JSON text.
    public var payload: String
    /// Who caused the event: a user, a token name, `worker:<id>`.
    public var actor: String?
    /// Groups the events of one request or one decision.
    public var correlationID: String?
    /// The position of the event that caused this one.
    public var causationPosition: Int64?
    /// The typed payload this event was encoded from, if any: the store's projections fold the
    /// event at append time without decoding its JSON again. Not part of the event (not compared).
    public var decoded: DecodedPayloads?

    public init(
        type: String, schemaVersion: Int = 1, payload: String = "{}",
        actor: String? = nil, correlationID: String? = nil, causationPosition: Int64? = nil
    ) {
        self.type = type
        self.schemaVersion = schemaVersion
        self.payload = payload
        self.actor = actor
        self.correlationID = correlationID
        self.causationPosition = causationPosition
    }

    /// An event whose payload is a typed value, encoded as canonical JSON (sorted keys).
    public init<Payload: EventPayload>(
        _ payload: Payload, actor: String? = nil, correlationID: String? = nil, causationPosition: Int64? = nil
    ) throws {
        self.init(
            type: Payload.eventType, schemaVersion: Payload.schemaVersion,
            payload: try CanonicalJSON.string(payload),
            actor: actor, correlationID: correlationID, causationPosition: causationPosition)
        self.decoded = DecodedPayloads(holding: payload)
    }

    /// An event of type `type` whose payload is a value shared by several event types (such as
    /// `ApplyFinished` for `ApplySucceeded` and `ApplyFailed`), encoded as canonical JSON.
    public init<Payload: Encodable & Sendable>(
        type: String, encoding payload: Payload, actor: String? = nil, correlationID: String? = nil
    ) throws {
        self.init(type: type, payload: try CanonicalJSON.string(payload), actor: actor, correlationID: correlationID)
        self.decoded = DecodedPayloads(holding: payload)
    }

    /// Equal when every field that is written is (the typed payload is not compared).
    public static func == (lhs: NewEvent, rhs: NewEvent) -> Bool {
        lhs.type == rhs.type && lhs.schemaVersion == rhs.schemaVersion && lhs.payload == rhs.payload && lhs.actor == rhs.actor
            && lhs.correlationID == rhs.correlationID && lhs.causationPosition == rhs.causationPosition
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(type)
        hasher.combine(payload)
    }
}

/// A typed event payload. Each type names itself in the log and versions its schema.
public protocol EventPayload: Codable, Sendable {
    static var eventType: String { get }
    static var schemaVersion: Int { get }
}

extension EventPayload {
    public static var schemaVersion: Int { 1 }
}

/// An event as it stands in the log.
public struct RecordedEvent: Sendable, Hashable, Codable {
    /// Global position in the log: dense, increasing, starting at 1.
    public var position: Int64
    public var streamID: StreamID
    /// 1-based version within the stream.
    public var version: Int64
    public var type: String
    public var schemaVersion: Int
    /// The payload as JSON text.
    public var payload: String
    /// When the store recorded the event, in milliseconds since 1970-01-01T00:00:00Z.
    public var recordedAtMilliseconds: Int64
    public var actor: String?
    public var correlationID: String?
    public var causationPosition: Int64?
    /// Payloads decoded so far, when the store folds this event into several projections in one
    /// pass: each payload type is then decoded once, whichever projections read it. Not part of
    /// the event (neither encoded nor compared).
    public var decoded: DecodedPayloads?

    enum CodingKeys: String, CodingKey {
        case position, streamID, version, type, schemaVersion, payload, recordedAtMilliseconds, actor, correlationID
        case causationPosition
    }

    public init(
        position: Int64, streamID: StreamID, version: Int64, type: String, schemaVersion: Int,
        payload: String, recordedAtMilliseconds: Int64, actor: String? = nil, correlationID: String? = nil,
        causationPosition: Int64? = nil
    ) {
        self.position = position
        self.streamID = streamID
        self.version = version
        self.type = type
        self.schemaVersion = schemaVersion
        self.payload = payload
        self.recordedAtMilliseconds = recordedAtMilliseconds
        self.actor = actor
        self.correlationID = correlationID
        self.causationPosition = causationPosition
    }

    public var recordedAt: Date { Date(millisecondsSince1970: recordedAtMilliseconds) }

    /// Equal when every recorded field is (the decode cache is not part of the event).
    public static func == (lhs: RecordedEvent, rhs: RecordedEvent) -> Bool {
        lhs.position == rhs.position && lhs.streamID == rhs.streamID && lhs.version == rhs.version && lhs.type == rhs.type
            && lhs.schemaVersion == rhs.schemaVersion && lhs.payload == rhs.payload
            && lhs.recordedAtMilliseconds == rhs.recordedAtMilliseconds && lhs.actor == rhs.actor
            && lhs.correlationID == rhs.correlationID && lhs.causationPosition == rhs.causationPosition
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(position)
        hasher.combine(streamID)
        hasher.combine(payload)
    }

    /// Decodes the payload as `Payload`, after checking the type name.
    public func decode<Payload: EventPayload>(_: Payload.Type) throws -> Payload {
        guard type == Payload.eventType else {
            throw EventDecodingError.typeMismatch(expected: Payload.eventType, actual: type, position: position)
        }
        return try decodePayload(as: Payload.self)
    }

    /// Decodes the payload as `Value`, whatever the event's type (for payloads several event
    /// types share, such as `ApplyFinished`). Decoded once per event when it carries a cache.
    public func decodePayload<Value: Decodable & Sendable>(as _: Value.Type) throws -> Value {
        guard let decoded else { return try RecordedEvent.decoder.decode(Value.self, from: payload) }
        return try decoded.value(Value.self) { try RecordedEvent.decoder.decode(Value.self, from: payload) }
    }

    /// A copy that remembers what it decodes (for folding one event into several projections).
    public func cachingDecodes() -> RecordedEvent {
        guard decoded == nil else { return self }
        var copy = self
        copy.decoded = DecodedPayloads()
        return copy
    }

    /// One decoder for every payload.
    public static let decoder = PayloadDecoder()
}

/// The payloads of one event decoded so far, by type — failures included, so that a payload that
/// is not of a type is found out once too.
public final class DecodedPayloads: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [ObjectIdentifier: Result<any Sendable, any Error>] = [:]

    public init() {}

    /// A cache that already holds `payload` (the value an event was encoded from).
    public init<Payload: Sendable>(holding payload: Payload) {
        values[ObjectIdentifier(Payload.self)] = .success(payload)
    }

    func value<Value: Sendable>(_ type: Value.Type, decode: () throws -> Value) throws -> Value {
        let key = ObjectIdentifier(type)
        if let known = lock.withLock({ values[key] }) { return try known.get() as! Value }
        let result = Result<any Sendable, any Error> { try decode() }
        lock.withLock { values[key] = result }
        return try result.get() as! Value
    }
}

public enum EventDecodingError: Error, CustomStringConvertible, Sendable {
    case typeMismatch(expected: String, actual: String, position: Int64)

    public var description: String {
        switch self {
        case .typeMismatch(let expected, let actual, let position):
            "event at position \(position) is a \(actual), not a \(expected)"
        }
    }
}

extension Date {
    public init(millisecondsSince1970 milliseconds: Int64) {
        self.init(timeIntervalSince1970: Double(milliseconds) / 1000)
    }

    /// Never traps: a date too far out for `Int64` milliseconds is clamped (NaN is 0).
    public var millisecondsSince1970: Int64 { Int64(clampingDouble: (timeIntervalSince1970 * 1000).rounded(.down)) }
}

extension RecordedEvent {
    /// `event` as the log records it at `position`: what a read of that position gives, with the
    /// typed payload its appender held (so that nothing needs to decode it again).
    public init(_ event: NewEvent, position: Int64, streamID: StreamID, version: Int64, recordedAtMilliseconds: Int64) {
        self.init(
            position: position, streamID: streamID, version: version, type: event.type, schemaVersion: event.schemaVersion,
            payload: event.payload, recordedAtMilliseconds: recordedAtMilliseconds, actor: event.actor,
            correlationID: event.correlationID, causationPosition: event.causationPosition)
        decoded = event.decoded
    }
}
