import Foundation

/// The ranges Keelson accepts for values that come from outside — config files, query parameters,
/// request bodies, flags, environment variables. Every such value is parsed by one of the checked
/// parsers of ``BoundedInput`` where it enters, so that code inside never meets a value that makes
/// its arithmetic overflow. docs/operations.md ("Limits and hardening") lists them.
public enum InputLimits {
    /// The longest duration a config field or a flag takes: 365 days.
    public static let maxDurationSeconds = 365 * 86_400
    /// The furthest back an age (`--since 30d`, `?since=2h`) reaches: 100 years.
    public static let maxAgeSeconds: Int64 = 100 * 366 * 86_400
    /// The largest log position accepted in a query: 2^53 − 1, the largest integer every JSON
    /// reader holds exactly.
    public static let maxPosition: Int64 = 9_007_199_254_740_991
    /// Times are between 1970-01-01T00:00:00Z and 9999-12-31T23:59:59Z.
    public static let latestTimeMilliseconds: Int64 = 253_402_300_799_999
    /// Ports, as in a URL or a health check.
    public static let ports: ClosedRange<Int> = 1...65_535
}

/// What is wrong with a value from outside, in words (the caller adds where it came from).
public struct InputProblem: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// One checked parser per kind of value. Each returns the value within its range or an
/// ``InputProblem`` that says what was expected; none traps, whatever the text.
public enum BoundedInput {
    /// A duration in seconds written as one or more `<whole number><unit>` parts, units `s`, `m`,
    /// `h`, `d` (and `w` when `weeks`): `90s`, `10m`, `1h30m`, `2d`. At most `max` seconds.
    public static func durationSeconds(
        _ text: String, max: Int = InputLimits.maxDurationSeconds, weeks: Bool = false
    ) -> Result<Int, InputProblem> {
        let example = "a duration such as 30s, 10m, 1h30m or 2d"
        var units: [UInt8: Int] = [UInt8(ascii: "s"): 1, UInt8(ascii: "m"): 60, UInt8(ascii: "h"): 3600, UInt8(ascii: "d"): 86_400]
        if weeks { units[UInt8(ascii: "w")] = 604_800 }
        guard !text.isEmpty, text.utf8.count <= 64 else { return .failure(InputProblem("expected \(example), found \(quoted(text))")) }
        var total = 0
        var amount: Int?
        var sawPart = false
        for byte in text.utf8 {
            if (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) {
                // Digits accumulate with overflow checks: a number too big for any unit is too big.
                let (times10, overflow1) = (amount ?? 0).multipliedReportingOverflow(by: 10)
                let (next, overflow2) = times10.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
                guard !overflow1, !overflow2, next <= max else { return .failure(tooLong(text, max)) }
                amount = next
            } else if let unit = units[byte], let value = amount {
                let (part, overflow1) = value.multipliedReportingOverflow(by: unit)
                let (sum, overflow2) = total.addingReportingOverflow(part)
                guard !overflow1, !overflow2, sum <= max else { return .failure(tooLong(text, max)) }
                total = sum
                amount = nil
                sawPart = true
            } else {
                return .failure(InputProblem("expected \(example), found \(quoted(text))"))
            }
        }
        guard sawPart, amount == nil else {
            return .failure(InputProblem("expected \(example) (a number needs a unit: s, m, h or d), found \(quoted(text))"))
        }
        return .success(total)
    }

    private static func tooLong(_ text: String, _ max: Int) -> InputProblem {
        InputProblem("\(quoted(text)) is longer than the longest duration accepted, \(Text.duration(Int64(max) * 1000))")
    }

    /// A whole number within `range`, written in decimal digits (an optional leading `-`).
    public static func integer(_ text: String, in range: ClosedRange<Int64>) -> Result<Int64, InputProblem> {
        guard text.utf8.count <= 24, let value = Int64(text) else {
            return .failure(InputProblem("expected a whole number from \(range.lowerBound) to \(range.upperBound), found \(quoted(text))"))
        }
        guard range.contains(value) else {
            return .failure(InputProblem("expected a whole number from \(range.lowerBound) to \(range.upperBound), found \(value)"))
        }
        return .success(value)
    }

    /// A position in the event log: 0 to ``InputLimits/maxPosition``.
    public static func position(_ text: String) -> Result<Int64, InputProblem> {
        integer(text, in: 0...InputLimits.maxPosition).mapError { _ in
            InputProblem("expected a log position (a whole number from 0 to \(InputLimits.maxPosition)), found \(quoted(text))")
        }
    }

    /// A TCP port, 1 to 65535.
    public static func port(_ text: String) -> Result<Int, InputProblem> {
        integer(text, in: Int64(InputLimits.ports.lowerBound)...Int64(InputLimits.ports.upperBound))
            .map { Int($0) }
            .mapError { _ in InputProblem("expected a port from 1 to 65535, found \(quoted(text))") }
    }

    /// Text for messages: quoted, cut to 80 characters, control characters escaped — a value from
    /// outside is never echoed raw to a terminal.
    public static func quoted(_ text: String) -> String {
        "\"" + printable(text, limit: 80) + "\""
    }

    /// `text` with control characters, quotes and backslashes escaped (`\n`, `\u{1B}`), cut to
    /// `limit` characters with `…`.
    public static func printable(_ text: String, limit: Int = 200) -> String {
        var result = ""
        var count = 0
        for scalar in text.unicodeScalars {
            if count >= limit {
                result += "…"
                break
            }
            switch scalar {
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            default:
                if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.value == 0xFFFD
                    || (0x2028...0x2029).contains(scalar.value)
                {
                    result += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
            count += 1
        }
        return result
    }
}

/// A point in time given either as an age (`90s`, `15m`, `2h`, `7d`, `1w`, `1h30m`, `1.5h`) or as
/// an ISO 8601 time (`2026-11-26T14:03:00Z`, `2026-11-26`). The CLI's `--since`/`--until`/`--at`
/// and the API's `since`/`until`/`at` query parameters read the same forms, through this one
/// parser: ages are at most 100 years, times lie between 1970 and 9999.
public enum PointInTime: Sendable, Hashable {
    /// An age, in milliseconds.
    case ago(milliseconds: Int64)
    /// A time, in milliseconds since 1970.
    case absolute(milliseconds: Int64)

    public static func parse(_ text: String) -> Result<PointInTime, InputProblem> {
        let expected = "expected an age such as 90s, 15m, 2h, 7d or 1w, or an ISO 8601 time such as 2026-11-26T14:03:00Z"
        guard !text.isEmpty, text.utf8.count <= 64 else { return .failure(InputProblem("\(expected), found \(BoundedInput.quoted(text))")) }
        if let first = text.unicodeScalars.first, ("0"..."9").contains(first), !text.contains("-") {
            return age(text).map { .ago(milliseconds: $0) }.mapError { InputProblem("\($0.message)") }
        }
        // A time starts with its date, YYYY-MM-DD; anything else is not worth a formatter.
        let head = Array(text.utf8.prefix(10))
        let isDigit = { (byte: UInt8) in (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }
        guard head.count == 10, head[4] == UInt8(ascii: "-"), head[7] == UInt8(ascii: "-"),
            [0, 1, 2, 3, 5, 6, 8, 9].allSatisfy({ isDigit(head[$0]) })
        else { return .failure(InputProblem("\(expected), found \(BoundedInput.quoted(text))")) }
        let formatter = ISO8601DateFormatter()
        for options: ISO8601DateFormatter.Options in [
            [.withInternetDateTime, .withFractionalSeconds], [.withInternetDateTime], [.withFullDate],
        ] {
            formatter.formatOptions = options
            if let date = formatter.date(from: text) {
                let milliseconds = date.millisecondsSince1970
                guard (0...InputLimits.latestTimeMilliseconds).contains(milliseconds) else {
                    return .failure(InputProblem("\(BoundedInput.quoted(text)) is outside the times Keelson knows (1970 to 9999)"))
                }
                return .success(.absolute(milliseconds: milliseconds))
            }
        }
        return .failure(InputProblem("\(expected), found \(BoundedInput.quoted(text))"))
    }

    public init?(_ text: String) {
        guard case .success(let point) = Self.parse(text) else { return nil }
        self = point
    }

    /// An age: whole parts (`1h30m`, `2w`), or one decimal amount with a unit (`1.5h`).
    private static func age(_ text: String) -> Result<Int64, InputProblem> {
        let max = Int(InputLimits.maxAgeSeconds)
        if !text.contains(".") {
            return BoundedInput.durationSeconds(text, max: max, weeks: true).map { Int64($0) * 1000 }
                .mapError { InputProblem($0.message.replacingOccurrences(of: "a duration such as 30s, 10m, 1h30m or 2d", with: "an age such as 90s, 15m, 2h, 7d or 1w")) }
        }
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800]
        guard let unit = text.last, let seconds = units[unit],
            text.dropLast().range(of: #"^[0-9]{1,12}\.[0-9]{1,6}$"#, options: .regularExpression) != nil,
            let amount = Double(text.dropLast()), amount.isFinite
        else {
            return .failure(InputProblem("expected an age such as 90s, 1.5h or 7d, found \(BoundedInput.quoted(text))"))
        }
        let milliseconds = amount * seconds * 1000
        guard milliseconds <= Double(InputLimits.maxAgeSeconds) * 1000 else {
            return .failure(InputProblem("\(BoundedInput.quoted(text)) reaches further back than 100 years"))
        }
        return .success(Int64(milliseconds))
    }

    /// The time this stands for, `now` being what ages count back from; never before 1970.
    public func milliseconds(relativeTo now: Int64) -> Int64 {
        switch self {
        case .ago(let age): Swift.max(0, now.subtracting(saturating: age))
        case .absolute(let milliseconds): milliseconds
        }
    }

    public func date(relativeTo now: Date) -> Date {
        Date(millisecondsSince1970: milliseconds(relativeTo: now.millisecondsSince1970))
    }
}
