import CXXHash

// The on-disk layout of journal files. Spec: docs/journal-format.md (keep the two in step).
//
// Studied from LevelDB's `doc/log_format.md`, but records are never fragmented across 32 KiB
// blocks: a record is whole, so a reader needs no reassembly and a payload is always one
// contiguous byte range. LevelDB resynchronizes by jumping to the next block; we resynchronize by
// scanning for the next header whose checksum matches (see `JournalReader`), which costs more on
// damaged bytes but nothing on healthy ones.

/// A place in the journal: a file number and a byte offset in that file.
///
/// Positions order first by file, then by offset. The offset of the first record of a file is
/// ``JournalFormat/fileHeaderBytes``; an offset below it (such as 0) means "the start of the file".
public struct JournalPosition: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var fileNumber: UInt64
    public var offset: UInt64

    public init(fileNumber: UInt64, offset: UInt64) {
        self.fileNumber = fileNumber
        self.offset = offset
    }

    public static func < (a: JournalPosition, b: JournalPosition) -> Bool {
        (a.fileNumber, a.offset) < (b.fileNumber, b.offset)
    }

    public var description: String { "\(StoreFiles.journalFileName(fileNumber)) offset \(offset)" }
}

/// The kind of a journal record: a byte stored in each record header.
///
/// 0 is invalid so that zero-filled bytes (a torn tail, a preallocated file) never look like a
/// record, as in LevelDB's `kZeroType`. Values above ``JournalFormat/recordTypeMax`` are reserved.
public struct RecordType: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt8

    /// - Returns: nil when `rawValue` is 0 or above ``JournalFormat/recordTypeMax``.
    public init?(rawValue: UInt8) {
        guard rawValue != 0, rawValue <= JournalFormat.recordTypeMax else { return nil }
        self.rawValue = rawValue
    }

    /// A ``BatchCodec``-encoded ``JournalBatch``.
    public static let batch = RecordType(rawValue: 1)!
    /// A store-defined marker (checkpoint, manifest edit); the journal does not look inside.
    public static let checkpoint = RecordType(rawValue: 2)!

    public var description: String {
        switch rawValue {
        case 1: "batch"
        case 2: "checkpoint"
        default: "type\(rawValue)"
        }
    }
}

/// Constants and helpers of the journal file format (docs/journal-format.md).
public enum JournalFormat {
    /// File magic, "ASJOURNL".
    public static let magic: [UInt8] = Array("ASJOURNL".utf8)
    /// Format version written in each file header.
    public static let version: UInt32 = 1
    /// Bytes of the file header: magic 8, version 4, flags 4, file number 8, checksum 8.
    public static let fileHeaderBytes = 32
    /// Bytes of a record header: length 4, type 1, payload checksum 8, header checksum 4.
    public static let recordHeaderBytes = 17
    /// The largest record payload, 32 MiB. A larger payload is refused by the writer; a header
    /// claiming more is an impossible length to the reader. It also bounds the cost of
    /// resynchronizing past damaged bytes.
    public static let recordPayloadBytesMax = 32 << 20
    /// The largest valid record type byte.
    public static let recordTypeMax: UInt8 = 63

    /// The checksum of a record: XXH3-64 of the payload, seeded with the length and type
    /// (`seed = length << 8 | type`).
    ///
    /// Seeding rather than hashing `type ‖ payload` covers the length field too (LevelDB's CRC
    /// leaves the length to be caught indirectly) and hashes the caller's payload in place: no
    /// copy, no streaming state.
    /// - Complexity: O(payload.count), about 10+ GB/s.
    public static func recordChecksum(type: UInt8, payload: UnsafeRawBufferPointer) -> UInt64 {
        let seed = UInt64(payload.count) << 8 | UInt64(type)
        return XXH3_64bits_withSeed(payload.baseAddress, payload.count, seed)
    }

    /// Appends a record header: length, type, payload checksum, and the header checksum, the low
    /// 32 bits of XXH3 of those 13 bytes.
    ///
    /// The header checksum lets a reader resynchronizing past damage reject a garbage header
    /// without hashing the (up to 32 MiB) payload it claims: without it, random bytes pass the
    /// type and length filters at about 1 offset in 512, and each costs a payload hash.
    static func appendRecordHeader(_ out: inout [UInt8], length: Int, type: UInt8, checksum: UInt64) {
        ByteWriter.appending(to: &out) { w in
            let start = w.count
            w.u32(UInt32(length))
            w.u8(type)
            w.u64(checksum)
            let check = w.bytes.withUnsafeBytes {
                recordHeaderChecksum(UnsafeRawBufferPointer(rebasing: $0[start...]))
            }
            w.u32(check)
        }
    }

    /// The low 32 bits of XXH3 of the first 13 bytes of `header` (length, type, payload checksum).
    static func recordHeaderChecksum(_ header: UnsafeRawBufferPointer) -> UInt32 {
        assert(header.count >= 13)
        return UInt32(truncatingIfNeeded: XXH3_64bits(header.baseAddress, 13))
    }

    /// The 32-byte header of journal file `fileNumber`.
    public static func fileHeader(fileNumber: UInt64) -> [UInt8] {
        var w = ByteWriter(capacity: fileHeaderBytes)
        w.append(magic)
        w.u32(version)
        w.u32(0)  // flags
        w.u64(fileNumber)
        let sum = w.bytes.withUnsafeBytes { XXH3_64bits($0.baseAddress, $0.count) }
        w.u64(sum)
        assert(w.count == fileHeaderBytes)
        return w.bytes
    }

    /// Why a file header is not valid, or nil when it is.
    static func fileHeaderProblem(_ bytes: UnsafeRawBufferPointer, fileNumber: UInt64) -> String? {
        guard bytes.count >= fileHeaderBytes else { return "file header is \(bytes.count) bytes, short of 32" }
        guard bytes.prefix(8).elementsEqual(magic) else { return "bad magic in file header" }
        let sum = XXH3_64bits(bytes.baseAddress, 24)
        guard ByteReader.load(UInt64.self, bytes, at: 24) == sum else { return "file header checksum mismatch" }
        let v = ByteReader.load(UInt32.self, bytes, at: 8)
        guard v == version else { return "unsupported journal version \(v)" }
        let n = ByteReader.load(UInt64.self, bytes, at: 16)
        guard n == fileNumber else { return "file header names file number \(n)" }
        return nil
    }
}
