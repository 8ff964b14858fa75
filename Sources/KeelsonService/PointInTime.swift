import Foundation

/// A point in time given either as an age (`90s`, `15m`, `2h`, `7d`, `1w`) or as an ISO 8601 time
/// (`2026-11-26T14:03:00Z`, `2026-11-26`). The CLI's `--since`/`--until`/`--at` and the API's
/// `since`/`until`/`at` query parameters read the same forms.
public enum PointInTime: Sendable, Hashable {
    case ago(TimeInterval)
    case absolute(Date)

    public init?(_ text: String) {
        let units: [Character: TimeInterval] = ["s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800]
        if let unit = text.last, let seconds = units[unit], let amount = Double(text.dropLast()), amount >= 0 {
            self = .ago(amount * seconds)
            return
        }
        let formatter = ISO8601DateFormatter()
        for options: ISO8601DateFormatter.Options in [
            [.withInternetDateTime, .withFractionalSeconds], [.withInternetDateTime], [.withFullDate],
        ] {
            formatter.formatOptions = options
            if let date = formatter.date(from: text) {
                self = .absolute(date)
                return
            }
        }
        return nil
    }

    public func date(relativeTo now: Date) -> Date {
        switch self {
        case .ago(let seconds): now.addingTimeInterval(-seconds)
        case .absolute(let date): date
        }
    }
}
