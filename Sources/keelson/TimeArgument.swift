import ArgumentParser
import Foundation

/// A point in time given either as an age (`90s`, `15m`, `2h`, `7d`) or as an ISO 8601 time
/// (`2026-11-26T14:03:00Z`).
struct TimeArgument: ExpressibleByArgument {
    enum Value {
        case ago(TimeInterval)
        case absolute(Date)
    }

    var value: Value

    init?(argument: String) {
        let units: [Character: TimeInterval] = ["s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800]
        if let unit = argument.last, let seconds = units[unit], let amount = Double(argument.dropLast()), amount >= 0 {
            value = .ago(amount * seconds)
            return
        }
        let formatter = ISO8601DateFormatter()
        for options: ISO8601DateFormatter.Options in [
            [.withInternetDateTime, .withFractionalSeconds], [.withInternetDateTime], [.withFullDate],
        ] {
            formatter.formatOptions = options
            if let date = formatter.date(from: argument) {
                value = .absolute(date)
                return
            }
        }
        return nil
    }

    func date(relativeTo now: Date) -> Date {
        switch value {
        case .ago(let seconds): now.addingTimeInterval(-seconds)
        case .absolute(let date): date
        }
    }

    static var defaultCompletionKind: CompletionKind { .default }
}
