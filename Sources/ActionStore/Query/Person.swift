/// Who did an action, as funnels, retention and journeys count people: the one place that rule lives.
///
/// A person is the action's `user_id`; else the user its `anonymous_id` was identified as (an
/// alias: `identifyUser` with the visitor's anonymous id, or an action carrying both; the first
/// wins; `IdCodeSnapshot.aliases`); else its `anonymous_id`. Actions with neither have no person
/// and are left out. An alias that arrives later changes answers from then on: it is resolved
/// here, at query time, with no rewrite of segments.
///
/// A person key is a `UInt64`, compared as an integer in every source of one query:
/// - a value with an app-wide code (`IdDictionary`, as of the query's `IdCodeSnapshot`) is
///   `(field + 1) << 32 | code`: the top bit clear, never 0;
/// - a value without one (rows stored before codes, sources without codes) is 63 bits of the
///   XXH3-128 of its bytes, seeded by the field, with the top bit set. Whether a value has a code
///   is the same in every source of a query, so one person never gets two keys. Two distinct
///   uncoded values share a key with probability about n²/2^64 (5e-8 at a million people).
/// - 0 is "no person".
struct PersonKeys: Sendable {
    static let none: UInt64 = 0

    /// The key of an id value with an app-wide code.
    @inline(__always) static func key(_ field: IdField, code: UInt32) -> UInt64 {
        UInt64(field.rawValue + 1) << 32 | UInt64(code)
    }

    /// The key of an id value without an app-wide code.
    static func key(_ field: IdField, value: String) -> UInt64 {
        let h = DistinctKey.hash(value, seed: 0x7065_7273_6f6e_00 + UInt64(field.rawValue))
        return UInt64(truncatingIfNeeded: h) | 1 << 63
    }

    /// The key of each entry of a source's id column dictionary; an aliased anonymous id gets
    /// its user's key (the one the user's own actions get).
    static func entryKeys(_ field: IdField, _ source: any ScanSource, _ dictionary: [String]) -> [UInt64] {
        let app = source.appCodes(column: field.fixed.name, dictionary: dictionary)
        var keys = dictionary.indices.map { i in
            if let app, app[i] != UInt32.max { return key(field, code: app[i]) }
            return key(field, value: dictionary[i])
        }
        if field == .anonymousId, let ids = idSnapshot(of: source), !ids.aliases.isEmpty {
            let aliased = dictionary.indices.compactMap { i in ids.aliases[dictionary[i]].map { (i, $0) } }
            if !aliased.isEmpty {
                let codes = ids.codes(.userId, of: aliased.map(\.1))
                for (k, (i, user)) in aliased.enumerated() {
                    keys[i] = codes[k] != UInt32.max ? key(.userId, code: codes[k]) : key(.userId, value: user)
                }
            }
        }
        return keys
    }

    /// The person key of each of `rows` (indexes into the scan's source), ``none`` for a row with
    /// neither `user_id` nor `anonymous_id`.
    /// - Complexity: one key per dictionary entry, then one table lookup per row.
    static func keys(_ scan: inout SourceScan, rows: [UInt32]) throws -> [UInt64] {
        var out = [UInt64](repeating: none, count: rows.count)
        // anonymous_id first, then user_id over it: user_id wins where both are present.
        for field in [IdField.anonymousId, .userId] {
            guard case .strings(let d, let codes, let present)? = try scan.column(field.fixed.name, .string) else {
                continue
            }
            let keys = entryKeys(field, scan.source, d)
            for (i, r) in rows.enumerated() where present?[Int(r)] ?? true {
                out[i] = keys[Int(codes[Int(r)])]
            }
        }
        return out
    }

    /// The actions of the person named `id`: its `user_id`, or, on actions without a `user_id`,
    /// an `anonymous_id` aliased to it or equal to it when not aliased to anyone (the same rule as
    /// ``keys(_:rows:)``).
    static func predicate(person id: String, aliases: [String: String] = [:]) -> Predicate {
        var anonymous: [Predicate] = aliases.filter { $0.value == id }.keys.sorted().map {
            .compare(.eq, .fixed(.anonymousId), .string($0))
        }
        if aliases[id] == nil { anonymous.append(.compare(.eq, .fixed(.anonymousId), .string(id))) }
        return .or([
            .compare(.eq, .fixed(.userId), .string(id)),
            .and([.not(.exists(.fixed(.userId))), .or(anonymous)]),
        ])
    }
}
