#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Limits compaction I/O to a rate: after each chunk of work, sleeps until the bytes done so far
/// fit the budget since the start. Coarse (whole segments), which is enough to leave disk time to
/// flushes and queries.
struct IORateLimiter {
    let bytesPerSecond: Int?
    let start = ContinuousClock.now
    var bytes: Int64 = 0

    init(bytesPerSecond: Int?) {
        self.bytesPerSecond = bytesPerSecond.flatMap { $0 > 0 ? $0 : nil }
    }

    mutating func consume(_ n: Int64) {
        bytes += n
        guard let rate = bytesPerSecond else { return }
        let due = start + .seconds(Double(bytes) / Double(rate))
        let now = ContinuousClock.now
        if due > now {
            let wait = due - now
            let (s, atto) = wait.components
            var ts = timespec(tv_sec: Int(s), tv_nsec: Int(atto / 1_000_000_000))
            nanosleep(&ts, nil)
        }
    }
}
