#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Small POSIX helpers for the store's files. Foundation's FileManager cannot fsync a directory,
/// and the store's durability argument rests on exactly those calls.
enum FileSystem {
    static func errnoMessage(_ err: Int32 = errno) -> String { String(cString: strerror(err)) }

    static func makeDirectory(_ path: String) throws(ActionStoreError) {
        var components: [Substring] = []
        var current = path.hasPrefix("/") ? "" : "."
        components = path.split(separator: "/")
        for c in components {
            current += "/" + c
            if mkdir(current, 0o755) != 0 && errno != EEXIST {
                throw ActionStoreError(.io, "cannot create directory \(current): \(errnoMessage())")
            }
        }
    }

    /// `makeDirectory`, then fsyncs the parent of every directory it created, so that a segment
    /// written into a new partition folder cannot lose its folder in a power loss.
    static func makeDirectoryDurably(_ path: String, io: FileIO) throws(ActionStoreError) {
        var missing: [String] = []
        var p = path
        while !p.isEmpty, p != "/", p != ".", !exists(p) {
            missing.append(p)
            p = parent(of: p)
        }
        guard !missing.isEmpty else { return }
        try makeDirectory(path)
        for dir in missing.reversed() {
            let r = io.syncDirectory(parent(of: dir))
            if r != 0 {
                throw ActionStoreError(.io, "fsync of directory \(parent(of: dir)) failed: \(errnoMessage(-r))")
            }
        }
    }

    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    static func fsyncDirectory(_ path: String) throws(ActionStoreError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw ActionStoreError(.io, "cannot open directory \(path): \(errnoMessage())") }
        defer { close(fd) }
        if fsync(fd) != 0 { throw ActionStoreError(.io, "fsync of directory \(path) failed: \(errnoMessage())") }
    }

    static func readFile(_ path: String) throws(ActionStoreError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ActionStoreError(.io, "cannot open \(path): \(errnoMessage())") }
        defer { close(fd) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = read(fd, &buf, buf.count)
            if n < 0 {
                if errno == EINTR { continue }
                throw ActionStoreError(.io, "cannot read \(path): \(errnoMessage())")
            }
            if n == 0 { break }
            out.append(contentsOf: buf[..<n])
        }
        return out
    }

    /// Writes `bytes` to `path` atomically: a temporary file, fsync, rename, fsync of the directory.
    /// On failure `path` keeps its old content (or, after a failed directory fsync only, the new
    /// content under a name that may not survive a power loss) and the temporary file is removed.
    static func writeAtomically(_ bytes: [UInt8], to path: String, io: FileIO = .posix) throws(ActionStoreError) {
        let tmp = StoreFiles.temporary(for: path)
        let fd = io.open(tmp, O_WRONLY | O_CREAT | O_TRUNC)
        guard fd >= 0 else { throw ActionStoreError(.io, "cannot create \(tmp): \(errnoMessage(-fd))") }
        func fail(_ what: String, _ code: Int32) -> ActionStoreError {
            _ = io.close(fd)
            _ = io.unlink(tmp)
            return ActionStoreError(.io, "\(what) \(tmp) failed: \(errnoMessage(code))")
        }
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { io.write(fd, UnsafeRawBufferPointer(rebasing: $0[off...])) }
            if n < 0 { throw fail("write at byte \(off) of", Int32(-n)) }
            off += n
        }
        let r = io.sync(fd)
        if r != 0 { throw fail("fsync of", -r) }
        _ = io.close(fd)
        let m = io.rename(tmp, path)
        if m != 0 {
            _ = io.unlink(tmp)
            throw ActionStoreError(.io, "cannot rename \(tmp) to \(path): \(errnoMessage(-m))")
        }
        let d = io.syncDirectory(parent(of: path))
        if d != 0 { throw ActionStoreError(.io, "fsync of directory \(parent(of: path)) failed: \(errnoMessage(-d))") }
    }

    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    static func listDirectory(_ path: String) -> [String] {
        guard let d = opendir(path) else { return [] }
        defer { closedir(d) }
        var names: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    static func fileSize(_ path: String) -> Int64 {
        var st = stat()
        return stat(path, &st) == 0 ? Int64(st.st_size) : 0
    }

    static func remove(_ path: String) { unlink(path) }

    static func move(_ from: String, _ to: String) throws(ActionStoreError) {
        if Glibc.rename(from, to) != 0 {
            throw ActionStoreError(.io, "cannot move \(from) to \(to): \(errnoMessage())")
        }
        try fsyncDirectory(parent(of: to))
        try fsyncDirectory(parent(of: from))
    }

    static func copyFile(_ from: String, _ to: String) throws(ActionStoreError) {
        try writeAtomically(try readFile(from), to: to)
    }
}
