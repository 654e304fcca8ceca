import CXXHash
import Foundation
import Testing

@testable import ActionStore

private func sampleManifest() -> Manifest {
    var m = Manifest()
    m.version = 12
    m.partitioning = .day
    m.nextSegmentNumber = 40
    m.journalCheckpoint = 9
    var app = Manifest.Application()
    app.keys = ["provider": FieldType.string.rawValue, "amount": FieldType.number.rawValue]
    app.paths = ["provider": FieldType.string.rawValue, "plan.amount": FieldType.number.rawValue]
    app.partitions = [
        "2026-09-01": [
            .init(file: StoreFiles.segmentFileName(3), rows: 10, bytes: 900, minTime: 1, maxTime: 2),
            .init(file: StoreFiles.segmentFileName(8), rows: 1, bytes: 90, minTime: -5, maxTime: 7),
        ],
        "2026-09-02": [.init(file: StoreFiles.segmentFileName(39), rows: 0, bytes: 12, minTime: 0, maxTime: 0)],
    ]
    app.dictionary = .init(bytes: 123, counts: [3, 2, 0, 1])
    m.applications = ["prod": app, "é/dev": Manifest.Application()]
    return m
}

@Suite struct ManifestTests {
    @Test func roundTripIsByteExact() throws {
        let m = sampleManifest()
        let bytes = m.encoded()
        #expect(Array(bytes.prefix(8)) == Array("ASMANIFT".utf8))
        let back = try Manifest.decode(bytes, path: "MANIFEST")
        #expect(back == m)
        #expect(back.encoded() == bytes, "equal manifests have equal bytes")
        #expect(try Manifest.decode(Manifest().encoded(), path: "M") == Manifest())
    }

    @Test func workedExampleOfTheSpec() throws {
        var m = Manifest()
        try m.apply(ManifestEdit(journalCheckpoint: 2))
        let bytes = m.encoded()
        let expected: [UInt8] =
            Array("ASMANIFT".utf8) + [3, 0, 0, 0] + [1, 0, 0, 0, 0, 0, 0, 0] + [1] + [1, 0, 0, 0, 0, 0, 0, 0]
            + [2, 0, 0, 0, 0, 0, 0, 0] + [0]
        #expect(bytes.count == 46)
        #expect(Array(bytes.prefix(38)) == expected)
        let sum = expected.withUnsafeBytes { XXH64($0.baseAddress, $0.count, 0) }
        #expect(Array(bytes.suffix(8)) == withUnsafeBytes(of: sum.littleEndian) { Array($0) })
    }

    @Test func legacyTextManifestDecodes() throws {
        let m = sampleManifest()
        #expect(try Manifest.decode(legacyManifestBytes(m), path: "MANIFEST") == m)
    }

    @Test func everyFlippedByteIsCaught() throws {
        let bytes = sampleManifest().encoded()
        for i in 0..<bytes.count {
            var b = bytes
            b[i] ^= 0x20
            #expect(throws: ActionStoreError.self, "byte \(i)") { try Manifest.decode(b, path: "MANIFEST") }
            do { _ = try Manifest.decode(b, path: "MANIFEST") } catch {
                #expect(error.code == .corruption)
                #expect(error.message.hasPrefix("MANIFEST:"), "\(error.message)")
            }
        }
    }

    @Test func truncationsAreCaught() throws {
        let bytes = sampleManifest().encoded()
        for n in 0..<bytes.count {
            do {
                _ = try Manifest.decode(Array(bytes.prefix(n)), path: "MANIFEST")
                Issue.record("a manifest cut to \(n) bytes decoded")
            } catch {
                #expect(error.code == .corruption, "\(n)")
            }
        }
    }

    @Test func damageBehindAValidChecksumNamesTheOffset() throws {
        // An unknown type code, re-checksummed so only the body check can find it.
        var m = Manifest()
        m.applications["prod"] = .init(keys: ["k": 99])
        var bytes = m.encoded()
        bytes.removeLast(8)
        let sum = bytes.withUnsafeBytes { XXH64($0.baseAddress, $0.count, 0) }
        withUnsafeBytes(of: sum.littleEndian) { bytes += $0 }
        do {
            _ = try Manifest.decode(bytes, path: "/s/MANIFEST")
            Issue.record("an unknown type code decoded")
        } catch {
            #expect(error.code == .corruption)
            #expect(error.message.contains("/s/MANIFEST"))
            #expect(error.message.contains("unknown type code 99"), "\(error.message)")
            #expect(error.message.contains("at byte"), "\(error.message)")
        }
    }

    @Test func editsAddRemoveAndBumpTheVersion() throws {
        var m = sampleManifest()
        var edit = ManifestEdit(journalCheckpoint: 11)
        edit.removed = [.init(application: "prod", partition: "2026-09-02", file: StoreFiles.segmentFileName(39))]
        edit.added = [
            .init(
                application: "new",
                partition: "2026-09-05",
                entry: .init(file: StoreFiles.segmentFileName(50), rows: 1, bytes: 1, minTime: 0, maxTime: 0)
            )
        ]
        try m.apply(edit)
        #expect(m.version == 13)
        #expect(m.journalCheckpoint == 11)
        #expect(m.applications["prod"]?.partitions["2026-09-02"] == nil, "an emptied partition is dropped")
        #expect(m.applications["new"]?.partitions["2026-09-05"]?.count == 1)
        #expect(m.nextSegmentNumber == 51, "never reuses a number the manifest names")

        let before = m
        var bad = ManifestEdit()
        bad.removed = [.init(application: "prod", partition: "2026-09-01", file: StoreFiles.segmentFileName(77))]
        #expect(throws: ActionStoreError.self) { try m.apply(bad) }
        #expect(m == before, "a failed edit changes nothing")
    }

    @Test func storeWithVersion1ManifestOpensAndUpgradesOnNextSave() throws {
        try withStoreDirectory { dir in
            let body = Array(
                #"{"action_name":"Signed In","user_id":"u1","request":{"time":"2026-09-01T10:00:00Z"},"metadata":{"plan":"pro"}}"#
                    .utf8
            )
            do {
                let store = try Store.open(at: dir)
                _ = try store.append(application: "prod", json: body)
                try store.flush()
                try store.close()
            }
            // Rewrite the manifest as the first releases did.
            let files = StoreFiles(dir)
            let m = try #require(try Manifest.load(files))
            try Data(legacyManifestBytes(m)).write(to: URL(fileURLWithPath: files.manifest))
            do {
                let store = try Store.open(at: dir)
                let r = try store.query(application: "prod", Query.parse(json: #"{"metrics":["count"]}"#))
                #expect(r.rows.first?.metrics.first == .int(1))
                #expect(store.schema(application: "prod")?.type(ofPath: "plan") == .string)
                _ = try store.append(application: "prod", json: body.map { $0 == UInt8(ascii: "1") ? 0x32 : $0 })
                try store.flush()
                try store.close()
            }
            let raw = try FileSystem.readFile(files.manifest)
            #expect(Array(raw.prefix(8)) == Manifest.magic, "the next save writes format 2")
            #expect(try Manifest.load(files)?.segmentPaths.count == 2)
        }
    }

    @Test func damagedManifestFailsTheOpenNamingIt() throws {
        try withStoreDirectory { dir in
            do {
                let store = try Store.open(at: dir)
                _ = try store.append(application: "prod", json: Array(#"{"action_name":"x"}"#.utf8))
                try store.flush()
                try store.close()
            }
            let files = StoreFiles(dir)
            var raw = try FileSystem.readFile(files.manifest)
            raw[20] ^= 1
            try Data(raw).write(to: URL(fileURLWithPath: files.manifest))
            do {
                _ = try Store.open(at: dir)
                Issue.record("opened a store with a damaged manifest")
            } catch let e as ActionStoreError {
                #expect(e.code == .corruption)
                #expect(e.message.contains(files.manifest) && e.message.contains("checksum"), "\(e.message)")
            }
            let report = try Store.verify(at: dir)
            #expect(report.problems.contains { $0.contains("MANIFEST") && $0.contains("checksum") })
        }
    }
}
