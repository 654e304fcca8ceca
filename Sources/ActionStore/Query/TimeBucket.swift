/// Time bucketing for `{"time": granularity, "offset": "±hh:mm"}` group keys.
///
/// A bucket is named by the UTC instant of its local start: with offset +02:00, the day bucket of
/// 2026-09-01 starts at 2026-08-31T22:00:00Z and renders as `2026-09-01T00:00:00+02:00`.
struct TimeBucketer {
    let granularity: TimeGranularity
    let offsetMicros: Int64

    // The last bucket seen: consecutive rows usually share it, which skips the calendar arithmetic.
    private var lastStart: Int64 = 1
    private var lastEnd: Int64 = 0

    init(_ granularity: TimeGranularity, offsetSeconds: Int) {
        self.granularity = granularity
        offsetMicros = Int64(offsetSeconds) * 1_000_000
    }

    /// The UTC instant at which the bucket holding `t` starts.
    mutating func start(_ t: Int64) -> Int64 {
        if t >= lastStart && t < lastEnd { return lastStart }
        let (s, e) = TimeBucketer.bounds(t, granularity, offsetMicros)
        lastStart = s
        lastEnd = e
        return s
    }

    static let dayMicros: Int64 = 86_400_000_000

    /// The `[start, end)` bounds of the bucket holding `t`, as UTC instants.
    static func bounds(_ t: Int64, _ g: TimeGranularity, _ offset: Int64) -> (Int64, Int64) {
        let local = t + offset
        switch g {
        case .minute:
            let s = Timestamp.floorDiv(local, 60_000_000).0 * 60_000_000
            return (s - offset, s + 60_000_000 - offset)
        case .hour:
            let s = Timestamp.floorDiv(local, 3_600_000_000).0 * 3_600_000_000
            return (s - offset, s + 3_600_000_000 - offset)
        case .day:
            let s = Timestamp.floorDiv(local, dayMicros).0 * dayMicros
            return (s - offset, s + dayMicros - offset)
        case .week:
            let days = Timestamp.floorDiv(local, dayMicros).0
            // 1970-01-01 was a Thursday: (days + 3) mod 7 is 0 on Mondays.
            let monday = days - Timestamp.floorDiv(days + 3, 7).1
            return (monday * dayMicros - offset, (monday + 7) * dayMicros - offset)
        case .month:
            let days = Timestamp.floorDiv(local, dayMicros).0
            let (y, m, _) = Timestamp.civilFromDays(Int(days))
            let first = Int64(Timestamp.daysFromCivil(year: y, month: m, day: 1))
            let next = Int64(Timestamp.daysFromCivil(year: m == 12 ? y + 1 : y, month: m == 12 ? 1 : m + 1, day: 1))
            return (first * dayMicros - offset, next * dayMicros - offset)
        }
    }
}
