import CXXHash

/// Users and companies, as Moesif's `POST /v1/users` and `/v1/companies` send them (issue 16).
///
/// A profile is keyed by its `user_id` or `company_id`. Its fields (the named top-level fields,
/// `metadata.<path>` and `campaign.<path>`, flattened as actions' metadata is: dots in keys become
/// underscores, nulls are dropped, arrays are kept as compact JSON text) merge path by path: a
/// field takes the incoming value when the update has no `modified_time` (arrival order) or its
/// `modified_time` is at or after the one that set the field. Key names keep their first type per
/// application within users and within companies (Moesif's rule); an update that breaks it is
/// rejected whole, naming the key.
///
/// Profiles are not on a hot path (a visitor is identified once per session), so updates are
/// read into a small tree (`JSONNode`, with the engine's `JSONReader`) and kept as Swift values.
public enum ProfileKind: UInt8, Sendable, Hashable {
    case user = 1
    case company = 2

    var keyField: String { self == .user ? "user_id" : "company_id" }
    var name: String { self == .user ? "user" : "company" }
}

/// One field of a profile: its value and the `modified_time` of the update that set it.
struct ProfileField: Sendable, Equatable {
    var value: Value
    var modified: Int64?
}

/// A profile's current state.
struct ProfileState: Sendable, Equatable {
    /// Path (`metadata.plan`, `campaign.utm_source`, `email`, `company_id`, …) → field.
    var fields: [String: ProfileField] = [:]
}

/// One parsed update (a profile object of a request).
struct ProfileUpdate: Sendable {
    var key: String
    var modified: Int64?
    /// Path → value, flattened.
    var fields: [(String, Value)]
    /// Key name → type, for the first-type rule.
    var keyTypes: [(String, FieldType)]
    /// `anonymous_id` of a user update: the visitor it identifies.
    var anonymousId: String?
}

/// A JSON value as a tree (profiles only; actions never build one).
indirect enum JSONNode: Sendable {
    case object([(String, JSONNode)])
    /// An array, as its compact JSON text.
    case array(String)
    case string(String)
    case number(Value)
    case bool(Bool)
    case null

    /// Reads one value.
    static func read(_ r: inout JSONReader, depth: Int) throws(ActionStoreError) -> JSONNode {
        guard let c = r.peek() else { throw r.error("unexpected end of input, expected a value") }
        switch c {
        case 0x7B:
            guard depth + 1 <= r.depthMax else { throw r.error("nesting deeper than \(r.depthMax)") }
            var members: [(String, JSONNode)] = []
            if try r.beginObject() {
                var key: [UInt8] = []
                repeat {
                    try r.readKey(into: &key)
                    let k = String(decoding: key, as: UTF8.self)
                    members.append((k, try read(&r, depth: depth + 1)))
                } while try r.nextMember()
            }
            return .object(members)
        case 0x5B:
            var out: [UInt8]? = []
            try r.copyValue(depth: depth, into: &out)
            return .array(String(decoding: out!, as: UTF8.self))
        case 0x22: return .string(try r.readString())
        case 0x74, 0x66, 0x6E: return try r.readLiteral().map { .bool($0) } ?? .null
        default: return .number(try r.readNumber())
        }
    }
}

enum ProfileParser {
    /// The fields of a user or company object that are flattened under their own name.
    static let nested: Set<String> = ["metadata", "campaign"]

    /// The profile objects of a document (one object, or an array of them), each as its compact
    /// JSON (what the journal keeps) and its tree.
    /// - Throws: `.invalidJSON` naming the byte offset.
    static func objects(_ json: UnsafeRawBufferPointer) throws -> [(bytes: [UInt8], node: JSONNode)] {
        var r = JSONReader(json.assumingMemoryBound(to: UInt8.self))
        var compact: [[UInt8]] = []
        r.skipWhitespace()
        if r.peek() == 0x5B {
            if try r.beginArray() {
                repeat {
                    var out: [UInt8]? = []
                    try r.copyValue(depth: 1, into: &out)
                    compact.append(out!)
                } while try r.nextElement()
            }
        } else {
            var out: [UInt8]? = []
            try r.copyValue(depth: 0, into: &out)
            compact.append(out!)
        }
        try r.expectEnd()
        return try compact.map { bytes in
            try bytes.withUnsafeBufferPointer { buf in
                var inner = JSONReader(buf)
                return (bytes, try JSONNode.read(&inner, depth: 0))
            }
        }
    }

    /// One profile object.
    /// - Throws: `.invalidAction` naming what is missing or of the wrong type.
    static func parse(_ node: JSONNode, kind: ProfileKind, index: Int) throws(ActionStoreError) -> ProfileUpdate {
        guard case .object(let members) = node else {
            throw ActionStoreError(.invalidAction, "\(kind.name) \(index): not a JSON object")
        }
        var o: [String: JSONNode] = [:]
        for (k, v) in members { o[k] = v }  // a key given twice: the last wins, as for actions
        guard case .string(let key)? = o[kind.keyField], !key.isEmpty else {
            throw ActionStoreError(
                .invalidAction,
                "\(kind.name) \(index): \(kind.keyField) is required (a non-empty string)"
            )
        }
        var update = ProfileUpdate(key: key, modified: nil, fields: [], keyTypes: [])
        if let m = o["modified_time"] {
            if case .null = m {
            } else {
                guard case .string(let s) = m, let t = Timestamp.parse(s) else {
                    throw ActionStoreError(
                        .invalidAction,
                        "\(kind.name) \(index): modified_time must be an ISO 8601 time string"
                    )
                }
                update.modified = t
            }
        }
        if kind == .user, case .string(let a)? = o["anonymous_id"], !a.isEmpty { update.anonymousId = a }
        for (k, v) in o.sorted(by: { utf8Less($0.key, $1.key) }) where k != kind.keyField && k != "modified_time" {
            let name = k.replacingOccurrences(of: ".", with: "_")
            if nested.contains(k) {
                if case .null = v { continue }
                guard case .object(let inner) = v else {
                    throw ActionStoreError(.invalidAction, "\(kind.name) \(index): \(k) must be an object")
                }
                flatten(inner, prefix: name, into: &update)
            } else {
                leaf(v, path: name, key: name, into: &update)
            }
        }
        return update
    }

    private static func flatten(_ members: [(String, JSONNode)], prefix: String, into u: inout ProfileUpdate) {
        for (k, v) in members {
            let name = k.replacingOccurrences(of: ".", with: "_")
            let path = prefix + "." + name
            if case .object(let inner) = v {
                u.keyTypes.append((name, .object))
                flatten(inner, prefix: path, into: &u)
            } else {
                leaf(v, path: path, key: name, into: &u)
            }
        }
    }

    private static func leaf(_ v: JSONNode, path: String, key: String, into u: inout ProfileUpdate) {
        let value: Value
        let type: FieldType
        switch v {
        case .null: return
        case .string(let s): (value, type) = (.string(s), .string)
        case .number(let n): (value, type) = (n, .number)
        case .bool(let b): (value, type) = (.bool(b), .boolean)
        case .array(let text): (value, type) = (.array(text), .array)
        case .object(let inner):
            u.keyTypes.append((key, .object))
            flatten(inner, prefix: path, into: &u)
            return
        }
        u.keyTypes.append((key, type))
        u.fields.removeAll { $0.0 == path }
        u.fields.append((path, value))
    }
}

/// The profiles of one application, and its aliases (anonymous visitor → user).
struct ApplicationProfiles: Sendable, Equatable {
    var users: [String: ProfileState] = [:]
    var companies: [String: ProfileState] = [:]
    /// Key name → type, per kind (the first type seen wins).
    var userKeyTypes: [String: FieldType] = [:]
    var companyKeyTypes: [String: FieldType] = [:]
    /// Anonymous id → user id: the first alias of an anonymous id wins.
    var aliases: [String: String] = [:]
    /// Later aliases of an already aliased anonymous id (counted, ignored).
    var aliasConflicts = 0

    /// Applies an update.
    /// - Throws: `.schemaConflict` when a key's type differs from its first one (nothing changes).
    mutating func apply(_ u: ProfileUpdate, kind: ProfileKind) throws {
        var types = kind == .user ? userKeyTypes : companyKeyTypes
        for (k, t) in u.keyTypes {
            if let known = types[k], known != t {
                throw ActionStoreError(
                    .schemaConflict,
                    "\(kind.name) \(u.key): key \(k) is \(t), but this application's \(kind.name)s have it as \(known)"
                )
            }
            types[k] = t
        }
        if kind == .user { userKeyTypes = types } else { companyKeyTypes = types }
        var state = (kind == .user ? users[u.key] : companies[u.key]) ?? ProfileState()
        for (path, value) in u.fields {
            if let m = u.modified, let old = state.fields[path]?.modified, m < old { continue }
            state.fields[path] = ProfileField(value: value, modified: u.modified)
        }
        if kind == .user { users[u.key] = state } else { companies[u.key] = state }
        if let a = u.anonymousId { alias(a, to: u.key) }
    }

    /// Records `anonymous` as `user`'s visitor, unless it already is someone's.
    mutating func alias(_ anonymous: String, to user: String) {
        if let known = aliases[anonymous] {
            if known != user { aliasConflicts += 1 }
            return
        }
        aliases[anonymous] = user
    }

    var isEmpty: Bool { users.isEmpty && companies.isEmpty && aliases.isEmpty }
}

// MARK: - Bytes (journal records and checkpoints)

/// The journal's profile record (type 3; docs/journal-format.md, "Profile payload"): the updates
/// of one request, as the compact JSON of each accepted object, replayed through the parser.
///
///     profiles := version u8 (1) application:str kind:u8 count:varint object:str*
enum ProfileRecordCodec {
    static let version: UInt8 = 1
    static let recordType = RecordType(rawValue: 3)!

    static func encode(application: String, kind: ProfileKind, objects: [[UInt8]]) -> [UInt8] {
        var w = ByteWriter(capacity: 32 + objects.reduce(0) { $0 + $1.count + 4 })
        w.u8(version)
        w.string(application)
        w.u8(kind.rawValue)
        w.varint(objects.count)
        for o in objects {
            w.varint(o.count)
            w.append(o)
        }
        return w.bytes
    }

    static func decode(
        _ bytes: UnsafeRawBufferPointer
    ) throws -> (application: String, kind: ProfileKind, objects: [[UInt8]]) {
        var r = ByteReader(bytes) { "profile record" }
        let v = try r.u8()
        guard v == version else { throw r.fail("profile record version \(v) is not \(version)") }
        let app = try r.string()
        let k = try r.u8()
        guard let kind = ProfileKind(rawValue: k) else { throw r.fail("unknown profile kind \(k)") }
        let n = try r.count(max: r.remaining, "profile count")
        var objects: [[UInt8]] = []
        for _ in 0..<n {
            let len = try r.count(max: r.remaining, "profile length")
            objects.append(Array(try r.bytes(len)))
        }
        guard r.isAtEnd else { throw r.fail("\(r.remaining) bytes after the last profile") }
        return (app, kind, objects)
    }
}

/// An application's profile checkpoint (`profiles/<app folder>-<N>.profiles`, N the journal
/// checkpoint it was written for): the whole state, so the journal files below N can go.
///
///     file    := magic "ASPROFIL" version:u32 (1) body checksum:u64   XXH64 (seed 0) of all before
///     body    := kind × 2 (users, companies): types:typeMap count:varint profile*
///                aliasCount:varint (anonymous:str user:str)* aliasConflicts:varint
///     profile := key:str fieldCount:varint (path:str value modified)*
///     value   := tag u8 (1 string str | 2 int zigzag | 3 double u64 | 4 false | 5 true | 6 array str)
///     modified:= 0 | 1 time:i64
enum ProfileCheckpoint {
    static let magic: [UInt8] = Array("ASPROFIL".utf8)
    static let version: UInt32 = 1

    static func encode(_ p: ApplicationProfiles) -> [UInt8] {
        var w = ByteWriter(capacity: 1024)
        w.append(magic)
        w.u32(version)
        for (types, profiles) in [(p.userKeyTypes, p.users), (p.companyKeyTypes, p.companies)] {
            w.varint(types.count)
            for (k, t) in types.sorted(by: { $0.key < $1.key }) {
                w.string(k)
                w.u8(t.rawValue)
            }
            w.varint(profiles.count)
            for (key, state) in profiles.sorted(by: { $0.key < $1.key }) {
                w.string(key)
                w.varint(state.fields.count)
                for (path, f) in state.fields.sorted(by: { $0.key < $1.key }) {
                    w.string(path)
                    switch f.value {
                    case .string(let s):
                        w.u8(1)
                        w.string(s)
                    case .int(let i):
                        w.u8(2)
                        w.zigzag(i)
                    case .double(let d):
                        w.u8(3)
                        w.u64(d.bitPattern)
                    case .bool(let b): w.u8(b ? 5 : 4)
                    case .array(let s):
                        w.u8(6)
                        w.string(s)
                    }
                    if let m = f.modified {
                        w.u8(1)
                        w.i64(m)
                    } else {
                        w.u8(0)
                    }
                }
            }
        }
        w.varint(p.aliases.count)
        for (a, u) in p.aliases.sorted(by: { $0.key < $1.key }) {
            w.string(a)
            w.string(u)
        }
        w.varint(p.aliasConflicts)
        let sum = w.bytes.withUnsafeBytes { XXH64($0.baseAddress, $0.count, 0) }
        w.u64(sum)
        return w.bytes
    }

    /// - Throws: `.corruption` naming `path`, what is wrong and the offset.
    static func decode(_ bytes: [UInt8], path: String) throws -> ApplicationProfiles {
        guard bytes.count >= 20, bytes.starts(with: magic) else {
            throw ActionStoreError(.corruption, "\(path): not a profile checkpoint (bad magic at byte 0)")
        }
        return try bytes.withUnsafeBytes { raw in
            let end = raw.count - 8
            let stored = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: end, as: UInt64.self))
            guard Checksum.matches(stored, XXH64(raw.baseAddress, end, 0)) else {
                throw ActionStoreError(.corruption, "\(path): checksum mismatch at byte \(end)")
            }
            var r = ByteReader(UnsafeRawBufferPointer(rebasing: raw[..<end]), offset: 8) { path }
            let v = try r.u32()
            guard v == version else { throw r.fail("profile checkpoint version \(v) is not \(version)") }
            var p = ApplicationProfiles()
            for kind in [ProfileKind.user, .company] {
                var types: [String: FieldType] = [:]
                for _ in 0..<(try r.count(max: r.remaining, "key type count")) {
                    let k = try r.string()
                    let t = try r.u8()
                    guard let type = FieldType(rawValue: t) else { throw r.fail("unknown type \(t)") }
                    types[k] = type
                }
                var profiles: [String: ProfileState] = [:]
                for _ in 0..<(try r.count(max: r.remaining, "profile count")) {
                    let key = try r.string()
                    var state = ProfileState()
                    for _ in 0..<(try r.count(max: r.remaining, "field count")) {
                        let path = try r.string()
                        let tag = try r.u8()
                        let value: Value
                        switch tag {
                        case 1: value = .string(try r.string())
                        case 2: value = .int(try r.zigzag())
                        case 3: value = .double(Double(bitPattern: try r.u64()))
                        case 4: value = .bool(false)
                        case 5: value = .bool(true)
                        case 6: value = .array(try r.string())
                        default: throw r.fail("unknown value tag \(tag)")
                        }
                        let has = try r.u8()
                        guard has <= 1 else { throw r.fail("bad modified flag \(has)") }
                        state.fields[path] = ProfileField(value: value, modified: has == 1 ? try r.i64() : nil)
                    }
                    profiles[key] = state
                }
                if kind == .user {
                    p.userKeyTypes = types
                    p.users = profiles
                } else {
                    p.companyKeyTypes = types
                    p.companies = profiles
                }
            }
            for _ in 0..<(try r.count(max: r.remaining, "alias count")) {
                let a = try r.string()
                p.aliases[a] = try r.string()
            }
            p.aliasConflicts = try r.count(max: Int.max, "alias conflicts")
            guard r.isAtEnd else { throw r.fail("\(r.remaining) bytes after the aliases") }
            return p
        }
    }
}
