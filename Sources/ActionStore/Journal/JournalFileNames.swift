#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Names of journal files: `journal-<16-digit decimal file number>.log` (leveldb `db/filename.h`).
public enum JournalFileNames {
    static let prefix = "journal-"
    static let suffix = ".log"

    /// The file name of journal file `fileNumber`, e.g. `journal-0000000000000007.log`.
    public static func name(_ fileNumber: UInt64) -> String {
        let digits = String(fileNumber)
        let pad = digits.count < 16 ? String(repeating: "0", count: 16 - digits.count) : ""
        return prefix + pad + digits + suffix
    }

    /// The path of journal file `fileNumber` in `directory`.
    public static func path(_ directory: String, _ fileNumber: UInt64) -> String {
        directory.hasSuffix("/") ? directory + name(fileNumber) : directory + "/" + name(fileNumber)
    }

    /// The file number a journal file name carries, or nil if `name` is not a journal file name.
    public static func fileNumber(fromName name: String) -> UInt64? {
        guard name.hasPrefix(prefix), name.hasSuffix(suffix) else { return nil }
        let digits = name.dropFirst(prefix.count).dropLast(suffix.count)
        guard digits.count == 16, digits.allSatisfy({ $0 >= "0" && $0 <= "9" }) else { return nil }
        return UInt64(digits)
    }

    /// The numbers of the journal files in `directory`, ascending.
    /// - Throws: `ActionStoreError(.io)` if the directory cannot be read.
    public static func list(_ directory: String) throws -> [UInt64] {
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
            if let n = fileNumber(fromName: name) { numbers.append(n) }
        }
        return numbers.sorted()
    }
}

/// `errno 5 (Input/output error)`.
func errnoText(_ e: Int32) -> String {
    "errno \(e) (\(String(cString: strerror(e))))"
}
