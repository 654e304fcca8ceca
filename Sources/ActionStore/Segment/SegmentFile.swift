#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

// File-system glue of segments: a sequential writer that fsyncs and renames into place, and a
// read-only memory mapping.

private func errnoText() -> String { String(cString: strerror(errno)) }

/// Writes a new file at a temporary name and renames it into place; an uncommitted file is removed
/// in `deinit`.
// A class rather than a `~Copyable` struct: a noncopyable struct with `deinit` nested in another
// noncopyable struct was destroyed twice by Swift 6.3 (crash in deinit reading `tempPath`).
final class SegmentFileWriter {
    let path: String
    let tempPath: String
    private var fd: Int32
    private(set) var offset = 0
    private var buffer: [UInt8] = []

    init(path: String) throws {
        self.path = path
        tempPath = "\(path).tmp-\(getpid())"
        fd = open(tempPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ActionStoreError(.io, "\(tempPath): open failed: \(errnoText())") }
        buffer.reserveCapacity(1 << 20)
    }

    deinit {
        if fd >= 0 {
            close(fd)
            unlink(tempPath)
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
            let n = buffer.withUnsafeBytes { unsafe write(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ActionStoreError(.io, "\(tempPath): write failed at byte \(offset): \(errnoText())")
            }
            done += n
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes, optionally fsyncs the file, renames it to `path` and fsyncs the directory.
    func commit(sync: Bool) throws {
        try flush()
        if sync, fsync(fd) != 0 { throw ActionStoreError(.io, "\(tempPath): fsync failed: \(errnoText())") }
        close(fd)
        fd = -1
        guard rename(tempPath, path) == 0 else {
            let text = errnoText()
            unlink(tempPath)
            throw ActionStoreError(.io, "rename \(tempPath) to \(path) failed: \(text)")
        }
        if sync {
            let dir = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
            let dfd = open(dir.isEmpty ? "/" : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard dfd >= 0 else { throw ActionStoreError(.io, "\(dir): open directory failed: \(errnoText())") }
            defer { close(dfd) }
            guard fsync(dfd) == 0 else { throw ActionStoreError(.io, "\(dir): fsync failed: \(errnoText())") }
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
