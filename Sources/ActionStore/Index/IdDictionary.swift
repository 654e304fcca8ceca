#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// The id-like fixed fields that get app-wide codes (DESIGN.md, "Columns and codes").
enum IdField: Int, Sendable, CaseIterable {
    case userId = 0
    case anonymousId
    case companyId
    case subscriptionId

    var fixed: FixedField {
        switch self {
        case .userId: .userId
        case .anonymousId: .anonymousId
        case .companyId: .companyId
        case .subscriptionId: .subscriptionId
        }
    }

    init?(_ field: FixedField) {
        guard let f = IdField.allCases.first(where: { $0.fixed == field }) else { return nil }
        self = f
    }
}

/// One application's dictionary of one id field: each distinct value (its bytes) has a dense
/// code, 0, 1, 2, … in order of first sight, never reused or renumbered, so exact distinct counts
/// can be bitmap unions over codes (as StarRocks' and Doris' global dictionaries do).
///
/// Storage is flat: the values back to back in one arena, the end of each in `ends`, the XXH3
/// hash of each in `hashes`, and an open-addressing table (linear probing, power-of-two size,
/// at most half full) whose entries hold `code + 1` (0 = empty) in their low 32 bits and the
/// hash's high 32 bits above, so a probe compares bytes only on a fingerprint match and touches
/// neither `hashes` nor the arena otherwise. Written by hand because the Swift packages here
/// offer no hash table keyed by byte ranges of an arena, and a `[String: UInt32]` would cost a
/// `String` per value (allocation, Unicode-aware hashing).
///
/// Memory per value: its bytes, 4 (`ends`), 8 (`hashes`) and 16–32 in the table.
struct IdDictionary: Sendable, Equatable {
    private(set) var arena: [UInt8] = []
    /// `ends[c]` is where value `c` ends in `arena`; it starts at `ends[c - 1]` (0 for code 0).
    private(set) var ends: [UInt32] = []
    private(set) var hashes: [UInt64] = []
    private var table = [UInt64](repeating: 0, count: 16)

    init() {}

    var count: Int { ends.count }

    /// Bytes held.
    var memoryBytes: Int { arena.capacity + ends.capacity * 4 + hashes.capacity * 8 + table.capacity * 8 }

    /// The bytes of the value of `code`.
    func bytes(_ code: UInt32) -> ArraySlice<UInt8> {
        let c = Int(code)
        return arena[(c == 0 ? 0 : Int(ends[c - 1]))..<Int(ends[c])]
    }

    /// The value of `code` as text (for the edges: result rows, dumps).
    func string(_ code: UInt32) -> String { String(decoding: bytes(code), as: UTF8.self) }

    static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 { Checksum.xxh3(bytes) }

    /// The code of `value` (whose XXH3 is `hash`), if it has one.
    /// - Complexity: O(1) expected: one probe sequence, one byte comparison per hash match.
    func code(of value: UnsafeRawBufferPointer, hash: UInt64) -> UInt32? {
        let mask = table.count - 1
        var i = Int(truncatingIfNeeded: hash) & mask
        let fingerprint = hash >> 32
        return arena.withUnsafeBytes { a -> UInt32? in
            while true {
                let e = table[i]
                if e == 0 { return nil }
                let c = Int(e & 0xFFFF_FFFF) - 1
                if e >> 32 == fingerprint {
                    let start = c == 0 ? 0 : Int(ends[c - 1])
                    let n = Int(ends[c]) - start
                    if n == value.count, n == 0 || memcmp(a.baseAddress! + start, value.baseAddress!, n) == 0 {
                        return UInt32(c)
                    }
                }
                i = (i + 1) & mask
            }
        }
    }

    func code(of value: String) -> UInt32? {
        var s = value
        return s.withUTF8 { u in
            let raw = UnsafeRawBufferPointer(u)
            return code(of: raw, hash: Self.hash(raw))
        }
    }

    /// The code of `value`, assigning the next one if it has none.
    /// - Returns: the code and whether it is new.
    mutating func insert(_ value: UnsafeRawBufferPointer, hash: UInt64) -> (code: UInt32, inserted: Bool) {
        if let c = code(of: value, hash: hash) { return (c, false) }
        return (append(value, hash: hash), true)
    }

    /// Gives `value` (known to have no code) the next code.
    @discardableResult
    private mutating func append(_ value: UnsafeRawBufferPointer, hash: UInt64) -> UInt32 {
        let c = UInt32(ends.count)
        arena.append(contentsOf: value)
        ends.append(UInt32(arena.count))
        hashes.append(hash)
        if ends.count * 2 > table.count {
            rehash(capacity: table.count * 2)
        } else {
            place(Int(c))
        }
        return c
    }

    private mutating func place(_ c: Int) {
        let mask = table.count - 1
        var i = Int(truncatingIfNeeded: hashes[c]) & mask
        while table[i] != 0 { i = (i + 1) & mask }
        table[i] = (hashes[c] & 0xFFFF_FFFF_0000_0000) | UInt64(c + 1)
    }

    private mutating func rehash(capacity: Int) {
        table = [UInt64](repeating: 0, count: capacity)
        for c in 0..<ends.count { place(c) }
    }

    /// Forgets every code from `count` on (the values of a batch whose journal record could not
    /// be enqueued: no record names them, so no reader has seen them).
    mutating func truncate(to count: Int) {
        guard count < ends.count else { return }
        let end = count == 0 ? 0 : Int(ends[count - 1])
        arena.removeSubrange(end...)
        ends.removeSubrange(count...)
        hashes.removeSubrange(count...)
        var capacity = 16
        while capacity < ends.count * 2 { capacity *= 2 }
        rehash(capacity: capacity)
    }

    // MARK: - Runs (journal deltas and checkpoints)

    /// Codes `first ..< first + count` with their values: what a journal record adds to a
    /// dictionary, and what a checkpoint block holds.
    struct Run: Sendable, Equatable {
        var first: UInt32
        var arena: [UInt8] = []
        var ends: [UInt32] = []

        init(first: UInt32) { self.first = first }

        var count: Int { ends.count }
        var isEmpty: Bool { ends.isEmpty }

        mutating func append(_ value: UnsafeRawBufferPointer) {
            arena.append(contentsOf: value)
            ends.append(UInt32(arena.count))
        }

        func value(_ i: Int) -> ArraySlice<UInt8> { arena[(i == 0 ? 0 : Int(ends[i - 1]))..<Int(ends[i])] }
    }

    /// The codes from `first` on, as a run.
    func run(from first: Int, to end: Int? = nil) -> Run {
        var r = Run(first: UInt32(first))
        let last = min(end ?? ends.count, ends.count)
        guard first < last else { return r }
        let start = first == 0 ? 0 : Int(ends[first - 1])
        r.arena = Array(arena[start..<Int(ends[last - 1])])
        r.ends = ends[first..<last].map { $0 - UInt32(start) }
        return r
    }

    /// Adds a run that continues this dictionary; codes it repeats must hold the same values (a
    /// journal record replayed over a checkpoint that already has its codes).
    /// - Throws: `.corruption` when the run leaves a gap or gives a code a second value.
    mutating func apply(_ run: Run, what: @autoclosure () -> String) throws(ActionStoreError) {
        guard Int(run.first) <= count else {
            throw ActionStoreError(
                .corruption,
                "\(what()): codes from \(run.first) follow a dictionary of \(count) codes (a gap)"
            )
        }
        for i in 0..<run.count {
            let code = Int(run.first) + i
            let v = run.value(i)
            if code < count {
                guard bytes(UInt32(code)).elementsEqual(v) else {
                    throw ActionStoreError(.corruption, "\(what()): code \(code) is given a second value")
                }
                continue
            }
            v.withUnsafeBytes { raw in
                let h = Self.hash(raw)
                if self.code(of: raw, hash: h) == nil { append(raw, hash: h) }
            }
            guard count == code + 1 else {
                throw ActionStoreError(.corruption, "\(what()): code \(code) repeats the value of an earlier code")
            }
        }
    }

    static func == (a: IdDictionary, b: IdDictionary) -> Bool { a.arena == b.arena && a.ends == b.ends }
}

/// One application's id dictionaries, one per `IdField`, behind their own lock: ingest looks
/// values up before it takes the store lock (one short critical section per batch here), and
/// assigns codes to the misses under the store lock, so that codes are given in journal order.
final class IdDictionaries: Sendable {
    let fields = Locked([IdDictionary](repeating: IdDictionary(), count: IdField.allCases.count))

    init() {}

    init(_ dictionaries: [IdDictionary]) {
        fields.withLock { $0 = dictionaries }
    }

    /// The codes each field has.
    var counts: [Int] { fields.withLock { $0.map(\.count) } }
}

/// An application's id dictionaries as of one query snapshot: a code at or past `limits` (given
/// after the snapshot) counts as none, so every source of one query agrees on which values have
/// codes (a value has one code, for ever, or none yet).
struct IdCodeSnapshot: Sendable {
    let dictionaries: IdDictionaries
    let limits: [Int]
    /// Anonymous id → the user it was identified as (the first alias wins), as of the snapshot.
    let aliases: [String: String]

    init(_ dictionaries: IdDictionaries, aliases: [String: String] = [:]) {
        self.dictionaries = dictionaries
        limits = dictionaries.counts
        self.aliases = aliases
    }

    /// The id field a query column name names, if it is one.
    static func field(ofColumn name: String) -> IdField? {
        FixedField(name: name).flatMap(IdField.init)
    }

    /// The code of each value, `UInt32.max` where it has none (as of the snapshot).
    /// - Complexity: one XXH3 and one probe per value, in one critical section.
    func codes(_ field: IdField, of values: [String]) -> [UInt32] {
        let limit = limits[field.rawValue]
        return dictionaries.fields.withLock { d in
            values.map { v in
                guard let c = d[field.rawValue].code(of: v), Int(c) < limit else { return UInt32.max }
                return c
            }
        }
    }
}
