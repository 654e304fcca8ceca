import Foundation
import Testing

@testable import ActionStore

private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

@Suite struct ProfileTests {
    @Test func profilesMergePathByPathLaterModifiedTimeWinning() throws {
        try withStoreDirectory { dir in
            var o = StoreOptions()
            o.backgroundFlush = false
            let store = try Store.open(at: dir, options: o)
            defer { try? store.close() }
            let first =
                #"{"user_id":"u1","modified_time":"2026-01-02T00:00:00Z","email":"a@x.io","metadata":{"plan":"pro","seats":3,"org.name":"Acme"}}"#
            #expect(try store.updateProfiles(application: "app", kind: .user, json: bytes(first)).accepted == 1)
            // Older: only fields it alone has land; a field set later keeps its value.
            let older =
                #"{"user_id":"u1","modified_time":"2026-01-01T00:00:00Z","metadata":{"plan":"free","region":"eu"}}"#
            _ = try store.updateProfiles(application: "app", kind: .user, json: bytes(older))
            // No modified_time: arrival order, it wins.
            let later = #"{"user_id":"u1","metadata":{"seats":5,"tags":["a","b"],"gone":null}}"#
            _ = try store.updateProfiles(application: "app", kind: .user, json: bytes(later))
            let p = try #require(store.profile(application: "app", kind: .user, id: "u1"))
            #expect(p["metadata.plan"] == .string("pro"))
            #expect(p["metadata.region"] == .string("eu"))
            #expect(p["metadata.seats"] == .int(5))
            #expect(p["metadata.org_name"] == .string("Acme"), "dots in keys become underscores")
            #expect(p["metadata.tags"] == .array(#"["a","b"]"#))
            #expect(p["metadata.gone"] == nil)
            #expect(p["email"] == .string("a@x.io"))
        }
    }

    @Test func badProfilesAreRejectedAloneAndTypesAreFixedPerKind() throws {
        try withStoreDirectory { dir in
            let store = try Store.open(at: dir)
            defer { try? store.close() }
            let batch =
                #"[{"user_id":"u1","metadata":{"plan":"pro"}},{"metadata":{"plan":"x"}},"#
                + #"{"user_id":"u2","metadata":{"plan":7}},{"user_id":"u3","modified_time":"yesterday"},"#
                + #"{"user_id":"u4","metadata":{"plan":"team"}}]"#
            let r = try store.updateProfiles(application: "app", kind: .user, json: bytes(batch))
            #expect(r.accepted == 2)
            #expect(r.rejected == 3)
            if case .rejected(let e) = r.outcomes[1] {
                #expect(e.code == .invalidAction && e.message.contains("user_id"))
            }
            if case .rejected(let e) = r.outcomes[2] {
                #expect(e.code == .schemaConflict && e.message.contains("plan"))
            }
            if case .rejected(let e) = r.outcomes[3] {
                #expect(e.code == .invalidAction && e.message.contains("modified_time"))
            }
            // Companies have their own types.
            let c = #"{"company_id":"c1","company_domain":"acme.io","metadata":{"plan":7}}"#
            #expect(try store.updateProfiles(application: "app", kind: .company, json: bytes(c)).accepted == 1)
            #expect(
                store.profile(application: "app", kind: .company, id: "c1")?["company_domain"] == .string("acme.io")
            )
            #expect(throws: ActionStoreError.self) {
                try store.updateProfiles(application: "app", kind: .user, json: bytes(#"{"user_id":"u1""#))
            }
        }
    }

    @Test func aliasesFromProfilesAndActionsFirstWins() throws {
        try withStoreDirectory { dir in
            let store = try Store.open(at: dir)
            defer { try? store.close() }
            _ = try store.updateProfiles(
                application: "app",
                kind: .user,
                json: bytes(#"{"user_id":"u1","anonymous_id":"anon-1"}"#)
            )
            let act = #"{"action_name":"x","user_id":"u2","anonymous_id":"anon-2"}"#
            _ = try store.append(application: "app", json: bytes(act))
            // Later aliases of an aliased visitor are counted and ignored.
            _ = try store.updateProfiles(
                application: "app",
                kind: .user,
                json: bytes(#"{"user_id":"u9","anonymous_id":"anon-1"}"#)
            )
            #expect(store.aliasedUser(application: "app", anonymousId: "anon-1") == "u1")
            #expect(store.aliasedUser(application: "app", anonymousId: "anon-2") == "u2")
            let s = store.stats()
            #expect(s.aliases == 2 && s.aliasConflicts == 1 && s.users == 2)
        }
    }

    @Test func profilesSurviveReopenFromTheJournalAndFromCheckpoints() throws {
        try withStoreDirectory { dir in
            var o = StoreOptions()
            o.backgroundFlush = false
            func reopened(_ body: (Store) throws -> Void) throws {
                let store = try Store.open(at: dir, options: o)
                try body(store)
                try store.close()
            }
            try reopened { s in
                _ = try s.updateProfiles(
                    application: "app",
                    kind: .user,
                    json: bytes(#"{"user_id":"u1","metadata":{"n":1}}"#)
                )
                _ = try s.append(
                    application: "app",
                    json: bytes(#"{"action_name":"x","user_id":"u1","anonymous_id":"a1"}"#)
                )
            }
            try reopened { s in
                #expect(
                    s.profile(application: "app", kind: .user, id: "u1")?["metadata.n"] == .int(1),
                    "from the journal"
                )
                #expect(s.aliasedUser(application: "app", anonymousId: "a1") == "u1")
                try s.flush()
                _ = try s.updateProfiles(
                    application: "app",
                    kind: .user,
                    json: bytes(#"{"user_id":"u1","metadata":{"n":2}}"#)
                )
            }
            try reopened { s in
                #expect(s.profile(application: "app", kind: .user, id: "u1")?["metadata.n"] == .int(2))
                #expect(s.aliasedUser(application: "app", anonymousId: "a1") == "u1", "from the checkpoint")
                try s.flush()
            }
            // One checkpoint file, the one the manifest names.
            let names = FileSystem.listDirectory(StoreFiles(dir).profilesDirectory)
            #expect(names.count == 1, "\(names)")
            let m = try #require(try Manifest.load(StoreFiles(dir)))
            let n = try #require(m.applications["app"]?.profilesCheckpoint)
            #expect(FileSystem.exists(StoreFiles(dir).profiles(application: "app", checkpoint: n)))
            try reopened { s in #expect(s.profile(application: "app", kind: .user, id: "u1")?["metadata.n"] == .int(2))
            }
        }
    }

    @Test func checkpointRoundTripsAndDamageIsCaught() throws {
        var p = ApplicationProfiles()
        let u = try ProfileParser.parse(
            try JSONNodeTest.node(
                #"{"user_id":"é","modified_time":"2026-01-01T00:00:00Z","metadata":{"a":1.5,"b":true,"c":[1]}}"#
            ),
            kind: .user,
            index: 0
        )
        try p.apply(u, kind: .user)
        p.alias("anon", to: "é")
        let bytes = ProfileCheckpoint.encode(p)
        #expect(try ProfileCheckpoint.decode(bytes, path: "f") == p)
        for i in [0, 9, bytes.count / 2, bytes.count - 1] {
            var b = bytes
            b[i] ^= 0x10
            #expect(throws: ActionStoreError.self) { try ProfileCheckpoint.decode(b, path: "f") }
        }
    }

    @Test func uniquePeopleCountsAVisitorOnceItIsAliased() throws {
        try withStoreDirectory { dir in
            var o = StoreOptions()
            o.backgroundFlush = false
            let store = try Store.open(at: dir, options: o)
            defer { try? store.close() }
            let before = [
                #"{"action_name":"Viewed","anonymous_id":"a1"}"#, #"{"action_name":"Viewed","anonymous_id":"a2"}"#,
                #"{"action_name":"Viewed","user_id":"u2"}"#,
            ]
            _ = try store.append(application: "app", json: bytes("[" + before.joined(separator: ",") + "]"))
            try store.flush()
            func people() throws -> String {
                try store.query(application: "app", Query.parse(json: #"{"metrics":["unique_people","unique_users"]}"#))
                    .json()
            }
            let first = try people()
            #expect(first.hasPrefix(#"{"rows": [{"unique_people": 3, "unique_users": 1}]"#), "\(first)")
            // a1 signs in as u1: from now on a1's earlier actions are u1's (no rewrite).
            _ = try store.updateProfiles(
                application: "app",
                kind: .user,
                json: bytes(#"{"user_id":"u1","anonymous_id":"a1"}"#)
            )
            _ = try store.append(application: "app", json: bytes(#"{"action_name":"Bought","user_id":"u1"}"#))
            let after = try people()
            #expect(after.hasPrefix(#"{"rows": [{"unique_people": 3, "unique_users": 2}]"#), "\(after)")
        }
    }
}

enum JSONNodeTest {
    static func node(_ s: String) throws -> JSONNode {
        let b = Array(s.utf8)
        return try b.withUnsafeBufferPointer { buf in
            var r = JSONReader(buf)
            return try JSONNode.read(&r, depth: 0)
        }
    }
}
