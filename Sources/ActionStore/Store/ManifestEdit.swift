/// One change to the manifest (leveldb `db/version_edit.h`): flushes, compaction, retention and
/// repair each describe what they change as an edit, and `Manifest.apply(_:)` is the one place
/// that changes a manifest. `Store.logAndApply` saves and installs it.
struct ManifestEdit: Sendable {
    struct Segment: Sendable {
        var application: String
        var partition: String
        var entry: Manifest.SegmentEntry
    }

    struct Removal: Sendable, Hashable {
        var application: String
        var partition: String
        var file: String
    }

    /// Segments that join their partition.
    var added: [Segment] = []
    /// Segments that leave their partition; a partition left with none is dropped.
    var removed: [Removal] = []
    /// Applications whose schema (keys and paths) becomes this one.
    var schemas: [String: Schema] = [:]
    /// The new journal checkpoint, if it moves.
    var journalCheckpoint: UInt64?
    /// Applications whose id-dictionary checkpoint grew.
    var dictionaries: [String: Manifest.DictionaryCheckpoint] = [:]
    /// Applications with a new profile checkpoint file (by the journal checkpoint it was written for).
    var profiles: [String: UInt64] = [:]

    var isEmpty: Bool {
        added.isEmpty && removed.isEmpty && schemas.isEmpty && journalCheckpoint == nil && dictionaries.isEmpty
            && profiles.isEmpty
    }

    /// The store-relative paths of the removed segments.
    var removedPaths: [String] {
        removed.map { StoreFiles.segmentRelative(application: $0.application, partition: $0.partition, file: $0.file) }
    }

    /// The store-relative paths of the added segments.
    var addedPaths: [String] {
        added.map {
            StoreFiles.segmentRelative(application: $0.application, partition: $0.partition, file: $0.entry.file)
        }
    }
}

extension Manifest {
    /// Applies `edit` and advances `version` by one.
    /// - Throws: `.corruption` when the edit removes a segment the manifest does not name (the
    ///   manifest is then unchanged).
    mutating func apply(_ edit: ManifestEdit) throws(ActionStoreError) {
        var next = self
        for (app, schema) in edit.schemas {
            let d = schema.asDelta
            next.applications[app, default: .init()].keys = Dictionary(
                d.keys.map { ($0.name, $0.type.rawValue) },
                uniquingKeysWith: { _, last in last }
            )
            next.applications[app, default: .init()].paths = Dictionary(
                d.paths.map { ($0.name, $0.type.rawValue) },
                uniquingKeysWith: { _, last in last }
            )
        }
        for r in edit.removed {
            guard var segs = next.applications[r.application]?.partitions[r.partition],
                let i = segs.firstIndex(where: { $0.file == r.file })
            else {
                throw ActionStoreError(
                    .corruption,
                    "manifest edit removes \(StoreFiles.segmentRelative(application: r.application, partition: r.partition, file: r.file)), which the manifest does not name"
                )
            }
            segs.remove(at: i)
            next.applications[r.application]?.partitions[r.partition] = segs.isEmpty ? nil : segs
        }
        for a in edit.added {
            var segs = next.applications[a.application, default: .init()].partitions[a.partition] ?? []
            segs.append(a.entry)
            segs.sort { $0.file < $1.file }
            next.applications[a.application, default: .init()].partitions[a.partition] = segs
            next.nextSegmentNumber = max(
                next.nextSegmentNumber,
                (StoreFiles.segmentNumber(fromName: a.entry.file) ?? 0) + 1
            )
        }
        for (app, d) in edit.dictionaries { next.applications[app, default: .init()].dictionary = d }
        for (app, n) in edit.profiles { next.applications[app, default: .init()].profilesCheckpoint = n }
        if let c = edit.journalCheckpoint { next.journalCheckpoint = c }
        next.version += 1
        self = next
    }
}

/// Held by whoever holds `Store.manifestLock`: `Store.logAndApply` takes it `inout`, so only code
/// inside `manifestLock.withLock` can change the manifest (the compiler checks what leveldb's
/// `mutex_.AssertHeld()` checks at run time).
struct ManifestWriter: Sendable {
    /// Edits applied through this store (not zero-sized: see `Locked`).
    fileprivate(set) var edits = 0
}

extension Store {
    /// Saves the current manifest with `edit` applied, then installs it in `state` in one critical
    /// section with `install` (which swaps readers, memtables and counters), so that a snapshot
    /// sees the whole edit or none of it (leveldb `VersionSet::LogAndApply`).
    ///
    /// `state.manifest.nextSegmentNumber` may have moved on meanwhile (numbers are reserved under
    /// `state` alone); the installed manifest keeps the larger.
    /// - Throws: the error of the save; then nothing is installed, and the file on disk may hold
    ///   either manifest (the rename may have happened): callers keep every file either names.
    @discardableResult
    func logAndApply(
        _ edit: ManifestEdit,
        _ writer: inout ManifestWriter,
        install: (inout State) -> Void = { _ in }
    ) throws -> Manifest {
        var next = state.withLock { $0.manifest }
        try next.apply(edit)
        try next.save(files, io: options.fileIO)
        writer.edits += 1
        state.withLock { s in
            let reserved = s.manifest.nextSegmentNumber
            s.manifest = next
            s.manifest.nextSegmentNumber = max(reserved, next.nextSegmentNumber)
            install(&s)
        }
        return next
    }
}
