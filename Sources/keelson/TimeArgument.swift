import ArgumentParser
import Foundation
import KeelsonCore

/// A point in time given either as an age (`90s`, `15m`, `2h`, `7d`) or as an ISO 8601 time
/// (`2026-11-26T14:03:00Z`), read by ``PointInTime/parse(_:)``. `text` is what was typed (sent
/// as is to a server, which parses it with the same parser).
struct TimeArgument: Sendable, CustomStringConvertible {
    var value: PointInTime
    var text: String

    /// For `@Option(transform:)`: a bad value is a usage error with the parser's sentence.
    @Sendable static func parse(_ text: String) throws -> TimeArgument {
        TimeArgument(value: try PointInTime.parse(text).get(), text: text)
    }

    func date(relativeTo now: Date) -> Date { value.date(relativeTo: now) }

    func milliseconds(relativeTo now: Date) -> Int64 { value.milliseconds(relativeTo: now.millisecondsSince1970) }

    var description: String { text }

    /// `--since` must not be later than `--until`: such a range holds nothing, which is a mistake,
    /// not an answer.
    static func checkRange(since: TimeArgument?, until: TimeArgument?, now: Date = Date(), flags: (String, String) = ("--since", "--until")) throws {
        guard let since, let until else { return }
        let from = since.milliseconds(relativeTo: now), to = until.milliseconds(relativeTo: now)
        if from > to {
            throw ValidationError(
                "\(flags.0) \(BoundedInput.quoted(since.text)) (\(Text.time(from))) is later than \(flags.1) \(BoundedInput.quoted(until.text)) (\(Text.time(to))): no time lies between them")
        }
    }
}

/// A duration from a flag (`--timeout 30m`), read by ``BoundedInput/durationSeconds(_:max:weeks:)``:
/// at most ``InputLimits/maxDurationSeconds``.
struct DurationArgument: Sendable, CustomStringConvertible {
    var seconds: Int
    var text: String

    @Sendable static func parse(_ text: String) throws -> DurationArgument {
        DurationArgument(seconds: try BoundedInput.durationSeconds(text).get(), text: text)
    }

    /// A parser for durations from `lower` to `upper` seconds.
    static func parse(between lower: Int, and upper: Int) -> @Sendable (String) throws -> DurationArgument {
        { text in
            let seconds = try BoundedInput.durationSeconds(text, max: upper).get()
            guard seconds >= lower else {
                throw InputProblem("expected at least \(lower)s, found \(BoundedInput.quoted(text))")
            }
            return DurationArgument(seconds: seconds, text: text)
        }
    }

    /// For defaults, which are known to parse.
    init(_ text: String) {
        self.text = text
        seconds = (try? BoundedInput.durationSeconds(text).get()) ?? 0
    }

    private init(seconds: Int, text: String) {
        self.seconds = seconds
        self.text = text
    }

    var duration: Duration { .seconds(seconds) }
    var description: String { text }
}
