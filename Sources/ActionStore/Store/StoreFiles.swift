#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// The one owner of every file name in a store (leveldb `db/filename.h`): nothing else joins
/// path components of a store folder by hand.
///
/// ```
/// <root>/LOCK                                       the directory lock (flock, holder's pid)
/// <root>/MANIFEST                                   the manifest (docs/manifest-format.md)
/// <root>/journal/journal-<16 digits>.log           journal files (docs/journal-format.md)
/// <root>/apps/<app folder>/<partition>/<20 digits>.seg   segments (docs/segment-format.md)
/// <root>/dictionaries/<app folder>.ids             id-dictionary checkpoints (IdDictionaryFile)
/// <root>/profiles/<app folder>-<16 digits>.profiles profile checkpoints, by journal checkpoint
/// <root>/quarantine/apps/…, quarantine/journal/…   what `repair` set aside
/// <any file>.tmp                                    a file being written, renamed into place
/// ```
///
/// An application id becomes its folder name by `ApplicationDirectory`; a partition key is the
/// `Partitioning` key (`2026-09-01`).
struct StoreFiles: Sendable, Equatable {
    /// The store folder, as given to `Store.open(at:)`.
    let root: String

    init(_ root: String) { self.root = root }

    static let lockName = "LOCK"
    static let manifestName = "MANIFEST"
    static let journalFolder = "journal"
    static let appsFolder = "apps"
    static let quarantineFolder = "quarantine"
    static let temporarySuffix = ".tmp"
    static let journalPrefix = "journal-"
    static let journalSuffix = ".log"
    static let segmentSuffix = ".seg"
    static let dictionariesFolder = "dictionaries"
    static let dictionarySuffix = ".ids"
    static let profilesFolder = "profiles"
    static let profilesSuffix = ".profiles"

    var lock: String { root + "/" + Self.lockName }
    var manifest: String { root + "/" + Self.manifestName }
    var journalDirectory: String { root + "/" + Self.journalFolder }
    var appsDirectory: String { root + "/" + Self.appsFolder }
    var quarantineDirectory: String { root + "/" + Self.quarantineFolder }
    var quarantineJournalDirectory: String { quarantineDirectory + "/" + Self.journalFolder }
    var dictionariesDirectory: String { root + "/" + Self.dictionariesFolder }
    var profilesDirectory: String { root + "/" + Self.profilesFolder }

    /// The profile checkpoint of `application` written for journal checkpoint `checkpoint`.
    func profiles(application: String, checkpoint: UInt64) -> String {
        path(Self.relative(.profiles(application: application, checkpoint: checkpoint)))
    }

    /// The id-dictionary checkpoint file of `application`.
    func dictionary(application: String) -> String { path(Self.relative(.dictionary(application: application))) }

    /// The absolute path of a store-relative path (`apps/prod/2026-09-01/….seg`).
    func path(_ relative: String) -> String { root + "/" + relative }

    /// Where `repair` moves the store-relative file `relative`.
    func quarantined(_ relative: String) -> String { quarantineDirectory + "/" + relative }

    /// The folder of one partition of one application.
    func partitionDirectory(application: String, partition: String) -> String {
        path(Self.partitionRelative(application: application, partition: partition))
    }

    static func partitionRelative(application: String, partition: String) -> String {
        appsFolder + "/" + ApplicationDirectory.name(application) + "/" + partition
    }

    /// The store-relative path of a segment: `apps/<app folder>/<partition>/<file>`.
    static func segmentRelative(application: String, partition: String, file: String) -> String {
        partitionRelative(application: application, partition: partition) + "/" + file
    }

    /// The temporary name a file is written under before it is renamed to `path`.
    static func temporary(for path: String) -> String { path + temporarySuffix }

    // MARK: - Segment file names

    /// `<20-digit number>.seg`: unique in the store and ordered by creation.
    static func segmentFileName(_ number: UInt64) -> String { String(number).leftPadded(20) + segmentSuffix }

    /// The number a segment file name carries, or nil if `name` is not one.
    static func segmentNumber(fromName name: String) -> UInt64? {
        number(in: name, prefix: "", digits: 20, suffix: segmentSuffix)
    }

    // MARK: - Journal file names

    /// `journal-<16-digit decimal file number>.log`, e.g. `journal-0000000000000007.log`.
    static func journalFileName(_ fileNumber: UInt64) -> String {
        journalPrefix + String(fileNumber).leftPadded(16) + journalSuffix
    }

    /// The path of journal file `fileNumber` in the journal folder `directory`.
    static func journalFile(_ directory: String, _ fileNumber: UInt64) -> String {
        directory.hasSuffix("/")
            ? directory + journalFileName(fileNumber) : directory + "/" + journalFileName(fileNumber)
    }

    /// The file number a journal file name carries, or nil if `name` is not a journal file name.
    static func journalNumber(fromName name: String) -> UInt64? {
        number(in: name, prefix: journalPrefix, digits: 16, suffix: journalSuffix)
    }

    /// The numbers of the journal files in the journal folder `directory`, ascending.
    /// - Throws: `ActionStoreError(.io)` if the folder cannot be read.
    static func journalNumbers(in directory: String) throws(ActionStoreError) -> [UInt64] {
        guard let dir = opendir(directory) else {
            let e = errno
            throw ActionStoreError(.io, "cannot list journal directory \(directory): \(errnoText(e))")
        }
        defer { closedir(dir) }
        var numbers: [UInt64] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if let n = journalNumber(fromName: name) { numbers.append(n) }
        }
        return numbers.sorted()
    }

    private static func number(in name: String, prefix: String, digits: Int, suffix: String) -> UInt64? {
        guard name.hasPrefix(prefix), name.hasSuffix(suffix) else { return nil }
        let d = name.utf8.dropFirst(prefix.utf8.count).dropLast(suffix.utf8.count)
        guard d.count == digits, d.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return UInt64(String(decoding: d, as: UTF8.self))
    }

    // MARK: - Parsing

    /// What a store-relative path names.
    enum File: Sendable, Hashable {
        case lock
        case manifest
        case journal(number: UInt64)
        case segment(application: String, partition: String, number: UInt64)
        case dictionary(application: String)
        case profiles(application: String, checkpoint: UInt64)
        /// A file being written (`….tmp`), of the kind `of` names; left by a crash, deleted on open.
        indirect case temporary(of: File)
        /// A file `repair` set aside: what it was at `quarantine/`'s relative path.
        indirect case quarantined(File)
    }

    /// The store-relative path of `file`; `parse(_:)` reverses it.
    static func relative(_ file: File) -> String {
        switch file {
        case .lock: return lockName
        case .manifest: return manifestName
        case .journal(let n): return journalFolder + "/" + journalFileName(n)
        case .segment(let app, let partition, let n):
            return segmentRelative(application: app, partition: partition, file: segmentFileName(n))
        case .dictionary(let app):
            return dictionariesFolder + "/" + ApplicationDirectory.name(app) + dictionarySuffix
        case .profiles(let app, let n):
            return profilesFolder + "/" + ApplicationDirectory.name(app) + "-" + String(n).leftPadded(16)
                + profilesSuffix
        case .temporary(let of): return relative(of) + temporarySuffix
        case .quarantined(let of): return quarantineFolder + "/" + relative(of)
        }
    }

    /// What the store-relative path `relative` names, or nil for a name no store file has.
    static func parse(_ relative: String) -> File? {
        if relative.hasSuffix(temporarySuffix) {
            return parse(String(relative.dropLast(temporarySuffix.count))).map { .temporary(of: $0) }
        }
        let parts = relative.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        switch parts.first {
        case lockName where parts.count == 1: return .lock
        case manifestName where parts.count == 1: return .manifest
        case journalFolder where parts.count == 2:
            return journalNumber(fromName: parts[1]).map { .journal(number: $0) }
        case dictionariesFolder where parts.count == 2 && parts[1].hasSuffix(dictionarySuffix):
            return ApplicationDirectory.application(fromName: String(parts[1].dropLast(dictionarySuffix.count))).map {
                .dictionary(application: $0)
            }
        case profilesFolder where parts.count == 2 && parts[1].hasSuffix(profilesSuffix):
            let stem = parts[1].dropLast(profilesSuffix.count)
            guard let dash = stem.lastIndex(of: "-"),
                let app = ApplicationDirectory.application(fromName: String(stem[..<dash])),
                let n = number(in: String(stem[stem.index(after: dash)...]), prefix: "", digits: 16, suffix: "")
            else { return nil }
            return .profiles(application: app, checkpoint: n)
        case appsFolder where parts.count == 4:
            guard let app = ApplicationDirectory.application(fromName: parts[1]),
                Partitioning.allCases.contains(where: { $0.range(ofKey: parts[2]) != nil }),
                let n = segmentNumber(fromName: parts[3])
            else { return nil }
            return .segment(application: app, partition: parts[2], number: n)
        case quarantineFolder where parts.count > 1:
            let rest = parts.dropFirst().joined(separator: "/")
            guard let inner = parse(rest) else { return nil }
            if case .quarantined = inner { return nil }
            return .quarantined(inner)
        default: return nil
        }
    }

    // MARK: - Listing

    /// Every file under `apps/`, store-relative, whatever its name (named segments, orphans,
    /// temporary files).
    func filesUnderApps() -> [String] {
        var out: [String] = []
        for app in FileSystem.listDirectory(appsDirectory) {
            let appRel = Self.appsFolder + "/" + app
            for p in FileSystem.listDirectory(path(appRel)) {
                for f in FileSystem.listDirectory(path(appRel + "/" + p)) {
                    out.append(appRel + "/" + p + "/" + f)
                }
            }
        }
        return out
    }
}

/// Folder names for applications: any application id maps to a safe, reversible folder name.
enum ApplicationDirectory {
    /// Percent-encodes every byte outside `[A-Za-z0-9_-]` (so a leading `.` too); `%` alone for "".
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

    /// The application id of a folder name `name(_:)` made, or nil if no id maps to `name`.
    static func application(fromName folder: String) -> String? {
        if folder == "%" { return "" }
        var bytes: [UInt8] = []
        var it = folder.utf8.makeIterator()
        while let b = it.next() {
            switch b {
            case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x5F, 0x2D: bytes.append(b)
            case 0x25:
                guard let h = it.next(), let l = it.next(), let hi = hexDigit(h), let lo = hexDigit(l) else {
                    return nil
                }
                bytes.append(hi << 4 | lo)
            default: return nil
            }
        }
        let id = String(decoding: bytes, as: UTF8.self)
        return name(id) == folder ? id : nil
    }

    private static func hexDigit(_ b: UInt8) -> UInt8? {
        switch b {
        case 0x30...0x39: return b - 0x30
        case 0x41...0x46: return b - 0x41 + 10
        default: return nil
        }
    }
}

/// `errno 5 (Input/output error)`.
func errnoText(_ e: Int32) -> String {
    "errno \(e) (\(String(cString: strerror(e))))"
}
