#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

// The engine's one lock type: a pthread mutex, and a condition variable that waits on it.
//
// pthread rather than `Synchronization.Mutex`: on Linux that Mutex waits with raw futex system
// calls, which Thread Sanitizer cannot see, so every access under it was reported as a race
// (`make tsan`). pthread mutexes are intercepted by TSan, so real races stay visible. (Mutex also
// has no condition variable to pair with, which the journal needs.)

/// A pthread mutex at a stable heap address (a pthread mutex must not move once initialized).
///
/// Noncopyable: the mutex is destroyed with its owner. Most code wants ``Locked``, which guards a
/// value with one; the journal writer locks and unlocks around its own state and waits on a
/// ``PThreadCondition`` with it.
struct PThreadMutex: ~Copyable {
    fileprivate let mutex: UnsafeMutablePointer<pthread_mutex_t>

    init() {
        mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }

    /// Runs `body` with the mutex held.
    func withLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        lock()
        defer { unlock() }
        return try body()
    }
}

/// A pthread condition variable on the monotonic clock, waited on with a ``PThreadMutex`` held.
struct PThreadCondition: ~Copyable {
    private let cond: UnsafeMutablePointer<pthread_cond_t>

    init() {
        cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
        cond.initialize(to: pthread_cond_t())
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

    /// Waits with `mutex` held.
    func wait(_ mutex: borrowing PThreadMutex) { pthread_cond_wait(cond, mutex.mutex) }

    /// Waits with `mutex` held, at most `timeout`.
    func wait(_ mutex: borrowing PThreadMutex, timeout: Duration) {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        let (seconds, attoseconds) = max(timeout, .zero).components
        var nanos = Int(ts.tv_nsec) + Int(attoseconds / 1_000_000_000)
        ts.tv_sec += Int(seconds) + nanos / 1_000_000_000
        nanos %= 1_000_000_000
        ts.tv_nsec = nanos
        pthread_cond_timedwait(cond, mutex.mutex, &ts)
    }

    func signal() { pthread_cond_signal(cond) }
    func broadcast() { pthread_cond_broadcast(cond) }
}

/// A value guarded by a ``PThreadMutex`` (see the top of this file for why pthread).
///
/// `Value` must not be zero-sized (`Locked(())`): TSan places the exclusivity check of
/// `body(&value)` on an empty stored property at the object's start, which other threads read (the
/// object header) before they take the lock, so TSan reports a race that is not one.
final class Locked<Value>: @unchecked Sendable {
    // Safe because `value` is only touched inside `withLock`, between lock and unlock of `mutex`.
    private var value: Value
    private let mutex = PThreadMutex()

    init(_ value: Value) {
        assert(MemoryLayout<Value>.size > 0, "Locked of a zero-sized value: Thread Sanitizer reports false races")
        self.value = value
    }

    /// Runs `body` with exclusive access to the value.
    func withLock<R, E: Error>(_ body: (inout Value) throws(E) -> R) throws(E) -> R {
        mutex.lock()
        defer { mutex.unlock() }
        return try body(&value)
    }
}
