#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

// The one seeded random source of the tests (issue 18 item 7).

/// SplitMix64: small, fast, repeatable (collections `RepeatableRandomNumberGenerator`).
struct SeededRNG: RandomNumberGenerator {
    private var state: UInt64
    let seed: UInt64

    /// Seeds from `ACTIONSTORE_TEST_SEED` (or its older name `JOURNAL_TEST_SEED`) if set, else
    /// from the clock; prints the seed so a failure can be replayed.
    init(_ label: String) {
        self.init(seed: Self.testSeed(label))
    }

    /// The seed a randomized test uses: `ACTIONSTORE_TEST_SEED` when set, else a fresh one;
    /// printed with the test's label, so every failure can be replayed.
    static func testSeed(_ label: String) -> UInt64 {
        let seed: UInt64 =
            if let s = getenv("ACTIONSTORE_TEST_SEED") ?? getenv("JOURNAL_TEST_SEED"),
                let v = UInt64(String(cString: s))
            {
                v
            } else {
                UInt64.random(in: 0...UInt64.max)
            }
        print("\(label): seed \(seed) (set ACTIONSTORE_TEST_SEED=\(seed) to repeat)")
        return seed
    }

    init(seed: UInt64) {
        self.seed = seed
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
