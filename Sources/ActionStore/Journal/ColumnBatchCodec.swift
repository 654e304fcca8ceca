/// One journal record's worth of ingest in columns: an application's schema additions and its
/// actions as a ``ColumnChunk``.
struct ColumnBatch: Sendable {
    var application: String
    /// Schema additions the rows rely on; applied before the rows on replay.
    var schemaDelta: SchemaDelta
    var chunk: ColumnChunk
    /// Codes the rows' id values were given by this batch (version 3); applied before the rows on
    /// replay. Empty when every value already had one.
    var ids: [(IdField, IdDictionary.Run)] = []
}

/// Batch payload version 3 (docs/journal-format.md, "Batch payload, version 3"): the columns of a
/// ``ColumnBatch`` and the id codes it assigned. Version 2 is the same without `ids`. Replay decodes it into a chunk with no `String` or `Action` per row: times
/// and rows are varints, strings are lengths then bytes copied into the chunk's arena.
///
///     batch3   := version u8 (3) application:str keys:schemaList paths:schemaList
///                 rows:varint time:zigzag*rows columns:varint column* ids:idRuns
///     batch2   := the same with version 2 and no ids
///     column   := id:u8 [path:str when id = 255] kind:u8 count:varint rowGap:varint*count values
///     values   := kind 1 or 4 (string, array): length:varint*count bytes
///               | kind 2 (number): doubles:u8 (0 or 1) [flags: ceil(count/8) bytes when 1]
///                                  (double: f64 LE bits | int: zigzag)*count
///               | kind 3 (bool): ceil(count/8) bytes, bit i (LSB first) = value i
///
/// `time` is each row's time minus the previous row's (0 before the first), wrapping. `id` is
/// `FixedField.rawValue` (0 `action_name` … 10 `request.verb`) or 255 for a metadata path.
/// `rowGap` is the first row, then the difference to the previous row (at least 1). `idRuns` is
/// `IdRunCodec`'s; it comes last so that a record encoded before the store lock (when codes are
/// not yet assigned) gets its codes by replacing its last byte, an empty `idRuns` (`addIds`).
enum ColumnBatchCodec {
    static let version: UInt8 = 3
    static let version2: UInt8 = 2
    static let metadataId: UInt8 = 255

    // MARK: Encoding

    /// - Parameter extraCapacity: room to reserve for `addIds` to append in place.
    static func encode(_ batch: ColumnBatch, extraCapacity: Int = 0) -> [UInt8] {
        let c = batch.chunk
        var w = ByteWriter(capacity: 64 + c.rowCount * 4 + c.arena.count * 2 + extraCapacity)
        w.u8(version)
        w.string(batch.application)
        for list in [batch.schemaDelta.keys, batch.schemaDelta.paths] {
            w.varint(list.count)
            for k in list {
                w.string(k.name)
                w.u8(k.type.rawValue)
            }
        }
        w.varint(c.rowCount)
        var previous: Int64 = 0
        for t in c.times {
            w.zigzag(t &- previous)
            previous = t
        }
        let fixed = FixedField.allCases.filter { c.fixed[$0.rawValue].count > 0 }
        w.varint(fixed.count + c.metadata.count)
        for f in fixed { column(c.fixed[f.rawValue], id: UInt8(f.rawValue), path: nil, c, &w) }
        for (i, col) in c.metadata.enumerated() { column(col, id: metadataId, path: c.metadataPaths[i], c, &w) }
        IdRunCodec.encode(batch.ids, &w)
        return w.bytes
    }

    /// Gives `payload` (encoded with no id runs) `ids` as its id runs, in place: its last byte
    /// (the empty `idRuns`) is replaced.
    static func addIds(_ payload: inout [UInt8], _ ids: [(IdField, IdDictionary.Run)]) {
        guard ids.contains(where: { !$0.1.isEmpty }) else { return }
        precondition(payload.last == 0, "a payload whose id runs are not empty")
        payload.removeLast()
        ByteWriter.appending(to: &payload) { IdRunCodec.encode(ids, &$0) }
    }

    private static func column(
        _ col: ColumnChunk.Column,
        id: UInt8,
        path: String?,
        _ c: ColumnChunk,
        _ w: inout ByteWriter
    ) {
        w.u8(id)
        if let path { w.string(path) }
        w.u8(col.kind.rawValue)
        w.varint(col.count)
        var previous: UInt32 = 0
        for (i, r) in col.rows.enumerated() {
            w.varint(UInt64(i == 0 ? r : r - previous))
            previous = r
        }
        switch col.kind {
        case .string, .array:
            for s in col.slots { w.varint(UInt64(s & 0xFFFF_FFFF)) }
            c.arena.withUnsafeBufferPointer { src in
                for s in col.slots {
                    let offset = Int(s >> 32)
                    // Safe because every slot lies inside the chunk's arena.
                    w.bytes.append(
                        contentsOf: UnsafeBufferPointer(rebasing: src[offset..<offset + Int(s & 0xFFFF_FFFF)])
                    )
                }
            }
        case .number:
            let doubles = col.isDouble.contains(true)
            w.u8(doubles ? 1 : 0)
            if doubles { packBits(col.isDouble, &w) }
            for (i, s) in col.slots.enumerated() {
                if doubles && col.isDouble[i] { w.u64(s) } else { w.zigzag(Int64(bitPattern: s)) }
            }
        case .bool:
            packBits(col.slots.map { $0 != 0 }, &w)
        }
    }

    private static func packBits(_ flags: [Bool], _ w: inout ByteWriter) {
        var byte: UInt8 = 0
        for (i, f) in flags.enumerated() {
            if f { byte |= 1 << UInt8(i & 7) }
            if i & 7 == 7 {
                w.u8(byte)
                byte = 0
            }
        }
        if flags.count & 7 != 0 { w.u8(byte) }
    }

    // MARK: Decoding

    /// Decodes a version-3 or version-2 payload.
    /// - Throws: `.corruption` naming what is wrong and the byte offset.
    static func decode(_ bytes: UnsafeRawBufferPointer) throws -> ColumnBatch {
        var r = ByteReader(bytes) { "batch payload" }
        let v = try r.u8()
        guard v == version || v == version2 else { throw r.fail("version \(v) is not \(version2) or \(version)") }
        let application = try r.string()
        var delta = SchemaDelta()
        for list in 0..<2 {
            let n = try r.count(max: r.remaining / 2, "schema list length")
            for _ in 0..<n {
                let name = try r.string()
                let t = try r.u8()
                guard let type = FieldType(rawValue: t) else { throw r.fail("unknown type code \(t)") }
                if list == 0 {
                    delta.keys.append(.init(name: name, type: type))
                } else {
                    delta.paths.append(.init(name: name, type: type))
                }
            }
        }
        let rows = try r.count(max: r.remaining, "row count")
        var times = [Int64]()
        times.reserveCapacity(rows)
        var previous: Int64 = 0
        for _ in 0..<rows {
            previous = previous &+ (try r.zigzag())
            times.append(previous)
        }
        var parts = ColumnChunk.Parts(times: times)
        let columns = try r.count(max: r.remaining, "column count")
        var seenFixed = Set<UInt8>()
        for _ in 0..<columns {
            let id = try r.u8()
            var path: String?
            if id == metadataId {
                path = try r.string()
            } else {
                guard Int(id) < FixedField.allCases.count else { throw r.fail("unknown column id \(id)") }
                guard seenFixed.insert(id).inserted else { throw r.fail("column \(id) appears twice") }
            }
            let k = try r.u8()
            guard let kind = ColumnChunk.Kind(rawValue: k) else { throw r.fail("unknown column kind \(k)") }
            if path == nil, kind != .string { throw r.fail("fixed column \(id) of kind \(k)") }
            let n = try r.count(max: min(rows, r.remaining), "value count")
            var col = ColumnChunk.Column(kind: kind)
            col.rows.reserveCapacity(n)
            var row: UInt64 = 0
            for i in 0..<n {
                let gap = try r.varint()
                guard i == 0 || gap > 0 else { throw r.fail("rows out of order") }
                row = i == 0 ? gap : row &+ gap
                guard row < UInt64(rows) else { throw r.fail("row \(row) of \(rows)") }
                col.rows.append(UInt32(row))
            }
            switch kind {
            case .string, .array:
                var lengths = [Int]()
                lengths.reserveCapacity(n)
                var total = 0
                for _ in 0..<n {
                    let l = try r.count(max: r.remaining, "string length")
                    lengths.append(l)
                    total += l
                }
                let raw = try r.bytes(total)
                var offset = parts.arena.count
                parts.arena.append(contentsOf: raw)
                col.slots.reserveCapacity(n)
                for l in lengths {
                    col.slots.append(ColumnChunk.slot(offset: offset, length: l))
                    offset += l
                }
            case .number:
                let flag = try r.u8()
                guard flag <= 1 else { throw r.fail("number flags \(flag)") }
                if flag == 1 {
                    let raw = try r.bytes((n + 7) / 8)
                    col.isDouble = (0..<n).map { raw[$0 >> 3] & (1 << UInt8($0 & 7)) != 0 }
                }
                col.slots.reserveCapacity(n)
                for i in 0..<n {
                    if flag == 1 && col.isDouble[i] {
                        col.slots.append(try r.u64())
                    } else {
                        col.slots.append(UInt64(bitPattern: try r.zigzag()))
                    }
                }
            case .bool:
                let raw = try r.bytes((n + 7) / 8)
                col.slots = (0..<n).map { raw[$0 >> 3] & (1 << UInt8($0 & 7)) != 0 ? 1 : 0 }
            }
            if let path {
                guard parts.addMetadata(path, col) else { throw r.fail("metadata path \(path) appears twice") }
            } else {
                parts.fixed[Int(id)] = col
            }
        }
        guard parts.fixed[FixedField.actionName.rawValue].count == rows else {
            throw r.fail("action_name is missing from some of the \(rows) rows")
        }
        let ids = v == version ? try IdRunCodec.decode(&r) : []
        guard r.isAtEnd else { throw r.fail("\(r.remaining) bytes after the last column") }
        return ColumnBatch(application: application, schemaDelta: delta, chunk: ColumnChunk(parts), ids: ids)
    }

    static func decode(_ bytes: [UInt8]) throws -> ColumnBatch {
        try bytes.withUnsafeBytes { try decode($0) }
    }
}
