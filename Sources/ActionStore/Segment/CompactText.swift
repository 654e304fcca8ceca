/// Compact binary forms of UUID and IPv4 text, used by a string column only when every value of the
/// column parses and formats back to the very same bytes.
enum CompactText {
    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Parses canonical lowercase `8-4-4-4-12` UUID text; the first hex digit is the most significant,
    /// so numeric order is text order. Uppercase is rejected: it would not format back identically.
    static func parseUUID(_ s: String) -> UInt128? {
        var s = s
        return s.withUTF8 { parseUUID(bytes: $0) }
    }

    /// `parseUUID` on bytes.
    static func parseUUID(bytes b: UnsafeBufferPointer<UInt8>) -> UInt128? {
        do {
            guard b.count == 36 else { return nil }
            var v: UInt128 = 0
            for i in 0..<36 {
                let c = b[i]
                if i == 8 || i == 13 || i == 18 || i == 23 {
                    guard c == 0x2D else { return nil }
                    continue
                }
                let d: UInt8
                switch c {
                case 0x30...0x39: d = c - 0x30
                case 0x61...0x66: d = c - 0x61 + 10
                default: return nil
                }
                v = v << 4 | UInt128(d)
            }
            return v
        }
    }

    static func formatUUID(_ v: UInt128) -> String {
        String(unsafeUninitializedCapacity: 36) { buf in
            var shift = 124
            for i in 0..<36 {
                if i == 8 || i == 13 || i == 18 || i == 23 {
                    buf[i] = 0x2D
                } else {
                    buf[i] = hexDigits[Int((v >> UInt128(shift)) & 0xF)]
                    shift -= 4
                }
            }
            return 36
        }
    }

    /// Parses canonical dotted-quad IPv4 text (no leading zeros, each part 0...255).
    static func parseIPv4(_ s: String) -> UInt32? {
        var s = s
        return s.withUTF8 { parseIPv4(bytes: $0) }
    }

    /// `parseIPv4` on bytes.
    static func parseIPv4(bytes b: UnsafeBufferPointer<UInt8>) -> UInt32? {
        do {
            guard b.count >= 7, b.count <= 15 else { return nil }
            var v: UInt32 = 0
            var part: UInt32 = 0
            var digits = 0
            var parts = 0
            for i in 0...b.count {
                if i == b.count || b[i] == 0x2E {
                    guard digits > 0, part <= 255 else { return nil }
                    v = v << 8 | part
                    parts += 1
                    part = 0
                    digits = 0
                    continue
                }
                let c = b[i]
                guard c >= 0x30, c <= 0x39 else { return nil }
                guard !(digits == 1 && part == 0) else { return nil }  // leading zero
                part = part * 10 + UInt32(c - 0x30)
                digits += 1
                guard digits <= 3 else { return nil }
            }
            return parts == 4 ? v : nil
        }
    }

    static func formatIPv4(_ v: UInt32) -> String {
        "\(v >> 24).\(v >> 16 & 0xFF).\(v >> 8 & 0xFF).\(v & 0xFF)"
    }
}
