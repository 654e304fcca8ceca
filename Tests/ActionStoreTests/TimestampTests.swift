import Testing

@testable import ActionStore

@Suite struct TimestampTests {
    @Test func formsAccepted() {
        let base: Int64 = 1_709_268_342_000_000  // 2024-03-01T04:45:42Z
        #expect(Timestamp.parse("2024-03-01T04:45:42Z") == base)
        #expect(Timestamp.parse("2024-03-01T04:45:42") == base)
        #expect(Timestamp.parse("2024-03-01T04:45:42.914") == base + 914_000)
        #expect(Timestamp.parse("2024-03-01T04:45:42.9Z") == base + 900_000)
        #expect(Timestamp.parse("2024-03-01T04:45:42.123456789Z") == base + 123_456)
        #expect(Timestamp.parse("2024-03-01T06:45:42+02:00") == base)
        #expect(Timestamp.parse("2024-03-01T01:15:42-03:30") == base)
        #expect(Timestamp.parse("2024-03-01T06:45:42+0200") == base)
        #expect(Timestamp.parse("1969-12-31T23:59:59.5Z") == -500_000)
    }

    @Test func formsRejected() {
        for s in [
            "2024-03-01", "2024-03-01T04:45", "2024-02-30T00:00:00Z", "2024-03-01T24:00:00Z",
            "2024-03-01T04:45:42.Z", "2024-03-01T04:45:42.1234567890Z", "2024-03-01T04:45:42+2", "x",
            "2024-03-01T04:45:42Zjunk",
        ] {
            #expect(Timestamp.parse(s) == nil, "\(s)")
        }
        #expect(Timestamp.parse("2024-02-29T00:00:00Z") != nil)
        #expect(Timestamp.parse("2023-02-29T00:00:00Z") == nil)
    }

    @Test func formatRoundTrips() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let t = Int64.random(in: -2_000_000_000_000_000...4_000_000_000_000_000, using: &rng)
            #expect(Timestamp.parse(Timestamp.format(t)) == t)
        }
        #expect(Timestamp.format(1_709_268_342_914_000) == "2024-03-01T04:45:42.914Z")
        #expect(Timestamp.format(0) == "1970-01-01T00:00:00Z")
    }
}
