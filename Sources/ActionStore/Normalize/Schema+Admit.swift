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
        var newKeys: [String: FieldType] = [:]
        var newPaths: [String: FieldType] = [:]
        var newKeyOrder: [String] = []
        var newPathOrder: [String] = []
        var dropped: [String] = []

        for use in normalized.pathUses {
            if !dropped.isEmpty, dropped.contains(where: { use.path.hasPrefix($0 + ".") }) { continue }
            if let known = pathTypes[use.path] ?? newPaths[use.path] {
                if known == use.type { continue }
                let e = conflict(application, index, use.path, key(of: use.path), known, use.type)
                if policy == .reject { return .failure(e) }
                dropped.append(use.path)
                continue
            }
            let k = key(of: use.path)
            if let fixed = keyTypes[k] ?? newKeys[k], fixed != use.type {
                let e = conflict(application, index, use.path, k, fixed, use.type)
                if policy == .reject { return .failure(e) }
                dropped.append(use.path)
                continue
            }
            if pathTypes.count + newPaths.count >= pathsMax {
                return .failure(
                    ActionStoreError(
                        .limitExceeded,
                        "application \"\(application)\", action \(index): metadata.\(use.path) would be path "
                            + "\(pathsMax + 1); the limit is \(pathsMax) distinct paths per application"
                    )
                )
            }
            if keyTypes[k] == nil && newKeys[k] == nil {
                newKeys[k] = use.type
                newKeyOrder.append(k)
            }
            newPaths[use.path] = use.type
            newPathOrder.append(use.path)
        }
        if !dropped.isEmpty {
            normalized.action.metadata.removeAll { field in
                dropped.contains { field.path == $0 || field.path.hasPrefix($0 + ".") }
            }
            normalized.pathUses.removeAll { use in
                dropped.contains { use.path == $0 || use.path.hasPrefix($0 + ".") }
            }
        }
        var added = SchemaDelta()
        for k in newKeyOrder { added.keys.append(.init(name: k, type: newKeys[k]!)) }
        for p in newPathOrder { added.paths.append(.init(name: p, type: newPaths[p]!)) }
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
