extension Store {
    /// A consistent view of one application: its schema, the segment readers of the partitions
    /// that overlap `[from, to)`, and the rows in memory. Taken under the lock; read outside it.
    struct Snapshot {
        var schema: Schema
        var sources: [any ScanSource]
        var partitionsTotal: Int
        var partitionsPruned: Int
        var damaged: [ActionStoreError]
        var ids: IdCodeSnapshot?
    }

    func snapshot(application: String, from: Int64?, to: Int64?) -> Snapshot {
        let ids = dictionaries.withLock { $0[application] }
        return state.withLock { s in
            // Under the store lock: the codes every snapshot row has (assigned under it too).
            let aliases = s.profiles[application]?.aliases ?? [:]
            let codes = ids.map { IdCodeSnapshot($0, aliases: aliases) }
            var sources: [any ScanSource] = []
            var damaged: [ActionStoreError] = []
            var total = Set<String>()
            var kept = Set<String>()
            func overlaps(_ partition: String) -> Bool {
                guard let r = partitioning.range(ofKey: partition) else { return true }
                if let from, r.upperBound <= from { return false }
                if let to, r.lowerBound >= to { return false }
                return true
            }
            for (partition, segs) in s.manifest.applications[application]?.partitions ?? [:] {
                total.insert(partition)
                guard overlaps(partition) else { continue }
                kept.insert(partition)
                for seg in segs {
                    let rel = StoreFiles.segmentRelative(application: application, partition: partition, file: seg.file)
                    switch s.readers[rel] {
                    case .success(let r): sources.append(SegmentSource(r, partitionKey: partition, ids: codes))
                    case .failure(let e): damaged.append(e)
                    case nil: damaged.append(ActionStoreError(.notFound, "segment \(rel) is not open"))
                    }
                }
            }
            for table in s.flushing + Array(s.memtables.values) where table.application == application {
                total.insert(table.partition)
                guard overlaps(table.partition) else { continue }
                kept.insert(table.partition)
                sources.append(ActionsSource(chunks: table.chunks, partitionKey: table.partition, ids: codes))
            }
            return Snapshot(
                schema: s.schemas[application] ?? Schema(),
                sources: sources,
                partitionsTotal: total.count,
                partitionsPruned: total.count - kept.count,
                damaged: damaged,
                ids: codes
            )
        }
    }

    /// Runs a query over one application: segments and memtables (every acknowledged action).
    /// Segments that cannot be read are skipped and counted in the result's `stats.damagedSegments`.
    /// - Throws: `.invalidQuery` for a query that does not fit the schema; `.limitExceeded` when
    ///   the group-by outgrows `options`' limits.
    public func query(
        application: String,
        _ query: Query,
        options: QueryOptions = QueryOptions()
    ) throws -> QueryResult {
        let snap = snapshot(application: application, from: query.from, to: query.to)
        var result = try QueryEngine.run(
            query,
            sources: snap.sources,
            schema: snap.schema,
            options: options,
            ids: snap.ids
        )
        result.stats.partitionsTotal = snap.partitionsTotal
        result.stats.partitionsPruned += snap.partitionsPruned
        result.stats.damagedSegments += snap.damaged.map(\.message)
        return result
    }

    /// Streams the actions of one application in `[from, to)` matching `filter`, segment by segment
    /// (bounded memory: one segment's columns at a time), then the rows in memory.
    public func scan(
        application: String,
        from: Int64? = nil,
        to: Int64? = nil,
        where filter: Predicate? = nil,
        _ body: (Action) throws -> Void
    ) throws {
        let snap = snapshot(application: application, from: from, to: to)
        for source in snap.sources {
            try QueryEngine.scan(source, from: from, to: to, filter: filter, schema: snap.schema, body)
        }
    }
}
