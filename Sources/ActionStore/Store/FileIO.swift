#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// The system calls through which the store writes: the journal, segment files (flush and
/// compaction) and the manifest. Closures, so that tests can force errors (short writes, ENOSPC,
/// EIO, a failing fsync or rename) at a chosen call and simulate a power loss that drops every
/// unsynced byte, in the spirit of leveldb's `fault_injection_test.cc`. Reads go through mmap and
/// plain `read(2)`: a failing read shows up as corruption, which other tests cover.
///
/// Every closure returns a non-negative result on success and `-errno` on failure, and retries
/// EINTR itself.
package struct FileIO: Sendable {
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
    /// `rename(2)`: 0 or -errno.
    package var rename: @Sendable (_ from: String, _ to: String) -> Int32

    package init(
        open: @escaping @Sendable (_ path: String, _ flags: Int32) -> Int32,
        write: @escaping @Sendable (_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int,
        sync: @escaping @Sendable (_ fd: Int32) -> Int32,
        truncate: @escaping @Sendable (_ fd: Int32, _ length: Int64) -> Int32,
        close: @escaping @Sendable (_ fd: Int32) -> Int32,
        unlink: @escaping @Sendable (_ path: String) -> Int32,
        syncDirectory: @escaping @Sendable (_ path: String) -> Int32,
        rename: @escaping @Sendable (_ from: String, _ to: String) -> Int32
    ) {
        self.open = open
        self.write = write
        self.sync = sync
        self.truncate = truncate
        self.close = close
        self.unlink = unlink
        self.syncDirectory = syncDirectory
        self.rename = rename
    }

    /// The real system calls.
    package static let posix = FileIO(
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
        },
        rename: { from, to in Glibc.rename(from, to) == 0 ? 0 : -errno }
    )
}
