/// Recent actions of one (application, time partition), in memory until a flush writes them to a
/// segment.
///
/// Rows are kept in sealed chunks of `chunkRows` plus an open tail, so that a query snapshot costs
/// O(chunks) and never copies rows that writers keep appending to (Swift arrays are copy-on-write:
/// a snapshot of one big array would make the next append copy it whole).
///
/// Not thread-safe: the store guards each memtable with its lock.
struct Memtable: Sendable {
    static let chunkRows = 4096

    let application: String
    let partition: String
    private(set) var chunks: [[Action]] = []
    private(set) var tail: [Action] = []
    private(set) var rowCount = 0
    /// When the first row arrived (monotonic nanoseconds), for the age threshold.
    private(set) var firstRowAt: UInt64 = 0

    init(application: String, partition: String) {
        self.application = application
        self.partition = partition
    }

    /// Decoded actions take about this many times the bytes of their journal encoding (measured:
    /// 10M generated actions held ~4 GiB resident for ~0.7 GiB of journal, so 3 undercounted).
    static let memoryPerEncodedByte = 6

    mutating func append(contentsOf actions: [Action], now: UInt64) {
        for a in actions { append(a, now: now) }
    }

    mutating func append(_ action: Action, now: UInt64) {
        if rowCount == 0 { firstRowAt = now }
        if tail.isEmpty { tail.reserveCapacity(Memtable.chunkRows) }
        tail.append(action)
        rowCount += 1
        if tail.count == Memtable.chunkRows {
            chunks.append(tail)
            tail = []
        }
    }

    /// Every row, in arrival order.
    var rows: [Action] {
        var out: [Action] = []
        out.reserveCapacity(rowCount)
        for c in chunks { out += c }
        out += tail
        return out
    }

    /// A rough count of the bytes an action holds in memory.
    static func estimate(_ a: Action) -> Int {
        var n = 160 + a.actionName.utf8.count
        for f in FixedField.allCases where f != .actionName { n += a[f]?.utf8.count ?? 0 }
        for m in a.metadata {
            n += 48 + m.path.utf8.count
            switch m.value {
            case .string(let s), .array(let s): n += s.utf8.count
            default: break
            }
        }
        return n
    }
}
