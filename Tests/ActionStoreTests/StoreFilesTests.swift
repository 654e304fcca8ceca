import Testing

@testable import ActionStore

@Suite struct StoreFilesTests {
    @Test func formatAndParseRoundTrip() {
        let files: [StoreFiles.File] = [
            .lock,
            .manifest,
            .journal(number: 1),
            .journal(number: 9_999_999_999_999_999),
            .segment(application: "prod", partition: "2026-09-01", number: 7),
            .segment(application: "", partition: "2026-09", number: 0),
            .segment(application: ".hidden/app é", partition: "2026-09-01T13", number: 42),
            .dictionary(application: "prod"),
            .dictionary(application: ".hidden/app é"),
            .profiles(application: "prod-eu", checkpoint: 12),
            .temporary(of: .manifest),
            .temporary(of: .segment(application: "a%b", partition: "2026-09-01", number: 3)),
            .quarantined(.segment(application: "prod", partition: "2026-09-01", number: 5)),
            .quarantined(.journal(number: 3)),
        ]
        for f in files {
            let rel = StoreFiles.relative(f)
            #expect(StoreFiles.parse(rel) == f, "\(rel)")
        }
        #expect(StoreFiles.relative(.journal(number: 7)) == "journal/journal-0000000000000007.log")
        #expect(
            StoreFiles.relative(.segment(application: "prod", partition: "2026-09-01", number: 1))
                == "apps/prod/2026-09-01/00000000000000000001.seg"
        )
        #expect(StoreFiles.relative(.temporary(of: .manifest)) == "MANIFEST.tmp")
    }

    @Test func parseRejectsForeignNames() {
        for rel in [
            "", "LOCK/x", "journal/journal-7.log", "journal/journal-000000000000000a.log",
            "apps/prod/2026-09-01/1.seg", "apps/prod/not-a-day/00000000000000000001.seg",
            "apps/pr%zz/2026-09-01/00000000000000000001.seg", "apps/prod/2026-09-01/00000000000000000001.sst",
            "apps/a.b/2026-09-01/00000000000000000001.seg", "quarantine/quarantine/LOCK", "notes.txt",
        ] {
            #expect(StoreFiles.parse(rel) == nil, "\(rel)")
        }
    }

    @Test func applicationFolderNamesReverse() {
        for id in ["prod", "", ".", "..", "a/b", "%", "é", "A-Z_0-9", "\u{0}x"] {
            let name = ApplicationDirectory.name(id)
            #expect(!name.contains("/") && name != "." && name != "..", "\(id)")
            #expect(ApplicationDirectory.application(fromName: name) == id, "\(id) → \(name)")
        }
        // Lower-case hex is not what `name` writes, so it names no application.
        #expect(ApplicationDirectory.application(fromName: "%2f") == nil)
    }

    @Test func pathsJoinTheRoot() {
        let f = StoreFiles("/data")
        #expect(f.lock == "/data/LOCK")
        #expect(f.manifest == "/data/MANIFEST")
        #expect(f.journalDirectory == "/data/journal")
        #expect(f.partitionDirectory(application: "a b", partition: "2026-09-01") == "/data/apps/a%20b/2026-09-01")
        #expect(f.quarantined("apps/x/2026-09-01/1.seg") == "/data/quarantine/apps/x/2026-09-01/1.seg")
        #expect(StoreFiles.journalFile("/data/journal/", 2) == "/data/journal/journal-0000000000000002.log")
    }
}
