import Foundation
import Testing

@testable import ActionStore

/// Random JSON texts, valid by construction, with the nasty corners: escapes, surrogate pairs,
/// non-ASCII, dotted keys, nulls, every number form, deep nesting, duplicate keys.
struct JSONGenerator {
    var rng: SeededRNG

    mutating func string() -> String {
        let pieces = [
            "a", "Google", "é", "日本", "😀", "\\n", "\\\"", "\\\\", "\\/", "\\u00e9", "\\ud83d\\ude00", "\\u0000",
            "\\t", "x.y", " ", "\\b\\f\\r", "\u{7F}", "\u{FFFD}",
        ]
        let n = Int.random(in: 0...6, using: &rng)
        return "\"" + (0..<n).map { _ in pieces.randomElement(using: &rng)! }.joined() + "\""
    }

    mutating func number() -> String {
        switch Int.random(in: 0..<8, using: &rng) {
        case 0: return String(Int64.random(in: -1000...1000, using: &rng))
        case 1: return String(Int64.random(in: Int64.min...Int64.max, using: &rng))
        case 2: return String(Double.random(in: -1e6...1e6, using: &rng))
        case 3: return "1e\(Int.random(in: -300...300, using: &rng))"
        case 4: return "-0"
        case 5: return "0.5E+2"
        case 6: return "18446744073709551616"
        default: return "-\(Int.random(in: 0...9, using: &rng)).\(Int.random(in: 0...999, using: &rng))e-3"
        }
    }

    mutating func value(depth: Int) -> String {
        let k = depth > 6 ? Int.random(in: 0..<4, using: &rng) : Int.random(in: 0..<7, using: &rng)
        switch k {
        case 0: return string()
        case 1: return number()
        case 2: return ["true", "false", "null"].randomElement(using: &rng)!
        case 3: return string()
        case 4, 5: return object(depth: depth + 1)
        default:
            let n = Int.random(in: 0...4, using: &rng)
            return "[" + (0..<n).map { _ in value(depth: depth + 1) }.joined(separator: " ,") + "]"
        }
    }

    mutating func object(depth: Int) -> String {
        let n = Int.random(in: 0...5, using: &rng)
        let keys = ["a", "b.c", "d", "e.f.g", "h", "é", "k"]
        return "{ "
            + (0..<n).map { _ in "\"\(keys.randomElement(using: &rng)!)\" : \(value(depth: depth))" }
            .joined(separator: ",\n") + "}"
    }
}

/// What the normalizer should make of metadata, computed from Foundation's parse instead.
private func expectedLeaves(_ object: [String: Any], prefix: String, into out: inout [String: Any]) {
    for (k, v) in object {
        let path = (prefix.isEmpty ? "" : prefix + ".") + k.replacingOccurrences(of: ".", with: "_")
        if v is NSNull { continue }
        if let o = v as? [String: Any] {
            expectedLeaves(o, prefix: path, into: &out)
        } else {
            out[path] = v
        }
    }
}

private func same(_ ours: Value, _ theirs: Any) -> Bool {
    switch ours {
    case .string(let s): return (theirs as? String) == s
    case .bool(let b):
        guard let n = theirs as? NSNumber else { return false }
        return n.boolValue == b
    case .int(let i):
        guard let n = theirs as? NSNumber else { return false }
        return n.int64Value == i || n.doubleValue == Double(i)
    case .double(let d):
        guard let n = theirs as? NSNumber else { return false }
        return n.doubleValue == d || abs(n.doubleValue - d) <= abs(d) * 1e-15
    case .array(let text):
        guard let a = theirs as? NSArray,
            let b = try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) as? NSArray
        else { return false }
        return a.isEqual(b)
    }
}

@Suite struct JSONDifferentialTests {
    /// Valid documents: both parsers accept, and agree on every flattened value.
    @Test func agreesWithJSONSerializationOnValidDocuments() throws {
        let seed = SeededRNG.testSeed("agreesWithJSONSerializationOnValidDocuments")
        var gen = JSONGenerator(rng: SeededRNG(seed: seed))
        // Duplicate keys are left out of the comparison: RFC 8259 leaves their meaning open.
        var compared = 0
        for i in 0..<3000 {
            let meta = gen.object(depth: 2)
            let doc = #"{"action_name":"x","metadata":"# + meta + "}"
            guard let foundation = try? JSONSerialization.jsonObject(with: Data(doc.utf8)) as? [String: Any],
                let fm = foundation["metadata"] as? [String: Any]
            else {
                Issue.record("seed \(seed) case \(i): Foundation rejected a generated document: \(doc)")
                continue
            }
            let ours: Action
            switch ActionNormalizer().normalize(doc, receivedAt: 0) {
            case .success(let n): ours = n.action
            case .failure(let e):
                Issue.record("seed \(seed) case \(i): rejected valid JSON: \(e) in \(doc)")
                continue
            }
            if meta.contains("\"b.c\"") && meta.contains("\"b_c\"") { continue }
            var expected: [String: Any] = [:]
            expectedLeaves(fm, prefix: "", into: &expected)
            // Keys that collide after normalization ("é" and duplicates) keep one value: skip those docs.
            if Set(ours.metadata.map(\.path)).count != expected.count { continue }
            compared += 1
            for f in ours.metadata {
                guard let theirs = expected[f.path] else {
                    Issue.record("seed \(seed) case \(i): path \(f.path) not in Foundation's parse of \(doc)")
                    continue
                }
                #expect(same(f.value, theirs), "seed \(seed) case \(i): \(f.path) = \(f.value) vs \(theirs)")
            }
        }
        #expect(compared > 1000)
    }

    /// Corrupted documents: whatever Foundation rejects, we reject too; where we reject and it
    /// accepts, it is one of the documented strictness differences.
    @Test func rejectsWhatJSONSerializationRejects() {
        let seed = SeededRNG.testSeed("rejectsWhatJSONSerializationRejects")
        var gen = JSONGenerator(rng: SeededRNG(seed: seed))
        var rng = SeededRNG(seed: seed ^ 0xABCD)
        var bothRejected = 0
        var stricter: [String] = []
        for i in 0..<3000 {
            var bytes = Array((#"{"action_name":"x","metadata":"# + gen.object(depth: 2) + "}").utf8)
            // One mutation: a byte replaced, removed, or inserted.
            let at = Int.random(in: 0..<bytes.count, using: &rng)
            let nasty: [UInt8] = [
                0x00, 0x01, 0x22, 0x5C, 0x2C, 0x7D, 0x5D, 0x3A, 0x80, 0xC0, 0xED, 0xFF, 0x30, 0x2E, 0x65,
            ]
            switch Int.random(in: 0..<3, using: &rng) {
            case 0: bytes[at] = nasty.randomElement(using: &rng)!
            case 1: bytes.remove(at: at)
            default: bytes.insert(nasty.randomElement(using: &rng)!, at: at)
            }
            let foundationAccepts = (try? JSONSerialization.jsonObject(with: Data(bytes))) != nil
            let r = bytes.withUnsafeBufferPointer { ActionNormalizer().normalize($0, receivedAt: 0) }
            var oursSyntaxError = false
            if case .failure(let e) = r, e.code == .invalidJSON {
                oursSyntaxError = true
                // Foundation is lenient in two ways RFC 8259 is not: a trailing comma before '}' or
                // ']', and numbers too large for a Double (it gives infinity). Nothing else may differ.
                if foundationAccepts {
                    #expect(
                        e.message.hasPrefix("number out of range")
                            || e.message.hasPrefix("expected a string key, found '}'")
                            || e.message.hasPrefix("unexpected ']', expected a value"),
                        "seed \(seed) case \(i): \(e.message)"
                    )
                }
            }
            if !foundationAccepts {
                #expect(r.isFailure, "seed \(seed) case \(i): accepted what Foundation rejects: \(bytes)")
                bothRejected += 1
            } else if oursSyntaxError {
                stricter.append(String(decoding: bytes, as: UTF8.self))
            }
        }
        print("JSON differential: Foundation accepted \(stricter.count) documents we reject as invalid JSON")
        for s in stricter.prefix(5) { print("  stricter: \(s.debugDescription)") }
        #expect(bothRejected > 500)
    }
}
