import CXXHash
import Foundation

/// The store's table of contents: the live segments per application and partition, each
/// application's schema, and the journal checkpoint. Changed only through a `ManifestEdit`
/// (`Store.logAndApply`), replaced atomically (temporary file, fsync, rename, directory fsync), and
/// versioned.
///
/// On disk (`MANIFEST`): the binary format of docs/manifest-format.md. A manifest written by the
/// first releases (the line `ACTIONSTORE-MANIFEST 1`, a line of JSON, an `xxh64` line) still opens;
/// the next save writes the binary format.
struct Manifest: Codable, Sendable, Equatable {
    var version: UInt64 = 0
    var partitioning: Partitioning = .day
    var nextSegmentNumber: UInt64 = 1
    /// Journal files numbered below this hold only actions already in segments.
    var journalCheckpoint: UInt64 = 0
    var applications: [String: Application] = [:]

    struct Application: Codable, Sendable, Equatable {
        /// Key name → type raw value.
        var keys: [String: UInt8] = [:]
        /// Path → type raw value.
        var paths: [String: UInt8] = [:]
        /// Partition key → live segments, in file-name order.
        var partitions: [String: [SegmentEntry]] = [:]
        /// The application's id-dictionary checkpoint, once a flush wrote one (format 3).
        var dictionary: DictionaryCheckpoint?
        /// The journal checkpoint its profile checkpoint file was written for, once one was.
        var profilesCheckpoint: UInt64?
    }

    /// How much of `dictionaries/<app folder>.ids` is checkpointed: its first `bytes` bytes,
    /// holding `counts[f]` codes of each `IdField` f.
    struct DictionaryCheckpoint: Codable, Sendable, Equatable {
        var bytes: Int
        var counts: [Int]
    }

    struct SegmentEntry: Codable, Sendable, Equatable {
        var file: String
        var rows: Int
        var bytes: Int64
        var minTime: Int64
        var maxTime: Int64
    }

    // MARK: - Format (docs/manifest-format.md)

    /// `ASMANIFT`: the first 8 bytes of a manifest.
    static let magic: [UInt8] = Array("ASMANIFT".utf8)
    /// The format version after the magic (u32 LE). Version 1 was the JSON text format; version 2
    /// had no dictionary checkpoints.
    static let formatVersion: UInt32 = 3
    /// Magic (8) + format version (4).
    static let headerBytes = 12
    /// The trailing XXH64.
    static let checksumBytes = 8
    /// The first line of a version-1 manifest.
    static let legacyMagicLine = "ACTIONSTORE-MANIFEST 1"

    static let partitioningCodes: [Partitioning] = [.hour, .day, .month]

    /// The manifest's bytes: header, body, XXH64 (seed 0) of every byte before it. Maps are written
    /// in the byte order of their keys' UTF-8, so equal manifests have equal bytes.
    func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: 256)
        w.append(Manifest.magic)
        w.u32(Manifest.formatVersion)
        w.u64(version)
        w.u8(UInt8(Manifest.partitioningCodes.firstIndex(of: partitioning)!))
        w.u64(nextSegmentNumber)
        w.u64(journalCheckpoint)
        w.varint(applications.count)
        for (id, app) in applications.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
            w.string(id)
            for map in [app.keys, app.paths] {
                w.varint(map.count)
                for (name, type) in map.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
                    w.string(name)
                    w.u8(type)
                }
            }
            w.varint(app.dictionary?.bytes ?? 0)
            if let d = app.dictionary, d.bytes > 0 {
                for f in IdField.allCases { w.varint(d.counts[f.rawValue]) }
            }
            w.varint(app.profilesCheckpoint ?? 0)
            w.varint(app.partitions.count)
            for (key, segs) in app.partitions.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
                w.string(key)
                w.varint(segs.count)
                for s in segs {
                    w.string(s.file)
                    w.varint(s.rows)
                    w.varint(UInt64(s.bytes))
                    w.i64(s.minTime)
                    w.i64(s.maxTime)
                }
            }
        }
        let sum = w.bytes.withUnsafeBytes { XXH64($0.baseAddress, $0.count, 0) }
        w.u64(sum)
        return w.bytes
    }

    /// Reads a manifest of either format.
    /// - Throws: `.corruption` naming `path`, what is wrong and the byte offset.
    static func decode(_ bytes: [UInt8], path: String) throws(ActionStoreError) -> Manifest {
        if bytes.starts(with: Array((legacyMagicLine + "\n").utf8)) { return try decodeLegacy(bytes, path: path) }
        guard bytes.count >= headerBytes + checksumBytes, bytes.starts(with: magic) else {
            throw ActionStoreError(
                .corruption,
                "\(path): not an ActionStore manifest (bad magic at offset 0, or shorter than \(headerBytes + checksumBytes) bytes)"
            )
        }
        do {
            return try bytes.withUnsafeBytes { raw in
                let bodyEnd = raw.count - checksumBytes
                let stored = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: bodyEnd, as: UInt64.self))
                let sum = XXH64(raw.baseAddress, bodyEnd, 0)
                guard sum == stored else {
                    throw ActionStoreError(.corruption, "\(path): checksum mismatch at offset \(bodyEnd)")
                }
                var r = ByteReader(UnsafeRawBufferPointer(rebasing: raw[..<bodyEnd]), offset: magic.count) { path }
                let format = try r.u32()
                guard format == formatVersion || format == 2 else {
                    throw ActionStoreError(
                        .corruption,
                        "\(path): manifest format version \(format) at offset 8 is not supported (this build reads 1 to 3)"
                    )
                }
                var m = Manifest()
                m.version = try r.u64()
                let p = try r.u8()
                guard Int(p) < partitioningCodes.count else { throw r.fail("unknown partitioning code \(p)") }
                m.partitioning = partitioningCodes[Int(p)]
                m.nextSegmentNumber = try r.u64()
                m.journalCheckpoint = try r.u64()
                let apps = try r.count(max: r.remaining, "application count")
                for _ in 0..<apps {
                    let id = try r.string()
                    guard m.applications[id] == nil else { throw r.fail("application \(id) listed twice") }
                    var app = Application()
                    app.keys = try decodeTypes(&r, "key")
                    app.paths = try decodeTypes(&r, "path")
                    if format >= 3 {
                        let bytes = try r.count(max: Int.max, "dictionary length")
                        if bytes > 0 {
                            let counts = try IdField.allCases.map { _ in try r.count(max: Int(UInt32.max), "id count") }
                            app.dictionary = DictionaryCheckpoint(bytes: bytes, counts: counts)
                        }
                        let profiles = try r.varint()
                        if profiles > 0 { app.profilesCheckpoint = profiles }
                    }
                    let parts = try r.count(max: r.remaining, "partition count")
                    for _ in 0..<parts {
                        let key = try r.string()
                        guard m.partitioning.range(ofKey: key) != nil else {
                            throw r.fail("partition key \(JSONWriter.quoted(key)) is not a \(m.partitioning) key")
                        }
                        guard app.partitions[key] == nil else { throw r.fail("partition \(key) listed twice") }
                        let n = try r.count(max: r.remaining, "segment count")
                        var segs: [SegmentEntry] = []
                        segs.reserveCapacity(n)
                        for _ in 0..<n {
                            let file = try r.string()
                            guard StoreFiles.segmentNumber(fromName: file) != nil else {
                                throw r.fail("\(JSONWriter.quoted(file)) is not a segment file name")
                            }
                            let rows = try r.count(max: Int.max, "row count")
                            let size = try r.count(max: Int.max, "byte count")
                            let minTime = try r.i64()
                            let maxTime = try r.i64()
                            segs.append(
                                SegmentEntry(
                                    file: file,
                                    rows: rows,
                                    bytes: Int64(size),
                                    minTime: minTime,
                                    maxTime: maxTime
                                )
                            )
                        }
                        app.partitions[key] = segs
                    }
                    m.applications[id] = app
                }
                guard r.isAtEnd else { throw r.fail("\(r.remaining) bytes after the last application") }
                return m
            }
        } catch let e as ActionStoreError {
            throw e
        } catch {
            throw ActionStoreError(.corruption, "\(path): \(error)")
        }
    }

    private static func decodeTypes(_ r: inout ByteReader, _ what: String) throws -> [String: UInt8] {
        let n = try r.count(max: r.remaining, "\(what) count")
        var out: [String: UInt8] = [:]
        out.reserveCapacity(n)
        for _ in 0..<n {
            let name = try r.string()
            let t = try r.u8()
            guard FieldType(rawValue: t) != nil else { throw r.fail("\(what) \(name) has unknown type code \(t)") }
            out[name] = t
        }
        return out
    }

    /// Version 1: the magic line, one line of JSON (`Codable`), `xxh64 <16 hex digits>`.
    private static func decodeLegacy(_ bytes: [UInt8], path: String) throws(ActionStoreError) -> Manifest {
        let lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
        guard lines.count >= 4 else {
            throw ActionStoreError(.corruption, "\(path): version-1 manifest is truncated (\(bytes.count) bytes)")
        }
        let sumLine = String(decoding: lines[2], as: UTF8.self)
        let bodyCount = lines[0].count + 1 + lines[1].count + 1
        let sum = bytes.withUnsafeBytes { XXH64($0.baseAddress, bodyCount, 0) }
        guard sumLine == "xxh64 " + String(sum, radix: 16).leftPadded(16) else {
            throw ActionStoreError(.corruption, "\(path): checksum mismatch at offset \(bodyCount)")
        }
        do {
            var m = try JSONDecoder().decode(Manifest.self, from: Data(lines[1]))
            for (id, app) in m.applications {
                m.applications[id]?.partitions = app.partitions.filter { !$0.value.isEmpty }
            }
            return m
        } catch {
            throw ActionStoreError(.corruption, "\(path): cannot decode the version-1 manifest body: \(error)")
        }
    }

    /// The manifest of the store in `files`, or nil if it has none yet.
    static func load(_ files: StoreFiles) throws(ActionStoreError) -> Manifest? {
        guard FileSystem.exists(files.manifest) else { return nil }
        return try decode(try FileSystem.readFile(files.manifest), path: files.manifest)
    }

    /// Replaces the manifest atomically (temporary file, fsync, rename, directory fsync).
    func save(_ files: StoreFiles, io: FileIO = .posix) throws(ActionStoreError) {
        try FileSystem.writeAtomically(encoded(), to: files.manifest, io: io)
    }

    /// Every segment the manifest names, store-relative.
    var segmentPaths: Set<String> {
        var live = Set<String>()
        for (app, entry) in applications {
            for (p, segs) in entry.partitions {
                for s in segs {
                    live.insert(StoreFiles.segmentRelative(application: app, partition: p, file: s.file))
                }
            }
        }
        return live
    }
}

extension Schema {
    init(manifest app: Manifest.Application) {
        self.init()
        var d = SchemaDelta()
        for (k, t) in app.keys.sorted(by: { $0.key < $1.key }) {
            if let t = FieldType(rawValue: t) { d.keys.append(.init(name: k, type: t)) }
        }
        for (p, t) in app.paths.sorted(by: { $0.key < $1.key }) {
            if let t = FieldType(rawValue: t) { d.paths.append(.init(name: p, type: t)) }
        }
        apply(d)
    }
}
