import Logging

extension Store {
    /// Rebuilds the deduplication tables on open: the transaction ids of the segments whose rows
    /// fall inside each application's window (reading only the partitions that overlap it, and
    /// only their `time` and `transaction_id` columns), then the ids replayed from the journal.
    ///
    /// The window ends at the newest action time the application holds, as during ingest, so the
    /// tables after a restart equal the ones before it (up to eviction order).
    static func rebuildDedupe(
        manifest: Manifest,
        readers: [String: Result<SegmentReader, ActionStoreError>],
        replayed: [String: [DedupeTable.Entry]],
        window: Int64,
        cap: Int,
        logger: Logger
    ) -> [String: DedupeTable] {
        var tables: [String: DedupeTable] = [:]
        let apps = Set(manifest.applications.keys).union(replayed.keys)
        for app in apps {
            let parts = manifest.applications[app]?.partitions ?? [:]
            var newest = replayed[app]?.map(\.time).max() ?? .min
            for segs in parts.values { for e in segs where e.rows > 0 { newest = max(newest, e.maxTime) } }
            guard newest != .min else { continue }
            let cutoff = newest &- window
            var entries: [DedupeTable.Entry] = []
            for (partition, segs) in parts.sorted(by: { $0.key < $1.key }) {
                for e in segs where e.rows > 0 && e.maxTime >= cutoff {
                    let rel = StoreFiles.segmentRelative(application: app, partition: partition, file: e.file)
                    guard case .success(let reader) = readers[rel] else { continue }
                    do {
                        guard let column = try reader.column(FixedField.transactionId.name),
                            let (dictionary, codes, present) = column.dictionaryEncoded()
                        else { continue }
                        let times = try reader.times()
                        let hashes = dictionary.map(DedupeTable.hash)
                        for row in 0..<times.count where times[row] >= cutoff && (present?[row] ?? true) {
                            entries.append(.init(hash: hashes[Int(codes[row])], time: times[row]))
                        }
                    } catch {
                        logger.warning("dedupe: cannot read transaction ids of \(rel): \(error)")
                    }
                }
            }
            entries += replayed[app] ?? []
            // Insert in time order so eviction (from the oldest inserted) follows time.
            entries.sort { $0.time < $1.time }
            var table = DedupeTable()
            for e in entries { _ = table.insert(e.hash, time: e.time) }
            table.evict(window: window, cap: cap)
            tables[app] = table
        }
        return tables
    }
}
