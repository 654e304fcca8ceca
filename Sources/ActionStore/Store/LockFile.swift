#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// The store directory's lock: `LOCK`, held with flock(2) for the life of the `Store`.
///
/// flock locks belong to the open file description, so the kernel drops them when the process
/// dies, even by SIGKILL: a crashed store never leaves a stale lock. The holder writes its pid into
/// the file so that a second opener can say who holds it.
final class LockFile: Sendable {
    let path: String
    private let fd: Int32

    init(directory: String) throws(ActionStoreError) {
        path = StoreFiles(directory).lock
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw ActionStoreError(.io, "cannot open lock file \(path): \(String(cString: strerror(errno)))")
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let err = errno
            var buf = [UInt8](repeating: 0, count: 32)
            let n = pread(fd, &buf, 32, 0)
            close(fd)
            let pid = n > 0 ? String(decoding: buf[..<n], as: UTF8.self).trimmingWhitespace() : "unknown"
            if err == EWOULDBLOCK {
                throw ActionStoreError(
                    .locked,
                    "the store at \(directory) is in use by another process (pid \(pid)); close it first"
                )
            }
            throw ActionStoreError(.io, "cannot lock \(path): \(String(cString: strerror(err)))")
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, pid, pid.count, 0)
        self.fd = fd
    }

    /// Releases the lock now (the descriptor is closed at deinit). Idempotent.
    func release() {
        flock(fd, LOCK_UN)
    }

    deinit {
        flock(fd, LOCK_UN)
        close(fd)
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}
