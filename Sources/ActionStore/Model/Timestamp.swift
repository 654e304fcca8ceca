#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// UTC timestamps as microseconds since 1970-01-01T00:00:00Z.
///
/// Written by hand rather than with Foundation's ISO8601DateFormatter: that formatter accepts only
/// fixed shapes (no 9-digit fractions, no naive times), is slow on the hot path, and rounds to
/// milliseconds.
public enum Timestamp {
    /// Parses ISO 8601 `YYYY-MM-DDTHH:MM:SS[.f{0,9}][Z|±hh:mm|±hhmm]`; a time without an offset is UTC.
    /// A space may stand for `T`. Digits past microseconds are truncated.
    /// - Returns: microseconds since the epoch, or nil if the text is not such a time.
    public static func parse<C: Collection<UInt8>>(_ bytes: C) -> Int64? where C.Index == Int {
        var i = bytes.startIndex
        let end = bytes.endIndex
        func digits(_ n: Int) -> Int? {
            guard end - i >= n else { return nil }
            var v = 0
            for _ in 0..<n {
                let c = bytes[i]
                guard c >= 0x30 && c <= 0x39 else { return nil }
                v = v * 10 + Int(c - 0x30)
                i += 1
            }
            return v
        }
        func expect(_ c: UInt8) -> Bool {
            guard i < end, bytes[i] == c else { return false }
            i += 1
            return true
        }
        guard let year = digits(4), expect(0x2D), let month = digits(2), expect(0x2D), let day = digits(2)
        else { return nil }
        guard i < end, bytes[i] == 0x54 || bytes[i] == 0x74 || bytes[i] == 0x20 else { return nil }
        i += 1
        guard let hour = digits(2), expect(0x3A), let minute = digits(2), expect(0x3A), let second = digits(2)
        else { return nil }
        guard (1...12).contains(month), day >= 1, day <= daysInMonth(year: year, month: month),
            hour <= 23, minute <= 59, second <= 60
        else { return nil }
        var micros: Int64 = 0
        if i < end, bytes[i] == 0x2E {
            i += 1
            var n = 0
            while i < end, bytes[i] >= 0x30, bytes[i] <= 0x39 {
                if n < 6 { micros = micros * 10 + Int64(bytes[i] - 0x30) }
                n += 1
                i += 1
            }
            guard n >= 1, n <= 9 else { return nil }
            for _ in Swift.min(n, 6)..<6 { micros *= 10 }
        }
        var offsetSeconds = 0
        if i < end {
            let c = bytes[i]
            if c == 0x5A || c == 0x7A {
                i += 1
            } else if c == 0x2B || c == 0x2D {
                i += 1
                guard let oh = digits(2) else { return nil }
                _ = expect(0x3A)
                guard let om = digits(2), oh <= 23, om <= 59 else { return nil }
                offsetSeconds = (oh * 3600 + om * 60) * (c == 0x2D ? -1 : 1)
            } else {
                return nil
            }
        }
        guard i == end else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second) - Int64(offsetSeconds)
        return seconds * 1_000_000 + micros
    }

    /// Parses a Swift string; see ``parse(_:)-(C)``.
    public static func parse(_ text: String) -> Int64? {
        var s = text
        return s.withUTF8 { parse($0) }
    }

    /// Formats as `YYYY-MM-DDTHH:MM:SS.ffffffZ` (the fraction omitted when zero).
    public static func format(_ micros: Int64) -> String {
        let (secs, frac) = micros.quotientAndRemainder(dividingBy: 1_000_000)
        var s = secs
        var f = frac
        if f < 0 {
            f += 1_000_000
            s -= 1
        }
        let (days, rem) = floorDiv(s, 86_400)
        let (y, m, d) = civilFromDays(Int(days))
        let hh = Int(rem / 3600)
        let mm = Int(rem % 3600 / 60)
        let ss = Int(rem % 60)
        var out = pad(y, 4) + "-" + pad(m, 2) + "-" + pad(d, 2) + "T" + pad(hh, 2) + ":" + pad(mm, 2) + ":" + pad(ss, 2)
        if f != 0 {
            var digits = pad(Int(f), 6)
            while digits.hasSuffix("0") { digits.removeLast() }
            out += "." + digits
        }
        return out + "Z"
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    public static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The date of a day number since 1970-01-01.
    public static func civilFromDays(_ z0: Int) -> (year: Int, month: Int, day: Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    static func floorDiv(_ a: Int64, _ b: Int64) -> (Int64, Int64) {
        var q = a / b
        var r = a % b
        if r < 0 {
            q -= 1
            r += b
        }
        return (q, r)
    }

    private static func pad(_ v: Int, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }

    /// The current time in microseconds.
    public static func now() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec / 1000)
    }
}
