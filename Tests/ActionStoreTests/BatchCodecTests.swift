import Testing

@testable import ActionStore

@Suite struct BatchCodecTests {
    @Test func roundTripsRandomBatches() throws {
        var rng = SeededRNG("BatchCodec.roundTrip")
        for _ in 0..<300 {
            let batch = rng.batch()
            let bytes = BatchCodec.encode(batch)
            #expect(bytes.count == BatchCodec.encodedSize(batch))
            let decoded = try BatchCodec.decode(bytes)
            #expect(decoded == batch, "seed \(rng.seed)")
            // Both decode entry points agree.
            let viaRaw = try bytes.withUnsafeBytes { try BatchCodec.decode($0) }
            #expect(viaRaw == batch)
        }
    }

    @Test func roundTripsEveryValueCaseAndExtremes() throws {
        let action = Action(
            time: .min,
            actionName: "",
            userId: "",
            requestVerb: "ÜñíçødÉ 🎉 中文",
            metadata: [
                MetadataField(path: "a", value: .string("")),
                MetadataField(path: "b", value: .int(.max)),
                MetadataField(path: "c", value: .int(.min)),
                MetadataField(path: "d", value: .double(-0.0)),
                MetadataField(path: "e", value: .double(.infinity)),
                MetadataField(path: "f", value: .double(.leastNonzeroMagnitude)),
                MetadataField(path: "g", value: .bool(true)),
                MetadataField(path: "h", value: .bool(false)),
                MetadataField(path: "i", value: .array("[1,\"x\",null]")),
                MetadataField(
                    path: String(repeating: "p", count: 300),
                    value: .string(String(repeating: "v", count: 20_000))
                ),
            ]
        )
        let next = Action(time: .max, actionName: "after")
        let batch = JournalBatch(
            application: "app-ü",
            schemaDelta: SchemaDelta(
                keys: [.init(name: "k", type: .object)],
                paths: [.init(name: "a.b", type: .array)]
            ),
            actions: [action, next, Action(time: 0, actionName: "zero")]
        )
        let decoded = try BatchCodec.decode(BatchCodec.encode(batch))
        #expect(decoded == batch)
        #expect(decoded.actions[0].metadata[3].value.doubleValue?.sign == .minus)
    }

    @Test func emptyBatchIsSmall() throws {
        let batch = JournalBatch(application: "", actions: [])
        let bytes = BatchCodec.encode(batch)
        #expect(bytes == [1, 0, 0, 0, 0])
        #expect(try BatchCodec.decode(bytes) == batch)
    }

    @Test func encodesPresenceBitmaskAndTimeDeltas() {
        let batch = JournalBatch(
            application: "a",
            actions: [
                Action(time: 1000, actionName: "x", anonymousId: "u", requestVerb: "GET"),
                Action(time: 999, actionName: "y"),
            ]
        )
        let bytes = BatchCodec.encode(batch)
        // version, "a", no keys, no paths, 2 actions
        #expect(Array(bytes[0..<6]) == [1, 1, 0x61, 0, 0, 2])
        // time zigzag(1000) = 2000 = 0xD0 0x0F; "x"; presence bits 1 (anonymousId) and 9 (requestVerb)
        #expect(Array(bytes[6..<14]) == [0xD0, 0x0F, 1, 0x78, 0x02, 0x02, 1, 0x75])
        #expect(Array(bytes[14..<19]) == [3, 0x47, 0x45, 0x54, 0])
        // second action: delta -1 → zigzag 1; "y"; no optionals; no metadata
        #expect(Array(bytes[19...]) == [1, 1, 0x79, 0, 0, 0])
    }

    @Test func everyTruncationThrowsCorruption() {
        var rng = SeededRNG("BatchCodec.truncation")
        let bytes = BatchCodec.encode(rng.batch(maxActions: 4))
        for cut in 0..<bytes.count {
            #expect(throws: ActionStoreError.self) { try BatchCodec.decode(bytes[0..<cut]) }
            do {
                _ = try BatchCodec.decode(bytes[0..<cut])
            } catch {
                #expect((error as? ActionStoreError)?.code == .corruption)
            }
        }
    }

    @Test func garbageNeverCrashes() {
        var rng = SeededRNG("BatchCodec.garbage")
        var thrown = 0
        for i in 0..<5000 {
            var bytes: [UInt8]
            if i % 2 == 0 {
                bytes = rng.bytes(Int.random(in: 0...64, using: &rng))
                if !bytes.isEmpty { bytes[0] = 1 }  // get past the version byte
            } else {
                // A valid batch with a few bytes changed.
                bytes = BatchCodec.encode(rng.batch(maxActions: 3))
                for _ in 0..<Int.random(in: 1...3, using: &rng) {
                    bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
            }
            do {
                let batch = try BatchCodec.decode(bytes)
                // A mutation can yield another valid batch; it must then round-trip.
                let again = BatchCodec.encode(batch)
                #expect(try BatchCodec.encode(BatchCodec.decode(again)) == again, "seed \(rng.seed) case \(i)")
            } catch let e as ActionStoreError {
                #expect(e.code == .corruption)
                thrown += 1
            } catch {
                Issue.record("unexpected error \(error)")
            }
        }
        #expect(thrown > 2500)
    }

    @Test func rejectsSpecificDamage() {
        func corruption(_ bytes: [UInt8], _ fragment: String) {
            do {
                _ = try BatchCodec.decode(bytes)
                Issue.record("decoded \(bytes)")
            } catch let e as ActionStoreError {
                #expect(e.code == .corruption)
                #expect(e.message.contains(fragment), "\(e.message)")
            } catch {
                Issue.record("unexpected \(error)")
            }
        }
        corruption([2, 0, 0, 0, 0], "unsupported batch version 2")
        corruption([1, 0, 0, 0, 0, 0], "trailing")
        corruption([1, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F], "count")  // huge action count
        corruption([1, 2, 0xC3, 0x28, 0, 0, 0], "invalid UTF-8")
        corruption([1, 0, 1, 0, 9, 0, 0], "unknown field type 9")
        corruption([1, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F], "overflows")
        // One action with presence bit 12 set.
        corruption([1, 0, 0, 0, 1, 0, 0, 0x00, 0x10, 0], "presence")
        // One action, one field with tag 7.
        corruption([1, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 7], "unknown value tag 7")
    }
}
