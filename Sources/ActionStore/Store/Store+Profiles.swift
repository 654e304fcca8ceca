/// Users and companies (`Profiles/Profiles.swift`) in the store: journaled as records of type 3,
/// applied under the store lock in journal order, checkpointed by flushes
/// (`profiles/<app folder>-<N>.profiles`, named by the manifest).
extension Store {
    /// Merges the user or company profiles of one JSON document (an object or an array of them)
    /// and returns once the accepted ones are durable under the journal policy.
    /// - Returns: an outcome per profile (`.rejected` naming what is wrong).
    /// - Throws: `.invalidJSON` naming the byte offset; `.io` or `.closed` when nothing could be
    ///   made durable.
    public func updateProfiles(application: String, kind: ProfileKind, json: [UInt8]) async throws -> AppendResult {
        let (result, ticket) = try commitProfiles(application: application, kind: kind, json: json)
        if let ticket { try await journal.durable(ticket) }
        return result
    }

    /// `updateProfiles` blocking the calling thread (tools, tests).
    public func updateProfiles(application: String, kind: ProfileKind, json: [UInt8]) throws -> AppendResult {
        let (result, ticket) = try commitProfiles(application: application, kind: kind, json: json)
        if let ticket { try journal.waitDurable(ticket) }
        return result
    }

    /// The current fields of one profile (`metadata.plan`, `email`, …), nil if none.
    public func profile(application: String, kind: ProfileKind, id: String) -> [String: Value]? {
        state.withLock { s in
            let p = s.profiles[application]
            return (kind == .user ? p?.users[id] : p?.companies[id])?.fields.mapValues(\.value)
        }
    }

    /// The user an anonymous visitor was identified as, if any (the first alias wins).
    public func aliasedUser(application: String, anonymousId: String) -> String? {
        state.withLock { $0.profiles[application]?.aliases[anonymousId] }
    }

    func commitProfiles(
        application: String,
        kind: ProfileKind,
        json: [UInt8]
    ) throws -> (AppendResult, JournalWriter.Ticket?) {
        guard !application.isEmpty else {
            throw ActionStoreError(.invalidAction, "the application id is empty")
        }
        let objects = try json.withUnsafeBytes { try ProfileParser.objects($0) }
        var parsed: [Result<ProfileUpdate, ActionStoreError>] = []
        for (i, o) in objects.enumerated() {
            parsed.append(
                Result { () throws(ActionStoreError) in try ProfileParser.parse(o.node, kind: kind, index: i) }
            )
        }
        return try state.withLock { s in
            if let e = s.backgroundError {
                throw ActionStoreError(.closed, "writes are stopped after a background failure: \(e.message)")
            }
            if s.closed { throw ActionStoreError(.closed, "the store at \(directory) is closed") }
            // A copy: installed only once the record is enqueued.
            var profiles = s.profiles[application] ?? ApplicationProfiles()
            var outcomes: [ActionOutcome] = []
            var kept: [[UInt8]] = []
            for (i, p) in parsed.enumerated() {
                do {
                    try profiles.apply(try p.get(), kind: kind)
                    outcomes.append(.accepted(droppedFields: []))
                    kept.append(objects[i].bytes)
                } catch let e as ActionStoreError {
                    outcomes.append(.rejected(e))
                }
            }
            guard !kept.isEmpty else { return (AppendResult(outcomes: outcomes), nil) }
            let payload = ProfileRecordCodec.encode(application: application, kind: kind, objects: kept)
            let ticket = try journal.enqueue(payload, type: ProfileRecordCodec.recordType)
            s.profiles[application] = profiles
            s.profilesChanged.insert(application)
            return (AppendResult(outcomes: outcomes), ticket)
        }
    }

    /// Replay of a profile record (journal order, on open).
    static func replayProfiles(_ payload: UnsafeRawBufferPointer, into st: inout State) throws {
        let (app, kind, objects) = try ProfileRecordCodec.decode(payload)
        var profiles = st.profiles[app] ?? ApplicationProfiles()
        for (i, bytes) in objects.enumerated() {
            let node = try bytes.withUnsafeBufferPointer { buf in
                var r = JSONReader(buf)
                return try JSONNode.read(&r, depth: 0)
            }
            // Accepted when it was journaled; a conflict now would mean the state diverged.
            try profiles.apply(try ProfileParser.parse(node, kind: kind, index: i), kind: kind)
        }
        st.profiles[app] = profiles
        // Not in a checkpoint yet: the next flush writes one.
        st.profilesChanged.insert(app)
    }

    /// The rows of actions that carry both ids (`anonymous_id` and `user_id`), with the two, in
    /// row order: each identifies its visitor.
    static func aliasRows(fixed: [ColumnChunk.Column], arena: [UInt8]) -> [(row: Int, anonymous: String, user: String)]
    {
        let anon = fixed[FixedField.anonymousId.rawValue]
        let user = fixed[FixedField.userId.rawValue]
        guard anon.count > 0, user.count > 0 else { return [] }
        var out: [(row: Int, anonymous: String, user: String)] = []
        var j = 0
        for (i, r) in anon.rows.enumerated() {
            while j < user.count, user.rows[j] < r { j += 1 }
            guard j < user.count, user.rows[j] == r else { continue }
            func text(_ s: UInt64) -> String {
                let o = Int(s >> 32)
                return String(decoding: arena[o..<o + Int(s & 0xFFFF_FFFF)], as: UTF8.self)
            }
            out.append((Int(r), text(anon.slots[i]), text(user.slots[j])))
        }
        return out
    }

    /// Loads each application's profile checkpoint the manifest names.
    static func loadProfiles(
        _ files: StoreFiles,
        manifest: Manifest
    ) throws(ActionStoreError) -> [String:
        ApplicationProfiles]
    {
        var out: [String: ApplicationProfiles] = [:]
        for (app, entry) in manifest.applications {
            guard let n = entry.profilesCheckpoint else { continue }
            let path = files.profiles(application: app, checkpoint: n)
            do {
                out[app] = try ProfileCheckpoint.decode(try FileSystem.readFile(path), path: path)
            } catch let e as ActionStoreError {
                throw e
            } catch {
                throw ActionStoreError(.corruption, "\(path): \(error)")
            }
        }
        return out
    }

    /// Writes the checkpoint of each application in `changed` (its state as of the journal roll
    /// to file `checkpoint`), before the manifest edit that names it.
    func checkpointProfiles(
        _ snapshot: [String: ApplicationProfiles],
        changed: Set<String>,
        checkpoint: UInt64
    ) throws(ActionStoreError) -> [String: UInt64] {
        var out: [String: UInt64] = [:]
        guard !changed.isEmpty else { return out }
        try FileSystem.makeDirectoryDurably(files.profilesDirectory, io: options.fileIO)
        for app in changed.sorted() {
            guard let p = snapshot[app] else { continue }
            try FileSystem.writeAtomically(
                ProfileCheckpoint.encode(p),
                to: files.profiles(application: app, checkpoint: checkpoint),
                io: options.fileIO
            )
            out[app] = checkpoint
        }
        return out
    }
}
