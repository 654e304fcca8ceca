#if canImport(Glibc)
import Glibc
#endif

extension Store {
    /// True while the memtables (those being flushed included) hold more than twice
    /// `memtableBytesMax` and a flush is running or due: appends should wait for it.
    /// Schedules a flush when none is running or pending, so a waiting appender is always released.
    var memoryBudgetExceeded: Bool {
        guard options.backgroundFlush else { return false }
        var schedule = false
        let over = state.withLock { s in
            let over =
                s.memtableBytes + s.flushingBytes > 2 * options.memtableBytesMax && s.backgroundError == nil
                && !s.closed
            if over && !s.flushScheduled && s.flushing.isEmpty {
                s.flushScheduled = true
                schedule = true
            }
            return over
        }
        if schedule { flushQueue.async { self.backgroundFlush() } }
        return over
    }

    /// Blocks the calling thread (sync appends) while `memoryBudgetExceeded`, at most 60 s.
    func waitForMemoryBudget() {
        var waited = 0
        while memoryBudgetExceeded && waited < 30_000 {
            usleep(2000)
            waited += 1
        }
    }

    /// Suspends (async appends) while `memoryBudgetExceeded`, at most 60 s.
    func awaitMemoryBudget() async {
        var waited = 0
        while memoryBudgetExceeded && waited < 30_000 {
            try? await Task.sleep(for: .milliseconds(2))
            waited += 1
        }
    }
}
