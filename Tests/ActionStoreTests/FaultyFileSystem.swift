import Foundation

@testable import ActionStore

#if canImport(Glibc)
import Glibc
#endif

/// A file layer the tests steer, in the spirit of leveldb's `fault_injection_test.cc`: it passes
/// the store's writes through to the real file system while
/// - failing chosen calls (ENOSPC, EIO, …) or turning writes into short writes;
/// - remembering how much of each file is durable (its size at the last successful sync) and which
///   names are not yet durable (created or renamed into a directory not fsynced since);
/// - on `powerLoss()`, freezing every later call (the process is gone) and throwing away what a
///   power cut would: unsynced bytes (keeping a random prefix of them, a torn write), names never
///   made durable (a renamed-over file gets its old content back).
///
/// A failed sync poisons its file at the last durable size: a later successful sync does not make
/// the bytes written before the failure durable (Linux drops the dirty pages of a failed writeback
/// and the next fsync reports success — the 2018 PostgreSQL fsync lesson).
final class FaultyFileSystem: @unchecked Sendable {
    // Safe because every field is read and written with `lock` held.
    enum Op: String, Sendable, CaseIterable {
        case open, write, sync, truncate, close, unlink, syncDirectory, rename
    }

    /// One rule: the calls of `op` whose path contains `path` (`from -> to` for renames) fail with `error` (or, for writes,
    /// write half of what was asked when `short`), after letting `after` of them through, `times`
    /// times.
    struct Fault: Sendable {
        var op: Op
        var path: String = ""
        var error: Int32 = EIO
        var after = 0
        var times = Int.max
        var short = false
        /// Match `path` exactly instead of as a substring (for one directory among nested ones).
        var exact = false
    }

    private let lock = NSLock()
    private var faults: [(rule: Fault, seen: Int, fired: Int)] = []
    private var injected: [String] = []
    private var dead = false
    private var fdPath: [Int32: String] = [:]
    /// Bytes of each file known to survive a power loss.
    private var durable: [String: Int64] = [:]
    /// Files whose durable size is frozen by a failed sync.
    private var poisoned: Set<String> = []
    /// Names not yet durable, with the content they replaced (nil: the name was new).
    private var volatileNames: [String: [UInt8]?] = [:]
    private var random: SeededRNG

    init(seed: UInt64 = 1) { random = SeededRNG(seed: seed) }

    /// Adds a rule; it applies from the next call on.
    func inject(_ fault: Fault) { lock.withLock { faults.append((fault, 0, 0)) } }

    /// Removes every rule: the cause of the failures is gone (the disk has room again).
    func clearFaults() { lock.withLock { faults.removeAll() } }

    /// The failures injected so far, as `op path: error`.
    var injectedFailures: [String] { lock.withLock { injected } }

    /// Simulates a power cut now: every later call fails with EIO, unsynced bytes and names are
    /// dropped. Returns what was dropped, for the test's log.
    @discardableResult
    func powerLoss(tornTails: Bool = true) -> [String] {
        lock.withLock {
            dead = true
            var log: [String] = []
            for (name, old) in volatileNames {
                if let old {
                    _ = try? Data(old).write(to: URL(fileURLWithPath: name))
                    log.append("restored \(name)")
                } else {
                    unlink(name)
                    log.append("dropped name \(name)")
                }
                durable[name] = nil
            }
            for (path, keep) in durable {
                let size = FileSystem.fileSize(path)
                guard size > keep else { continue }
                let tail = tornTails && !poisoned.contains(path) ? Int64(random.next() % UInt64(size - keep + 1)) : 0
                Glibc.truncate(path, off_t(keep + tail))
                log.append("cut \(path) from \(size) to \(keep + tail) bytes")
            }
            return log
        }
    }

    /// The system calls, routed through the rules and the bookkeeping above.
    var io: FileIO {
        let base = FileIO.posix
        return FileIO(
            open: { [self] path, flags in
                lock.withLock {
                    if let e = fail(.open, path) { return -e }
                    let existed = FileSystem.exists(path)
                    let fd = base.open(path, flags)
                    guard fd >= 0 else { return fd }
                    fdPath[fd] = path
                    if !existed {
                        durable[path] = 0
                        volatileNames[path] = .some(nil)
                    } else if flags & O_TRUNC != 0 {
                        durable[path] = 0
                    } else if durable[path] == nil {
                        durable[path] = FileSystem.fileSize(path)
                    }
                    return fd
                }
            },
            write: { [self] fd, bytes in
                lock.withLock {
                    let path = fdPath[fd] ?? ""
                    if dead { return -Int(EIO) }
                    if let rule = matching(.write, path) {
                        if rule.short {
                            injected.append("write \(path): short")
                            let half = max(1, bytes.count / 2)
                            return base.write(fd, UnsafeRawBufferPointer(rebasing: bytes[..<half]))
                        }
                        injected.append("write \(path): \(String(cString: strerror(rule.error)))")
                        return -Int(rule.error)
                    }
                    return base.write(fd, bytes)
                }
            },
            sync: { [self] fd in
                lock.withLock {
                    let path = fdPath[fd] ?? ""
                    if let e = fail(.sync, path) {
                        poisoned.insert(path)
                        return -e
                    }
                    let r = base.sync(fd)
                    if r == 0 && !poisoned.contains(path) {
                        var st = stat()
                        if fstat(fd, &st) == 0 { durable[path] = Int64(st.st_size) }
                    }
                    return r
                }
            },
            truncate: { [self] fd, length in
                lock.withLock {
                    let path = fdPath[fd] ?? ""
                    if let e = fail(.truncate, path) { return -e }
                    let r = base.truncate(fd, length)
                    if r == 0, let d = durable[path] { durable[path] = min(d, length) }
                    return r
                }
            },
            close: { [self] fd in
                lock.withLock {
                    let path = fdPath.removeValue(forKey: fd) ?? ""
                    // A close always releases the descriptor, even when it reports an error.
                    let r = base.close(fd)
                    if let e = fail(.close, path) { return -e }
                    return r
                }
            },
            unlink: { [self] path in
                lock.withLock {
                    if let e = fail(.unlink, path) { return -e }
                    let r = base.unlink(path)
                    if r == 0 {
                        durable[path] = nil
                        volatileNames[path] = nil
                        poisoned.remove(path)
                    }
                    return r
                }
            },
            syncDirectory: { [self] dir in
                lock.withLock {
                    if let e = fail(.syncDirectory, dir) { return -e }
                    let r = base.syncDirectory(dir)
                    if r == 0 {
                        for name in volatileNames.keys where FileSystem.parent(of: name) == dir {
                            volatileNames[name] = nil
                        }
                    }
                    return r
                }
            },
            rename: { [self] from, to in
                lock.withLock {
                    if let e = fail(.rename, from + " -> " + to) { return -e }
                    // The content `to` had, should the rename not survive (unless it was itself new).
                    let replaced: [UInt8]? =
                        volatileNames[to] == nil && FileSystem.exists(to) ? (try? FileSystem.readFile(to)) : nil
                    let r = base.rename(from, to)
                    guard r == 0 else { return r }
                    durable[to] = durable.removeValue(forKey: from)
                    poisoned.remove(to)
                    if poisoned.remove(from) != nil { poisoned.insert(to) }
                    if volatileNames[to] == nil { volatileNames[to] = .some(replaced) }
                    volatileNames[from] = nil
                    for (fd, p) in fdPath where p == from { fdPath[fd] = to }
                    return r
                }
            }
        )
    }

    /// With `lock` held: the errno to fail this call with, if a rule (or a power loss) says so.
    private func fail(_ op: Op, _ path: String) -> Int32? {
        if dead { return EIO }
        guard let rule = matching(op, path) else { return nil }
        injected.append("\(op.rawValue) \(path): \(String(cString: strerror(rule.error)))")
        return rule.error
    }

    /// With `lock` held: the first rule that fires for this call, counting the call against it.
    private func matching(_ op: Op, _ path: String) -> Fault? {
        for i in faults.indices where faults[i].rule.op == op {
            let want = faults[i].rule.path
            let hit = want.isEmpty || (faults[i].rule.exact ? path == want : path.contains(want))
            guard hit else { continue }
            faults[i].seen += 1
            guard faults[i].seen > faults[i].rule.after, faults[i].fired < faults[i].rule.times else { continue }
            faults[i].fired += 1
            return faults[i].rule
        }
        return nil
    }
}
