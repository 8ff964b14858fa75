import Foundation
import KeelsonCore

/// The bounds on alerts from outside (`POST /api/v1/alerts`, `keelson alert`, the Alertmanager
/// webhook). docs/operations.md ("Limits and hardening") lists them.
public enum AlertLimits {
    /// Alerts in one Alertmanager notification.
    public static let alertsPerNotification = 1000
    /// Labels of one alert (`alertname` included).
    public static let labelsPerAlert = 64
    /// Characters (Unicode scalars) of an alert's name and of a label's name.
    public static let nameCharacters = 256
    /// Characters (Unicode scalars) of a label's value.
    public static let labelValueCharacters = 1024
}

/// Checks of alerts from outside: each failure names the field (`alerts[2].labels`) and the value.
enum AlertInput {
    /// An alert's name and labels within ``AlertLimits``; names without control characters.
    static func check(name: String, labels: [String: String], at field: String) throws {
        guard !name.isEmpty else { throw APIError.badRequest("\(field)name: an alert needs a name") }
        guard name.unicodeScalars.count <= AlertLimits.nameCharacters, !hasControlCharacters(name) else {
            throw APIError.badRequest(
                "\(field)name: 1 to \(AlertLimits.nameCharacters) characters without control characters, found \(BoundedInput.quoted(name))")
        }
        guard labels.count <= AlertLimits.labelsPerAlert else {
            throw APIError.badRequest("\(field)labels: at most \(AlertLimits.labelsPerAlert) labels, found \(labels.count)")
        }
        for (label, value) in labels.sorted(by: { $0.key < $1.key }) {
            guard !label.isEmpty, label.unicodeScalars.count <= AlertLimits.nameCharacters, !hasControlCharacters(label) else {
                throw APIError.badRequest(
                    "\(field)labels: a label name is 1 to \(AlertLimits.nameCharacters) characters without control characters, found \(BoundedInput.quoted(label))")
            }
            guard value.unicodeScalars.count <= AlertLimits.labelValueCharacters else {
                throw APIError.badRequest(
                    "\(field)labels.\(BoundedInput.printable(label, limit: 80)): a label value is at most \(AlertLimits.labelValueCharacters) characters, found \(value.unicodeScalars.count)")
            }
        }
    }

    private static func hasControlCharacters(_ text: String) -> Bool {
        text.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }
    }

    /// An RFC 3339 time (`2026-11-27T09:29:42.139Z`, `2026-11-27T10:29:42+01:00`, up to nine
    /// fractional digits), as milliseconds since 1970 (negative before it). Years 0001 to 9999.
    static func rfc3339(_ text: String) -> Result<Int64, InputProblem> {
        let problem = InputProblem("expected an RFC 3339 time such as 2026-11-27T09:29:42Z, found \(BoundedInput.quoted(text))")
        let bytes = Array(text.utf8)
        guard (20...35).contains(bytes.count) else { return .failure(problem) }
        func digits(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= bytes.count else { return nil }
            var value = 0
            for index in range {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) else { return nil }
                value = value * 10 + Int(bytes[index] - UInt8(ascii: "0"))
            }
            return value
        }
        func byte(_ index: Int, _ allowed: String) -> Bool { index < bytes.count && allowed.utf8.contains(bytes[index]) }
        guard let year = digits(0..<4), byte(4, "-"), let month = digits(5..<7), byte(7, "-"), let day = digits(8..<10),
              byte(10, "Tt"), let hour = digits(11..<13), byte(13, ":"), let minute = digits(14..<16), byte(16, ":"),
              let second = digits(17..<19)
        else { return .failure(problem) }
        var index = 19
        var milliseconds = 0
        if byte(index, ".") {
            index += 1
            let start = index
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
            guard (1...9).contains(index - start), let fraction = digits(start..<min(index, start + 3)) else { return .failure(problem) }
            milliseconds = fraction * [100, 10, 1][min(index - start, 3) - 1]
        }
        var offsetMinutes = 0
        if byte(index, "Zz"), index + 1 == bytes.count {
            offsetMinutes = 0
        } else if byte(index, "+-"), index + 6 == bytes.count, let hours = digits(index + 1..<index + 3), byte(index + 3, ":"),
                  let minutes = digits(index + 4..<index + 6), hours <= 23, minutes <= 59 {
            offsetMinutes = (hours * 60 + minutes) * (bytes[index] == UInt8(ascii: "-") ? -1 : 1)
        } else {
            return .failure(problem)
        }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let monthDays = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard (1...9999).contains(year), (1...12).contains(month), (1...monthDays[month - 1]).contains(day), hour <= 23,
              minute <= 59, second <= 60
        else { return .failure(problem) }
        // Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = Int64(era * 146_097 + dayOfEra - 719_468)
        let seconds = days * 86_400 + Int64(hour * 3600 + minute * 60 + second) - Int64(offsetMinutes * 60)
        return .success(seconds * 1000 + Int64(milliseconds))
    }

    /// `startsAt` and `endsAt` of one notified alert, checked: RFC 3339 (`endsAt` is Go's zero
    /// time, `0001-01-01T00:00:00Z`, while the alert fires).
    static func checkTimes(startsAt: String?, endsAt: String?, at field: String) throws {
        for (name, value) in [("startsAt", startsAt), ("endsAt", endsAt)] {
            guard let value else { continue }
            if case .failure(let problem) = rfc3339(value) { throw APIError.badRequest("\(field)\(name): \(problem.message)") }
        }
    }
}
