/// Additions to one application's schema, journaled before the actions that use them.
public struct SchemaDelta: Sendable, Hashable {
    /// Metadata key names (the last component of a path, at any depth) newly fixed to a type.
    public var keys: [KeyType]
    /// Metadata paths (relative to `metadata`) newly seen, with their type.
    public var paths: [KeyType]

    public init(keys: [KeyType] = [], paths: [KeyType] = []) {
        self.keys = keys
        self.paths = paths
    }

    public var isEmpty: Bool { keys.isEmpty && paths.isEmpty }

    /// A name with the type fixed for it.
    public struct KeyType: Sendable, Hashable {
        public var name: String
        public var type: FieldType
        public init(name: String, type: FieldType) {
            self.name = name
            self.type = type
        }
    }
}
