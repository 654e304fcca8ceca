import Foundation
import Testing

@testable import ActionStore

@Suite struct NormalizedBatchTests {
    static func lines(_ n: Int, _ rng: inout SeededRNG) -> [String] {
        (0..<n).map { i in
            var meta = [#""provider":"\#(["Google", "GitHub", "café", "cafe\u{301}"][Int(rng.next() % 4)])""#]
            if rng.next() % 2 == 0 { meta.append(#""amount":\#(rng.next() % 3 == 0 ? "1.5" : "\(i)")"#) }
            if rng.next() % 3 == 0 { meta.append(#""plan":{"name":"p\#(i % 3)","seats":\#(i % 5)}"#) }
            if rng.next() % 5 == 0 { meta.append(#""tags":["a",\#(i)],"ok":\#(i % 2 == 0),"x.y":null"#) }
            if rng.next() % 7 == 0 { meta.append(#""dup":1,"dup":"last""#) }
            if i % 97 == 5 { return #"{"user_id":"no name"}"# }
            if i % 89 == 3 { return #"{"action_name":"A","metadata":{"x":}}"# }  // bad JSON
            return #"{"action_name":"A\#(i % 4)","user_id":"u\#(i % 13)","transaction_id":"t\#(i)","#
                + #""request":{"time":"2026-09-0\#(1 + i % 3)T10:00:00Z","ip_address":"10.0.0.\#(i % 3)"},"#
                + #""metadata":{\#(meta.joined(separator: ","))}}"#
        }
    }

    private func rowsOf(_ outcomes: [Result<NormalizedAction, ActionStoreError>]) -> [String] {
        outcomes.map { o in
            switch o {
            case .success(let n): return "\(n.action) \(n.pathUses)"
            case .failure(let e): return "error \(e.code)"
            }
        }
    }

    /// Documents normalized on several workers and joined give what one pass gives, and the
    /// row-valued view of a batch agrees with normalizing each document alone.
    @Test func joinedWorkersEqualOnePass() throws {
        var rng = SeededRNG("batch-join")
        let docs = Self.lines(3000, &rng).map { Array($0.utf8)[...] }
        let n = ActionNormalizer()
        var one = NormalizedBatch()
        for d in docs { d.withUnsafeBufferPointer { n.normalizeObject($0, receivedAt: 7, into: &one) } }
        var joined = NormalizedBatch()
        var part = NormalizedBatch()
        for (i, d) in docs.enumerated() {
            d.withUnsafeBufferPointer { n.normalizeObject($0, receivedAt: 7, into: &part) }
            if i % 700 == 699 || i == docs.count - 1 {
                joined.append(contentsOf: part)
                part = NormalizedBatch()
            }
        }
        let each = docs.map { d in d.withUnsafeBufferPointer { n.normalize($0, receivedAt: 7) } }
        #expect(rowsOf(one.normalizedActions()) == rowsOf(each), "seed \(rng.seed)")
        #expect(rowsOf(joined.normalizedActions()) == rowsOf(each), "seed \(rng.seed)")
        let a = try #require(one.chunk())
        let b = try #require(joined.chunk())
        #expect(exactlyEqual(a.actions, b.actions))
        let good = each.compactMap { try? $0.get().action }
        #expect(exactlyEqual(a.actions, good))
    }

    @Test func keepingAndDroppingSelectRowsAndPaths() throws {
        var rng = SeededRNG("batch-keep")
        let docs = Self.lines(400, &rng).map { Array($0.utf8)[...] }
        var batch = NormalizedBatch()
        for d in docs {
            d.withUnsafeBufferPointer { ActionNormalizer().normalizeObject($0, receivedAt: 7, into: &batch) }
        }
        let all = try #require(batch.chunk()).actions
        var keep = RowBitmap(count: batch.rowCount, allSet: true)
        for r in 0..<batch.rowCount where rng.next() % 3 == 0 { keep[r] = false }
        let plan = try #require(batch.id(of: "plan"))
        let dropping = Dictionary(
            uniqueKeysWithValues: (0..<batch.rowCount).filter { $0 % 2 == 0 }.map { ($0, [plan]) }
        )
        let some = try #require(batch.chunk(keeping: keep, dropping: dropping)).actions
        let expected = (0..<batch.rowCount).filter { keep[$0] }.map { r -> Action in
            var a = all[r]
            if r % 2 == 0 { a.metadata.removeAll { $0.path.hasPrefix("plan.") || $0.path == "plan" } }
            return a
        }
        #expect(exactlyEqual(some, expected), "seed \(rng.seed)")
    }

    @Test func fillGivesRowsWithoutTheFieldTheValue() throws {
        var batch = NormalizedBatch()
        let doc = Array(
            #"[{"action_name":"a"},{"action_name":"b","request":{"ip_address":"1.2.3.4"}},{"action_name":"c"}]"#.utf8
        )
        try doc.withUnsafeBufferPointer { try ActionNormalizer().normalizeDocument($0, receivedAt: 1, into: &batch) }
        batch.fill(.requestIPAddress, with: "9.9.9.9")
        let ips = try #require(batch.chunk()).actions.map(\.requestIPAddress)
        #expect(ips == ["9.9.9.9", "1.2.3.4", "9.9.9.9"])
    }

    /// The typed API records the same path uses as the JSON reader for the same action.
    @Test func typedActionsUseLikeJSON() throws {
        let json = #"{"action_name":"a","metadata":{"plan":{"name":"pro","seats":{"n":3}},"z":true}}"#
        let viaJSON = try ActionNormalizer().normalize(json, receivedAt: 0).get()
        let typed = NormalizedBatch(actions: [viaJSON.action])
        #expect(Set(typed.pathUses(0)) == Set(viaJSON.pathUses))
        #expect(exactlyEqual(try #require(typed.chunk()).actions, [viaJSON.action]))
        #expect(NormalizedBatch(actions: [Action(time: 0, actionName: "")]).outcomes.count == 1)
    }
}
