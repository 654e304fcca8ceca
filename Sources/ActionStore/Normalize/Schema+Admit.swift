/// What to do with an action that breaks its application's schema.
public enum SchemaConflictPolicy: Sendable, Hashable {
    /// Reject the whole action with a `schemaConflict` error (the default).
    case reject
    /// Store the action without the conflicting fields (and everything under a conflicting object);
    /// the outcome lists each dropped field.
    case dropConflictingFields
}

extension Schema {
    /// Checks one action against this schema, and on success adds the keys and paths it introduces
    /// to the schema and to `delta`.
    ///
    /// - Parameters:
    ///   - normalized: the action; with `.dropConflictingFields` its conflicting leaves are removed.
    ///   - application: named in errors.
    ///   - index: the action's index in its batch, named in errors.
    ///   - pathsMax: the most distinct paths the application may have.
    /// - Returns: the dropped paths (empty under `.reject`), or the error that rejects the action.
    /// - Complexity: O(paths of the action); one dictionary look-up per path already known.
    public mutating func admit(
        _ normalized: inout NormalizedAction,
        application: String,
        index: Int,
        policy: SchemaConflictPolicy,
        pathsMax: Int,
        delta: inout SchemaDelta
    ) -> Result<[String], ActionStoreError> {
        var newKeys: [UTF8Key: FieldType] = [:]
        var newPaths: [UTF8Key: FieldType] = [:]
        var newKeyOrder: [String] = []
        var newPathOrder: [String] = []
        var dropped: [String] = []
        // `p` is `prefix` or lies under it, by bytes.
        func isUnder(_ p: String, _ prefix: String) -> Bool {
            let a = p.utf8
            let b = prefix.utf8
            guard a.starts(with: b) else { return false }
            return a.count == b.count || a[a.index(a.startIndex, offsetBy: b.count)] == 0x2E
        }

        for use in normalized.pathUses {
            if !dropped.isEmpty, dropped.contains(where: { isUnder(use.path, $0) && !utf8Equal(use.path, $0) }) {
                continue
            }
            let pathKey = UTF8Key(s: use.path)
            if let known = paths[pathKey] ?? newPaths[pathKey] {
                if known == use.type { continue }
                let e = conflict(application, index, use.path, key(of: use.path), known, use.type)
                if policy == .reject { return .failure(e) }
                dropped.append(use.path)
                continue
            }
            let k = key(of: use.path)
            let keyKey = UTF8Key(s: k)
            if let fixed = keys[keyKey] ?? newKeys[keyKey], fixed != use.type {
                let e = conflict(application, index, use.path, k, fixed, use.type)
                if policy == .reject { return .failure(e) }
                dropped.append(use.path)
                continue
            }
            if paths.count + newPaths.count >= pathsMax {
                return .failure(
                    ActionStoreError(
                        .limitExceeded,
                        "application \"\(application)\", action \(index): metadata.\(use.path) would be path "
                            + "\(pathsMax + 1); the limit is \(pathsMax) distinct paths per application"
                    )
                )
            }
            if keys[keyKey] == nil && newKeys[keyKey] == nil {
                newKeys[keyKey] = use.type
                newKeyOrder.append(k)
            }
            newPaths[pathKey] = use.type
            newPathOrder.append(use.path)
        }
        if !dropped.isEmpty {
            normalized.action.metadata.removeAll { field in dropped.contains { isUnder(field.path, $0) } }
            normalized.pathUses.removeAll { use in dropped.contains { isUnder(use.path, $0) } }
        }
        var added = SchemaDelta()
        for k in newKeyOrder { added.keys.append(.init(name: k, type: newKeys[UTF8Key(s: k)]!)) }
        for p in newPathOrder { added.paths.append(.init(name: p, type: newPaths[UTF8Key(s: p)]!)) }
        if !added.isEmpty {
            apply(added)
            delta.keys += added.keys
            delta.paths += added.paths
        }
        return .success(dropped.map { "metadata." + $0 })
    }

    private func key(of path: String) -> String {
        guard let dot = path.utf8.lastIndex(of: 0x2E) else { return path }
        return String(path[path.utf8.index(after: dot)...])
    }

    private func conflict(
        _ app: String,
        _ index: Int,
        _ path: String,
        _ key: String,
        _ established: FieldType,
        _ received: FieldType
    ) -> ActionStoreError {
        ActionStoreError(
            .schemaConflict,
            "application \"\(app)\", action \(index): metadata.\(path): key \"\(key)\" is established as "
                + "\(established), received \(received)"
        )
    }
}
