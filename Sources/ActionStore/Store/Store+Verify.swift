/// What `Store.verify(at:)` found.
public struct VerifyReport: Sendable, Hashable {
    /// Damage, one line each, naming the file and where in it.
    public var problems: [String] = []
    /// Things worth knowing that are not damage (a torn journal tail, orphan files).
    public var notes: [String] = []
    public var journalRecords = 0
    public var segments = 0
    public var segmentBytes: Int64 = 0
    public var isClean: Bool { problems.isEmpty }
}

/// What `Store.repair(at:)` did.
public struct RepairReport: Sendable, Hashable {
    /// Segment files moved to `quarantine/` and dropped from the manifest.
    public var quarantinedSegments: [String] = []
    /// Journal files copied to `quarantine/journal/` before the damaged records were skipped.
    public var quarantinedJournalFiles: [String] = []
    /// Damaged journal records skipped (their actions are lost; the rest were kept).
    public var skippedJournalRecords = 0
}

extension Store {
    /// Checks every journal record (framing, checksum, batch encoding), every segment (header,
    /// footer, every block and index checksum) and the manifest, without changing anything.
    /// Takes the directory lock, so the store must not be open elsewhere.
    public static func verify(at directory: String) throws -> VerifyReport {
        let lock = try LockFile(directory: directory)
        defer { lock.release() }
        let files = StoreFiles(directory)
        var report = VerifyReport()
        let manifest: Manifest?
        do {
            manifest = try Manifest.load(files)
        } catch {
            report.problems.append(error.message)
            manifest = nil
        }
        // Journal.
        let journalDir = files.journalDirectory
        if FileSystem.exists(journalDir) {
            let start = JournalPosition(fileNumber: max(manifest?.journalCheckpoint ?? 0, 1), offset: 0)
            do {
                let result = try JournalReader(directory: journalDir).replay(from: start, skipDamaged: true) {
                    type,
                    payload,
                    position in
                    guard type == .batch else { return }
                    do { _ = try Store.decodeBatch(Array(payload.assumingMemoryBound(to: UInt8.self))) } catch {
                        report.problems.append("journal record at \(position): batch does not decode: \(error)")
                    }
                }
                report.journalRecords = result.records
                for note in result.notes {
                    if note.hasPrefix("torn tail") {
                        report.notes.append("journal: \(note)")
                    } else {
                        report.problems.append("journal: \(note)")
                    }
                }
            } catch let e as ActionStoreError {
                report.problems.append("journal: \(e.message)")
            }
        }
        // Segments named by the manifest, then files nobody names.
        let named = manifest?.segmentPaths ?? []
        for rel in named.sorted() {
            let path = files.path(rel)
            guard FileSystem.exists(path) else {
                report.problems.append("\(path): named by the manifest but missing")
                continue
            }
            report.segments += 1
            report.segmentBytes += FileSystem.fileSize(path)
            do {
                try SegmentReader(path: path).verify()
            } catch let e as ActionStoreError {
                report.problems.append(e.message)
            } catch {
                report.problems.append("\(path): \(error)")
            }
        }
        for rel in files.filesUnderApps() where !named.contains(rel) {
            report.notes.append(
                "\(directory)/\(rel): not named by the manifest (left by a crash; the next open deletes it)"
            )
        }
        return report
    }

    /// Sets damaged data aside so the store opens and answers from the rest: damaged segments move
    /// to `quarantine/` and leave the manifest; a journal with damaged records is copied to
    /// `quarantine/journal/`, replayed without them, and flushed to segments.
    public static func repair(at directory: String, options: StoreOptions = .init()) throws -> RepairReport {
        var report = RepairReport()
        let files = StoreFiles(directory)
        do {
            let lock = try LockFile(directory: directory)
            defer { lock.release() }
            var manifest = try Manifest.load(files) ?? Manifest()
            var edit = ManifestEdit()
            for (app, entry) in manifest.applications {
                for (partition, segs) in entry.partitions {
                    for s in segs {
                        let rel = StoreFiles.segmentRelative(application: app, partition: partition, file: s.file)
                        let path = files.path(rel)
                        let present = FileSystem.exists(path)
                        if present, (try? SegmentReader(path: path).verify()) != nil { continue }
                        if present {
                            let target = files.quarantined(rel)
                            try FileSystem.makeDirectory(FileSystem.parent(of: target))
                            try FileSystem.move(path, target)
                        }
                        report.quarantinedSegments.append(rel)
                        edit.removed.append(.init(application: app, partition: partition, file: s.file))
                    }
                }
            }
            if !edit.isEmpty {
                try manifest.apply(edit)
                try manifest.save(files)
            }
        }
        // The journal: open normally; if damage stops it, keep a copy and open skipping it.
        do {
            let store = try Store.open(at: directory, options: options)
            try store.close()
        } catch let e as ActionStoreError where e.code == .corruption {
            let journalDir = files.journalDirectory
            let quarantine = files.quarantineJournalDirectory
            try FileSystem.makeDirectory(quarantine)
            for name in FileSystem.listDirectory(journalDir) {
                try FileSystem.copyFile(journalDir + "/" + name, quarantine + "/" + name)
                report.quarantinedJournalFiles.append(name)
            }
            var o = options
            o.skipDamagedJournalRecords = true
            let store = try Store.open(at: directory, options: o)
            report.skippedJournalRecords = store.damagedSkipped
            try store.flush()
            try store.close()
        }
        return report
    }
}
