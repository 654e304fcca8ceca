import Dispatch

extension Store.State {
    /// Adds the rows of one application's chunks to their memtables.
    ///
    /// - Parameter parts: chunks already split by partition (`ColumnChunk.partitioned(by:)`,
    ///   done outside the lock).
    /// - Returns: true when a memtable reached `rowsMax`.
    /// - Complexity: O(chunks), plus the rows of chunks small enough to join a memtable's tail.
    mutating func insert(
        _ parts: [(partition: String, chunk: ColumnChunk)],
        application: String,
        now: UInt64,
        rowsMax: Int
    ) -> Bool {
        var full = false
        for (partition, chunk) in parts {
            let key = Store.MemKey(application: application, partition: partition)
            var table = memtables.removeValue(forKey: key) ?? Memtable(application: application, partition: partition)
            let before = table.memoryBytes
            table.append(chunk, now: now)
            memtableBytes += table.memoryBytes - before
            if table.rowCount >= rowsMax { full = true }
            memtables[key] = table
        }
        return full
    }
}

extension Store {
    /// Replays the journal into the memtables.
    ///
    /// Records are read in order, decoded on every core in groups of up to `chunkBytes` straight
    /// into column chunks (and split by partition), then applied in journal order. Records of
    /// batch payload version 1 (the release before the columnar journal) are decoded to actions
    /// and turned into chunks.
    static func replay(
        _ reader: JournalReader,
        from start: JournalPosition,
        skipDamaged: Bool,
        into st: inout State,
        dictionaries: inout [String: IdDictionaries],
        partitioning: Partitioning,
        chunkBytes: Int = 32 << 20
    ) throws -> JournalReader.ReplayResult {
        typealias Decoded = (batch: ColumnBatch, parts: [(partition: String, chunk: ColumnChunk)])
        var pending: [(payload: [UInt8], position: JournalPosition, type: RecordType)] = []
        var pendingBytes = 0
        let now = DispatchTime.now().uptimeNanoseconds
        func drain(_ st: inout State) throws {
            guard !pending.isEmpty else { return }
            let decoded = ParallelResults<Result<Decoded, ActionStoreError>?>(count: pending.count)
            let items = pending
            let workers = min(System.coreCount, items.count)
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                var i = w
                while i < items.count {
                    // Profile records are applied as they are, in order, below.
                    guard items[i].type == .batch else {
                        decoded.set(i, nil)
                        i += workers
                        continue
                    }
                    decoded.set(
                        i,
                        Result { () throws(ActionStoreError) in
                            do {
                                let batch = try decodeBatch(items[i].payload)
                                return (batch, batch.chunk.partitioned(by: partitioning))
                            } catch {
                                throw ActionStoreError(.corruption, "journal record at \(items[i].position): \(error)")
                            }
                        }
                    )
                    i += workers
                }
            }
            for (i, r) in decoded.take().enumerated() {
                guard let r else {
                    do {
                        try items[i].payload.withUnsafeBytes { try replayProfiles($0, into: &st) }
                    } catch {
                        throw ActionStoreError(.corruption, "journal record at \(items[i].position): \(error)")
                    }
                    continue
                }
                let (batch, parts) = try r.get()
                if !batch.schemaDelta.isEmpty {
                    st.schemas[batch.application, default: Schema()].apply(batch.schemaDelta)
                }
                let dicts = dictionaries[batch.application] ?? IdDictionaries()
                dictionaries[batch.application] = dicts
                try dicts.replay(batch, what: "journal record at \(items[i].position)")
                let c = batch.chunk
                if c.fixed[FixedField.anonymousId.rawValue].count > 0 {
                    let pairs = aliasRows(fixed: c.fixed, arena: c.arena)
                    if !pairs.isEmpty {
                        var p = st.profiles.removeValue(forKey: batch.application) ?? ApplicationProfiles()
                        for (_, anon, user) in pairs { p.alias(anon, to: user) }
                        st.profiles[batch.application] = p
                        st.profilesChanged.insert(batch.application)
                    }
                }
                _ = st.insert(parts, application: batch.application, now: now, rowsMax: .max)
            }
            pending.removeAll(keepingCapacity: true)
            pendingBytes = 0
        }
        let result = try reader.replay(from: start, skipDamaged: skipDamaged) { type, payload, position in
            guard type == .batch || type == ProfileRecordCodec.recordType else { return }
            pending.append((Array(payload.assumingMemoryBound(to: UInt8.self)), position, type))
            pendingBytes += payload.count
            if pendingBytes >= chunkBytes { try drain(&st) }
        }
        try drain(&st)
        return result
    }

    /// A batch record's payload of either version.
    static func decodeBatch(_ payload: [UInt8]) throws -> ColumnBatch {
        if payload.first == ColumnBatchCodec.version || payload.first == ColumnBatchCodec.version2 {
            return try ColumnBatchCodec.decode(payload)
        }
        let old = try BatchCodec.decode(payload)
        guard let chunk = ColumnChunk(old.actions) else {
            throw ActionStoreError(.corruption, "a metadata path holds values of two types in one batch")
        }
        return ColumnBatch(application: old.application, schemaDelta: old.schemaDelta, chunk: chunk)
    }
}
