#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Reads a segment file (docs/segment-format.md) through a read-only memory mapping.
///
/// Opening reads and validates only the header, trailer and footer; column blocks, dictionaries and
/// indexes are checksummed and decoded when asked for. Every offset and length is bounds-checked
/// before the mapping is touched, so garbage throws `ActionStoreError(.corruption)` naming the file,
/// the region (header, trailer, footer, column/block, dictionary, index) and the byte offset.
public final class SegmentReader: Sendable {
    /// The file this reader maps.
    public let path: String
    /// The format version of the file (`SegmentFormat.versionsRead`).
    public let version: UInt32

    // Constant after init.
    private let file: MappedFile
    private let footer: SegmentFooter
    /// Column position by name, compared by bytes.
    private let columnSlots: [UTF8Key: Int]

    // Guarded by the mutex: decoded dictionaries, by region offset.
    private let dictionaries = Locked<[Int: DictionaryBytes]>([:])
    // Guarded by the mutex: offsets of index regions whose checksum was verified.
    private let verifiedIndexes = Locked<Set<Int>>([])
    /// The app-wide code of each dictionary entry of the id columns, by `IdField` raw value, once
    /// complete (`SegmentSource.appCodes`). Not part of the file.
    let appCodes = Locked<[Int: [UInt32]]>([:])
    // Guarded by the mutex: the transaction_id filter, once read (or built, for version 1).
    private let transactionIdFilterCache = Locked<BinaryFuseFilter?>(nil)

    /// Maps `path` and validates its header, trailer and footer.
    /// - Throws: `.notFound` or `.io` if the file cannot be mapped, `.corruption` if it is not a valid segment.
    public init(path: String) throws {
        self.path = path
        file = try MappedFile(path: path)
        let bytes = file.bytes
        let size = bytes.count
        func corrupt(_ region: String, _ what: String, _ offset: Int) -> ActionStoreError {
            ActionStoreError(.corruption, "\(path): \(region): \(what) at byte \(offset)")
        }
        guard size >= SegmentFormat.headerSize + SegmentFormat.trailerSize else {
            throw corrupt("header", "file of \(size) bytes is too small for a segment", 0)
        }
        // Header.
        guard unsafe bytes[0..<8].elementsEqual(SegmentFormat.magic) else { throw corrupt("header", "bad magic", 0) }
        let version = unsafe UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
        guard SegmentFormat.versionsRead.contains(version) else {
            throw corrupt("header", "unsupported version \(version)", 8)
        }
        self.version = version
        let headerSum = unsafe UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
        guard
            unsafe Checksum.matches(
                headerSum,
                UInt32(truncatingIfNeeded: Checksum.xxh3(UnsafeRawBufferPointer(rebasing: bytes[0..<12])))
            )
        else { throw corrupt("header", "checksum mismatch", 12) }
        // Trailer.
        let t = size - SegmentFormat.trailerSize
        guard unsafe bytes[(size - 8)..<size].elementsEqual(SegmentFormat.magic) else {
            throw corrupt("trailer", "bad magic", size - 8)
        }
        let trailerSum = unsafe UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: t + 28, as: UInt32.self))
        guard
            unsafe Checksum.matches(
                trailerSum,
                UInt32(truncatingIfNeeded: Checksum.xxh3(UnsafeRawBufferPointer(rebasing: bytes[t..<(t + 28)])))
            )
        else { throw corrupt("trailer", "checksum mismatch", t + 28) }
        let trailerVersion = unsafe UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: t + 24, as: UInt32.self))
        guard trailerVersion == version else {
            throw corrupt("trailer", "unsupported version \(trailerVersion)", t + 24)
        }
        let footerOffset = unsafe UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: t, as: UInt64.self))
        let footerSize = unsafe UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: t + 8, as: UInt64.self))
        let footerSum = unsafe UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: t + 16, as: UInt64.self))
        guard footerOffset >= UInt64(SegmentFormat.headerSize), footerOffset <= UInt64(t),
            footerSize == UInt64(t) - footerOffset
        else { throw corrupt("trailer", "footer \(footerOffset)+\(footerSize) does not end at the trailer", t) }
        // Footer.
        let footerBytes = unsafe UnsafeRawBufferPointer(rebasing: bytes[Int(footerOffset)..<t])
        guard Checksum.matches(footerSum, Checksum.xxh3(footerBytes)) else {
            throw corrupt("footer", "checksum mismatch", Int(footerOffset))
        }
        do {
            footer = try SegmentFooter.decode(footerBytes, dataEnd: Int(footerOffset), file: path, version: version)
        } catch let e as ActionStoreError {
            // Footer offsets are relative to the footer; say where in the file.
            throw ActionStoreError(e.code, e.message + " (footer starts at byte \(footerOffset))")
        }
        var slots: [UTF8Key: Int] = [:]
        for (i, c) in footer.columns.enumerated() { slots[UTF8Key(s: c.name)] = i }
        columnSlots = slots
    }

    // MARK: Footer statistics

    public var rowCount: Int { footer.rowCount }
    /// Smallest and largest time (0 for an empty segment).
    public var minTime: Int64 { footer.minTime }
    public var maxTime: Int64 { footer.maxTime }
    /// Rows per block (the last block may be shorter).
    public var blockRows: Int { footer.blockRows }
    /// Number of blocks of every column.
    public var blockCount: Int { footer.columns[0].blocks.count }
    /// File size in bytes.
    public var fileBytes: Int { file.bytes.count }
    /// All columns: `time`, then fixed fields in ``FixedField`` order, then `metadata.<path>` sorted.
    public var columns: [SegmentColumnInfo] { footer.columns }

    /// The footer entry of a column, nil when no row of the segment has it.
    public func columnInfo(_ name: String) -> SegmentColumnInfo? {
        columnSlots[UTF8Key(s: name)].map { footer.columns[$0] }
    }

    // MARK: Columns

    /// The time of every row, ascending.
    public func times() throws -> [Int64] {
        guard case .ints(let t, _) = try column("time") else { return [] }
        return t
    }

    /// Decodes a whole column; nil when no row of the segment has it.
    /// - Complexity: O(rows); checksums and decompresses every block of the column.
    public func column(_ name: String) throws -> SegmentColumnData? {
        guard let ci = columnInfo(name) else { return nil }
        return try decode(ci, blocks: 0..<ci.blocks.count).public
    }

    /// Decodes one block of a column (rows `block * blockRows ..< …`), for scans that skip blocks by zone map.
    public func column(_ name: String, block: Int) throws -> SegmentColumnData? {
        guard let ci = columnInfo(name) else { return nil }
        precondition(block >= 0 && block < ci.blocks.count, "block \(block) out of range")
        return try decode(ci, blocks: block..<(block + 1)).public
    }

    /// The sorted dictionary of a dictionary-encoded column.
    public func dictionary(column name: String) throws -> [String]? {
        guard let ci = columnInfo(name), ci.encoding == .dictionary else { return nil }
        return try dictionaryBytes(ci).strings
    }

    /// Whether some row of the column has exactly this string value.
    /// - Returns: true/false when the segment can tell without scanning (dictionary columns, indexed
    ///   UUID/IPv4/bool columns, a value outside the column's min/max, a missing column), nil otherwise.
    public func dictionaryContains(column name: String, value: String) throws -> Bool? {
        guard let ci = columnInfo(name) else { return false }
        switch ci.encoding {
        case .dictionary:
            return try dictionaryBytes(ci).code(of: value) != nil
        case .uuid, .ipv4:
            if ci.encoding == .uuid, CompactText.parseUUID(value) == nil { return false }
            if ci.encoding == .ipv4, CompactText.parseIPv4(value) == nil { return false }
            if case .string(let lo) = ci.min, case .string(let hi) = ci.max,
                utf8Less(value, lo) || utf8Less(hi, value)
            {
                return false
            }
            guard ci.index != nil, let p = try postings(column: name, value: value) else { return nil }
            return !p.isEmpty
        case .bitmap:
            guard value == "true" || value == "false" else { return false }
            return ci.min == .bool(value == "true") || ci.max == .bool(value == "true")
        default:
            return nil
        }
    }

    /// The rows whose value in `column` is exactly `value` (`"true"`/`"false"` for booleans).
    /// - Returns: nil when the column has no index (too many distinct values, or not a string/bool
    ///   column); an empty bitmap when no row has the value or the column is missing from the segment.
    public func postings(column name: String, value: String) throws -> RoaringBitmap? {
        guard let ci = columnInfo(name) else { return RoaringBitmap() }
        guard let region = ci.index else { return nil }
        let where_ = "column \(name) index"
        return try withIndexBytes(region, where_) { buf -> RoaringBitmap in
            var r = ByteReader(buf) { "\(self.path): \(where_) (region at byte \(region.offset))" }
            let keyCount = Int(try r.u32())
            guard keyCount <= rowCount + 2 else { throw r.fail("key count \(keyCount) exceeds the rows") }
            let slot: Int?
            switch ci.encoding {
            case .dictionary:
                let d = try dictionaryBytes(ci)
                guard keyCount == d.count else { throw r.fail("key count \(keyCount) ≠ dictionary size \(d.count)") }
                slot = d.code(of: value)
            case .bitmap:
                guard keyCount == 2 else { throw r.fail("boolean index with \(keyCount) keys") }
                slot = value == "true" ? 1 : value == "false" ? 0 : nil
            case .uuid:
                let keys = try r.bytes(keyCount * 16)
                slot = CompactText.parseUUID(value).flatMap { v in
                    Self.search(keyCount) { i in
                        let hi = unsafe UInt64(
                            littleEndian: keys.loadUnaligned(fromByteOffset: i * 16, as: UInt64.self)
                        )
                        let lo = unsafe UInt64(
                            littleEndian: keys.loadUnaligned(fromByteOffset: i * 16 + 8, as: UInt64.self)
                        )
                        let k = UInt128(hi) << 64 | UInt128(lo)
                        return k < v ? -1 : k == v ? 0 : 1
                    }
                }
            case .ipv4:
                let keys = try r.bytes(keyCount * 4)
                slot = CompactText.parseIPv4(value).flatMap { v in
                    Self.search(keyCount) { i in
                        let k = unsafe UInt32(littleEndian: keys.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self))
                        return k < v ? -1 : k == v ? 0 : 1
                    }
                }
            default:
                throw r.fail("index on a \(ci.encoding) column")
            }
            let offsetsAt = r.offset
            try r.need((keyCount + 1) * 4)
            let blobsAt = offsetsAt + (keyCount + 1) * 4
            guard let slot else { return RoaringBitmap() }
            r.offset = offsetsAt + slot * 4
            let start = Int(try r.u32())
            let end = Int(try r.u32())
            guard start <= end, end <= buf.count - blobsAt else {
                r.offset = offsetsAt + slot * 4
                throw r.fail("postings \(start)..<\(end) of key \(slot) outside the index")
            }
            guard
                let bitmap = unsafe RoaringBitmap.deserialize(
                    UnsafeRawBufferPointer(rebasing: buf[(blobsAt + start)..<(blobsAt + end)])
                )
            else {
                r.offset = blobsAt + start
                throw r.fail("bad roaring bitmap of key \(slot)")
            }
            // Callers index row arrays with these numbers.
            if let top = bitmap.maximum, Int(top) >= rowCount {
                r.offset = blobsAt + start
                throw r.fail("posting list of key \(slot) names row \(top) of \(rowCount)")
            }
            return bitmap
        }
    }

    /// Binary search over `count` sorted keys; `compare(i)` is <0, 0, >0 as key `i` is below, at, above the target.
    private static func search(_ count: Int, _ compare: (Int) -> Int) -> Int? {
        var lo = 0
        var hi = count
        while lo < hi {
            let mid = (lo + hi) / 2
            let c = compare(mid)
            if c == 0 { return mid }
            if c < 0 { lo = mid + 1 } else { hi = mid }
        }
        return nil
    }

    // MARK: Rows

    /// Rebuilds every row, in time order, exactly as written (metadata sorted by path).
    public func actions() throws -> [Action] {
        let n = rowCount
        guard n > 0 else { return [] }
        let times = try times()
        var out = times.map { Action(time: $0, actionName: "") }
        for field in FixedField.allCases {
            guard let ci = columnInfo(field.name) else { continue }
            let data = try decode(ci, blocks: 0..<ci.blocks.count).public
            for row in 0..<n {
                if case .string(let s) = data.value(at: row) { out[row][field] = s }
            }
        }
        let meta = footer.columns.filter { $0.name.hasPrefix("metadata.") }
            .sorted { utf8Less($0.name, $1.name) }
        for ci in meta {
            let path = String(ci.name.dropFirst(9))
            switch try decode(ci, blocks: 0..<ci.blocks.count) {
            case .mixed(let slots, let isInt, let present):
                for row in 0..<n where present?[row] ?? true {
                    let v: Value =
                        isInt[row]
                        ? .int(Int64(bitPattern: slots[row])) : .double(Double(bitPattern: slots[row]))
                    out[row].metadata.append(MetadataField(path: path, value: v))
                }
            case .data(let data):
                for row in 0..<n {
                    if let v = data.value(at: row) { out[row].metadata.append(MetadataField(path: path, value: v)) }
                }
            }
        }
        return out
    }

    /// Every row as a column chunk, in time order, exactly as `actions()` rebuilds them, with no
    /// `Action` or `String` per row: a dictionary entry's bytes enter the chunk's arena once and
    /// every row holding it points at them; UUID and IPv4 words are formatted straight into the
    /// arena. What compaction merges.
    func chunk() throws -> ColumnChunk {
        let n = rowCount
        var parts = ColumnChunk.Parts(times: n > 0 ? try times() : [])
        func column(_ data: SegmentColumnData, kind: ColumnChunk.Kind) -> ColumnChunk.Column {
            var c = ColumnChunk.Column(kind: kind)
            let present = data.present
            c.rows.reserveCapacity(present?.cardinality ?? n)
            c.slots.reserveCapacity(present?.cardinality ?? n)
            func each(_ body: (Int) -> UInt64) {
                for row in 0..<n where present?[row] ?? true {
                    c.rows.append(UInt32(row))
                    c.slots.append(body(row))
                }
            }
            func store(_ bytes: some Collection<UInt8>) -> UInt64 {
                let offset = parts.arena.count
                parts.arena.append(contentsOf: bytes)
                return ColumnChunk.slot(offset: offset, length: bytes.count)
            }
            switch data {
            case .strings(let dictionary, let codes, _):
                let entries = dictionary.map { store($0.utf8) }
                each { entries[Int(codes[$0])] }
            case .uuids(let v, _): each { store(CompactText.formatUUID(v[$0]).utf8) }
            case .ipv4s(let v, _): each { store(CompactText.formatIPv4(v[$0]).utf8) }
            case .arrays(let v, _): each { store(v[$0].utf8) }
            case .ints(let v, _): each { UInt64(bitPattern: v[$0]) }
            case .doubles(let v, _):
                each { v[$0].bitPattern }
                c.isDouble = [Bool](repeating: true, count: c.slots.count)
            case .bools(let v, _): each { v[$0] ? 1 : 0 }
            }
            return c
        }
        for field in FixedField.allCases {
            guard let ci = columnInfo(field.name) else { continue }
            parts.fixed[field.rawValue] = column(try decode(ci, blocks: 0..<ci.blocks.count).public, kind: .string)
        }
        for ci in footer.columns where ci.name.hasPrefix("metadata.") {
            let path = String(ci.name.dropFirst(9))
            let col: ColumnChunk.Column
            switch try decode(ci, blocks: 0..<ci.blocks.count) {
            case .mixed(let slots, let isInt, let present):
                var c = ColumnChunk.Column(kind: .number)
                for row in 0..<n where present?[row] ?? true {
                    c.rows.append(UInt32(row))
                    c.slots.append(slots[row])
                    c.isDouble.append(!isInt[row])
                }
                col = c
            case .data(let data):
                let kind: ColumnChunk.Kind
                switch data {
                case .strings, .uuids, .ipv4s: kind = .string
                case .ints, .doubles: kind = .number
                case .bools: kind = .bool
                case .arrays: kind = .array
                }
                col = column(data, kind: kind)
            }
            guard parts.addMetadata(path, col) else {
                throw ActionStoreError(.corruption, "\(path): metadata path \(path) has two columns")
            }
        }
        return ColumnChunk(parts)
    }

    /// Checks every checksum and decodes every block, dictionary and index.
    /// - Throws: the first `.corruption` found, naming its region and byte offset.
    public func verify() throws {
        for ci in footer.columns {
            if ci.dictionary != nil { _ = try dictionaryBytes(ci) }
            if let index = ci.index { _ = try regionBytes(index, "column \(ci.name) index") }
            _ = try decode(ci, blocks: 0..<ci.blocks.count)
            if ci.index != nil { try verifyIndex(ci) }
        }
    }

    /// Deserializes every posting list of an index and checks that they partition the present rows.
    private func verifyIndex(_ ci: SegmentColumnInfo) throws {
        guard let region = ci.index else { return }
        try withIndexBytes(region, "column \(ci.name) index") { buf in
            var r = ByteReader(buf) { "\(self.path): column \(ci.name) index (region at byte \(region.offset))" }
            let keyCount = Int(try r.u32())
            guard keyCount <= rowCount + 2 else { throw r.fail("key count \(keyCount) exceeds the rows") }
            let keyWidth = ci.encoding == .uuid ? 16 : ci.encoding == .ipv4 ? 4 : 0
            _ = try r.bytes(keyCount * keyWidth)
            let offsetsAt = r.offset
            try r.need((keyCount + 1) * 4)
            let blobsAt = offsetsAt + (keyCount + 1) * 4
            var total = 0
            var last = 0
            for k in 0..<keyCount {
                r.offset = offsetsAt + k * 4
                let start = Int(try r.u32())
                let end = Int(try r.u32())
                guard start == last, start <= end, end <= buf.count - blobsAt else {
                    throw r.fail("bad postings offsets of key \(k)")
                }
                last = end
                guard
                    let b = unsafe RoaringBitmap.deserialize(
                        UnsafeRawBufferPointer(rebasing: buf[(blobsAt + start)..<(blobsAt + end)])
                    )
                else {
                    r.offset = blobsAt + start
                    throw r.fail("bad roaring bitmap of key \(k)")
                }
                total += b.cardinality
                if let top = b.maximum, Int(top) >= rowCount {
                    r.offset = blobsAt + start
                    throw r.fail("posting list of key \(k) names row \(top) of \(rowCount)")
                }
            }
            guard last == buf.count - blobsAt, total == rowCount - ci.nullCount else {
                throw r.fail("postings cover \(total) rows, expected \(rowCount - ci.nullCount)")
            }
        }
    }

    // MARK: Transaction ids

    /// The filter over the XXH3-64 of this segment's transaction_ids: the footer's (version 2),
    /// or, for a version-1 file or one written without it, built from the column on first use.
    /// Kept once read (about 9 bits per row).
    /// - Throws: `.corruption` when the stored filter or the column is damaged.
    func transactionIdFilter() throws -> BinaryFuseFilter {
        if let f = transactionIdFilterCache.withLock({ $0 }) { return f }
        let filter: BinaryFuseFilter
        if let region = footer.extensions[SegmentFormat.extensionTransactionIdFilter] {
            filter = try withIndexBytes(region, "transaction_id filter") { raw in
                var r = ByteReader(raw) { "\(self.path): transaction_id filter" }
                let f = try BinaryFuseFilter(decoding: &r)
                guard r.isAtEnd else { throw r.fail("\(r.remaining) bytes after the filter") }
                return f
            }
        } else {
            filter = try BinaryFuseFilter(keys: transactionIdTimes().map(\.hash))
        }
        transactionIdFilterCache.withLock { $0 = filter }
        return filter
    }

    /// Every row's transaction_id hash (XXH3-64 of its bytes) with the row's time, sorted by
    /// hash then time; rows without an id are left out. What a filter hit is confirmed against.
    func transactionIdTimes() throws -> [(hash: UInt64, time: Int64)] {
        guard let column = try column(FixedField.transactionId.name),
            let (dictionary, codes, present) = column.dictionaryEncoded()
        else { return [] }
        let times = try times()
        let hashes = dictionary.map { d in
            var s = d
            return s.withUTF8 { Checksum.xxh3(UnsafeRawBufferPointer($0)) }
        }
        var out: [(hash: UInt64, time: Int64)] = []
        out.reserveCapacity(codes.count)
        for row in codes.indices where present?[row] ?? true { out.append((hashes[Int(codes[row])], times[row])) }
        out.sort { ($0.hash, $0.time) < ($1.hash, $1.time) }
        return out
    }

    // MARK: Regions

    /// Checksums and decompresses a region into a buffer with `SegmentFormat.slack` zero bytes after it.
    private func regionBytes(_ region: SegmentRegion, _ where_: @autoclosure () -> String) throws -> [UInt8] {
        // Safe because SegmentFooter.decode checked offset + storedSize against the data area.
        let stored = unsafe UnsafeRawBufferPointer(
            rebasing: file.bytes[region.offset..<(region.offset + region.storedSize)]
        )
        guard Checksum.matches(region.checksum, Checksum.xxh3(stored)) else {
            throw ActionStoreError(.corruption, "\(path): \(where_()): checksum mismatch at byte \(region.offset)")
        }
        switch region.codec {
        case .none:
            var out = [UInt8](repeating: 0, count: region.storedSize + SegmentFormat.slack)
            out.withUnsafeMutableBytes { unsafe $0.copyMemory(from: stored) }
            return out
        case .lz4:
            guard let out = LZ4.decompress(stored, rawSize: region.rawSize, slack: SegmentFormat.slack) else {
                throw ActionStoreError(
                    .corruption,
                    "\(path): \(where_()): LZ4 data does not decode to \(region.rawSize) bytes at byte \(region.offset)"
                )
            }
            return out
        }
    }

    /// Calls `body` with an index region read in place from the mapping (indexes are never
    /// compressed), checksummed on first use only: a postings lookup then costs one bitmap's bytes.
    private func withIndexBytes<R>(
        _ region: SegmentRegion,
        _ where_: String,
        _ body: (UnsafeRawBufferPointer) throws -> R
    ) throws -> R {
        // Safe because SegmentFooter.decode checked offset + storedSize against the data area and
        // that index regions are stored raw.
        let bytes = unsafe UnsafeRawBufferPointer(
            rebasing: file.bytes[region.offset..<(region.offset + region.storedSize)]
        )
        if !verifiedIndexes.withLock({ $0.contains(region.offset) }) {
            guard Checksum.matches(region.checksum, Checksum.xxh3(bytes)) else {
                throw ActionStoreError(.corruption, "\(path): \(where_): checksum mismatch at byte \(region.offset)")
            }
            verifiedIndexes.withLock { _ = $0.insert(region.offset) }
        }
        return try body(bytes)
    }

    private func dictionaryBytes(_ ci: SegmentColumnInfo) throws -> DictionaryBytes {
        guard let region = ci.dictionary else { preconditionFailure("not a dictionary column") }
        if let d = dictionaries.withLock({ $0[region.offset] }) { return d }
        let where_ = "column \(ci.name) dictionary"
        let raw = try regionBytes(region, where_)
        let d = try DictionaryBytes(raw: raw, size: region.rawSize) {
            "\(self.path): \(where_) (region at byte \(region.offset))"
        }
        guard d.count == ci.distinctCount else {
            throw ActionStoreError(
                .corruption,
                "\(path): \(where_): \(d.count) entries, footer says \(ci.distinctCount) at byte \(region.offset)"
            )
        }
        dictionaries.withLock { $0[region.offset] = d }
        return d
    }

    // MARK: Block decoding

    enum Decoded {
        case data(SegmentColumnData)
        /// A double column with int rows: slots hold Int64 bits where `isInt`, Double bits elsewhere.
        case mixed(slots: [UInt64], isInt: RowBitmap, present: RowBitmap?)

        var `public`: SegmentColumnData {
            switch self {
            case .data(let d): return d
            case .mixed(let slots, let isInt, let present):
                var v = [Double](repeating: 0, count: slots.count)
                for i in slots.indices {
                    v[i] = isInt[i] ? Double(Int64(bitPattern: slots[i])) : Double(bitPattern: slots[i])
                }
                return .doubles(v, present: present)
            }
        }
    }

    /// Decodes `blocks` of a column into row-aligned arrays.
    private func decode(_ ci: SegmentColumnInfo, blocks: Range<Int>) throws -> Decoded {
        let firstRow = blocks.isEmpty ? 0 : ci.blocks[blocks.lowerBound].rowStart
        let rows = ci.blocks[blocks].reduce(0) { $0 + $1.rowCount }
        let sparse = ci.blocks[blocks].contains { $0.presentCount < $0.rowCount }
        var present = sparse ? RowBitmap(count: rows) : nil
        var isInt = ci.hasMixedInts ? RowBitmap(count: rows) : nil
        var ints = [Int64]()
        var slots = [UInt64]()
        var codes = [UInt32]()
        var uuids = [UInt128]()
        var ips = [UInt32]()
        var bools = RowBitmap(count: 0)
        var texts = [String]()
        var dictionary: DictionaryBytes? = nil
        switch ci.encoding {
        case .deltaBitPacked, .frameOfReference: ints = [Int64](repeating: 0, count: rows)
        case .plainDouble: slots = [UInt64](repeating: 0, count: rows)
        case .dictionary:
            codes = [UInt32](repeating: 0, count: rows)
            dictionary = try dictionaryBytes(ci)
        case .uuid: uuids = [UInt128](repeating: 0, count: rows)
        case .ipv4: ips = [UInt32](repeating: 0, count: rows)
        case .bitmap: bools = RowBitmap(count: rows)
        case .jsonText: texts = [String](repeating: "", count: rows)
        }
        for b in blocks {
            let block = ci.blocks[b]
            let where_ = "column \(ci.name) block \(b)"
            let raw = try regionBytes(block.region, where_)
            try raw.withUnsafeBytes { all in
                let buf = unsafe UnsafeRawBufferPointer(rebasing: all[0..<block.region.rawSize])
                var r = ByteReader(buf) { "\(self.path): \(where_) (region at byte \(block.region.offset))" }
                let flags = try r.u8()
                let allowed = SegmentFormat.blockHasPresence | (ci.hasMixedInts ? SegmentFormat.blockHasIntFlags : 0)
                guard flags & ~allowed == 0 else { throw r.fail("bad block flags \(flags)") }
                let k = block.presentCount
                // Row (relative to the decoded run) of each present value.
                var rowOf: [Int]
                let base = block.rowStart - firstRow
                if flags & SegmentFormat.blockHasPresence != 0 {
                    let bits = try Self.readBits(&r, count: block.rowCount)
                    rowOf = bits.setRows
                    guard rowOf.count == k else { throw r.fail("presence has \(rowOf.count) rows, footer says \(k)") }
                    for i in rowOf.indices {
                        rowOf[i] += base
                        // A full block may still carry a (full) presence bitmap; `present` is nil then.
                        if present != nil { present![rowOf[i]] = true }
                    }
                } else {
                    guard k == block.rowCount else {
                        throw r.fail("block without presence has \(k) of \(block.rowCount) rows")
                    }
                    rowOf = []
                    if present != nil { for i in 0..<k { present![base + i] = true } }
                }
                let dense = rowOf.isEmpty
                @inline(__always) func row(_ i: Int) -> Int { dense ? base + i : rowOf[i] }
                var intFlags: RowBitmap? = nil
                if flags & SegmentFormat.blockHasIntFlags != 0 { intFlags = try Self.readBits(&r, count: k) }
                switch ci.encoding {
                case .deltaBitPacked:
                    guard k > 0 else { break }
                    var t = try r.i64()
                    let width = Int(try r.u8())
                    guard width <= 64 else { throw r.fail("bad width \(width)") }
                    let packed = try r.bytes(BitPacking.packedBytes(count: k - 1, width: width))
                    ints.withUnsafeMutableBufferPointer { out in
                        unsafe out[base] = t
                        let src = unsafe UnsafeRawBufferPointer(rebasing: all[(r.offset - packed.count)...])
                        BitPacking.unpack(src, count: k - 1, width: width) { i, d in
                            t = t &+ Int64(bitPattern: d)
                            unsafe out[base + 1 + i] = t
                        }
                    }
                case .frameOfReference:
                    guard k > 0 else { break }
                    let lo = try r.i64()
                    let width = Int(try r.u8())
                    guard width <= 64 else { throw r.fail("bad width \(width)") }
                    let packed = try r.bytes(BitPacking.packedBytes(count: k, width: width))
                    let src = unsafe UnsafeRawBufferPointer(rebasing: all[(r.offset - packed.count)...])
                    ints.withUnsafeMutableBufferPointer { out in
                        BitPacking.unpack(src, count: k, width: width) { i, d in
                            unsafe out[row(i)] = lo &+ Int64(bitPattern: d)
                        }
                    }
                case .dictionary:
                    let width = Int(try r.u8())
                    guard width <= 32 else { throw r.fail("bad width \(width)") }
                    let packed = try r.bytes(BitPacking.packedBytes(count: k, width: width))
                    let src = unsafe UnsafeRawBufferPointer(rebasing: all[(r.offset - packed.count)...])
                    var widest: UInt64 = 0
                    codes.withUnsafeMutableBufferPointer { out in
                        BitPacking.unpack(src, count: k, width: width) { i, c in
                            widest = max(widest, c)
                            unsafe out[row(i)] = UInt32(truncatingIfNeeded: c)
                        }
                    }
                    guard k == 0 || widest < UInt64(dictionary!.count) else {
                        throw r.fail("code \(widest) outside the dictionary of \(dictionary!.count)")
                    }
                case .plainDouble:
                    let src = try r.bytes(k * 8)
                    for i in 0..<k {
                        slots[row(i)] = unsafe UInt64(
                            littleEndian: src.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)
                        )
                        if let intFlags, intFlags[i] { isInt![row(i)] = true }
                    }
                case .uuid:
                    let src = try r.bytes(k * 16)
                    for i in 0..<k {
                        let hi = unsafe UInt64(littleEndian: src.loadUnaligned(fromByteOffset: i * 16, as: UInt64.self))
                        let lo = unsafe UInt64(
                            littleEndian: src.loadUnaligned(fromByteOffset: i * 16 + 8, as: UInt64.self)
                        )
                        uuids[row(i)] = UInt128(hi) << 64 | UInt128(lo)
                    }
                case .ipv4:
                    let src = try r.bytes(k * 4)
                    for i in 0..<k {
                        ips[row(i)] = unsafe UInt32(
                            littleEndian: src.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)
                        )
                    }
                case .bitmap:
                    let bits = try Self.readBits(&r, count: k)
                    for i in 0..<k where bits[i] { bools[row(i)] = true }
                case .jsonText:
                    var lengths = [Int]()
                    lengths.reserveCapacity(k)
                    for _ in 0..<k { lengths.append(try r.count(max: r.remaining, "text length")) }
                    for i in 0..<k { texts[row(i)] = String(decoding: try r.bytes(lengths[i]), as: UTF8.self) }
                }
                guard r.isAtEnd else { throw r.fail("\(r.remaining) trailing bytes") }
            }
        }
        switch ci.encoding {
        case .deltaBitPacked, .frameOfReference: return .data(.ints(ints, present: present))
        case .plainDouble:
            if let isInt { return .mixed(slots: slots, isInt: isInt, present: present) }
            return .data(.doubles(slots.map { Double(bitPattern: $0) }, present: present))
        case .dictionary: return .data(.strings(dictionary: dictionary!.strings, codes: codes, present: present))
        case .uuid: return .data(.uuids(uuids, present: present))
        case .ipv4: return .data(.ipv4s(ips, present: present))
        case .bitmap: return .data(.bools(bools, present: present))
        case .jsonText: return .data(.arrays(texts, present: present))
        }
    }

    /// Reads `count` bits (LSB first, padded to a byte); the padding bits must be zero.
    private static func readBits(_ r: inout ByteReader, count: Int) throws -> RowBitmap {
        let src = try r.bytes((count + 7) / 8)
        var bits = RowBitmap(count: count)
        for i in 0..<src.count {
            let byte = unsafe src[i]
            guard byte != 0 else { continue }
            for j in 0..<8 where byte & (1 << j) != 0 {
                guard i * 8 + j < count else {
                    r.offset -= src.count - i
                    throw r.fail("bit \(i * 8 + j) set past \(count) rows")
                }
                bits[i * 8 + j] = true
            }
        }
        return bits
    }
}

/// A decoded dictionary region: count:u32, (count+1) u32 offsets, UTF-8 bytes, sorted by bytes.
struct DictionaryBytes: Sendable {
    let count: Int
    let strings: [String]

    init(raw: [UInt8], size: Int, region: @escaping () -> String) throws {
        let n = try raw.withUnsafeBytes { buf -> Int in
            var r = ByteReader(unsafe UnsafeRawBufferPointer(rebasing: buf[0..<size]), region: region)
            let n = Int(try r.u32())
            try r.need((n + 1) * 4)
            return n
        }
        count = n
        strings = try raw.withUnsafeBytes { buf -> [String] in
            var r = ByteReader(unsafe UnsafeRawBufferPointer(rebasing: buf[0..<size]), region: region)
            r.offset = 4
            var offsets = [Int]()
            offsets.reserveCapacity(n + 1)
            for _ in 0...n { offsets.append(Int(try r.u32())) }
            let bytesAt = r.offset
            guard offsets[0] == 0, offsets.last! == size - bytesAt else {
                throw r.fail("dictionary offsets do not span its \(size - bytesAt) bytes")
            }
            var out = [String]()
            out.reserveCapacity(n)
            for i in 0..<n {
                guard offsets[i] <= offsets[i + 1], offsets[i + 1] <= offsets[n] else {
                    throw r.fail("dictionary offsets decrease at entry \(i)")
                }
                out.append(
                    String(
                        decoding: unsafe UnsafeRawBufferPointer(
                            rebasing: buf[(bytesAt + offsets[i])..<(bytesAt + offsets[i + 1])]
                        ),
                        as: UTF8.self
                    )
                )
            }
            return out
        }
    }

    /// The code of `value`, comparing UTF-8 bytes.
    func code(of value: String) -> Int? {
        var lo = 0
        var hi = count
        while lo < hi {
            let mid = (lo + hi) / 2
            if utf8Less(strings[mid], value) {
                lo = mid + 1
            } else {
                hi = mid
            }
        }
        return lo < count && strings[lo].utf8.elementsEqual(value.utf8) ? lo : nil
    }
}
