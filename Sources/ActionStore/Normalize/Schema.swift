/// One application's metadata schema.
///
/// Moesif's rule: the first type seen for a key fixes it, whatever its depth. `keyTypes` binds key
/// names (the last component of a path); `pathTypes` lists every leaf and object path seen, which
/// is what queries type-check against and what the path limit counts.
public struct Schema: Sendable, Hashable {
    public private(set) var keyTypes: [String: FieldType] = [:]
    public private(set) var pathTypes: [String: FieldType] = [:]

    public init() {}

    /// Applies additions (from the journal, the manifest, or a committed batch).
    public mutating func apply(_ delta: SchemaDelta) {
        for k in delta.keys { keyTypes[k.name] = k.type }
        for p in delta.paths { pathTypes[p.name] = p.type }
    }

    /// Everything in this schema as one delta, in a stable order.
    public var asDelta: SchemaDelta {
        SchemaDelta(
            keys: keyTypes.sorted { $0.key < $1.key }.map { .init(name: $0.key, type: $0.value) },
            paths: pathTypes.sorted { $0.key < $1.key }.map { .init(name: $0.key, type: $0.value) }
        )
    }

    /// The type of a metadata path (relative to `metadata`), if the application has seen it.
    public func type(ofPath path: String) -> FieldType? { pathTypes[path] }
}
