#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// The system calls the journal writer makes, as closures so that tests can force errors
/// (ENOSPC, EIO, a failing fsync) at a chosen call (leveldb `fault_injection_test.cc`).
///
/// Every closure returns a non-negative result on success and `-errno` on failure, and retries
/// EINTR itself.
package struct JournalFileIO: Sendable {
    /// `open(path, flags, 0o644)`: a descriptor or -errno.
    package var open: @Sendable (_ path: String, _ flags: Int32) -> Int32
    /// One `write(2)`: bytes written (possibly fewer than asked) or -errno.
    package var write: @Sendable (_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int
    /// `fdatasync(2)` (Linux) / `fsync(2)`: 0 or -errno.
    package var sync: @Sendable (_ fd: Int32) -> Int32
    /// `ftruncate(2)` then `lseek(2)` to the new end: 0 or -errno.
    package var truncate: @Sendable (_ fd: Int32, _ length: Int64) -> Int32
    /// `close(2)`.
    package var close: @Sendable (_ fd: Int32) -> Int32
    /// `unlink(2)`: 0 or -errno.
    package var unlink: @Sendable (_ path: String) -> Int32
    /// Opens a directory and fsyncs it, so that created and removed names are durable: 0 or -errno.
    package var syncDirectory: @Sendable (_ path: String) -> Int32

    package init(
        open: @escaping @Sendable (_ path: String, _ flags: Int32) -> Int32,
        write: @escaping @Sendable (_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int,
        sync: @escaping @Sendable (_ fd: Int32) -> Int32,
        truncate: @escaping @Sendable (_ fd: Int32, _ length: Int64) -> Int32,
        close: @escaping @Sendable (_ fd: Int32) -> Int32,
        unlink: @escaping @Sendable (_ path: String) -> Int32,
        syncDirectory: @escaping @Sendable (_ path: String) -> Int32
    ) {
        self.open = open
        self.write = write
        self.sync = sync
        self.truncate = truncate
        self.close = close
        self.unlink = unlink
        self.syncDirectory = syncDirectory
    }

    /// The real system calls.
    package static let posix = JournalFileIO(
        open: { path, flags in
            while true {
                let fd = Glibc.open(path, flags | O_CLOEXEC, 0o644)
                if fd >= 0 { return fd }
                if errno != EINTR { return -errno }
            }
        },
        write: { fd, bytes in
            while true {
                let n = Glibc.write(fd, bytes.baseAddress, bytes.count)
                if n >= 0 { return n }
                if errno != EINTR { return -Int(errno) }
            }
        },
        sync: { fd in
            while true {
                #if os(Linux)
                let r = fdatasync(fd)
                #else
                let r = fsync(fd)
                #endif
                if r == 0 { return 0 }
                if errno != EINTR { return -errno }
            }
        },
        truncate: { fd, length in
            if ftruncate(fd, off_t(length)) != 0 { return -errno }
            if lseek(fd, off_t(length), SEEK_SET) < 0 { return -errno }
            return 0
        },
        close: { fd in Glibc.close(fd) == 0 ? 0 : -errno },
        unlink: { path in Glibc.unlink(path) == 0 || errno == ENOENT ? 0 : -errno },
        syncDirectory: { path in
            let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard fd >= 0 else { return -errno }
            defer { _ = Glibc.close(fd) }
            return fsync(fd) == 0 ? 0 : -errno
        }
    )
}

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
