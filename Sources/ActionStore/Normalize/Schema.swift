/// One application's metadata schema.
///
/// Moesif's rule: the first type seen for a key fixes it, whatever its depth. `keyTypes` binds key
/// names (the last component of a path); `pathTypes` lists every leaf and object path seen, which
/// is what queries type-check against and what the path limit counts.
///
/// Names are byte strings, as everywhere in the engine: NFC and NFD spellings of one key are two
/// keys.
public struct Schema: Sendable, Hashable {
    private(set) var keys: [UTF8Key: FieldType] = [:]
    private(set) var paths: [UTF8Key: FieldType] = [:]

    public init() {}

    /// Key name → type.
    public var keyTypes: [String: FieldType] {
        Dictionary(keys.map { ($0.key.s, $0.value) }, uniquingKeysWith: { first, _ in first })
    }

    /// Path → type, leaves and objects.
    public var pathTypes: [String: FieldType] {
        Dictionary(paths.map { ($0.key.s, $0.value) }, uniquingKeysWith: { first, _ in first })
    }

    /// The number of distinct paths (the quantity `pathsPerApplicationMax` bounds).
    public var pathCount: Int { paths.count }

    /// Applies additions (from the journal, the manifest, or a committed batch).
    public mutating func apply(_ delta: SchemaDelta) {
        for k in delta.keys { keys[UTF8Key(s: k.name)] = k.type }
        for p in delta.paths { paths[UTF8Key(s: p.name)] = p.type }
    }

    /// Everything in this schema as one delta, in byte order.
    public var asDelta: SchemaDelta {
        SchemaDelta(
            keys: keys.sorted { utf8Less($0.key.s, $1.key.s) }.map { .init(name: $0.key.s, type: $0.value) },
            paths: paths.sorted { utf8Less($0.key.s, $1.key.s) }.map { .init(name: $0.key.s, type: $0.value) }
        )
    }

    /// The type of a metadata path (relative to `metadata`), if the application has seen it.
    public func type(ofPath path: String) -> FieldType? { paths[UTF8Key(s: path)] }

    /// The type fixed for a key name, if any.
    public func type(ofKey key: String) -> FieldType? { keys[UTF8Key(s: key)] }
}
