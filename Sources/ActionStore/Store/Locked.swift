#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// A value guarded by a pthread mutex.
///
/// Used instead of `Synchronization.Mutex` because on Linux that Mutex waits with raw futex
/// system calls, which Thread Sanitizer cannot see: every access under it was reported as a race
/// (`make tsan`). pthread mutexes are intercepted by TSan, so real races stay visible.
///
/// `Value` must not be zero-sized (`Locked(())`): TSan places the exclusivity check of
/// `body(&value)` on an empty stored property at the object's start, which other threads read (the
/// object header) before they take the lock, so TSan reports a race that is not one.
final class Locked<Value>: @unchecked Sendable {
    // Safe because `value` is only touched inside `withLock`, between lock and unlock of `mutex`.
    private var value: Value
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    init(_ value: Value) {
        assert(MemoryLayout<Value>.size > 0, "Locked of a zero-sized value: Thread Sanitizer reports false races")
        self.value = value
        mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with exclusive access to the value.
    func withLock<R, E: Error>(_ body: (inout Value) throws(E) -> R) throws(E) -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
