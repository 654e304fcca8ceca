import CXXHash
import Foundation

/// The store's table of contents: the live segments per application and partition, each
/// application's schema, and the journal checkpoint. Replaced atomically (write a temporary file,
/// fsync, rename, fsync the directory) and versioned; see `docs/ARCHITECTURE.md`.
///
/// On disk (`MANIFEST`): the line `ACTIONSTORE-MANIFEST 1`, one line of JSON, then the line
/// `xxh64 <16 hex digits>`: XXH64 (seed 0) of every byte before that line.
struct Manifest: Codable, Sendable, Equatable {
    static let magicLine = "ACTIONSTORE-MANIFEST 1"
    static let fileName = "MANIFEST"

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
    }

    struct SegmentEntry: Codable, Sendable, Equatable {
        var file: String
        var rows: Int
        var bytes: Int64
        var minTime: Int64
        var maxTime: Int64
    }

    func encoded() throws(ActionStoreError) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json: Data
        do { json = try encoder.encode(self) } catch {
            throw ActionStoreError(.io, "cannot encode the manifest: \(error)")
        }
        var bytes = Array((Manifest.magicLine + "\n").utf8)
        bytes += json
        bytes.append(0x0A)
        let sum = bytes.withUnsafeBytes { XXH64($0.baseAddress, $0.count, 0) }
        bytes += Array(("xxh64 " + String(sum, radix: 16).leftPadded(16) + "\n").utf8)
        return bytes
    }

    static func decode(_ bytes: [UInt8], path: String) throws(ActionStoreError) -> Manifest {
        let lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
        guard lines.count >= 4, String(decoding: lines[0], as: UTF8.self) == magicLine else {
            throw ActionStoreError(
                .corruption,
                "\(path): not an ActionStore manifest (bad magic or version at offset 0)"
            )
        }
        let sumLine = String(decoding: lines[2], as: UTF8.self)
        let bodyCount = lines[0].count + 1 + lines[1].count + 1
        let sum = bytes.withUnsafeBytes { XXH64($0.baseAddress, bodyCount, 0) }
        guard sumLine == "xxh64 " + String(sum, radix: 16).leftPadded(16) else {
            throw ActionStoreError(.corruption, "\(path): checksum mismatch at offset \(bodyCount)")
        }
        do {
            return try JSONDecoder().decode(Manifest.self, from: Data(lines[1]))
        } catch {
            throw ActionStoreError(.corruption, "\(path): cannot decode the manifest body: \(error)")
        }
    }

    static func load(directory: String) throws(ActionStoreError) -> Manifest? {
        let path = directory + "/" + fileName
        guard FileSystem.exists(path) else { return nil }
        return try decode(try FileSystem.readFile(path), path: path)
    }

    /// Replaces the manifest atomically (temporary file, fsync, rename, directory fsync).
    func save(directory: String, io: FileIO = .posix) throws(ActionStoreError) {
        try FileSystem.writeAtomically(try encoded(), to: directory + "/" + Manifest.fileName, io: io)
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

/// Folder names for applications: any application id maps to a safe, reversible folder name.
enum ApplicationDirectory {
    /// Percent-encodes every byte outside `[A-Za-z0-9_-]` (and a leading `.`).
    static func name(_ application: String) -> String {
        var out = ""
        for b in application.utf8 {
            switch b {
            case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x5F, 0x2D: out.append(Character(Unicode.Scalar(b)))
            default: out += "%" + String(b, radix: 16, uppercase: true).leftPadded(2)
            }
        }
        return out.isEmpty ? "%" : out
    }
}
