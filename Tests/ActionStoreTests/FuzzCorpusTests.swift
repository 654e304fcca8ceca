import Foundation
import Testing

@testable import ActionStore

/// Writes the seed corpus for `make fuzz` into `$ACTIONSTORE_FUZZ_CORPUS/{json,segment}` (a temporary
/// folder when unset), and checks every seed is valid input: the fuzzers start from real shapes.
@Suite struct FuzzCorpusTests {
    @Test func writeSeedCorpus() throws {
        let root =
            ProcessInfo.processInfo.environment["ACTIONSTORE_FUZZ_CORPUS"]
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("corpus-\(UUID().uuidString)").path
        let json = root + "/json"
        let segment = root + "/segment"
        try FileManager.default.createDirectory(atPath: json, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: segment, withIntermediateDirectories: true)
        var gen = JSONGenerator(rng: SeededRNG(seed: 1))
        var docs: [String] = [
            #"{"action_name":"Clicked Sign Up","metadata":{"button_label":"Get Started","provider":"Google"}}"#,
            #"[{"actionName":"a","userId":"u","request":{"time":"2024-03-01T04:45:42.914","userAgentString":"UA"}}]"#,
            #"{"action_name":"x","metadata":{"so.me_str.ing":"I am a string","some.int":77.23}}"#,
        ]
        for _ in 0..<40 {
            docs.append(#"{"action_name":"x","request":{"uri":"/"},"metadata":"# + gen.object(depth: 2) + "}")
        }
        for (i, d) in docs.enumerated() {
            try Data(d.utf8).write(to: URL(fileURLWithPath: json + "/seed-\(i).json"))
            let outcomes = try Array(d.utf8).withUnsafeBufferPointer {
                try ActionNormalizer().normalizeDocument($0, receivedAt: 0)
            }
            #expect(outcomes.allSatisfy { if case .success = $0 { true } else { false } }, "\(d)")
        }
        var rng = SeededRNG(seed: 2)
        for (i, n) in [1, 5, 40, 300].enumerated() {
            let actions = (0..<n).map { _ in QueryFixtures.action(&rng) }.sorted { $0.time < $1.time }
            var o = SegmentOptions()
            o.blockRows = 64
            let path = segment + "/seed-\(i).seg"
            _ = try SegmentWriter.write(actions: actions, to: path, options: o)
            let reader = try SegmentReader(path: path)
            try reader.verify()
            #expect(try reader.actions().count == n)
        }
    }
}
