/// Time arithmetic that cannot trap. Decisions and folds add durations to times; the durations are
/// bounded where they enter (``InputLimits``), but a recorded event written before a bound existed,
/// or appended by hand, may hold any value — and a fold or `decide` must never trap on the log.
extension Int64 {
    /// `self + other`, clamped to `Int64`'s range.
    public func adding(saturating other: Int64) -> Int64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : sum
    }

    /// `self − other`, clamped to `Int64`'s range.
    public func subtracting(saturating other: Int64) -> Int64 {
        let (difference, overflow) = subtractingReportingOverflow(other)
        return overflow ? (other < 0 ? .max : .min) : difference
    }

    /// `self × other`, clamped to `Int64`'s range.
    public func multiplied(saturating other: Int64) -> Int64 {
        let (product, overflow) = multipliedReportingOverflow(by: other)
        return overflow ? ((self < 0) == (other < 0) ? .max : .min) : product
    }

    /// Seconds (a policy's soak, watch or deadline) as milliseconds, clamped.
    public static func milliseconds(seconds: Int) -> Int64 {
        Int64(seconds).multiplied(saturating: 1000)
    }

    /// A `Double` (possibly NaN or infinite) as the nearest `Int64`: NaN is 0.
    public init(clampingDouble value: Double) {
        if value.isNaN {
            self = 0
        } else if value >= 9_223_372_036_854_775_807.0 {
            self = .max
        } else if value <= -9_223_372_036_854_775_808.0 {
            self = .min
        } else {
            self = Int64(value)
        }
    }
}
