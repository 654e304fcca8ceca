/// A ``ScanSource`` over actions in memory (what memtables hand the engine). Columns are built on
/// first use, dictionary-encoding strings, and cached.
public final class ActionsSource: ScanSource {
    // Constant after init
    public let actions: [Action]
    public let rowCount: Int
    public let minTime: Int64
    public let maxTime: Int64
    public let isSortedByTime: Bool
    public let partitionKey: String?

    // Guarded by cache
    private let cache = Locked<[String: QueryColumn?]>([:])

    /// - Parameters:
    ///   - actions: the rows, in any order.
    ///   - partitionKey: the partition's name for `QueryStats`, if any.
    public init(_ actions: [Action], partitionKey: String? = nil) {
        self.actions = actions
        rowCount = actions.count
        minTime = actions.lazy.map(\.time).min() ?? 0
        maxTime = actions.lazy.map(\.time).max() ?? 0
        var sorted = true
        for i in actions.indices.dropFirst() where actions[i - 1].time > actions[i].time {
            sorted = false
            break
        }
        isSortedByTime = sorted
        self.partitionKey = partitionKey
    }

    public func times() throws -> [Int64] { actions.map(\.time) }

    public func column(_ name: String) throws -> QueryColumn? {
        if let c = cache.withLock({ $0[name] }) { return c }
        let built = build(name)
        cache.withLock { $0[name] = built }
        return built
    }

    public func columnNames() throws -> [String] {
        var names = [String]()
        for f in FixedField.allCases where actions.contains(where: { $0[f] != nil }) { names.append(f.name) }
        var paths = Set<String>()
        for a in actions { for m in a.metadata { paths.insert(m.path) } }
        return names + paths.sorted().map { "metadata." + $0 }
    }

    public func mayContain(column name: String, value: Value) -> Bool? {
        guard case .string(let s) = value else { return nil }
        // Building the column is what a scan would do anyway; it is cached for the scan.
        guard let c = try? column(name) else { return false }
        guard case .strings(let dictionary, _, _) = c else { return nil }
        return dictionary.contains(s)
    }

    private func build(_ name: String) -> QueryColumn? {
        guard let field = QueryField(name: name) else { return nil }
        switch field {
        case .time:
            return .ints(actions.map(\.time), present: nil)
        case .fixed(let f):
            return encodeStrings { actions[$0][f] }
        case .metadata(let path):
            let values = actions.map { $0.metadataValue(path) }
            guard let first = values.first(where: { $0 != nil }) ?? nil else { return nil }
            let present = RowBitmap(values.map { $0 != nil })
            switch first {
            case .string:
                return encodeStrings { if case .string(let s)? = values[$0] { s } else { nil } }
            case .int, .double:
                if values.allSatisfy({ if case .double? = $0 { false } else { true } }) {
                    return .ints(values.map { if case .int(let v)? = $0 { v } else { 0 } }, present: present)
                }
                return .doubles(values.map { $0?.doubleValue ?? 0 }, present: present)
            case .bool:
                return .bools(values.map { if case .bool(let b)? = $0 { b } else { false } }, present: present)
            case .array:
                return .arrays(values.map { if case .array(let s)? = $0 { s } else { "" } }, present: present)
            }
        }
    }

    private func encodeStrings(_ value: (Int) -> String?) -> QueryColumn? {
        var dictionary = [String]()
        var index = [String: UInt32]()
        var codes = [UInt32](repeating: 0, count: rowCount)
        var present = RowBitmap(count: rowCount)
        var all = true
        for i in 0..<rowCount {
            guard let s = value(i) else {
                all = false
                continue
            }
            present[i] = true
            if let c = index[s] {
                codes[i] = c
            } else {
                let c = UInt32(dictionary.count)
                index[s] = c
                dictionary.append(s)
                codes[i] = c
            }
        }
        if dictionary.isEmpty { return nil }
        return .strings(dictionary: dictionary, codes: codes, present: all ? nil : present)
    }
}
