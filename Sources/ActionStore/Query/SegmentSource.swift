/// A segment file as a query source: columns decoded on demand, dictionaries and postings from the
/// segment's indexes.
final class SegmentSource: ScanSource {
    let reader: SegmentReader
    let partitionKey: String?

    init(_ reader: SegmentReader, partitionKey: String?) {
        self.reader = reader
        self.partitionKey = partitionKey
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
