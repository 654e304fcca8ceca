import Foundation
import Testing

@testable import ActionStore

@Suite struct SegmentDumpTests {
    @Test func quoteEscapesQuotesBackslashesAndControls() {
        #expect(SegmentDump.quote("a\"b\\c") == #""a\"b\\c""#)
        #expect(SegmentDump.quote("\n\r\t\u{08}\u{0C}") == #""\n\r\t\b\f""#)
        #expect(SegmentDump.quote("\u{0}\u{1F}\u{7F}") == #""\u0000\u001f\u007f""#)
        #expect(SegmentDump.quote("é🙂/") == "\"é🙂/\"")
        #expect(SegmentDump.quote("a\u{2028}b\u{2029}\u{2027}") == "\"a\\u2028b\\u2029\u{2027}\"")
    }

    /// segdump's readable form and the store's required form are one escaper, two settings.
    @Test func jsonWriterEscapesOnlyWhatIsRequiredByDefault() {
        #expect(JSONWriter.quoted("\u{08}\u{0C}\u{7F}\u{2028}") == "\"\\u0008\\u000c\u{7F}\u{2028}\"")
        var out = "x"
        JSONWriter.appendString("a\"\n", to: &out)
        #expect(out == #"x"a\"\n""#)
    }

    @Test func moesifShapeRebuildsNestedMetadata() {
        let a = Action(
            time: 1_767_225_600_000_001,
            actionName: "Signed \"Up\"",
            userId: "u1",
            requestURI: "/x",
            requestVerb: "GET",
            metadata: [
                .init(path: "a.b.c", value: .int(1)), .init(path: "a.b.d", value: .double(0.5)),
                .init(path: "a.e", value: .bool(false)), .init(path: "tags", value: .array("[1,\"x\"]")),
                .init(path: "z", value: .string("line\nbreak")),
            ]
        )
        #expect(
            SegmentDump.moesifJSON(a)
                == #"{"action_name":"Signed \"Up\"","user_id":"u1","request":{"time":"2026-01-01T00:00:00.000001Z","#
                + #""uri":"/x","verb":"GET"},"metadata":{"a":{"b":{"c":1,"d":0.5},"e":false},"tags":[1,"x"],"#
                + #""z":"line\nbreak"}}"#
        )
    }

    @Test func dumpPrintsColumnsRowsAndVerifies() throws {
        try withTempDir { dir throws in
            let path = "\(dir)/d.seg"
            _ = try SegmentWriter.write(
                actions: SegmentDocExampleTests.actions,
                to: path,
                options: SegmentOptions(sync: false)
            )
            var lines: [String] = []
            try SegmentDump.run(path: path, options: .init(verify: true, columns: true, rows: 5)) { lines.append($0) }
            #expect(lines.contains("rows:        2"))
            #expect(lines.contains { $0.hasPrefix("metadata.amount") && $0.contains("for-bitpacked") })
            #expect(
                lines.last
                    == #"{"action_name":"Purchased","request":{"time":"2026-01-01T00:00:00.0001Z"},"metadata":{"amount":42}}"#
            )
            lines = []
            try SegmentDump.run(path: path, options: .init(json: true)) { lines.append($0) }
            #expect(
                lines.count == 1 && lines[0].hasPrefix(#"{"file":"#) && lines[0].contains(#""name":"metadata.plan""#)
            )

            let r = try SegmentReader(path: path)
            let block = try #require(r.columnInfo("metadata.amount")).blocks[0].region
            try SegmentCorruptionTests.flip(path, at: block.offset + 2)
            #expect {
                try SegmentDump.run(path: path, options: .init(verify: true)) { _ in }
            } throws: { error in
                (error as? ActionStoreError)?.message
                    == "\(path): column metadata.amount block 0: checksum mismatch at byte \(block.offset)"
            }
        }
    }
}
