#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

// MARK: - Lock and condition

/// A pthread mutex (Synchronization.Mutex has no condition variable to pair with).
// Safe because the mutex lives at a stable heap address and pthread objects are thread-safe by contract.
final class JournalLock: @unchecked Sendable {
    fileprivate let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    init() { pthread_mutex_init(mutex, nil) }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }

    func withLock<R>(_ body: () throws -> R) rethrows -> R {
        lock()
        defer { unlock() }
        return try body()
    }
}

/// A pthread condition variable on the monotonic clock.
// Safe because the condition lives at a stable heap address and is used only with its lock held.
final class JournalCondition: @unchecked Sendable {
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init() {
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        pthread_cond_init(cond, &attr)
        pthread_condattr_destroy(&attr)
    }

    deinit {
        pthread_cond_destroy(cond)
        cond.deallocate()
    }

    /// Waits with `lock` held.
    func wait(_ lock: JournalLock) { pthread_cond_wait(cond, lock.mutex) }

    /// Waits with `lock` held, at most `timeout`.
    func wait(_ lock: JournalLock, timeout: Duration) {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        let (seconds, attoseconds) = max(timeout, .zero).components
        var nanos = Int(ts.tv_nsec) + Int(attoseconds / 1_000_000_000)
        ts.tv_sec += Int(seconds) + nanos / 1_000_000_000
        nanos %= 1_000_000_000
        ts.tv_nsec = nanos
        pthread_cond_timedwait(cond, lock.mutex, &ts)
    }

    func signal() { pthread_cond_signal(cond) }
    func broadcast() { pthread_cond_broadcast(cond) }
}
