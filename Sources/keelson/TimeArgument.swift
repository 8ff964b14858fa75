import ArgumentParser
import Foundation
import KeelsonCore

/// A point in time given either as an age (`90s`, `15m`, `2h`, `7d`) or as an ISO 8601 time
/// (`2026-11-26T14:03:00Z`).
struct TimeArgument: ExpressibleByArgument {
    var value: PointInTime
    var text: String

    init?(argument: String) {
        guard let value = PointInTime(argument) else { return nil }
        self.value = value
        self.text = argument
    }

    func date(relativeTo now: Date) -> Date { value.date(relativeTo: now) }

    static var defaultCompletionKind: CompletionKind { .default }
}
