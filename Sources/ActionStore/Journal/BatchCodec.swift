/// One journal record's worth of ingest: an application's schema additions and its actions.
public struct JournalBatch: Sendable, Hashable {
    public var application: String
    /// Schema additions the actions rely on; applied before the actions on replay.
    public var schemaDelta: SchemaDelta
    public var actions: [Action]

    public init(application: String, schemaDelta: SchemaDelta = SchemaDelta(), actions: [Action]) {
        self.application = application
        self.schemaDelta = schemaDelta
        self.actions = actions
    }
}

/// The binary form of a ``JournalBatch`` (the payload of a ``RecordType/batch`` record).
///
/// Grammar (docs/journal-format.md, "Batch payload"); varints are LEB128, `zigzag` maps signed to
/// unsigned, `str` is a varint byte count then UTF-8:
///
///     batch    := version u8 (1) application:str keys:schemaList paths:schemaList
///                 count:varint action*
///     schemaList := count:varint (name:str type:u8)*          // type = FieldType.rawValue
///     action   := timeDelta:zigzag actionName:str presence:u16 LE optional:str* count:varint field*
///     field    := path:str tag:u8 value
///     value    := tag 1 str | tag 2 zigzag | tag 3 f64 LE bits | tag 4 (false) | tag 5 (true) | tag 6 str
///
/// `timeDelta` is the action's time minus the previous action's (0 before the first), wrapping.
/// Bit `i` of `presence` says optional field `FixedField(rawValue: i + 1)` (userId … requestVerb)
/// follows; the present ones follow in that order.
public enum BatchCodec {
    static let version: UInt8 = 1

    enum Tag: UInt8 {
        case string = 1
        case int = 2
        case double = 3
        case boolFalse = 4
        case boolTrue = 5
        case array = 6
    }

    // MARK: Encoding

    /// Encodes a batch.
    ///
    /// Computes the exact size first, then writes into one uninitialized allocation: no growth,
    /// no per-field allocation.
    /// - Complexity: O(encoded bytes).
    public static func encode(_ batch: JournalBatch) -> [UInt8] {
        let size = encodedSize(batch)
        return [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            var w = ByteEncoder(FixedBytes(buffer))
            w.u8(version)
            w.string(batch.application)
            w.schemaList(batch.schemaDelta.keys)
            w.schemaList(batch.schemaDelta.paths)
            w.varint(UInt64(batch.actions.count))
            var previousTime: Int64 = 0
            // Indexing with a `borrowing` helper reads each action in place; `for a in` would copy
            // it (a retain and release per string field).
            for index in batch.actions.indices {
                w.action(batch.actions[index], previousTime: &previousTime)
            }
            precondition(w.count == size, "BatchCodec size computation disagrees with the encoder")
            count = size
        }
    }

    /// The exact number of bytes ``encode(_:)`` produces.
    static func encodedSize(_ batch: JournalBatch) -> Int {
        var n = 1 + stringSize(batch.application)
        n += varintSize(UInt64(batch.schemaDelta.keys.count)) + varintSize(UInt64(batch.schemaDelta.paths.count))
        for k in batch.schemaDelta.keys { n += stringSize(k.name) + 1 }
        for k in batch.schemaDelta.paths { n += stringSize(k.name) + 1 }
        n += varintSize(UInt64(batch.actions.count))
        var previousTime: Int64 = 0
        for a in batch.actions {
            n += varintSize(zigzag(a.time &- previousTime)) + stringSize(a.actionName) + 2
            previousTime = a.time
            n += optionalSize(a.userId) + optionalSize(a.anonymousId) + optionalSize(a.companyId)
            n += optionalSize(a.sessionToken) + optionalSize(a.transactionId) + optionalSize(a.subscriptionId)
            n += optionalSize(a.requestURI) + optionalSize(a.requestIPAddress) + optionalSize(a.requestUserAgent)
            n += optionalSize(a.requestVerb)
            n += varintSize(UInt64(a.metadata.count))
            for f in a.metadata {
                n += stringSize(f.path) + 1
                switch f.value {
                case .string(let s), .array(let s): n += stringSize(s)
                case .int(let v): n += varintSize(zigzag(v))
                case .double: n += 8
                case .bool: break
                }
            }
        }
        return n
    }

    static func presence(_ a: Action) -> UInt16 {
        var p: UInt16 = 0
        if a.userId != nil { p |= 1 << 0 }
        if a.anonymousId != nil { p |= 1 << 1 }
        if a.companyId != nil { p |= 1 << 2 }
        if a.sessionToken != nil { p |= 1 << 3 }
        if a.transactionId != nil { p |= 1 << 4 }
        if a.subscriptionId != nil { p |= 1 << 5 }
        if a.requestURI != nil { p |= 1 << 6 }
        if a.requestIPAddress != nil { p |= 1 << 7 }
        if a.requestUserAgent != nil { p |= 1 << 8 }
        if a.requestVerb != nil { p |= 1 << 9 }
        return p
    }

    static let presenceMask: UInt16 = (1 << 10) - 1

    static func zigzag(_ v: Int64) -> UInt64 { ByteWriter.zigzag(v) }
    static func unzigzag(_ u: UInt64) -> Int64 { ByteReader.unzigzag(u) }

    static func varintSize(_ v: UInt64) -> Int { ByteWriter.varintSize(v) }
    static func stringSize(_ s: String) -> Int {
        let n = s.utf8.count
        return varintSize(UInt64(n)) + n
    }
    static func optionalSize(_ s: String?) -> Int { s.map(stringSize) ?? 0 }

    // MARK: Decoding

    /// Decodes a batch encoded by ``encode(_:)``.
    /// - Throws: `ActionStoreError(.corruption)` naming the byte offset, for any bytes that are
    ///   not exactly one valid batch (truncated, trailing bytes, bad tag, invalid UTF-8, …).
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws -> JournalBatch {
        var r = ByteReader(bytes) { "journal batch of \(bytes.count) bytes" }
        let v = try r.u8()
        guard v == version else { throw r.fail("unsupported batch version \(v)") }
        let application = try r.validatedString()
        let keys = try r.schemaList()
        let paths = try r.schemaList()
        let actionCount = try r.count(minimumBytesEach: 5)
        var actions: [Action] = []
        actions.reserveCapacity(actionCount)
        var time: Int64 = 0
        for _ in 0..<actionCount {
            time &+= unzigzag(try r.varint())
            let actionName = try r.validatedString()
            let p = try r.u16()
            guard p & ~presenceMask == 0 else { throw r.fail("unknown presence bits \(p)") }
            // Built in one initializer call and appended directly: a `var` action mutated field
            // by field was copied into the array (a retain and release per string).
            let userId = p & (1 << 0) != 0 ? try r.validatedString() : nil
            let anonymousId = p & (1 << 1) != 0 ? try r.validatedString() : nil
            let companyId = p & (1 << 2) != 0 ? try r.validatedString() : nil
            let sessionToken = p & (1 << 3) != 0 ? try r.validatedString() : nil
            let transactionId = p & (1 << 4) != 0 ? try r.validatedString() : nil
            let subscriptionId = p & (1 << 5) != 0 ? try r.validatedString() : nil
            let requestURI = p & (1 << 6) != 0 ? try r.validatedString() : nil
            let requestIPAddress = p & (1 << 7) != 0 ? try r.validatedString() : nil
            let requestUserAgent = p & (1 << 8) != 0 ? try r.validatedString() : nil
            let requestVerb = p & (1 << 9) != 0 ? try r.validatedString() : nil
            let fieldCount = try r.count(minimumBytesEach: 2)
            var metadata: [MetadataField] = []
            if fieldCount > 0 {
                metadata.reserveCapacity(fieldCount)
                for _ in 0..<fieldCount {
                    let path = try r.validatedString()
                    let tagByte = try r.u8()
                    let value: Value
                    switch Tag(rawValue: tagByte) {
                    case .string: value = .string(try r.validatedString())
                    case .int: value = .int(unzigzag(try r.varint()))
                    case .double: value = .double(Double(bitPattern: try r.u64()))
                    case .boolFalse: value = .bool(false)
                    case .boolTrue: value = .bool(true)
                    case .array: value = .array(try r.validatedString())
                    case nil: throw r.fail("unknown value tag \(tagByte)")
                    }
                    metadata.append(MetadataField(path: path, value: value))
                }
            }
            actions.append(
                Action(
                    time: time,
                    actionName: actionName,
                    userId: userId,
                    anonymousId: anonymousId,
                    companyId: companyId,
                    sessionToken: sessionToken,
                    transactionId: transactionId,
                    subscriptionId: subscriptionId,
                    requestURI: requestURI,
                    requestIPAddress: requestIPAddress,
                    requestUserAgent: requestUserAgent,
                    requestVerb: requestVerb,
                    metadata: metadata
                )
            )
        }
        guard r.isAtEnd else { throw r.fail("\(r.remaining) trailing bytes after the batch") }
        return JournalBatch(
            application: application,
            schemaDelta: SchemaDelta(keys: keys, paths: paths),
            actions: actions
        )
    }

    /// Decodes a batch from any byte collection; contiguous ones are read in place.
    /// - Throws: `ActionStoreError(.corruption)`; see ``decode(_:)-(UnsafeRawBufferPointer)``.
    public static func decode(_ bytes: some RandomAccessCollection<UInt8>) throws -> JournalBatch {
        if let batch = try bytes.withContiguousStorageIfAvailable({ try decode(UnsafeRawBufferPointer($0)) }) {
            return batch
        }
        return try Array(bytes).withUnsafeBytes { try decode($0) }
    }

    /// Whether every byte is below 0x80; eight at a time.
    static func isASCII(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var i = 0
        var bits: UInt64 = 0
        while i + 8 <= bytes.count {
            bits |= bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            i += 8
        }
        while i < bytes.count {
            bits |= UInt64(bytes[i])
            i += 1
        }
        return bits & 0x8080_8080_8080_8080 == 0
    }
}

// The batch grammar's compound items (actions, schema lists, validated strings), written and read
// with the shared byte codec.

extension ByteEncoder {
    fileprivate mutating func action(_ a: borrowing Action, previousTime: inout Int64) {
        varint(BatchCodec.zigzag(a.time &- previousTime))
        previousTime = a.time
        string(a.actionName)
        u16(BatchCodec.presence(a))
        if let s = a.userId { string(s) }
        if let s = a.anonymousId { string(s) }
        if let s = a.companyId { string(s) }
        if let s = a.sessionToken { string(s) }
        if let s = a.transactionId { string(s) }
        if let s = a.subscriptionId { string(s) }
        if let s = a.requestURI { string(s) }
        if let s = a.requestIPAddress { string(s) }
        if let s = a.requestUserAgent { string(s) }
        if let s = a.requestVerb { string(s) }
        varint(UInt64(a.metadata.count))
        for f in a.metadata {
            string(f.path)
            switch f.value {
            case .string(let s):
                u8(BatchCodec.Tag.string.rawValue)
                string(s)
            case .int(let v):
                u8(BatchCodec.Tag.int.rawValue)
                varint(BatchCodec.zigzag(v))
            case .double(let v):
                u8(BatchCodec.Tag.double.rawValue)
                u64(v.bitPattern)
            case .bool(let v):
                u8(v ? BatchCodec.Tag.boolTrue.rawValue : BatchCodec.Tag.boolFalse.rawValue)
            case .array(let s):
                u8(BatchCodec.Tag.array.rawValue)
                string(s)
            }
        }
    }

    fileprivate mutating func schemaList(_ list: [SchemaDelta.KeyType]) {
        varint(UInt64(list.count))
        for k in list {
            string(k.name)
            u8(k.type.rawValue)
        }
    }
}

extension ByteReader {
    /// A count of items each taking at least `minimumBytesEach` bytes: a count the remaining
    /// bytes cannot hold is corruption, and never reaches `reserveCapacity`.
    fileprivate mutating func count(minimumBytesEach: Int) throws -> Int {
        let n = try varint()
        guard n <= UInt64(remaining / minimumBytesEach) else {
            throw fail("count \(n) exceeds the bytes left")
        }
        return Int(n)
    }

    /// A string whose bytes must be valid UTF-8 (``string()`` would repair them).
    fileprivate mutating func validatedString() throws -> String {
        let n = try varint()
        guard n <= UInt64(remaining) else { throw fail("string of \(n) bytes runs past the end") }
        guard n > 0 else { return "" }
        let raw = unsafe UnsafeRawBufferPointer(rebasing: base[offset..<offset + Int(n)])
        let slice = raw.assumingMemoryBound(to: UInt8.self)
        // `String(validating:as:)` takes a generic path (~4x slower here than
        // `String(decoding:as:)`, which validates too but repairs). ASCII cannot need repair;
        // otherwise a repair would change the bytes, so comparing them catches invalid UTF-8.
        let s = String(decoding: slice, as: UTF8.self)
        if !BatchCodec.isASCII(raw) {
            let same =
                s.utf8.withContiguousStorageIfAvailable { $0.elementsEqual(slice) } ?? s.utf8.elementsEqual(slice)
            guard same else { throw fail("invalid UTF-8") }
        }
        offset += Int(n)
        return s
    }

    fileprivate mutating func schemaList() throws -> [SchemaDelta.KeyType] {
        let n = try count(minimumBytesEach: 2)
        var list: [SchemaDelta.KeyType] = []
        list.reserveCapacity(n)
        for _ in 0..<n {
            let name = try validatedString()
            let t = try u8()
            guard let type = FieldType(rawValue: t) else { throw fail("unknown field type \(t)") }
            list.append(.init(name: name, type: type))
        }
        return list
    }
}
