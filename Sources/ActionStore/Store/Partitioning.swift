/// How actions are split into time partitions (UTC). A partition is a folder per application.
public enum Partitioning: String, Sendable, Hashable, Codable, CaseIterable {
    case hour
    case day
    case month

    /// The partition key of a time: `2026-11-29T13` (hour), `2026-11-29` (day), `2026-11` (month).
    /// Keys sort in time order.
    public func key(_ micros: Int64) -> String {
        let (days, rem) = Timestamp.floorDiv(Timestamp.floorDiv(micros, 1_000_000).0, 86_400)
        let (y, m, d) = Timestamp.civilFromDays(Int(days))
        let ys = String(y).leftPadded(4)
        switch self {
        case .month: return ys + "-" + String(m).leftPadded(2)
        case .day: return ys + "-" + String(m).leftPadded(2) + "-" + String(d).leftPadded(2)
        case .hour:
            return ys + "-" + String(m).leftPadded(2) + "-" + String(d).leftPadded(2) + "T"
                + String(rem / 3600).leftPadded(2)
        }
    }

    /// The half-open time range `[start, end)` covered by a partition key; nil if the key is malformed.
    public func range(ofKey key: String) -> Range<Int64>? {
        let iso: String
        switch self {
        case .month: iso = key + "-01T00:00:00Z"
        case .day: iso = key + "T00:00:00Z"
        case .hour: iso = key + ":00:00Z"
        }
        guard let start = Timestamp.parse(iso) else { return nil }
        let end: Int64
        switch self {
        case .hour: end = start + 3_600_000_000
        case .day: end = start + 86_400_000_000
        case .month:
            let (y, m, _) = Timestamp.civilFromDays(Int(start / 86_400_000_000))
            let next = m == 12 ? (y + 1, 1) : (y, m + 1)
            end = Int64(Timestamp.daysFromCivil(year: next.0, month: next.1, day: 1)) * 86_400_000_000
        }
        return start..<end
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
