import Dispatch

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Settings of ``SegmentWriter``.
public struct SegmentOptions: Sendable, Hashable {
    /// Rows per block of every column. Default 65,536 (64Ki). Smaller blocks skip more finely by
    /// zone map; larger ones compress better.
    public var blockRows: Int
    /// A string column with more distinct values than this gets no postings index, only its
    /// dictionary. Default 10,000.
    public var indexMaxDistinct: Int
    /// Columns with at most this many distinct values are always indexed; above it, a column is
    /// indexed only while it has at most one distinct value per 4 rows. Default 1,024.
    public var indexAlwaysDistinct: Int
    /// Compress blocks and dictionaries with LZ4 (kept raw when LZ4 saves under 1/16). Default true.
    public var compression: Bool
    /// fsync the file and its directory around the rename. Default true; tests turn it off.
    public var sync: Bool

    public init(
        blockRows: Int = 65_536,
        indexMaxDistinct: Int = 10_000,
        indexAlwaysDistinct: Int = 1_024,
        compression: Bool = true,
        sync: Bool = true
    ) {
        precondition(blockRows > 0 && blockRows <= SegmentFormat.blockRowsMax, "blockRows out of range")
        self.blockRows = blockRows
        self.indexMaxDistinct = indexMaxDistinct
        self.indexAlwaysDistinct = indexAlwaysDistinct
        self.compression = compression
        self.sync = sync
    }
}

/// What a written segment holds, for the manifest.
public struct SegmentInfo: Sendable, Hashable {
    public var rows: Int
    /// File size.
    public var bytes: Int
    /// Time range of the rows; both 0 for an empty segment.
    public var minTime: Int64
    public var maxTime: Int64
    /// The last path component of the file.
    public var fileName: String

    public init(rows: Int, bytes: Int, minTime: Int64, maxTime: Int64, fileName: String) {
        self.rows = rows
        self.bytes = bytes
        self.minTime = minTime
        self.maxTime = maxTime
        self.fileName = fileName
    }
}

/// Writes segment files (docs/segment-format.md).
public enum SegmentWriter {
    /// Writes `actions` as one segment at `path`.
    ///
    /// Rows are sorted by time (stably). The file is written at `path.tmp`, fsynced, renamed to
    /// `path` and the directory fsynced (unless `options.sync` is false), so `path` either does not
    /// exist or is complete; the caller then records it in its manifest.
    ///
    /// - Parameters:
    ///   - actions: any order.
    ///   - path: destination; replaced if it exists.
    /// - Returns: rows, size and time range of the file.
    /// - Throws: `ActionStoreError(.schemaConflict)` when one metadata path holds values of two types
    ///   (numbers of both kinds are fine), `.io` on file errors. A path named twice in one action
    ///   keeps its last value.
    public static func write(
        actions: [Action],
        to path: String,
        options: SegmentOptions = .init()
    ) throws -> SegmentInfo {
        try write(actions: actions, to: path, options: options, io: .posix)
    }

    /// `write(actions:to:options:)` through the given system calls (the store passes its own).
    package static func write(
        actions: [Action],
        to path: String,
        options: SegmentOptions,
        io: FileIO
    ) throws -> SegmentInfo {
        guard let chunk = ColumnChunk(actions) else {
            throw ActionStoreError(.schemaConflict, "a metadata path holds values of two types; a path has one type")
        }
        return try write(chunk: chunk, to: path, options: options, io: io)
    }

    /// Writes the rows of `chunk` as one segment at `path` (sorted by time here, stably).
    static func write(
        chunk: ColumnChunk,
        to path: String,
        options: SegmentOptions,
        io: FileIO
    ) throws -> SegmentInfo {
        try SegmentBuilder(path: path, options: options, chunk: chunk.sortedByTime(), io: io).run()
    }
}

/// Byte-exact string key: Swift's `String ==` is canonical equivalence, which would merge NFC and
/// NFD spellings in a dictionary and break the exact round trip.
struct UTF8Key: Hashable {
    let s: String

    static func == (a: UTF8Key, b: UTF8Key) -> Bool { utf8Equal(a.s, b.s) }

    func hash(into hasher: inout Hasher) {
        var s = s
        s.withUTF8 { unsafe hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}

/// Byte equality (not canonical equivalence).
func utf8Equal(_ a: String, _ b: String) -> Bool {
    var a = a
    var b = b
    return a.withUTF8 { pa in
        b.withUTF8 { pb in
            guard pa.count == pb.count else { return false }
            guard pa.count > 0 else { return true }
            return unsafe memcmp(pa.baseAddress!, pb.baseAddress!, pa.count) == 0
        }
    }
}

/// -1, 0 or 1 as `a`'s UTF-8 bytes sort before, equal or after `b`'s.
func utf8Compare(_ a: String, _ b: String) -> Int {
    utf8Less(a, b) ? -1 : utf8Equal(a, b) ? 0 : 1
}

/// Hashes the UTF-8 bytes of `s` (consistent with `utf8Equal`).
func utf8Hash(_ s: String, into h: inout Hasher) {
    var s = s
    s.withUTF8 { unsafe h.combine(bytes: UnsafeRawBufferPointer($0)) }
}

/// Compares UTF-8 bytes (the dictionary order).
func utf8Less(_ a: String, _ b: String) -> Bool {
    var a = a
    var b = b
    return a.withUTF8 { pa in
        b.withUTF8 { pb in
            let n = Swift.min(pa.count, pb.count)
            let c = n == 0 ? 0 : unsafe memcmp(pa.baseAddress!, pb.baseAddress!, n)
            return c != 0 ? c < 0 : pa.count < pb.count
        }
    }
}

/// The values of one column: the rows (ascending) where it is present and their values.
private struct Sparse<T> {
    var rows: [UInt32] = []
    var values: [T] = []
}

/// Writes one segment: the header, then the columns (encoded on every core, each into a buffer of
/// its own by a ``ColumnWriter``, appended in column order), the transaction_id filter, the footer
/// and the trailer.
private struct SegmentBuilder {
    let options: SegmentOptions
    let fileName: String
    let file: SegmentFileWriter
    /// The rows, in time order.
    let chunk: ColumnChunk

    init(path: String, options: SegmentOptions, chunk: ColumnChunk, io: FileIO) throws {
        // Options fields are vars: re-check what init checked (0 would never finish a block).
        precondition(options.blockRows > 0 && options.blockRows <= SegmentFormat.blockRowsMax, "blockRows out of range")
        precondition(chunk.rowCount <= Int(UInt32.max), "a segment holds at most 2^32-1 rows")
        self.options = options
        self.chunk = chunk
        fileName = path.split(separator: "/").last.map(String.init) ?? path
        file = try SegmentFileWriter(path: path, io: io)
    }

    /// One column's encoding, in footer order.
    enum Job {
        case time
        case fixed(FixedField)
        case metadata(Int)
    }

    func run() throws -> SegmentInfo {
        var header = ByteWriter()
        header.append(SegmentFormat.magic)
        header.u32(SegmentFormat.version)
        header.u32(UInt32(truncatingIfNeeded: Checksum.xxh3(header.bytes)))
        try file.append(header.bytes)

        // action_name is required, so it is always present (even in an empty segment: no).
        var jobs = [Job.time]
        jobs += FixedField.allCases.filter { chunk.fixed[$0.rawValue].count > 0 }.map { .fixed($0) }
        // Paths in byte order, so the column order is deterministic and canonically equivalent
        // spellings of a path stay distinct columns.
        jobs += chunk.metadataPaths.indices
            .filter { chunk.metadata[$0].count > 0 }
            .sorted { utf8Less(chunk.metadataPaths[$0], chunk.metadataPaths[$1]) }
            .map { .metadata($0) }
        let encoded = ParallelResults<Result<ColumnWriter, any Error>>(count: jobs.count)
        let (opts, rows, jobList) = (options, chunk, jobs)
        DispatchQueue.concurrentPerform(iterations: jobs.count) { j in
            encoded.set(
                j,
                Result {
                    var w = ColumnWriter(options: opts, chunk: rows)
                    switch jobList[j] {
                    case .time: try w.writeTime(rows.times)
                    case .fixed(let f):
                        let c = rows.fixed[f.rawValue]
                        try w.writeStrings(f.name, c.rows, ByteStrings(arena: rows.arena, slots: c.slots))
                    case .metadata(let i): try w.writeMetadata(i)
                    }
                    return w
                }
            )
        }
        var columns: [SegmentColumnInfo] = []
        for r in encoded.take() {
            let w = try r.get()
            let base = file.offset
            columns += w.columns.map { $0.shifted(by: base) }
            try file.append(w.bytes)
        }
        var extensions: [UInt8: SegmentRegion] = [:]
        let ids = chunk.fixed[FixedField.transactionId.rawValue]
        // A filter that cannot be built (no seed in 100 places the keys: never seen) is left out;
        // readers then build it from the column.
        if ids.count > 0,
            let filter = try? BinaryFuseFilter(keys: ColumnChunk.hashes(of: ids, arena: chunk.arena).map(\.hash))
        {
            let bytes = filter.encoded()
            extensions[SegmentFormat.extensionTransactionIdFilter] = SegmentRegion(
                offset: file.offset,
                storedSize: bytes.count,
                rawSize: bytes.count,
                codec: .none,
                checksum: Checksum.xxh3(bytes)
            )
            try file.append(bytes)
        }

        let times = chunk.times
        let footer = SegmentFooter(
            rowCount: chunk.rowCount,
            minTime: times.first ?? 0,
            maxTime: times.last ?? 0,
            blockRows: options.blockRows,
            columns: columns,
            extensions: extensions
        ).encode()
        let footerOffset = file.offset
        try file.append(footer)
        var trailer = ByteWriter()
        trailer.u64(UInt64(footerOffset))
        trailer.u64(UInt64(footer.count))
        trailer.u64(Checksum.xxh3(footer))
        trailer.u32(SegmentFormat.version)
        trailer.u32(UInt32(truncatingIfNeeded: Checksum.xxh3(trailer.bytes)))
        trailer.append(SegmentFormat.magic)
        try file.append(trailer.bytes)
        let size = file.offset
        try file.commit(sync: options.sync)
        return SegmentInfo(
            rows: chunk.rowCount,
            bytes: size,
            minTime: times.first ?? 0,
            maxTime: times.last ?? 0,
            fileName: fileName
        )
    }
}

extension SegmentColumnInfo {
    /// The same column with every region `base` bytes further into the file.
    func shifted(by base: Int) -> SegmentColumnInfo {
        var c = self
        c.dictionary?.offset += base
        c.index?.offset += base
        for b in c.blocks.indices { c.blocks[b].region.offset += base }
        return c
    }
}

/// Encodes columns of one segment into a buffer of its own (offsets from the buffer's start;
/// `SegmentColumnInfo.shifted(by:)` places them in the file).
private struct ColumnWriter {
    let options: SegmentOptions
    /// The rows, in time order.
    let chunk: ColumnChunk
    let rowCount: Int
    var columns: [SegmentColumnInfo] = []
    var bytes: [UInt8] = []

    init(options: SegmentOptions, chunk: ColumnChunk) {
        self.options = options
        self.chunk = chunk
        rowCount = chunk.rowCount
    }

    // MARK: Regions and blocks

    mutating func writeRegion(_ raw: [UInt8], compress: Bool) throws -> SegmentRegion {
        let packed = compress && options.compression ? LZ4.compress(raw) : nil
        let stored = packed ?? raw
        let region = SegmentRegion(
            offset: bytes.count,
            storedSize: stored.count,
            rawSize: raw.count,
            codec: packed == nil ? .none : .lz4,
            checksum: Checksum.xxh3(stored)
        )
        bytes += stored
        return region
    }

    /// Writes the blocks of a column present at `rows`; `values` appends the values of present
    /// indexes `range` to a block and returns its zone map.
    mutating func writeBlocks(
        rows: [UInt32],
        _ values: (Range<Int>, inout ByteWriter) -> (Value?, Value?)
    ) throws -> [SegmentBlockInfo] {
        var blocks: [SegmentBlockInfo] = []
        var p = 0
        var rowStart = 0
        while rowStart < rowCount {
            let rowEnd = Swift.min(rowStart + options.blockRows, rowCount)
            let p0 = p
            while p < rows.count, Int(rows[p]) < rowEnd { p += 1 }
            var w = ByteWriter()
            let present = p - p0
            if present < rowEnd - rowStart {
                w.u8(SegmentFormat.blockHasPresence)
                var bits = RowBitmap(count: rowEnd - rowStart)
                for i in p0..<p { bits[Int(rows[i]) - rowStart] = true }
                Self.appendBits(bits, into: &w)
            } else {
                w.u8(0)
            }
            let (zmin, zmax) = values(p0..<p, &w)
            blocks.append(
                SegmentBlockInfo(
                    region: try writeRegion(w.bytes, compress: true),
                    rowStart: rowStart,
                    rowCount: rowEnd - rowStart,
                    presentCount: present,
                    min: zmin,
                    max: zmax
                )
            )
            rowStart = rowEnd
        }
        return blocks
    }

    static func appendBits(_ bits: RowBitmap, into w: inout ByteWriter) {
        let n = (bits.count + 7) / 8
        for i in 0..<n { w.u8(UInt8(truncatingIfNeeded: bits.words[i >> 3] >> UInt64((i & 7) * 8))) }
    }

    // MARK: Columns

    mutating func writeTime(_ times: [Int64]) throws {
        let blocks = try writeBlocks(rows: (0..<UInt32(rowCount)).map { $0 }) { range, w in
            guard !range.isEmpty else { return (nil, nil) }
            let base = times[range.lowerBound]
            w.i64(base)
            var widest: UInt64 = 0
            for i in range.dropFirst() { widest = max(widest, UInt64(bitPattern: times[i] &- times[i - 1])) }
            let width = BitPacking.width(widest)
            w.u8(UInt8(width))
            BitPacking.pack(
                range.dropFirst().lazy.map { UInt64(bitPattern: times[$0] &- times[$0 - 1]) },
                width: width,
                into: &w
            )
            return (.int(base), .int(times[range.upperBound - 1]))
        }
        columns.append(
            SegmentColumnInfo(
                name: "time",
                type: .time,
                encoding: .deltaBitPacked,
                nullCount: 0,
                // Sorted: distinct values are the changes.
                distinctCount: times.isEmpty
                    ? 0 : 1 + zip(times, times.dropFirst()).reduce(0) { $0 + ($1.0 != $1.1 ? 1 : 0) },
                min: times.first.map { .int($0) },
                max: times.last.map { .int($0) },
                hasMixedInts: false,
                dictionary: nil,
                index: nil,
                blocks: blocks
            )
        )
    }

    func wantsIndex(distinct: Int) -> Bool {
        distinct <= options.indexMaxDistinct && (distinct <= options.indexAlwaysDistinct || distinct <= rowCount / 4)
    }

    /// Index region: keyCount:u32, keys, (keyCount+1) u32 offsets, portable roaring bitmaps.
    mutating func writeIndex(keyCount: Int, keys: [UInt8], codes: [UInt32], rows: [UInt32]) throws -> SegmentRegion {
        var perKey = [[UInt32]](repeating: [], count: keyCount)
        for (i, c) in codes.enumerated() { perKey[Int(c)].append(rows[i]) }
        var w = ByteWriter()
        w.u32(UInt32(keyCount))
        w.append(keys)
        var blobs = ByteWriter()
        var offsets: [UInt32] = [0]
        for list in perKey {
            blobs.append(RoaringBitmap(list).serialized())
            offsets.append(UInt32(blobs.count))
        }
        for o in offsets { w.u32(o) }
        w.append(blobs.bytes)
        return try writeRegion(w.bytes, compress: false)
    }

    /// Writes a string column: UUID or IPv4 words when every value is canonical such text,
    /// else a dictionary in byte order with bit-packed codes.
    ///
    /// Works on the bytes where the chunk holds them: the dictionary is a flat open-addressing
    /// table of XXH3-64 hashes (bytes compared on a hash match), its entries sorted with memcmp,
    /// and a `String` is made only for the column's least and greatest value.
    /// - Complexity: O(values + bytes) plus the sort of the distinct values.
    mutating func writeStrings(_ name: String, _ rows: [UInt32], _ values: ByteStrings) throws {
        let nullCount = rowCount - rows.count
        if let uuids = values.allParse(CompactText.parseUUID(bytes:)) {
            try writeFixedWidth(name, rows: rows, values: uuids, nullCount: nullCount, encoding: .uuid, strings: values)
            {
                v,
                w in
                w.u64(UInt64(truncatingIfNeeded: v >> 64))
                w.u64(UInt64(truncatingIfNeeded: v))
            }
            return
        }
        if let ips = values.allParse(CompactText.parseIPv4(bytes:)) {
            try writeFixedWidth(name, rows: rows, values: ips, nullCount: nullCount, encoding: .ipv4, strings: values) {
                v,
                w in w.u32(v)
            }
            return
        }
        let dict = values.dictionary()
        var d = ByteWriter(capacity: 8 + dict.order.count * 4 + dict.bytes)
        d.u32(UInt32(dict.order.count))
        var off: UInt32 = 0
        d.u32(0)
        for id in dict.order {
            off += UInt32(values.length(Int(dict.first[Int(id)])))
            d.u32(off)
        }
        for id in dict.order { values.append(Int(dict.first[Int(id)]), to: &d.bytes) }
        let dictRegion = try writeRegion(d.bytes, compress: true)
        let codes = dict.codes
        let index =
            wantsIndex(distinct: dict.order.count)
            ? try writeIndex(keyCount: dict.order.count, keys: [], codes: codes, rows: rows) : nil
        let blocks = try writeBlocks(rows: rows) { range, w in
            let widest = codes[range].max() ?? 0
            let width = BitPacking.width(UInt64(widest))
            w.u8(UInt8(width))
            BitPacking.pack(codes[range].lazy.map { UInt64($0) }, width: width, into: &w)
            return (nil, nil)
        }
        columns.append(
            SegmentColumnInfo(
                name: name,
                type: .string,
                encoding: .dictionary,
                nullCount: nullCount,
                distinctCount: dict.order.count,
                min: dict.order.first.map { .string(values.string(Int(dict.first[Int($0)]))) },
                max: dict.order.last.map { .string(values.string(Int(dict.first[Int($0)]))) },
                hasMixedInts: false,
                dictionary: dictRegion,
                index: index,
                blocks: blocks
            )
        )
    }

    mutating func writeFixedWidth<T: FixedWidthInteger>(
        _ name: String,
        rows: [UInt32],
        values: [T],
        nullCount: Int,
        encoding: SegmentColumnEncoding,
        strings: ByteStrings,
        put: (T, inout ByteWriter) -> Void
    ) throws {
        let keys = Array(Set(values)).sorted()
        var index: SegmentRegion? = nil
        if wantsIndex(distinct: keys.count) {
            var slot: [T: UInt32] = [:]
            var k = ByteWriter()
            for (i, key) in keys.enumerated() {
                slot[key] = UInt32(i)
                put(key, &k)
            }
            index = try writeIndex(keyCount: keys.count, keys: k.bytes, codes: values.map { slot[$0]! }, rows: rows)
        }
        let blocks = try writeBlocks(rows: rows) { range, w in
            for i in range { put(values[i], &w) }
            return (nil, nil)
        }
        // Text order of canonical UUIDs is numeric order; for IPv4 it is not, so take it from the text.
        var lo: String?
        var hi: String?
        if encoding == .uuid {
            lo = keys.first.map { CompactText.formatUUID(UInt128($0)) }
            hi = keys.last.map { CompactText.formatUUID(UInt128($0)) }
        } else if let (l, h) = strings.minMax() {
            lo = strings.string(l)
            hi = strings.string(h)
        }
        columns.append(
            SegmentColumnInfo(
                name: name,
                type: .string,
                encoding: encoding,
                nullCount: nullCount,
                distinctCount: keys.count,
                min: lo.map { .string($0) },
                max: hi.map { .string($0) },
                hasMixedInts: false,
                dictionary: nil,
                index: index,
                blocks: blocks
            )
        )
    }

    /// Writes metadata column `i` of the chunk.
    mutating func writeMetadata(_ i: Int) throws {
        let c = chunk.metadata[i]
        let name = "metadata." + chunk.metadataPaths[i]
        if c.kind == .string {
            try writeStrings(name, c.rows, ByteStrings(arena: chunk.arena, slots: c.slots))
        } else {
            try writeMetadataColumn(name, Sparse(rows: c.rows, values: c.rows.indices.map { chunk.value(c, $0) }))
        }
    }

    mutating func writeMetadataColumn(_ name: String, _ col: Sparse<Value>) throws {
        var strings = 0
        var ints = 0
        var doubles = 0
        var bools = 0
        var arrays = 0
        for v in col.values {
            switch v {
            case .string: strings += 1
            case .int: ints += 1
            case .double: doubles += 1
            case .bool: bools += 1
            case .array: arrays += 1
            }
        }
        let n = col.values.count
        let kinds = [strings, ints + doubles, bools, arrays].filter { $0 > 0 }.count
        guard kinds == 1 else {
            throw ActionStoreError(
                .schemaConflict,
                "\(name) holds \(strings) strings, \(ints + doubles) numbers, \(bools) booleans and \(arrays) arrays "
                    + "in one segment; a path has one type"
            )
        }
        let nullCount = rowCount - n
        if strings == n {
            try writeStrings(name, col.rows, ByteStrings(col.values.map { $0.description }))
        } else if ints == n {
            let values = col.values.map { v -> Int64 in
                guard case .int(let i) = v else { preconditionFailure("checked above") }
                return i
            }
            let blocks = try writeBlocks(rows: col.rows) { range, w in
                guard let lo = values[range].min(), let hi = values[range].max() else { return (nil, nil) }
                w.i64(lo)
                let width = BitPacking.width(UInt64(bitPattern: hi &- lo))
                w.u8(UInt8(width))
                BitPacking.pack(values[range].lazy.map { UInt64(bitPattern: $0 &- lo) }, width: width, into: &w)
                return (.int(lo), .int(hi))
            }
            appendColumn(
                name,
                .int,
                .frameOfReference,
                nullCount,
                Set(values).count,
                values.min().map { .int($0) },
                values.max().map { .int($0) },
                false,
                blocks
            )
        } else if ints + doubles == n {
            // Slots hold the Int64 bits of int rows (flagged) so that large ints survive exactly.
            let mixed = ints > 0
            let isInt = col.values.map { v -> Bool in
                guard case .int = v else { return false }
                return true
            }
            let slots = col.values.map { v -> UInt64 in
                switch v {
                case .int(let i): UInt64(bitPattern: i)
                case .double(let d): d.bitPattern
                default: 0
                }
            }
            let numbers = col.values.map { $0.doubleValue! }
            let blocks = try writeBlocks(rows: col.rows) { range, w in
                if mixed {
                    w.bytes[0] |= SegmentFormat.blockHasIntFlags
                    Self.appendBits(RowBitmap(isInt[range]), into: &w)
                }
                for i in range { w.u64(slots[i]) }
                return (Self.minDouble(numbers[range]), Self.maxDouble(numbers[range]))
            }
            var distinct = Set<UInt64>()
            for (i, s) in slots.enumerated() { distinct.insert(isInt[i] ? numbers[i].bitPattern : s) }
            appendColumn(
                name,
                .double,
                .plainDouble,
                nullCount,
                distinct.count,
                Self.minDouble(numbers[...]),
                Self.maxDouble(numbers[...]),
                mixed,
                blocks
            )
        } else if bools == n {
            let values = col.values.map { v -> Bool in
                guard case .bool(let b) = v else { preconditionFailure("checked above") }
                return b
            }
            let index = try writeIndex(keyCount: 2, keys: [], codes: values.map { $0 ? 1 : 0 }, rows: col.rows)
            let blocks = try writeBlocks(rows: col.rows) { range, w in
                Self.appendBits(RowBitmap(values[range]), into: &w)
                return (nil, nil)
            }
            let lo = values.contains(false) ? false : true
            let hi = values.contains(true) ? true : false
            var info = makeInfo(name, .bool, .bitmap, nullCount, Set(values).count, .bool(lo), .bool(hi), false, blocks)
            info.index = index
            columns.append(info)
        } else {
            let values = col.values.map { $0.description }
            let blocks = try writeBlocks(rows: col.rows) { range, w in
                for i in range { w.varint(values[i].utf8.count) }
                for i in range { w.append(Array(values[i].utf8)) }
                return (nil, nil)
            }
            appendColumn(
                name,
                .array,
                .jsonText,
                nullCount,
                Set(values.map { UTF8Key(s: $0) }).count,
                nil,
                nil,
                false,
                blocks
            )
        }
    }

    static func minDouble(_ v: ArraySlice<Double>) -> Value? {
        v.isEmpty ? nil : .double(v.reduce(.infinity) { Swift.min($0, $1) })
    }

    static func maxDouble(_ v: ArraySlice<Double>) -> Value? {
        v.isEmpty ? nil : .double(v.reduce(-.infinity) { Swift.max($0, $1) })
    }

    func makeInfo(
        _ name: String,
        _ type: SegmentColumnType,
        _ encoding: SegmentColumnEncoding,
        _ nullCount: Int,
        _ distinct: Int,
        _ min: Value?,
        _ max: Value?,
        _ mixed: Bool,
        _ blocks: [SegmentBlockInfo]
    ) -> SegmentColumnInfo {
        SegmentColumnInfo(
            name: name,
            type: type,
            encoding: encoding,
            nullCount: nullCount,
            distinctCount: distinct,
            min: min,
            max: max,
            hasMixedInts: mixed,
            dictionary: nil,
            index: nil,
            blocks: blocks
        )
    }

    mutating func appendColumn(
        _ name: String,
        _ type: SegmentColumnType,
        _ encoding: SegmentColumnEncoding,
        _ nullCount: Int,
        _ distinct: Int,
        _ min: Value?,
        _ max: Value?,
        _ mixed: Bool,
        _ blocks: [SegmentBlockInfo]
    ) {
        columns.append(makeInfo(name, type, encoding, nullCount, distinct, min, max, mixed, blocks))
    }
}
