/// A segment file as a query source: columns decoded on demand, dictionaries and postings from the
/// segment's indexes.
final class SegmentSource: ScanSource {
    let reader: SegmentReader
    let partitionKey: String?
    let ids: IdCodeSnapshot?

    init(_ reader: SegmentReader, partitionKey: String?, ids: IdCodeSnapshot? = nil) {
        self.reader = reader
        self.partitionKey = partitionKey
        self.ids = ids
    }

    var rowCount: Int { reader.rowCount }
    var minTime: Int64 { reader.minTime }
    var maxTime: Int64 { reader.maxTime }
    var isSortedByTime: Bool { true }

    func times() throws -> [Int64] { try reader.times() }

    func columnNames() throws -> [String] { reader.columns.map(\.name).filter { $0 != "time" } }

    func column(_ name: String) throws -> QueryColumn? {
        guard let data = try reader.column(name) else { return nil }
        let present = data.present
        switch data {
        case .strings, .uuids, .ipv4s:
            let (d, c, _) = data.dictionaryEncoded()!
            return .strings(dictionary: d, codes: c, present: present)
        case .ints(let v, _): return .ints(v, present: present)
        case .doubles(let v, _): return .doubles(v, present: present)
        case .bools(let v, _): return .bools((0..<v.count).map { v[$0] }, present: present)
        case .arrays(let v, _): return .arrays(v, present: present)
        }
    }

    /// Looked up once per dictionary entry, and kept in the reader once every entry has a code
    /// (codes never change, so a complete map stays true; an incomplete one is looked up again).
    func appCodes(column: String, dictionary: [String]) -> [UInt32]? {
        guard let ids, let field = IdCodeSnapshot.field(ofColumn: column) else { return nil }
        if let c = reader.appCodes.withLock({ $0[field.rawValue] }), c.count == dictionary.count { return c }
        let codes = ids.codes(field, of: dictionary)
        if !codes.contains(UInt32.max) { reader.appCodes.withLock { $0[field.rawValue] = codes } }
        return codes
    }

    func mayContain(column: String, value: Value) -> Bool? {
        guard case .string(let s) = value else { return nil }
        return try? reader.dictionaryContains(column: column, value: s)
    }

    func postings(column: String, value: Value) throws -> [UInt32]? {
        let text: String
        switch value {
        case .string(let s): text = s
        case .bool(let b): text = b ? "true" : "false"
        default: return nil
        }
        return try reader.postings(column: column, value: text)?.toArray()
    }
}
