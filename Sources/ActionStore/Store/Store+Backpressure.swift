import Dispatch

#if canImport(Glibc)
import Glibc
#endif

extension Store {
    /// Whether the memtables (those being flushed included) hold more than twice
    /// `memtableBytesMax` while a flush is running or due: appends then wait for it. Schedules a
    /// flush when none is running or pending, so a waiting appender is always released.
    func checkMemoryBudget() -> Bool {
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

    /// The error of an append that waited `memoryWaitMax` for memory in vain: nothing of it was
    /// stored, and the caller may retry (the collector answers 503 with `Retry-After`).
    func memoryBudgetTimeout() -> ActionStoreError {
        let (bytes, flushing) = state.withLock { ($0.memtableBytes, $0.flushingBytes) }
        let secs = options.memoryWaitMax.components.seconds
        return ActionStoreError(
            .busy,
            "memtables hold \(bytes + flushing) bytes, over twice memtableBytesMax (\(options.memtableBytesMax)), "
                + "and no flush freed memory within \(secs) s; nothing was stored, retry later"
        )
    }

    private var memoryWaitDeadline: UInt64 {
        let w = options.memoryWaitMax.components
        return DispatchTime.now().uptimeNanoseconds &+ UInt64(max(0, w.seconds)) * 1_000_000_000
            &+ UInt64(max(0, w.attoseconds / 1_000_000_000))
    }

    /// Blocks the calling thread (sync appends) while the memory budget is exceeded.
    /// - Throws: `.busy` after `options.memoryWaitMax` (nothing is stored).
    func waitForMemoryBudget() throws {
        let deadline = memoryWaitDeadline
        while checkMemoryBudget() {
            if DispatchTime.now().uptimeNanoseconds >= deadline { throw memoryBudgetTimeout() }
            usleep(2000)
        }
    }

    /// Suspends (async appends) while the memory budget is exceeded.
    /// - Throws: `.busy` after `options.memoryWaitMax` (nothing is stored).
    func awaitMemoryBudget() async throws {
        let deadline = memoryWaitDeadline
        while checkMemoryBudget() {
            if DispatchTime.now().uptimeNanoseconds >= deadline { throw memoryBudgetTimeout() }
            try? await Task.sleep(for: .milliseconds(2))
        }
    }
}
