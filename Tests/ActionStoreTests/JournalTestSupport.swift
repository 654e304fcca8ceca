@testable import ActionStore

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// A fresh directory under /tmp, removed by `remove()`.
struct TempDir {
    let path: String

    init(_ label: String = "journal") {
        var template = Array("/tmp/actionstore-\(label)-XXXXXX".utf8CString)
        let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(p != nil, "mkdtemp failed: \(errno)")
        path = String(cString: p!)
    }

    func file(_ n: UInt64) -> String { StoreFiles.journalFile(path, n) }

    func remove() {
        for n in (try? StoreFiles.journalNumbers(in: path)) ?? [] { unlink(file(n)) }
        rmdir(path)
    }
}

/// Whole-file helpers for byte-level tests.
enum Bytes {
    static func read(_ path: String) -> [UInt8] {
        let fd = open(path, O_RDONLY)
        precondition(fd >= 0, "cannot open \(path)")
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            precondition(n >= 0)
            if n == 0 { break }
            out += chunk[0..<n]
        }
        return out
    }

    static func write(_ path: String, _ bytes: [UInt8]) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        precondition(fd >= 0, "cannot open \(path)")
        defer { close(fd) }
        let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        precondition(n == bytes.count)
    }
}

/// Random values for codec and journal tests.
extension SeededRNG {
    mutating func string(maxLength: Int = 24) -> String {
        let alphabet: [Character] = Array("abcxyz019 _-./:{}\"\\") + ["é", "ß", "中", "文", "🎉", "\u{0}", "👩‍💻"]
        let n = Int.random(in: 0...maxLength, using: &self)
        return String((0..<n).map { _ in alphabet.randomElement(using: &self)! })
    }

    mutating func optionalString() -> String? { Bool.random(using: &self) ? string() : nil }

    mutating func value() -> Value {
        switch Int.random(in: 0..<6, using: &self) {
        case 0: .string(string())
        case 1: .int(Int64.random(in: .min ... .max, using: &self))
        case 2: .int(Int64.random(in: -200...200, using: &self))
        case 3: .double(Double.random(in: -1e300...1e300, using: &self))
        case 4: .bool(Bool.random(using: &self))
        default: .array("[" + string(maxLength: 8) + "]")
        }
    }

    mutating func action() -> Action {
        let fields = (0..<Int.random(in: 0...6, using: &self)).map { i in
            MetadataField(path: "k\(i)." + string(maxLength: 6), value: value())
        }
        return Action(
            time: Bool.random(using: &self)
                ? Int64.random(in: .min ... .max, using: &self)
                : 1_700_000_000_000_000 + Int64.random(in: 0...1_000_000_000, using: &self),
            actionName: string(),
            userId: optionalString(),
            anonymousId: optionalString(),
            companyId: optionalString(),
            sessionToken: optionalString(),
            transactionId: optionalString(),
            subscriptionId: optionalString(),
            requestURI: optionalString(),
            requestIPAddress: optionalString(),
            requestUserAgent: optionalString(),
            requestVerb: optionalString(),
            metadata: fields.sorted { $0.path < $1.path }
        )
    }

    mutating func batch(maxActions: Int = 20) -> JournalBatch {
        let types = FieldType.allCases
        return JournalBatch(
            application: string(),
            schemaDelta: SchemaDelta(
                keys: (0..<Int.random(in: 0...3, using: &self)).map { _ in
                    .init(name: string(), type: types.randomElement(using: &self)!)
                },
                paths: (0..<Int.random(in: 0...3, using: &self)).map { _ in
                    .init(name: string(), type: types.randomElement(using: &self)!)
                }
            ),
            actions: (0..<Int.random(in: 0...maxActions, using: &self)).map { _ in action() }
        )
    }

    mutating func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8.random(in: 0...255, using: &self) } }
}

/// A realistic action for benchmarks: ~300 bytes encoded.
func sampleAction(_ i: Int) -> Action {
    Action(
        time: 1_700_000_000_000_000 + Int64(i) * 1000,
        actionName: "Clicked Sign Up",
        userId: "user-\(i % 5000)",
        companyId: "company-\(i % 200)",
        sessionToken: "sess-8f2a1c\(i % 997)",
        requestURI: "https://example.com/pricing?plan=\(i % 3)",
        requestIPAddress: "10.0.\(i % 256).\(i % 251)",
        requestUserAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36",
        requestVerb: "GET",
        metadata: [
            MetadataField(path: "button_label", value: .string("Get Started")),
            MetadataField(path: "campaign.id", value: .int(Int64(i % 40))),
            MetadataField(path: "campaign.source", value: .string("newsletter")),
            MetadataField(path: "latency", value: .double(Double(i % 1000) / 7)),
            MetadataField(path: "tags", value: .array("[\"a\",\"b\"]")),
            MetadataField(path: "trial", value: .bool(i % 2 == 0)),
        ]
    )
}
