// Kept over simdjson (issue 13 item 1; docs/simdjson-measurement.md). Walking every value of 1M
// Moesif actions, simdjson 3.0.1 On-Demand was 1.3-1.4x faster and used half the instructions
// (6.6k against 13.7k per action). Reading is only ~40% of normalization, though, so the most a
// switch could gain is 12-18% of that stage. It would cost a C++ dependency, a rewrite of the read
// loop, and the exact byte offsets that errors name.

/// A strict RFC 8259 pull reader over UTF-8 bytes.
///
/// Written by hand because the normalizer must go straight from bytes to actions: Foundation's
/// JSONSerialization builds an NSDictionary tree (slow, and it loses the int/double distinction),
/// and Codable cannot express "metadata is any object, flattened". Errors name the byte offset.
///
/// The reader never owns memory: it borrows a buffer for the duration of one `withUnsafeBytes`.
struct JSONReader {
    let base: UnsafePointer<UInt8>
    let end: Int
    /// Current byte index into `base`.
    var pos: Int
    /// Added to `pos` in error messages, so that offsets are relative to the whole input.
    let offsetBias: Int
    let depthMax: Int

    init(_ buffer: UnsafeBufferPointer<UInt8>, offsetBias: Int = 0, depthMax: Int = 32) {
        // Safe because an empty buffer is never dereferenced: every read checks `pos < end` first.
        self.base = buffer.baseAddress ?? UnsafePointer(bitPattern: 1)!
        self.end = buffer.count
        self.pos = 0
        self.offsetBias = offsetBias
        self.depthMax = depthMax
    }

    // MARK: Errors

    func error(_ what: String, at offset: Int? = nil) -> ActionStoreError {
        ActionStoreError(.invalidJSON, "\(what) at byte offset \((offset ?? pos) + offsetBias)")
    }

    // MARK: Structure

    @inline(__always)
    mutating func skipWhitespace() {
        while pos < end {
            let c = base[pos]
            guard c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 else { return }
            pos += 1
        }
    }

    /// The next non-whitespace byte, not consumed; nil at the end of input.
    @inline(__always)
    mutating func peek() -> UInt8? {
        skipWhitespace()
        return pos < end ? base[pos] : nil
    }

    mutating func expect(_ c: UInt8, _ what: String) throws(ActionStoreError) {
        skipWhitespace()
        guard pos < end else { throw error("unexpected end of input, expected \(what)") }
        guard base[pos] == c else { throw error("expected \(what), found \(describe(base[pos]))") }
        pos += 1
    }

    func describe(_ c: UInt8) -> String {
        if c >= 0x21 && c < 0x7F { return "'\(Character(Unicode.Scalar(c)))'" }
        return "byte 0x" + String(c, radix: 16)
    }

    /// After a value inside an object: consumes `,` (returns true: another member follows) or `}`.
    mutating func nextMember() throws(ActionStoreError) -> Bool {
        skipWhitespace()
        guard pos < end else { throw error("unexpected end of input inside an object") }
        let c = base[pos]
        pos += 1
        if c == 0x2C { return true }
        if c == 0x7D { return false }
        throw error("expected ',' or '}' in an object, found \(describe(c))", at: pos - 1)
    }

    /// After a value inside an array: consumes `,` (returns true) or `]`.
    mutating func nextElement() throws(ActionStoreError) -> Bool {
        skipWhitespace()
        guard pos < end else { throw error("unexpected end of input inside an array") }
        let c = base[pos]
        pos += 1
        if c == 0x2C { return true }
        if c == 0x5D { return false }
        throw error("expected ',' or ']' in an array, found \(describe(c))", at: pos - 1)
    }

    /// Consumes `{` and reports whether the object has members (consumes `}` if empty).
    mutating func beginObject() throws(ActionStoreError) -> Bool {
        try expect(0x7B, "'{'")
        skipWhitespace()
        if pos < end && base[pos] == 0x7D {
            pos += 1
            return false
        }
        return true
    }

    /// Consumes `[` and reports whether the array has elements (consumes `]` if empty).
    mutating func beginArray() throws(ActionStoreError) -> Bool {
        try expect(0x5B, "'['")
        skipWhitespace()
        if pos < end && base[pos] == 0x5D {
            pos += 1
            return false
        }
        return true
    }

    /// Reads a member key and the `:` after it, decoded into `key` (cleared first).
    mutating func readKey(into key: inout [UInt8]) throws(ActionStoreError) {
        skipWhitespace()
        guard pos < end, base[pos] == 0x22 else {
            if pos >= end { throw error("unexpected end of input, expected a key") }
            throw error("expected a string key, found \(describe(base[pos]))")
        }
        key.removeAll(keepingCapacity: true)
        try readStringBytes(into: &key)
        try expect(0x3A, "':'")
    }

    // MARK: Strings

    /// Reads a string value. Fast path: no escapes, so the bytes are used as they are.
    mutating func readString() throws(ActionStoreError) -> String {
        skipWhitespace()
        guard pos < end, base[pos] == 0x22 else { throw error("expected a string") }
        pos += 1
        let start = pos
        skipPlainRun()
        while pos < end {
            let c = base[pos]
            if c == 0x22 {
                let s = String(
                    decoding: UnsafeBufferPointer(start: base + start, count: pos - start),
                    as: UTF8.self
                )
                pos += 1
                return s
            }
            if c == 0x5C || c < 0x20 { break }
            if c >= 0x80 {
                try validateUTF8Sequence()
            } else {
                pos += 1
            }
        }
        // Slow path: escapes (or an error) ahead. Restart into a byte buffer.
        pos = start - 1
        var bytes: [UInt8] = []
        try readStringBytes(into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Reads a string (positioned at its opening quote), appending its decoded UTF-8 to `out`.
    mutating func readStringBytes(into out: inout [UInt8]) throws(ActionStoreError) {
        pos += 1  // opening quote
        var runStart = pos
        skipPlainRun()
        while pos < end {
            let c = base[pos]
            if c == 0x22 {
                out.append(contentsOf: UnsafeBufferPointer(start: base + runStart, count: pos - runStart))
                pos += 1
                return
            }
            if c < 0x20 {
                throw error("unescaped control character \(describe(c)) in a string")
            }
            if c == 0x5C {
                out.append(contentsOf: UnsafeBufferPointer(start: base + runStart, count: pos - runStart))
                try readEscape(into: &out)
                runStart = pos
                continue
            }
            if c >= 0x80 {
                try validateUTF8Sequence()
            } else {
                pos += 1
            }
        }
        throw error("unterminated string")
    }

    /// Steps over bytes that need no attention inside a string (printable ASCII other than `"` and
    /// `\`), eight at a time: the SWAR tests below flag a byte below 0x20, at or above 0x80, or
    /// equal to 0x22 or 0x5C anywhere in the word.
    @inline(__always)
    mutating func skipPlainRun() {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        while end - pos >= 8 {
            // Safe because 8 bytes remain from pos, checked above.
            let x = UnsafeRawPointer(base + pos).loadUnaligned(as: UInt64.self)
            let control = (x &- ones &* 0x20) & ~x & highs
            let q = x ^ (ones &* 0x22)
            let quote = (q &- ones) & ~q & highs
            let b = x ^ (ones &* 0x5C)
            let backslash = (b &- ones) & ~b & highs
            if (control | quote | backslash | (x & highs)) != 0 { return }
            pos += 8
        }
    }

    /// Validates one multi-byte UTF-8 sequence at `pos` and steps over it.
    @inline(__always)
    mutating func validateUTF8Sequence() throws(ActionStoreError) {
        let c0 = base[pos]
        let start = pos
        func cont(_ i: Int, _ lo: UInt8 = 0x80, _ hi: UInt8 = 0xBF) -> Bool {
            i < end && base[i] >= lo && base[i] <= hi
        }
        var ok = false
        var n = 0
        switch c0 {
        case 0xC2...0xDF:
            n = 2
            ok = cont(pos + 1)
        case 0xE0:
            n = 3
            ok = cont(pos + 1, 0xA0, 0xBF) && cont(pos + 2)
        case 0xE1...0xEC, 0xEE...0xEF:
            n = 3
            ok = cont(pos + 1) && cont(pos + 2)
        case 0xED:
            n = 3
            ok = cont(pos + 1, 0x80, 0x9F) && cont(pos + 2)  // excludes UTF-16 surrogates
        case 0xF0:
            n = 4
            ok = cont(pos + 1, 0x90, 0xBF) && cont(pos + 2) && cont(pos + 3)
        case 0xF1...0xF3:
            n = 4
            ok = cont(pos + 1) && cont(pos + 2) && cont(pos + 3)
        case 0xF4:
            n = 4
            ok = cont(pos + 1, 0x80, 0x8F) && cont(pos + 2) && cont(pos + 3)
        default:
            ok = false
        }
        guard ok else { throw error("invalid UTF-8", at: start) }
        pos += n
    }

    mutating func readEscape(into out: inout [UInt8]) throws(ActionStoreError) {
        let escapeStart = pos
        pos += 1
        guard pos < end else { throw error("unterminated escape") }
        let c = base[pos]
        pos += 1
        switch c {
        case 0x22: out.append(0x22)
        case 0x5C: out.append(0x5C)
        case 0x2F: out.append(0x2F)
        case 0x62: out.append(0x08)
        case 0x66: out.append(0x0C)
        case 0x6E: out.append(0x0A)
        case 0x72: out.append(0x0D)
        case 0x74: out.append(0x09)
        case 0x75:
            var scalar = try readHex4()
            if scalar >= 0xD800 && scalar <= 0xDBFF {
                guard pos + 1 < end, base[pos] == 0x5C, base[pos + 1] == 0x75 else {
                    throw error("lone high surrogate \\u\(String(scalar, radix: 16))", at: escapeStart)
                }
                pos += 2
                let low = try readHex4()
                guard low >= 0xDC00 && low <= 0xDFFF else {
                    throw error("high surrogate not followed by a low surrogate", at: escapeStart)
                }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            } else if scalar >= 0xDC00 && scalar <= 0xDFFF {
                throw error("lone low surrogate \\u\(String(scalar, radix: 16))", at: escapeStart)
            }
            // Safe because surrogates were excluded above and the value is at most 0x10FFFF.
            let us = Unicode.Scalar(scalar)!
            out.append(contentsOf: UTF8.encode(us)!)
        default:
            throw error("invalid escape \\\(Character(Unicode.Scalar(c)))", at: escapeStart)
        }
    }

    mutating func readHex4() throws(ActionStoreError) -> UInt32 {
        guard end - pos >= 4 else { throw error("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = base[pos]
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: throw error("invalid hex digit \(describe(c)) in \\u escape")
            }
            v = v << 4 | d
            pos += 1
        }
        return v
    }

    // MARK: Scalars

    /// Reads a number. Integers without fraction or exponent that fit Int64 come back as `.int`.
    mutating func readNumber() throws(ActionStoreError) -> Value {
        skipWhitespace()
        let start = pos
        var negative = false
        if pos < end && base[pos] == 0x2D {
            negative = true
            pos += 1
        }
        guard pos < end, base[pos] >= 0x30 && base[pos] <= 0x39 else {
            throw error("invalid number: expected a digit", at: pos)
        }
        var integral = true
        var magnitude: UInt64 = 0
        var overflow = false
        if base[pos] == 0x30 {
            pos += 1
            if pos < end && base[pos] >= 0x30 && base[pos] <= 0x39 {
                throw error("invalid number: leading zero", at: start)
            }
        } else {
            while pos < end, base[pos] >= 0x30 && base[pos] <= 0x39 {
                let (m1, o1) = magnitude.multipliedReportingOverflow(by: 10)
                let (m2, o2) = m1.addingReportingOverflow(UInt64(base[pos] - 0x30))
                overflow = overflow || o1 || o2
                magnitude = m2
                pos += 1
            }
        }
        if pos < end && base[pos] == 0x2E {
            integral = false
            pos += 1
            guard pos < end, base[pos] >= 0x30 && base[pos] <= 0x39 else {
                throw error("invalid number: expected a digit after '.'", at: pos)
            }
            while pos < end, base[pos] >= 0x30 && base[pos] <= 0x39 { pos += 1 }
        }
        if pos < end && (base[pos] == 0x65 || base[pos] == 0x45) {
            integral = false
            pos += 1
            if pos < end && (base[pos] == 0x2B || base[pos] == 0x2D) { pos += 1 }
            guard pos < end, base[pos] >= 0x30 && base[pos] <= 0x39 else {
                throw error("invalid number: expected a digit in the exponent", at: pos)
            }
            while pos < end, base[pos] >= 0x30 && base[pos] <= 0x39 { pos += 1 }
        }
        if integral && !overflow {
            if negative {
                if magnitude <= UInt64(Int64.max) + 1 {
                    return .int(magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude))
                }
            } else if magnitude <= UInt64(Int64.max) {
                return .int(Int64(magnitude))
            }
        }
        let text = String(decoding: UnsafeBufferPointer(start: base + start, count: pos - start), as: UTF8.self)
        guard let d = Double(text), d.isFinite else {
            throw error("number out of range", at: start)
        }
        return .double(d)
    }

    /// Reads `true`, `false` or `null` (the caller checked the first byte).
    mutating func readLiteral() throws(ActionStoreError) -> Bool? {
        skipWhitespace()
        func match(_ lit: StaticString) -> Bool {
            let n = lit.utf8CodeUnitCount
            guard end - pos >= n else { return false }
            for i in 0..<n where base[pos + i] != lit.utf8Start[i] { return false }
            pos += n
            return true
        }
        if match("true") { return true }
        if match("false") { return false }
        if match("null") { return nil }
        throw error("invalid literal")
    }

    // MARK: Whole values

    /// Skips any value, validating it; `depth` is the depth of the container holding it.
    mutating func skipValue(depth: Int) throws(ActionStoreError) {
        var sink: [UInt8]? = nil
        try copyValue(depth: depth, into: &sink)
    }

    /// Validates a value and, if `out` is non-nil, appends its compact JSON text (no insignificant
    /// whitespace, strings re-escaped minimally) to it.
    mutating func copyValue(depth: Int, into out: inout [UInt8]?) throws(ActionStoreError) {
        guard let c = peek() else { throw error("unexpected end of input, expected a value") }
        switch c {
        case 0x7B:
            guard depth + 1 <= depthMax else { throw error("nesting deeper than \(depthMax)") }
            out?.append(0x7B)
            if try beginObject() {
                var key: [UInt8] = []
                repeat {
                    try readKey(into: &key)
                    if out != nil {
                        JSONWriter.appendString(key, to: &out!)
                        out!.append(0x3A)
                    }
                    try copyValue(depth: depth + 1, into: &out)
                    let more = try nextMember()
                    if more { out?.append(0x2C) }
                    if !more { break }
                } while true
            }
            out?.append(0x7D)
        case 0x5B:
            guard depth + 1 <= depthMax else { throw error("nesting deeper than \(depthMax)") }
            out?.append(0x5B)
            if try beginArray() {
                repeat {
                    try copyValue(depth: depth + 1, into: &out)
                    let more = try nextElement()
                    if more { out?.append(0x2C) }
                    if !more { break }
                } while true
            }
            out?.append(0x5D)
        case 0x22:
            if out != nil {
                var bytes: [UInt8] = []
                try readStringBytes(into: &bytes)
                JSONWriter.appendString(bytes, to: &out!)
            } else {
                // Validate without materializing.
                pos += 1
                while pos < end {
                    let b = base[pos]
                    if b == 0x22 { break }
                    if b < 0x20 { throw error("unescaped control character \(describe(b)) in a string") }
                    if b == 0x5C {
                        var scratch: [UInt8] = []
                        try readEscape(into: &scratch)
                    } else if b >= 0x80 {
                        try validateUTF8Sequence()
                    } else {
                        pos += 1
                    }
                }
                guard pos < end else { throw error("unterminated string") }
                pos += 1
            }
        case 0x74, 0x66, 0x6E:
            let start = pos
            _ = try readLiteral()
            out?.append(contentsOf: UnsafeBufferPointer(start: base + start, count: pos - start))
        case 0x2D, 0x30...0x39:
            let start = pos
            _ = try readNumber()
            out?.append(contentsOf: UnsafeBufferPointer(start: base + start, count: pos - start))
        default:
            throw error("unexpected \(describe(c)), expected a value")
        }
    }

    /// Requires that only whitespace remains.
    mutating func expectEnd() throws(ActionStoreError) {
        skipWhitespace()
        if pos < end { throw error("trailing characters after the JSON value") }
    }
}

/// The engine's one JSON string escaper: the normalizer (array values), query results and query
/// literals, segdump and the collector's responses all write string literals with it.
///
/// Array values are stored as the JSON text this writes and query literals are compared with
/// them as text, so ``Escaping/required`` output must stay exactly as it is.
public enum JSONWriter {
    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// Which characters a string literal escapes.
    public enum Escaping: Sendable {
        /// Only what RFC 8259 requires: `"`, `\`, and control characters below U+0020 (`\n`, `\r`,
        /// `\t`, others `\u00xx`). The form the store writes and compares.
        case required
        /// Also `\b` and `\f` for backspace and form feed, and `\u` escapes for DEL, U+2028 and
        /// U+2029 (line breaks to JavaScript): for text read by people and scripts (segdump).
        case readable
    }

    /// Appends `bytes` (valid UTF-8) as a JSON string literal, escaping only what RFC 8259 requires.
    public static func appendString(_ bytes: some Sequence<UInt8>, to out: inout [UInt8]) {
        append(bytes, to: &out, readable: false)
    }

    /// Appends `bytes` (valid UTF-8) as a JSON string literal.
    public static func appendString(_ bytes: some Sequence<UInt8>, to out: inout [UInt8], escaping: Escaping) {
        switch escaping {
        case .required: append(bytes, to: &out, readable: false)
        case .readable: append(bytes, to: &out, readable: true)
        }
    }

    /// Appends a Swift string as a JSON string literal, escaping only what RFC 8259 requires.
    public static func appendString(_ s: String, to out: inout String) {
        out += quoted(s)
    }

    /// A Swift string as a JSON string literal.
    public static func quoted(_ s: String, escaping: Escaping = .required) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count + 2)
        appendString(s.utf8, to: &out, escaping: escaping)
        return String(decoding: out, as: UTF8.self)
    }

    // `readable` is a constant at each call, so the inlined loop of the required form has no
    // readable-only tests.
    @inline(__always)
    private static func append(_ bytes: some Sequence<UInt8>, to out: inout [UInt8], readable: Bool) {
        out.append(0x22)
        let start = out.count
        for b in bytes {
            switch b {
            case 0x22:
                out.append(0x5C)
                out.append(0x22)
            case 0x5C:
                out.append(0x5C)
                out.append(0x5C)
            case 0x0A:
                out.append(0x5C)
                out.append(0x6E)
            case 0x0D:
                out.append(0x5C)
                out.append(0x72)
            case 0x09:
                out.append(0x5C)
                out.append(0x74)
            case 0x08 where readable:
                out.append(0x5C)
                out.append(0x62)
            case 0x0C where readable:
                out.append(0x5C)
                out.append(0x66)
            case 0..<0x20,
                0x7F where readable:
                out.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 0xF)]])
            // U+2028 and U+2029 are E2 80 A8 and E2 80 A9; in valid UTF-8, A8 or A9 right after
            // E2 80 (copied as is: escapes are ASCII) is one of them.
            case 0xA8...0xA9 where readable && endsWithE280(out, after: start):
                out.removeLast(2)
                out.append(contentsOf: [0x5C, 0x75, 0x32, 0x30, 0x32, b == 0xA8 ? 0x38 : 0x39])
            default:
                out.append(b)
            }
        }
        out.append(0x22)
    }

    /// Whether `out` ends with E2 80, both after index `start`.
    @inline(__always)
    private static func endsWithE280(_ out: [UInt8], after start: Int) -> Bool {
        out.count - start >= 2 && out[out.count - 2] == 0xE2 && out[out.count - 1] == 0x80
    }
}
