#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

// File-system glue of segments: a sequential writer that fsyncs and renames into place, and a
// read-only memory mapping.

private func errnoText() -> String { String(cString: strerror(errno)) }

/// Writes a new file at a temporary name and renames it into place; an uncommitted file is removed
/// in `deinit`. Every system call goes through a `FileIO`, so tests can make any of them fail.
// A class rather than a `~Copyable` struct: a noncopyable struct with `deinit` nested in another
// noncopyable struct was destroyed twice by Swift 6.3 (crash in deinit reading `tempPath`).
final class SegmentFileWriter {
    let path: String
    let tempPath: String
    private let io: FileIO
    private var fd: Int32
    private(set) var offset = 0
    private var buffer: [UInt8] = []

    init(path: String, io: FileIO = .posix) throws {
        self.path = path
        self.io = io
        tempPath = StoreFiles.temporary(for: path)
        fd = io.open(tempPath, O_WRONLY | O_CREAT | O_TRUNC)
        guard fd >= 0 else { throw ActionStoreError(.io, "\(tempPath): open failed: \(errnoText(-fd))") }
        buffer.reserveCapacity(1 << 20)
    }

    deinit {
        if fd >= 0 {
            _ = io.close(fd)
            _ = io.unlink(tempPath)
        }
    }

    func append(_ bytes: [UInt8]) throws {
        buffer.append(contentsOf: bytes)
        offset += bytes.count
        if buffer.count >= 1 << 20 { try flush() }
    }

    private func flush() throws {
        var done = 0
        while done < buffer.count {
            let n = buffer.withUnsafeBytes { unsafe io.write(fd, UnsafeRawBufferPointer(rebasing: $0[done...])) }
            if n < 0 {
                let at = offset - buffer.count + done
                throw ActionStoreError(.io, "\(tempPath): write failed at byte \(at): \(errnoText(Int32(-n)))")
            }
            done += n
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes, optionally fsyncs the file, renames it to `path` and fsyncs the directory.
    /// On any failure the temporary file is removed and `path` is untouched, except after a
    /// failed directory fsync: then `path` exists but its name may not survive a power loss.
    func commit(sync: Bool) throws {
        try flush()
        if sync {
            let r = io.sync(fd)
            if r != 0 { throw ActionStoreError(.io, "\(tempPath): fsync failed: \(errnoText(-r))") }
        }
        _ = io.close(fd)
        fd = -1
        let r = io.rename(tempPath, path)
        guard r == 0 else {
            _ = io.unlink(tempPath)
            throw ActionStoreError(.io, "rename \(tempPath) to \(path) failed: \(errnoText(-r))")
        }
        if sync {
            let dir = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
            let r = io.syncDirectory(dir.isEmpty ? "/" : dir)
            guard r == 0 else { throw ActionStoreError(.io, "\(dir): directory fsync failed: \(errnoText(-r))") }
        }
    }
}

/// A read-only private memory mapping of a whole file.
///
/// `@unchecked Sendable` because the mapping is read-only (PROT_READ) and immutable for the object's
/// lifetime; it is unmapped once, in `deinit`.
final class MappedFile: @unchecked Sendable {
    let path: String
    let bytes: UnsafeRawBufferPointer

    init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let code: ActionStoreError.Code = errno == ENOENT ? .notFound : .io
            throw ActionStoreError(code, "\(path): open failed: \(errnoText())")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ActionStoreError(.io, "\(path): fstat failed: \(errnoText())") }
        let size = Int(st.st_size)
        if size == 0 {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        let p = unsafe mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else { throw ActionStoreError(.io, "\(path): mmap failed: \(errnoText())") }
        bytes = unsafe UnsafeRawBufferPointer(start: p, count: size)
    }

    deinit {
        if let base = bytes.baseAddress { unsafe munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }
}
