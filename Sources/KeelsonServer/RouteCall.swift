import Foundation
import Hummingbird
import KeelsonCore
import KeelsonService

/// A route's inputs: the request, its path parameters and the caller (nil on open routes). Every
/// path and query parameter is read through a checked parser here, so that a route gets a
/// bounded value or the caller gets a 400 naming the parameter and the value.
struct RouteCall: Sendable {
    var request: Request
    var context: KeelsonRequestContext

    /// The caller, as the route group's authenticator found it.
    var identity: Identity? { context.identity }

    /// The actor recorded on events: the token's name.
    var actor: String { identity?.actor ?? "anonymous" }

    // MARK: path parameters

    /// A path parameter, percent-decoded (the router hands them over as sent).
    func parameter(_ name: String) throws -> String {
        guard let raw = context.parameters.get(name) else { throw APIError.badRequest("missing path parameter \(name)") }
        guard let value = raw.removingPercentEncoding else {
            throw APIError.badRequest("path parameter \(name): \(BoundedInput.quoted(raw)) is not valid percent-encoded UTF-8")
        }
        return value
    }

    /// A path parameter that is a name of `kind` (``Names``).
    func name(_ parameter: String, _ kind: Names.Kind) throws -> String {
        let value = try self.parameter(parameter)
        if let problem = Names.problem(value, kind: kind) { throw APIError.badRequest("path parameter \(parameter): \(problem)") }
        return value
    }

    /// `{application}/{service}/{channel}`, each part checked.
    func instance() throws -> ServiceInstanceID {
        ServiceInstanceID(
            application: try name("application", .application), service: try name("service", .service),
            channel: try name("channel", .channel))
    }

    /// A token's name.
    func tokenName(_ parameter: String) throws -> String {
        let value = try self.parameter(parameter)
        if let problem = ControlPlane.tokenNameProblem(value) { throw APIError.badRequest("path parameter \(parameter): \(problem)") }
        return value
    }

    // MARK: query parameters

    /// A query parameter's value; an empty one (`?stream=`) is the same as leaving it out.
    private func query(_ name: String) -> String? {
        request.uri.queryParameters[Substring(name)].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
    }

    /// A query parameter through a checked parser: 400 naming the parameter when it is out of
    /// range or malformed; nil when it is absent.
    func checked<Value>(_ name: String, _ parse: (String) -> Result<Value, InputProblem>) throws -> Value? {
        guard let text = query(name) else { return nil }
        switch parse(text) {
        case .success(let value): return value
        case .failure(let problem): throw APIError.badRequest("\(name): \(problem.message)")
        }
    }

    /// A repeatable, comma-separated query parameter (`type=A,B&type=C`), each value checked; at
    /// most `maxCount` values.
    func list<Value>(_ name: String, maxCount: Int = 64, _ parse: (String) -> Result<Value, InputProblem>) throws -> [Value] {
        let texts = request.uri.queryParameters[values: Substring(name)].flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }
        guard texts.count <= maxCount else { throw APIError.badRequest("\(name): at most \(maxCount) values, found \(texts.count)") }
        return try texts.map { text in
            switch parse(String(text)) {
            case .success(let value): return value
            case .failure(let problem): throw APIError.badRequest("\(name): \(problem.message)")
            }
        }
    }

    /// A log position (0 to 2^53 − 1).
    func position(_ name: String) throws -> Int64? { try checked(name, BoundedInput.position) }

    /// A page size, 1 to 10,000.
    func limit(_ name: String = "limit", default fallback: Int) throws -> Int {
        Int(try checked(name) { BoundedInput.integer($0, in: 1...10_000) } ?? Int64(fallback))
    }

    /// A time: an age or an ISO 8601 time, as a date.
    func time(_ name: String) throws -> Date? {
        try checked(name, PointInTime.parse).map { $0.date(relativeTo: Date()) }
    }

    /// `true` or `false`; absent is `false`.
    func flag(_ name: String) throws -> Bool {
        try checked(name, QueryValue.flag) ?? false
    }

    /// A name of `kind` (``Names``).
    func name(query name: String, _ kind: Names.Kind) throws -> String? {
        try checked(name) { (text: String) -> Result<String, InputProblem> in
            if let problem = Names.problem(text, kind: kind) { return .failure(InputProblem(problem)) }
            return .success(text)
        }
    }

    /// `APP`, `APP/SERVICE` or `APP/SERVICE@CHANNEL`.
    func scope(_ name: String = "scope") throws -> ControlPlane.Scope? {
        try checked(name, ControlPlane.parseScope)
    }

    /// A scope the route cannot do without.
    func requiredScope(_ name: String = "scope") throws -> ControlPlane.Scope {
        guard let scope = try scope(name) else {
            throw APIError.badRequest("\(name): required: APPLICATION, APPLICATION/SERVICE or APPLICATION/SERVICE@CHANNEL")
        }
        return scope
    }
}

/// Checked parsers for the query values that are not numbers, times or names.
enum QueryValue {
    static func flag(_ text: String) -> Result<Bool, InputProblem> {
        switch text {
        case "true": .success(true)
        case "false": .success(false)
        default: .failure(InputProblem("expected true or false, found \(BoundedInput.quoted(text))"))
        }
    }

    /// An event type: 1 to 128 printable characters (any type can be appended by hand, so no
    /// narrower grammar), no spaces or control characters.
    static func eventType(_ text: String) -> Result<String, InputProblem> {
        guard (1...128).contains(text.unicodeScalars.count), text.unicodeScalars.allSatisfy(isVisible) else {
            return .failure(InputProblem("expected an event type (1 to 128 visible characters) such as DecisionMade, found \(BoundedInput.quoted(text))"))
        }
        return .success(text)
    }

    /// A stream id: 1 to 512 printable characters, no spaces or control characters.
    static func stream(_ text: String) -> Result<StreamID, InputProblem> {
        guard (1...512).contains(text.unicodeScalars.count), text.unicodeScalars.allSatisfy(isVisible) else {
            return .failure(InputProblem("expected a stream id (1 to 512 visible characters) such as instance:shop/web@prod, found \(BoundedInput.quoted(text))"))
        }
        return .success(StreamID(text))
    }

    private static func isVisible(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value > 0x20 && !(0x7F...0x9F).contains(scalar.value) && !scalar.properties.isWhitespace
            && scalar.value != 0xFFFD && !(0x2028...0x2029).contains(scalar.value)
    }
}
