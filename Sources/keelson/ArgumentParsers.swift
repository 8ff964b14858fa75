import ArgumentParser
import Foundation
import KeelsonCore

/// The parsers every flag and positional argument goes through, as ArgumentParser `transform:`s.
/// ArgumentParser calls them while it reads the command line, so a bad value is a usage error
/// (exit 64) naming the flag, with the parser's own sentence — before `validate()` and long before
/// `run()` can do anything. Each wraps one of ``BoundedInput``'s checked parsers or the name
/// grammar of ``Names``; none traps, whatever the text.
///
/// Numeric flags are declared with `parsing: .unconditional`, so that `--limit -5` reaches the
/// parser (which says what range is accepted) instead of reading as another flag.
enum ArgumentParsers {
    /// The most entries one page of `events` or `timeline` holds (the API's bound too).
    static let maxLimit = 10_000

    /// A log position, 0 to ``InputLimits/maxPosition``.
    @Sendable static func position(_ text: String) throws -> Int64 {
        try BoundedInput.position(text).get()
    }

    /// A log position from 1 (positions start at 1: `--from`, `--before`).
    @Sendable static func positionFromOne(_ text: String) throws -> Int64 {
        try BoundedInput.integer(text, in: 1...InputLimits.maxPosition).mapError { _ in
            InputProblem("expected a log position (a whole number from 1 to \(InputLimits.maxPosition)), found \(BoundedInput.quoted(text))")
        }.get()
    }

    /// A page size: 1 to ``maxLimit``.
    @Sendable static func limit(_ text: String) throws -> Int {
        Int(try BoundedInput.integer(text, in: 1...Int64(maxLimit)).get())
    }

    /// A page size that may be 0 (`events --follow --limit 0`: only what comes next).
    @Sendable static func limitOrZero(_ text: String) throws -> Int {
        guard case .success(let limit) = BoundedInput.integer(text, in: 0...Int64(maxLimit)) else {
            throw InputProblem("expected a whole number from 1 to \(maxLimit) (0 only with --follow), found \(BoundedInput.quoted(text))")
        }
        return Int(limit)
    }

    @Sendable static func instance(_ text: String) throws -> ServiceInstanceID {
        try ServiceInstanceID.parse(text).get()
    }

    @Sendable static func scope(_ text: String) throws -> ScopeArgument {
        try ScopeArgument.parse(text).get()
    }

    /// `APP/SERVICE` or `APP/SERVICE@CHANNEL` (`get`, `runtime watch`).
    @Sendable static func serviceOrInstance(_ text: String) throws -> ScopeArgument {
        let scope = try ScopeArgument.parse(text).get()
        guard scope.service != nil else {
            throw InputProblem("expected APPLICATION/SERVICE or APPLICATION/SERVICE@CHANNEL (e.g. shop/web), found \(BoundedInput.quoted(text))")
        }
        return scope
    }

    @Sendable static func runtimeName(_ text: String) throws -> String {
        if let problem = Names.problem(text, kind: .runtime) { throw InputProblem(problem) }
        return text
    }

    @Sendable static func version(_ text: String) throws -> String {
        if let problem = Names.versionProblem(text) { throw InputProblem(problem) }
        return text
    }

    /// Free text recorded or sent as is (an actor, a worker name): 1 to `limit` characters,
    /// without control characters.
    static func printable(_ what: String, limit: Int) -> @Sendable (String) throws -> String {
        { text in
            guard !text.isEmpty, text.count <= limit,
                  !text.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) })
            else {
                throw InputProblem("\(what) is 1 to \(limit) characters without control characters; found \(BoundedInput.quoted(text))")
            }
            return text
        }
    }
}

/// `APP`, `APP/SERVICE` or `APP/SERVICE@CHANNEL`, every name checked against ``Names``.
struct ScopeArgument: Sendable, Hashable, CustomStringConvertible {
    var application: String
    var service: String?
    var channel: String?

    static func parse(_ text: String) -> Result<ScopeArgument, InputProblem> {
        let expected = "expected APPLICATION, APPLICATION/SERVICE or APPLICATION/SERVICE@CHANNEL (e.g. shop/web@prod), found \(BoundedInput.quoted(text))"
        guard text.utf8.count <= 3 * Names.maxLength + 2 else { return .failure(InputProblem(expected)) }
        let atParts = text.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let names = atParts[0].split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        // An `@CHANNEL` needs a service: `shop@prod` is not a scope.
        guard atParts.count == 1 || names.count == 2 else { return .failure(InputProblem(expected)) }
        var scope = ScopeArgument(application: names[0], service: names.count > 1 ? names[1] : nil, channel: atParts.count > 1 ? atParts[1] : nil)
        for (name, kind) in [(scope.application, Names.Kind.application), (scope.service, .service), (scope.channel, .channel)] {
            guard let name else { continue }
            if let problem = Names.problem(name, kind: kind) { return .failure(InputProblem(problem)) }
        }
        if scope.service == nil { scope.channel = nil }
        return .success(scope)
    }

    /// The instance, when the scope names one.
    var instance: ServiceInstanceID? {
        guard let service, let channel else { return nil }
        return ServiceInstanceID(application: application, service: service, channel: channel)
    }

    var description: String {
        application + (service.map { "/\($0)" } ?? "") + (channel.map { "@\($0)" } ?? "")
    }
}
