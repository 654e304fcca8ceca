import Dispatch

extension Store.State {
    /// Adds actions of one application to their partitions' memtables.
    ///
    /// - Parameters:
    ///   - encodedBytes: the size of the actions' journal encoding; memory is estimated from it
    ///     (decoded Swift values take about `memoryPerEncodedByte` times as much) instead of per
    ///     field, which showed up at 10% of replay time.
    /// - Returns: true when a memtable reached `rowsMax`.
    /// - Complexity: O(actions); the partition key is recomputed only when the time leaves the
    ///   current partition (actions of a batch mostly share one).
    mutating func insert(
        _ actions: [Action],
        application: String,
        partitioning: Partitioning,
        encodedBytes: Int,
        now: UInt64,
        rowsMax: Int
    ) -> Bool {
        var full = false
        var range: Range<Int64> = 0..<0
        var key = Store.MemKey(application: application, partition: "")
        var run: [Action] = []
        func commitRun(_ s: inout Store.State) {
            guard !run.isEmpty else { return }
            s.memtables[key, default: Memtable(application: application, partition: key.partition)]
                .append(contentsOf: run, now: now)
            if s.memtables[key]!.rowCount >= rowsMax { full = true }
            run.removeAll(keepingCapacity: true)
        }
        for a in actions {
            if !range.contains(a.time) {
                commitRun(&self)
                key.partition = partitioning.key(a.time)
                range = partitioning.range(ofKey: key.partition) ?? a.time..<(a.time + 1)
            }
            run.append(a)
        }
        commitRun(&self)
        memtableBytes += encodedBytes * Memtable.memoryPerEncodedByte
        return full
    }
}

extension Store {
    /// Replays the journal into the memtables.
    ///
    /// Records are read in order, decoded on every core in chunks of up to `chunkBytes` (decoding
    /// builds every string of every action and dominates replay), then applied in journal order.
    static func replay(
        _ reader: JournalReader,
        from start: JournalPosition,
        skipDamaged: Bool,
        into st: inout State,
        partitioning: Partitioning,
        chunkBytes: Int = 32 << 20
    ) throws -> JournalReader.ReplayResult {
        var pending: [(payload: [UInt8], position: JournalPosition)] = []
        var pendingBytes = 0
        let now = DispatchTime.now().uptimeNanoseconds
        func drain(_ st: inout State) throws {
            guard !pending.isEmpty else { return }
            let decoded = ParallelResults<Result<JournalBatch, ActionStoreError>>(count: pending.count)
            let items = pending
            let workers = min(System.coreCount, items.count)
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                var i = w
                while i < items.count {
                    decoded.set(
                        i,
                        Result { () throws(ActionStoreError) in
                            do { return try BatchCodec.decode(items[i].payload) } catch {
                                throw ActionStoreError(.corruption, "journal record at \(items[i].position): \(error)")
                            }
                        }
                    )
                    i += workers
                }
            }
            for (i, r) in decoded.take().enumerated() {
                let batch = try r.get()
                if !batch.schemaDelta.isEmpty {
                    st.schemas[batch.application, default: Schema()].apply(batch.schemaDelta)
                }
                _ = st.insert(
                    batch.actions,
                    application: batch.application,
                    partitioning: partitioning,
                    encodedBytes: items[i].payload.count,
                    now: now,
                    rowsMax: .max
                )
            }
            pending.removeAll(keepingCapacity: true)
            pendingBytes = 0
        }
        let result = try reader.replay(from: start, skipDamaged: skipDamaged) { type, payload, position in
            guard type == .batch else { return }
            pending.append((Array(payload.assumingMemoryBound(to: UInt8.self)), position))
            pendingBytes += payload.count
            if pendingBytes >= chunkBytes { try drain(&st) }
        }
        try drain(&st)
        return result
    }
}
