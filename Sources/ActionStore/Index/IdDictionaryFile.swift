import CXXHash

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// The bytes of id-dictionary runs, shared by the journal's batch payload (version 3) and the
/// checkpoint file (docs/journal-format.md, "Id runs"):
///
///     idRuns := count:varint run*
///     run    := field:u8 first:varint n:varint length:varint*n bytes
///
/// `field` is `IdField.rawValue` (0 user_id, 1 anonymous_id, 2 company_id, 3 subscription_id); the
/// run gives codes `first ..< first + n` the values that follow, in order.
enum IdRunCodec {
    static func encode(_ runs: [(IdField, IdDictionary.Run)], _ w: inout ByteWriter) {
        let nonEmpty = runs.filter { !$0.1.isEmpty }
        w.varint(nonEmpty.count)
        for (field, run) in nonEmpty {
            w.u8(UInt8(field.rawValue))
            w.varint(UInt64(run.first))
            w.varint(run.count)
            var previous: UInt32 = 0
            for e in run.ends {
                w.varint(UInt64(e - previous))
                previous = e
            }
            w.append(run.arena)
        }
    }

    static func decode(_ r: inout ByteReader) throws -> [(IdField, IdDictionary.Run)] {
        let n = try r.count(max: r.remaining, "id run count")
        var out: [(IdField, IdDictionary.Run)] = []
        for _ in 0..<n {
            let f = try r.u8()
            guard let field = IdField(rawValue: Int(f)) else { throw r.fail("unknown id field \(f)") }
            let first = try r.varint()
            let count = try r.count(max: r.remaining, "id run length")
            guard first <= UInt64(UInt32.max) - UInt64(count) else { throw r.fail("id codes from \(first) overflow") }
            var run = IdDictionary.Run(first: UInt32(first))
            run.ends.reserveCapacity(count)
            var end = 0
            for _ in 0..<count {
                end += try r.count(max: r.remaining, "id value length")
                run.ends.append(UInt32(end))
            }
            run.arena = Array(try r.bytes(end))
            out.append((field, run))
        }
        return out
    }
}

/// An application's id-dictionary checkpoint (`dictionaries/<app folder>.ids`): the codes every
/// flushed journal record assigned, so the journal files below the checkpoint can go.
///
/// Append-only: each flush that saw new codes appends one block, fsyncs, and the manifest then
/// records the file's new length and code counts. Bytes past the length the manifest names (a
/// block whose manifest never landed) are ignored on open and cut by the next append.
///
///     file  := magic "ASIDDICT" version:u32 (1) block*
///     block := length:u32 body checksum:u64        XXH64 (seed 0) of body
///     body  := idRuns                              (IdRunCodec)
enum IdDictionaryFile {
    static let magic: [UInt8] = Array("ASIDDICT".utf8)
    static let version: UInt32 = 1
    static let headerBytes = 12

    /// The dictionaries in the first `length` bytes of `path`, checked against `counts`.
    /// - Throws: `.corruption` naming the file, what is wrong and the offset; `.io`.
    static func load(_ path: String, length: Int, counts: [Int]) throws(ActionStoreError) -> [IdDictionary] {
        var dicts = [IdDictionary](repeating: IdDictionary(), count: IdField.allCases.count)
        guard length > 0 else { return dicts }
        let all = try FileSystem.readFile(path)
        guard all.count >= length else {
            throw ActionStoreError(
                .corruption,
                "\(path): \(all.count) bytes, but the manifest says its first \(length) are checkpointed"
            )
        }
        do {
            try all.withUnsafeBytes { raw in
                let bytes = UnsafeRawBufferPointer(rebasing: raw[..<length])
                var r = ByteReader(bytes) { path }
                guard length >= headerBytes, try Array(r.bytes(8)) == magic else { throw r.fail("bad magic") }
                let v = try r.u32()
                guard v == version else { throw r.fail("id dictionary file version \(v) is not \(version)") }
                while !r.isAtEnd {
                    let n = Int(try r.u32())
                    let start = r.offset
                    let body = try r.bytes(n)
                    let stored = try r.u64()
                    guard Checksum.matches(stored, XXH64(body.baseAddress, body.count, 0)) else {
                        throw ActionStoreError(
                            .corruption,
                            "\(path): checksum mismatch in the block at byte \(start - 4)"
                        )
                    }
                    var b = ByteReader(body, offset: 0) { "\(path) block at byte \(start - 4)" }
                    for (field, run) in try IdRunCodec.decode(&b) {
                        try dicts[field.rawValue].apply(run, what: "\(path) block at byte \(start - 4)")
                    }
                    guard b.isAtEnd else { throw b.fail("\(b.remaining) bytes after the runs") }
                }
            }
        } catch let e as ActionStoreError {
            throw e
        } catch {
            throw ActionStoreError(.corruption, "\(path): \(error)")
        }
        guard dicts.map(\.count) == counts else {
            throw ActionStoreError(
                .corruption,
                "\(path): holds \(dicts.map(\.count)) codes per id field, the manifest says \(counts)"
            )
        }
        return dicts
    }

    /// Appends one block of `runs` at byte `length` of `path` (cutting anything after it; creating
    /// the file with its header when `length` is 0) and fsyncs it.
    /// - Returns: the file's new length.
    static func append(
        _ runs: [(IdField, IdDictionary.Run)],
        to path: String,
        at length: Int,
        io: FileIO
    ) throws(ActionStoreError) -> Int {
        let fd = io.open(path, O_WRONLY | O_CREAT)
        guard fd >= 0 else { throw ActionStoreError(.io, "cannot open \(path): \(FileSystem.errnoMessage(-fd))") }
        var w = ByteWriter(capacity: 64)
        if length == 0 {
            w.append(magic)
            w.u32(version)
        }
        var body = ByteWriter(capacity: 64)
        IdRunCodec.encode(runs, &body)
        w.u32(UInt32(body.bytes.count))
        w.append(body.bytes)
        w.u64(body.bytes.withUnsafeBytes { XXH64($0.baseAddress, $0.count, 0) })
        func fail(_ what: String, _ code: Int32) -> ActionStoreError {
            _ = io.close(fd)
            return ActionStoreError(.io, "\(what) \(path) failed: \(FileSystem.errnoMessage(code))")
        }
        let t = io.truncate(fd, Int64(length))
        if t != 0 { throw fail("truncating", -t) }
        var off = 0
        while off < w.bytes.count {
            let n = w.bytes.withUnsafeBytes { io.write(fd, UnsafeRawBufferPointer(rebasing: $0[off...])) }
            if n < 0 { throw fail("write at byte \(length + off) of", Int32(-n)) }
            off += n
        }
        let s = io.sync(fd)
        if s != 0 { throw fail("fsync of", -s) }
        _ = io.close(fd)
        if length == 0 {
            let d = io.syncDirectory(FileSystem.parent(of: path))
            if d != 0 {
                throw ActionStoreError(.io, "fsync of the folder of \(path) failed: \(FileSystem.errnoMessage(-d))")
            }
        }
        return length + w.bytes.count
    }
}
