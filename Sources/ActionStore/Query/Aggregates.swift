import CXXHash

/// The key of a value in an exact distinct count (`unique`, `unique_users`, …): numbers, booleans
/// and times are kept whole (a type tag in the high half, the value's bits in the low half); strings
/// and arrays are XXH3-128 of their UTF-8 bytes, as ClickHouse's `uniqExact` keeps 128-bit hashes of
/// strings. Two different strings share a key with probability about n²/2^129 (1e-23 at 100 million
/// distinct values). A set then holds 16 bytes per value instead of a String, and merging the sets
/// of a hundred segments hashes 16 bytes per value instead of re-hashing every string. Strings are
/// compared by their bytes, like segment dictionaries (and ClickHouse and DuckDB).
enum DistinctKey {
    static func of(_ v: QueryValue) -> UInt128 {
        switch v {
        case .null: tagged(0, 0)
        case .string(let s): hash(s, seed: 1)
        case .int(let i): tagged(2, UInt64(bitPattern: i))
        case .double(let d): tagged(3, d.bitPattern)
        case .bool(let b): tagged(4, b ? 1 : 0)
        case .timestamp(let t, _): tagged(5, UInt64(bitPattern: t))
        case .json(let s): hash(s, seed: 6)
        }
    }

    @inline(__always)
    static func tagged(_ tag: UInt64, _ bits: UInt64) -> UInt128 {
        UInt128(tag) << 64 | UInt128(bits)
    }

    /// XXH3-128 of the UTF-8 bytes (libxxhash).
    static func hash(_ s: String, seed: UInt64 = 1) -> UInt128 {
        var s = s
        return s.withUTF8 { b in
            let h = unsafe XXH3_128bits_withSeed(b.baseAddress, b.count, seed)
            return UInt128(h.high64) << 64 | UInt128(h.low64)
        }
    }
}

/// Sum, count, min and max of a number field in one group. Int values sum exactly in Int64 while
/// they fit; doubles sum with Neumaier compensation, so merge order barely matters.
struct NumericCell: Sendable, Hashable {
    var n: Int64 = 0
    var intCount: Int64 = 0
    var intSum: Int64 = 0
    var intOverflow = false
    var intSumAsDouble = 0.0
    var doubleSum = 0.0
    var doubleComp = 0.0
    var hasDouble = false
    var minInt = Int64.max
    var maxInt = Int64.min
    var minDouble = Double.infinity
    var maxDouble = -Double.infinity

    @inline(__always) mutating func add(_ v: Int64) {
        n += 1
        intCount += 1
        let (s, o) = intSum.addingReportingOverflow(v)
        intSum = s
        if o { intOverflow = true }
        intSumAsDouble += Double(v)
        if v < minInt { minInt = v }
        if v > maxInt { maxInt = v }
    }

    @inline(__always) mutating func add(_ v: Double) {
        n += 1
        hasDouble = true
        addCompensated(v)
        if v < minDouble { minDouble = v }
        if v > maxDouble { maxDouble = v }
    }

    @inline(__always) private mutating func addCompensated(_ v: Double) {
        let t = doubleSum + v
        if abs(doubleSum) >= abs(v) {
            doubleComp += (doubleSum - t) + v
        } else {
            doubleComp += (v - t) + doubleSum
        }
        doubleSum = t
    }

    mutating func merge(_ o: NumericCell) {
        n += o.n
        intCount += o.intCount
        let (s, ov) = intSum.addingReportingOverflow(o.intSum)
        intSum = s
        intOverflow = intOverflow || o.intOverflow || ov
        intSumAsDouble += o.intSumAsDouble
        if o.hasDouble {
            hasDouble = true
            addCompensated(o.doubleSum)
            doubleComp += o.doubleComp
        }
        minInt = Swift.min(minInt, o.minInt)
        maxInt = Swift.max(maxInt, o.maxInt)
        minDouble = Swift.min(minDouble, o.minDouble)
        maxDouble = Swift.max(maxDouble, o.maxDouble)
    }

    /// The sum: an int when every value was an int and the sum fits, or when the double sum is integral
    /// (within ±2^53), so results do not depend on how a source stored the column; null over no values.
    var sum: QueryValue {
        if n == 0 { return .null }
        if !hasDouble && !intOverflow { return .int(intSum) }
        return .number(total)
    }

    private var total: Double {
        (intOverflow ? intSumAsDouble : Double(intSum)) + (doubleSum + doubleComp)
    }

    var avg: QueryValue { n == 0 ? .null : .double(total / Double(n)) }

    var min: QueryValue {
        if n == 0 { return .null }
        if intCount == 0 { return .number(minDouble) }
        if !hasDouble || Double(minInt) <= minDouble { return .int(minInt) }
        return .number(minDouble)
    }

    var max: QueryValue {
        if n == 0 { return .null }
        if intCount == 0 { return .number(maxDouble) }
        if !hasDouble || Double(maxInt) >= maxDouble { return .int(maxInt) }
        return .number(maxDouble)
    }
}

/// Every value of a number field in one group, for exact percentiles.
struct ValuesCell: Sendable, Hashable {
    var values: [Double] = []
    var allInt = true

    mutating func merge(_ o: ValuesCell) {
        values += o.values
        allInt = allInt && o.allInt
    }

    /// The nearest-rank percentile: the smallest value with at least `p`% of values at or below it,
    /// i.e. sorted[ceil(p/100 × n) − 1].
    func percentile(_ p: Int) -> QueryValue {
        if values.isEmpty { return .null }
        let sorted = values.sorted()
        let rank = Swift.max(1, (p * sorted.count + 99) / 100)
        let v = sorted[rank - 1]
        return allInt ? .int(Int64(v)) : .number(v)
    }
}

/// The exact distinct state of one group: app-wide id codes as a bitmap (`unique_users` and the
/// other id fields, where values have codes), and the 128-bit hashes of other values
/// (`DistinctKey`). A value is counted in one or the other in every source of a query
/// (`IdCodeSnapshot`), so the count is the sum.
struct DistinctCell: Sendable {
    var codes = CodeSet()
    var hashes = Set<UInt128>()

    var count: Int { codes.count + hashes.count }
    var bytes: Int { codes.bytes + hashes.count * 24 }

    mutating func merge(_ other: DistinctCell) {
        codes.formUnion(other.codes)
        if hashes.isEmpty {
            hashes = other.hashes
        } else if hashes.count >= other.hashes.count {
            hashes.formUnion(other.hashes)
        } else {
            // Insert the smaller set into the larger (a copy of it: the partial owns it).
            var larger = other.hashes
            larger.formUnion(hashes)
            hashes = larger
        }
    }
}

/// One accumulator slot's state for every group of a partial or merged result, indexed by group.
enum AccState: Sendable {
    case count([Int64])
    case numeric([NumericCell])
    case distinct([DistinctCell])
    case approxDistinct([HyperLogLog])
    case values([ValuesCell])

    init(_ kind: AccKind, groups: Int) {
        switch kind {
        case .count: self = .count(Array(repeating: 0, count: groups))
        case .numeric: self = .numeric(Array(repeating: NumericCell(), count: groups))
        case .distinct, .people: self = .distinct(Array(repeating: DistinctCell(), count: groups))
        case .approxDistinct: self = .approxDistinct(Array(repeating: HyperLogLog(), count: groups))
        case .values: self = .values(Array(repeating: ValuesCell(), count: groups))
        }
    }

    /// An estimate of the bytes held beyond the per-group cells.
    var extraBytes: Int {
        switch self {
        case .count, .numeric: 0
        case .distinct(let a): a.reduce(0) { $0 + $1.bytes }
        case .approxDistinct(let a): a.reduce(0) { $0 + $1.bytes }
        case .values(let a): a.reduce(0) { $0 + $1.values.count * 8 }
        }
    }

    static let cellBytes = 96

    /// Adds empty groups up to `count`.
    mutating func grow(to count: Int) {
        func pad<T>(_ a: inout [T], _ v: T) {
            if a.count < count { a.append(contentsOf: repeatElement(v, count: count - a.count)) }
        }
        switch self {
        case .count(var a):
            self = .count([])
            pad(&a, 0)
            self = .count(a)
        case .numeric(var a):
            self = .count([])
            pad(&a, NumericCell())
            self = .numeric(a)
        case .distinct(var a):
            self = .count([])
            pad(&a, DistinctCell())
            self = .distinct(a)
        case .approxDistinct(var a):
            self = .count([])
            pad(&a, HyperLogLog())
            self = .approxDistinct(a)
        case .values(var a):
            self = .count([])
            pad(&a, ValuesCell())
            self = .values(a)
        }
    }

    /// Merges `other`'s group `i` into this state's group `mapping[i]`.
    /// - Returns: the growth in ``extraBytes``.
    mutating func merge(_ other: AccState, mapping: [Int]) -> Int {
        // Each case takes this state's array out of `self` before changing it (`self = .count([])`),
        // so the array and the sets in it are uniquely referenced and change in place. Switching on
        // a tuple `(self, other)` kept a second reference alive and copied every set on every merge.
        var added = 0
        switch other {
        case .count(let b):
            guard case .count(var a) = self else { preconditionFailure("merging accumulators of different kinds") }
            self = .count([])
            for (i, g) in mapping.enumerated() { a[g] += b[i] }
            self = .count(a)
        case .numeric(let b):
            guard case .numeric(var a) = self else { preconditionFailure("merging accumulators of different kinds") }
            self = .count([])
            for (i, g) in mapping.enumerated() { a[g].merge(b[i]) }
            self = .numeric(a)
        case .distinct(let b):
            guard case .distinct(var a) = self else { preconditionFailure("merging accumulators of different kinds") }
            self = .count([])
            for (i, g) in mapping.enumerated() {
                let before = a[g].bytes
                a[g].merge(b[i])
                added += a[g].bytes - before
            }
            self = .distinct(a)
        case .approxDistinct(let b):
            guard case .approxDistinct(var a) = self else {
                preconditionFailure("merging accumulators of different kinds")
            }
            self = .count([])
            for (i, g) in mapping.enumerated() {
                let before = a[g].bytes
                a[g].merge(b[i])
                added += a[g].bytes - before
            }
            self = .approxDistinct(a)
        case .values(let b):
            guard case .values(var a) = self else { preconditionFailure("merging accumulators of different kinds") }
            self = .count([])
            for (i, g) in mapping.enumerated() {
                a[g].merge(b[i])
                added += b[i].values.count * 8
            }
            self = .values(a)
        }
        return added
    }
}

/// One part of a group key inside the engine: an app-wide id code (made text only for the rows a
/// query returns, `QueryEngine.finish`), or a value. A value has a code in every source of a
/// query or in none (`IdCodeSnapshot`), so one group never appears under both.
enum KeyPart: Hashable, Sendable {
    case code(UInt32)
    case value(QueryValue)
}

/// Groups and their accumulator states: a source's partial result, or the merge of all of them.
/// Merged by key: codes hash as integers, so id keys merge with no string work.
struct GroupTable: Sendable {
    var keys: [[KeyPart]] = []
    var states: [AccState]
    var index: [[KeyPart]: Int] = [:]
    var bytes = 0

    init(slots: [AccKind]) {
        states = slots.map { AccState($0, groups: 0) }
    }

    /// Merges a partial by key value.
    /// - Throws: `.limitExceeded` past `options.maxGroups` groups or `options.maxStateBytes`.
    mutating func absorb(_ p: GroupTable, options: QueryOptions) throws {
        var mapping = [Int]()
        mapping.reserveCapacity(p.keys.count)
        let perGroup = AccState.cellBytes * Swift.max(1, states.count) + 32 * (p.keys.first?.count ?? 0) + 64
        for k in p.keys {
            if let g = index[k] {
                mapping.append(g)
            } else {
                guard keys.count < options.maxGroups else { throw QueryEngine.tooManyGroups(options) }
                index[k] = keys.count
                mapping.append(keys.count)
                keys.append(k)
                bytes += perGroup
            }
        }
        for s in states.indices {
            states[s].grow(to: keys.count)
            bytes += states[s].merge(p.states[s], mapping: mapping)
        }
        if bytes > options.maxStateBytes { throw QueryEngine.tooMuchState(options, bytes) }
    }
}
