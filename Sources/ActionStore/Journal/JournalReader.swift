#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Replays journal records in order, from a position through every later file.
///
/// Each file is read whole with `read(2)` into one reused buffer (no per-record system calls) and
/// payloads are handed to the caller in place.
///
/// **Torn tail or corruption.** A bad record (short header, invalid type, impossible length,
/// checksum mismatch) is a *torn tail* when it is in the last file and no valid record follows it
/// anywhere in that file: a crash cut the final write, and nothing after it was ever acknowledged
/// as durable. The reader stops there and reports ``ReplayResult/validEnd`` so the writer can
/// truncate and continue. A bad record followed by a valid one, or any bad record in a file that
/// is not the last, is *corruption*: the writer syncs each file before creating the next, and
/// valid records after a hole may have been acknowledged, so dropping them silently would lose
/// committed data. Replay throws `ActionStoreError(.corruption)` naming the file and offset, or,
/// with `skipDamaged`, resynchronizes at the next offset where a record header, length and
/// checksum all check out, and counts the damaged region. See docs/journal-format.md.
public struct JournalReader: Sendable {
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    /// What a replay found.
    public struct ReplayResult: Sendable, Hashable {
        /// Just past the last valid record of the last file (or its file header): where the
        /// writer truncates and continues. When no journal file exists at or after the start,
        /// `(start.fileNumber, 0)`.
        public var validEnd: JournalPosition
        /// Records passed to the closure.
        public var records: Int = 0
        /// Payload bytes passed to the closure.
        public var payloadBytes: UInt64 = 0
        /// Where a torn tail was cut, if one was.
        public var tornTail: JournalPosition?
        /// Bytes after ``tornTail``.
        public var tornBytes: UInt64 = 0
        /// Damaged regions skipped with `skipDamaged` (a damaged record, file header or missing file
        /// each count one).
        public var damagedSkipped: Int = 0
        /// One line per torn tail or skipped region, for the log: "torn tail at … offset …".
        public var notes: [String] = []
    }

    /// Replays every valid record at or after `start`, in journal order.
    ///
    /// - Parameters:
    ///   - start: the first position to read; an offset below the file header means the file's
    ///     first record. Files numbered below `start.fileNumber` are not read.
    ///   - skipDamaged: skip damaged records and keep going instead of throwing. Default false.
    ///   - body: called with each record's type, payload and start position. The payload is valid
    ///     only during the call.
    /// - Returns: the valid end and what was cut or skipped.
    /// - Throws: `ActionStoreError(.corruption)` naming file and offset for damage before the tail
    ///   (unless `skipDamaged`); `ActionStoreError(.io)` if a file cannot be read; whatever `body`
    ///   throws.
    /// - Complexity: O(bytes read); resynchronizing past damage may hash candidate records.
    public func replay(
        from start: JournalPosition,
        skipDamaged: Bool = false,
        _ body: (RecordType, UnsafeRawBufferPointer, JournalPosition) throws -> Void
    ) throws -> ReplayResult {
        let files = try StoreFiles.journalNumbers(in: directory).filter { $0 >= start.fileNumber }
        var result = ReplayResult(validEnd: JournalPosition(fileNumber: start.fileNumber, offset: 0))
        guard let lastFile = files.last else { return result }

        var expected = start.fileNumber
        var buffer = ReadBuffer()
        defer { buffer.free() }
        for n in files {
            if n != expected {
                let missing =
                    "journal files \(StoreFiles.journalFileName(expected))..<\(StoreFiles.journalFileName(n)) are missing "
                    + "from \(directory)"
                guard skipDamaged else { throw ActionStoreError(.corruption, missing) }
                result.damagedSkipped += 1
                result.notes.append("skipped: " + missing)
            }
            expected = n + 1
            let path = StoreFiles.journalFile(directory, n)
            let bytes = try buffer.read(path)
            let startOffset = n == start.fileNumber ? start.offset : 0
            guard startOffset <= UInt64(bytes.count) else {
                throw ActionStoreError(
                    .corruption,
                    "replay start offset \(startOffset) is past the end of \(path) (\(bytes.count) bytes)"
                )
            }
            let end = try FileScan(
                bytes: bytes,
                path: path,
                fileNumber: n,
                isLast: n == lastFile,
                skipDamaged: skipDamaged
            ).run(from: Int(startOffset), result: &result, body)
            result.validEnd = JournalPosition(fileNumber: n, offset: UInt64(end))
        }
        return result
    }
}

/// One file's records.
private struct FileScan {
    let bytes: UnsafeRawBufferPointer
    let path: String
    let fileNumber: UInt64
    let isLast: Bool
    let skipDamaged: Bool

    static let headerBytes = JournalFormat.recordHeaderBytes

    /// Scans from `startOffset` and returns the valid end.
    func run(
        from startOffset: Int,
        result: inout JournalReader.ReplayResult,
        _ body: (RecordType, UnsafeRawBufferPointer, JournalPosition) throws -> Void
    ) throws -> Int {
        let fileHeader = JournalFormat.fileHeaderBytes
        var off = max(startOffset, fileHeader)
        if let problem = JournalFormat.fileHeaderProblem(bytes, fileNumber: fileNumber) {
            let next = recordLength(at: fileHeader) != nil ? fileHeader : nextValid(after: fileHeader)
            if isLast && next == nil {
                cutTail(at: 0, reason: problem, result: &result)
                return 0
            }
            try damaged(at: 0, next: next, reason: problem, result: &result)
            guard let next else { return bytes.count }
            off = max(off, next)
        }
        while off < bytes.count {
            if let length = recordLength(at: off) {
                let type = RecordType(rawValue: bytes[off + 4])!
                let payload = UnsafeRawBufferPointer(rebasing: bytes[(off + Self.headerBytes)..<(off + length)])
                try body(type, payload, JournalPosition(fileNumber: fileNumber, offset: UInt64(off)))
                result.records += 1
                result.payloadBytes += UInt64(payload.count)
                off += length
                continue
            }
            let reason = problem(at: off)
            let next = nextValid(after: off)
            if isLast && next == nil {
                cutTail(at: off, reason: reason, result: &result)
                return off
            }
            try damaged(at: off, next: next, reason: reason, result: &result)
            off = next ?? bytes.count
        }
        return off
    }

    private func cutTail(at off: Int, reason: String, result: inout JournalReader.ReplayResult) {
        result.tornTail = JournalPosition(fileNumber: fileNumber, offset: UInt64(off))
        result.tornBytes = UInt64(bytes.count - off)
        result.notes.append("torn tail at \(path) offset \(off): \(reason); cut \(bytes.count - off) bytes")
    }

    private func damaged(at off: Int, next: Int?, reason: String, result: inout JournalReader.ReplayResult) throws {
        let after =
            if let next { "a valid record follows at offset \(next)" } else { "in a file that is not the last" }
        guard skipDamaged else {
            throw ActionStoreError(
                .corruption,
                "journal \(path) is damaged at offset \(off): \(reason); \(after). "
                    + "Replay with skipDamaged to skip it, losing the damaged records"
            )
        }
        result.damagedSkipped += 1
        result.notes.append("skipped damaged bytes \(off)..<\(next ?? bytes.count) of \(path): \(reason)")
    }

    /// Whether the record header at `off` is whole, of a valid type, and matches its checksum.
    func headerIsValid(at off: Int) -> Bool {
        guard bytes.count - off >= Self.headerBytes else { return false }
        let type = bytes[off + 4]
        guard type != 0, type <= JournalFormat.recordTypeMax else { return false }
        let header = UnsafeRawBufferPointer(rebasing: bytes[off..<(off + Self.headerBytes)])
        return JournalFormat.recordHeaderChecksum(header) == ByteReader.load(UInt32.self, bytes, at: off + 13)
    }

    /// The total length of the valid record at `off`, or nil.
    func recordLength(at off: Int) -> Int? {
        guard headerIsValid(at: off) else { return nil }
        let length = Int(ByteReader.load(UInt32.self, bytes, at: off))
        guard length <= JournalFormat.recordPayloadBytesMax, length <= bytes.count - off - Self.headerBytes else {
            return nil
        }
        let payload = UnsafeRawBufferPointer(
            rebasing: bytes[(off + Self.headerBytes)..<(off + Self.headerBytes + length)]
        )
        let type = bytes[off + 4]
        guard
            JournalFormat.recordChecksum(type: type, payload: payload)
                == ByteReader.load(UInt64.self, bytes, at: off + 5)
        else {
            return nil
        }
        return Self.headerBytes + length
    }

    /// The first offset after `off` holding a valid record, or nil.
    func nextValid(after off: Int) -> Int? {
        var p = off + 1
        while p + Self.headerBytes <= bytes.count {
            // The type byte and then the header checksum reject zeros and garbage without
            // touching the payload; only a header that checks out gets its payload hashed.
            let type = bytes[p + 4]
            if type != 0, type <= JournalFormat.recordTypeMax, recordLength(at: p) != nil { return p }
            p += 1
        }
        return nil
    }

    /// Why the record at `off` is not valid.
    func problem(at off: Int) -> String {
        let left = bytes.count - off
        guard left >= Self.headerBytes else {
            return "record header cut short (\(left) of \(Self.headerBytes) bytes)"
        }
        let type = bytes[off + 4]
        let length = Int(ByteReader.load(UInt32.self, bytes, at: off))
        if type == 0 || type > JournalFormat.recordTypeMax { return "invalid record type \(type)" }
        if !headerIsValid(at: off) { return "record header checksum mismatch" }
        if length > JournalFormat.recordPayloadBytesMax { return "impossible record length \(length)" }
        if length > left - Self.headerBytes {
            return "record of \(length) bytes runs past the end of the file (\(left - Self.headerBytes) left)"
        }
        return "record payload checksum mismatch"
    }
}

/// One buffer reused for every file of a replay.
private struct ReadBuffer {
    var storage = UnsafeMutableRawBufferPointer(start: nil, count: 0)

    /// Reads the whole file at `path`; the bytes are valid until the next call.
    mutating func read(_ path: String) throws -> UnsafeRawBufferPointer {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ActionStoreError(.io, "cannot open \(path): \(errnoText(errno))") }
        defer { _ = Glibc.close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ActionStoreError(.io, "cannot stat \(path): \(errnoText(errno))") }
        let size = Int(st.st_size)
        if storage.count < size {
            storage.deallocate()
            storage = .allocate(byteCount: size, alignment: 16)
        }
        var done = 0
        while done < size {
            let n = Glibc.read(fd, storage.baseAddress! + done, size - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw ActionStoreError(.io, "cannot read \(path) at offset \(done): \(errnoText(errno))")
            }
            if n == 0 { break }  // The file shrank while we read: scan what we have.
            done += n
        }
        return UnsafeRawBufferPointer(rebasing: storage[0..<done])
    }

    func free() { storage.deallocate() }
}
