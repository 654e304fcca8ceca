// The segment file format: constants and footer structures. Byte-by-byte specification in
// docs/segment-format.md; keep the two in step.

/// Constants of the segment format (docs/segment-format.md, "Header" and "Trailer").
enum SegmentFormat {
    /// `0x89 'A' 'S' 'E' 'G' '\r' '\n' 0x1A`: a high byte, the name, and line-ending/EOF bytes that
    /// text-mode transfers mangle (the PNG trick). First 8 and last 8 bytes of every segment.
    static let magic: [UInt8] = [0x89, 0x41, 0x53, 0x45, 0x47, 0x0D, 0x0A, 0x1A]
    /// The version this build writes. Version 1 had no footer extensions; it is still read.
    static let version: UInt32 = 2
    static let versionsRead: ClosedRange<UInt32> = 1...2
    /// magic[8] version:u32 headerChecksum:u32.
    static let headerSize = 16
    /// footerOffset:u64 footerSize:u64 footerChecksum:u64 version:u32 trailerChecksum:u32 magic[8].
    static let trailerSize = 40
    /// Zero bytes after every decoded block so bit-unpacking can over-read with one load.
    static let slack = 8
    /// Upper bound on a decoded block or dictionary (guards allocations driven by footer fields).
    static let rawSizeMax = 1 << 31
    static let blockRowsMax = 1 << 24

    /// Block payload flags (first byte of every decoded block).
    static let blockHasPresence: UInt8 = 1
    static let blockHasIntFlags: UInt8 = 2

    /// Column flags (footer).
    static let columnMixedInts: UInt8 = 1
    static let columnHasDictionary: UInt8 = 2
    static let columnHasIndex: UInt8 = 4

    /// Footer extension tags (version 2).
    /// The binary fuse filter over the XXH3-64 of every transaction_id (docs/binary-fuse-filter.md).
    static let extensionTransactionIdFilter: UInt8 = 1
}

/// The logical type of a segment column.
public enum SegmentColumnType: UInt8, Sendable, Hashable, CustomStringConvertible {
    /// `request.time`, microseconds; never null.
    case time = 1
    case string = 2
    /// A number column whose every value in the segment is `Value.int`.
    case int = 3
    /// A number column with at least one `Value.double` (int rows are flagged to round-trip exactly).
    case double = 4
    case bool = 5
    /// JSON array text.
    case array = 6

    public var description: String {
        switch self {
        case .time: "time"
        case .string: "string"
        case .int: "int"
        case .double: "double"
        case .bool: "bool"
        case .array: "array"
        }
    }
}

/// How a column's values are laid out in its blocks.
public enum SegmentColumnEncoding: UInt8, Sendable, Hashable, CustomStringConvertible {
    /// Base value, then deltas from the previous row bit-packed at the block's widest delta.
    case deltaBitPacked = 1
    /// Codes into the column's sorted dictionary, bit-packed at the block's widest code.
    case dictionary = 2
    /// Canonical lowercase UUID text stored as 16 bytes.
    case uuid = 3
    /// Canonical dotted-quad IPv4 text stored as 4 bytes.
    case ipv4 = 4
    /// Block minimum, then `value - minimum` bit-packed (frame of reference).
    case frameOfReference = 5
    /// IEEE 754 bit patterns, 8 bytes each.
    case plainDouble = 6
    /// One bit per value.
    case bitmap = 7
    /// Varint lengths, then UTF-8 JSON text.
    case jsonText = 8

    public var description: String {
        switch self {
        case .deltaBitPacked: "delta-bitpacked"
        case .dictionary: "dictionary"
        case .uuid: "uuid16"
        case .ipv4: "ipv4"
        case .frameOfReference: "for-bitpacked"
        case .plainDouble: "plain-double"
        case .bitmap: "bitmap"
        case .jsonText: "json-text"
        }
    }
}

/// Compression of one stored region.
public enum SegmentCodec: UInt8, Sendable, Hashable {
    case none = 0
    case lz4 = 1
}

/// A checksummed byte range of a segment file.
public struct SegmentRegion: Sendable, Hashable {
    /// Offset from the start of the file.
    public var offset: Int
    /// Bytes on disk.
    public var storedSize: Int
    /// Bytes after decompression.
    public var rawSize: Int
    public var codec: SegmentCodec
    /// XXH3-64 of the stored bytes.
    public var checksum: UInt64
}

/// One block of a column: a run of `rowCount` consecutive rows.
public struct SegmentBlockInfo: Sendable, Hashable {
    public var region: SegmentRegion
    public var rowStart: Int
    public var rowCount: Int
    /// Rows of the block where the column has a value.
    public var presentCount: Int
    /// Zone map for time and number columns (nil elsewhere or when no row is present).
    public var min: Value?
    public var max: Value?
}

/// What the footer says about a column: enough to skip a segment without reading its data.
public struct SegmentColumnInfo: Sendable, Hashable {
    /// `time`, a fixed field's query name (`action_name`, `request.uri`), or `metadata.<path>`.
    public var name: String
    public var type: SegmentColumnType
    public var encoding: SegmentColumnEncoding
    /// Rows without a value.
    public var nullCount: Int
    /// Distinct present values.
    public var distinctCount: Int
    /// Smallest and largest present value (strings by UTF-8 bytes); nil for arrays and empty columns.
    public var min: Value?
    public var max: Value?
    /// A double column some of whose rows were `Value.int`.
    public var hasMixedInts: Bool
    /// The sorted dictionary (dictionary encoding only).
    public var dictionary: SegmentRegion?
    /// Roaring postings per value; nil when the column has too many distinct values, or is not a string/bool.
    public var index: SegmentRegion?
    public var blocks: [SegmentBlockInfo]

    /// Bytes on disk of blocks, dictionary and index.
    public var storedBytes: Int {
        blocks.reduce(0) { $0 + $1.region.storedSize } + (dictionary?.storedSize ?? 0) + (index?.storedSize ?? 0)
    }

    /// Bytes of blocks, dictionary and index after decompression.
    public var rawBytes: Int {
        blocks.reduce(0) { $0 + $1.region.rawSize } + (dictionary?.rawSize ?? 0) + (index?.rawSize ?? 0)
    }
}

/// The decoded footer.
struct SegmentFooter: Sendable {
    var rowCount: Int
    var minTime: Int64
    var maxTime: Int64
    var blockRows: Int
    var columns: [SegmentColumnInfo]
    /// Version 2: regions that are not columns, by tag (`SegmentFormat.extension…`).
    var extensions: [UInt8: SegmentRegion] = [:]
}

extension SegmentFooter {
    func encode() -> [UInt8] {
        var w = ByteWriter()
        w.varint(rowCount)
        w.zigzag(minTime)
        w.zigzag(maxTime)
        w.varint(blockRows)
        w.varint(columns.count)
        for c in columns {
            w.string(c.name)
            w.u8(c.type.rawValue)
            w.u8(c.encoding.rawValue)
            var flags: UInt8 = 0
            if c.hasMixedInts { flags |= SegmentFormat.columnMixedInts }
            if c.dictionary != nil { flags |= SegmentFormat.columnHasDictionary }
            if c.index != nil { flags |= SegmentFormat.columnHasIndex }
            w.u8(flags)
            w.varint(c.nullCount)
            w.varint(c.distinctCount)
            Self.encodeMinMax(c.min, c.max, type: c.type, into: &w)
            if let d = c.dictionary { Self.encode(d, into: &w) }
            if let i = c.index { Self.encode(i, into: &w) }
            w.varint(c.blocks.count)
            for b in c.blocks {
                Self.encode(b.region, into: &w)
                w.varint(b.presentCount)
                if c.type == .time || c.type == .int || c.type == .double {
                    Self.encodeMinMax(b.min, b.max, type: c.type, into: &w)
                }
            }
        }
        w.varint(extensions.count)
        for (tag, region) in extensions.sorted(by: { $0.key < $1.key }) {
            w.u8(tag)
            Self.encode(region, into: &w)
        }
        return w.bytes
    }

    private static func encode(_ r: SegmentRegion, into w: inout ByteWriter) {
        w.varint(r.offset)
        w.varint(r.storedSize)
        w.varint(r.rawSize)
        w.u8(r.codec.rawValue)
        w.u64(r.checksum)
    }

    private static func encodeMinMax(_ min: Value?, _ max: Value?, type: SegmentColumnType, into w: inout ByteWriter) {
        guard let min, let max else {
            w.u8(0)
            return
        }
        w.u8(1)
        for v in [min, max] {
            switch v {
            case .int(let i): w.zigzag(i)
            case .double(let d): w.u64(d.bitPattern)
            case .string(let s): w.string(s)
            case .bool(let b): w.u8(b ? 1 : 0)
            case .array: preconditionFailure("arrays have no min/max")
            }
        }
    }

    /// Parses and validates a footer against the file size.
    /// - Throws: `ActionStoreError(.corruption)` naming the footer and the offset of the bad field.
    static func decode(
        _ bytes: UnsafeRawBufferPointer,
        dataEnd: Int,
        file: String,
        version: UInt32 = SegmentFormat.version
    ) throws -> SegmentFooter {
        var r = ByteReader(bytes) { "\(file): footer" }
        let rowCount = try r.count(max: Int(UInt32.max), "row count")
        let minTime = try r.zigzag()
        let maxTime = try r.zigzag()
        let blockRows = try r.count(max: SegmentFormat.blockRowsMax, "block rows")
        guard blockRows > 0 else { throw r.fail("block rows is 0") }
        let blockCount = (rowCount + blockRows - 1) / blockRows
        let columnCount = try r.count(max: r.remaining, "column count")
        var columns: [SegmentColumnInfo] = []
        var names = Set<UTF8Key>()
        for _ in 0..<columnCount {
            let name = try r.string()
            guard names.insert(UTF8Key(s: name)).inserted else { throw r.fail("duplicate column \(name)") }
            guard let type = SegmentColumnType(rawValue: try r.u8()) else { throw r.fail("bad type of column \(name)") }
            guard let encoding = SegmentColumnEncoding(rawValue: try r.u8()) else {
                throw r.fail("bad encoding of column \(name)")
            }
            guard Self.allowed(type: type, encoding: encoding) else {
                throw r.fail("encoding \(encoding) not allowed for type \(type) in column \(name)")
            }
            let flags = try r.u8()
            let nullCount = try r.count(max: rowCount, "null count")
            let distinctCount = try r.count(max: rowCount, "distinct count")
            let (min, max) = try decodeMinMax(&r, type: type)
            let dictionary =
                flags & SegmentFormat.columnHasDictionary != 0 ? try decodeRegion(&r, dataEnd: dataEnd) : nil
            guard (dictionary != nil) == (encoding == .dictionary) else {
                throw r.fail("dictionary flag does not match encoding in column \(name)")
            }
            let index = flags & SegmentFormat.columnHasIndex != 0 ? try decodeRegion(&r, dataEnd: dataEnd) : nil
            if let index, index.codec != .none || index.rawSize != index.storedSize {
                throw r.fail("compressed index in column \(name)")
            }
            // Every block entry takes at least 12 footer bytes: bounds the allocation below.
            let n = try r.count(max: Swift.min(blockCount, r.remaining / 12), "block count")
            guard n == blockCount else { throw r.fail("column \(name) has \(n) blocks, expected \(blockCount)") }
            var blocks: [SegmentBlockInfo] = []
            blocks.reserveCapacity(n)
            var present = 0
            for b in 0..<n {
                let region = try decodeRegion(&r, dataEnd: dataEnd)
                let rowStart = b * blockRows
                let rows = Swift.min(blockRows, rowCount - rowStart)
                let presentCount = try r.count(max: rows, "present count")
                present += presentCount
                var zmin: Value? = nil
                var zmax: Value? = nil
                if type == .time || type == .int || type == .double { (zmin, zmax) = try decodeMinMax(&r, type: type) }
                blocks.append(
                    SegmentBlockInfo(
                        region: region,
                        rowStart: rowStart,
                        rowCount: rows,
                        presentCount: presentCount,
                        min: zmin,
                        max: zmax
                    )
                )
            }
            guard present == rowCount - nullCount else {
                throw r.fail("column \(name) null count \(nullCount) disagrees with its blocks")
            }
            columns.append(
                SegmentColumnInfo(
                    name: name,
                    type: type,
                    encoding: encoding,
                    nullCount: nullCount,
                    distinctCount: distinctCount,
                    min: min,
                    max: max,
                    hasMixedInts: flags & SegmentFormat.columnMixedInts != 0,
                    dictionary: dictionary,
                    index: index,
                    blocks: blocks
                )
            )
        }
        var extensions: [UInt8: SegmentRegion] = [:]
        if version >= 2 {
            let n = try r.count(max: r.remaining, "extension count")
            for _ in 0..<n {
                let tag = try r.u8()
                guard tag == SegmentFormat.extensionTransactionIdFilter else {
                    throw r.fail("unknown extension \(tag)")
                }
                guard extensions[tag] == nil else { throw r.fail("extension \(tag) twice") }
                let region = try decodeRegion(&r, dataEnd: dataEnd)
                guard region.codec == .none, region.rawSize == region.storedSize else {
                    throw r.fail("compressed extension \(tag)")
                }
                extensions[tag] = region
            }
        }
        guard r.isAtEnd else { throw r.fail("\(r.remaining) trailing bytes") }
        guard let first = columns.first, first.name == "time", first.type == .time, first.nullCount == 0 else {
            throw r.fail("first column is not a non-null time column")
        }
        return SegmentFooter(
            rowCount: rowCount,
            minTime: minTime,
            maxTime: maxTime,
            blockRows: blockRows,
            columns: columns,
            extensions: extensions
        )
    }

    static func allowed(type: SegmentColumnType, encoding: SegmentColumnEncoding) -> Bool {
        switch type {
        case .time: encoding == .deltaBitPacked
        case .string: encoding == .dictionary || encoding == .uuid || encoding == .ipv4
        case .int: encoding == .frameOfReference
        case .double: encoding == .plainDouble
        case .bool: encoding == .bitmap
        case .array: encoding == .jsonText
        }
    }

    private static func decodeRegion(_ r: inout ByteReader, dataEnd: Int) throws -> SegmentRegion {
        let start = r.offset
        let offset = try r.count(max: dataEnd, "region offset")
        let stored = try r.count(max: dataEnd, "region size")
        let raw = try r.count(max: SegmentFormat.rawSizeMax, "region raw size")
        guard let codec = SegmentCodec(rawValue: try r.u8()) else { throw r.fail("bad codec") }
        let checksum = try r.u64()
        guard offset >= SegmentFormat.headerSize, stored <= dataEnd - offset else {
            r.offset = start
            throw r.fail("region \(offset)+\(stored) outside the data area [\(SegmentFormat.headerSize), \(dataEnd))")
        }
        guard codec == .lz4 || raw == stored else {
            throw r.fail("uncompressed region with raw size \(raw) ≠ \(stored)")
        }
        // LZ4 cannot expand more than 255:1; a larger claim is garbage (and an allocation bomb).
        guard raw <= stored * 255 + 64 else { throw r.fail("raw size \(raw) impossible for \(stored) stored bytes") }
        return SegmentRegion(offset: offset, storedSize: stored, rawSize: raw, codec: codec, checksum: checksum)
    }

    private static func decodeMinMax(_ r: inout ByteReader, type: SegmentColumnType) throws -> (Value?, Value?) {
        let has = try r.u8()
        guard has != 0 else { return (nil, nil) }
        guard has == 1 else { throw r.fail("bad min/max flag \(has)") }
        func one() throws -> Value {
            switch type {
            case .time, .int: return .int(try r.zigzag())
            case .double: return .double(Double(bitPattern: try r.u64()))
            case .string: return .string(try r.string())
            case .bool: return .bool(try r.u8() != 0)
            case .array: throw r.fail("min/max on an array column")
            }
        }
        let lo = try one()
        let hi = try one()
        return (lo, hi)
    }
}
