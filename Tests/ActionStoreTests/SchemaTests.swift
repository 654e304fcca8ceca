import Testing

@testable import ActionStore

private func admit(
    _ schema: inout Schema,
    _ json: String,
    policy: SchemaConflictPolicy = .reject,
    pathsMax: Int = 10_000,
    app: String = "prod",
    index: Int = 0
) -> (Result<[String], ActionStoreError>, NormalizedAction, SchemaDelta) {
    var n = try! ActionNormalizer().normalize(json, receivedAt: 0).get()
    var delta = SchemaDelta()
    let r = schema.admit(&n, application: app, index: index, policy: policy, pathsMax: pathsMax, delta: &delta)
    return (r, n, delta)
}

@Suite struct SchemaTests {
    // The seed's typing example, verbatim: some_string is fixed as a string at the root, so a number
    // under some_object.some_string is invalid ("regardless of the number of levels").
    @Test func seedExampleConsistentTypes() {
        var schema = Schema()
        let first = """
            {"action_name": "a", "metadata": {
              "some_string": "I am a string",
              "some_int": 77,
              "some_object": {
                  "some_sub_field": "some_value"
                }
            }}
            """
        let (r1, _, d1) = admit(&schema, first)
        #expect((try? r1.get()) == [])
        #expect(d1.keys.map(\.name) == ["some_string", "some_int", "some_object", "some_sub_field"])
        #expect(schema.type(ofPath: "some_object.some_sub_field") == .string)
        #expect(schema.type(ofPath: "some_object") == .object)
        let second = """
            {"action_name": "a", "metadata": {
              "some_int": 77,
              "some_object": {
                  "some_string": 23,
                  "some_sub_field": "some_value"
                }
            }}
            """
        let (r2, _, d2) = admit(&schema, second, index: 4)
        guard case .failure(let e) = r2 else {
            Issue.record("conflicting action accepted")
            return
        }
        #expect(e.code == .schemaConflict)
        #expect(
            e.message
                == #"application "prod", action 4: metadata.some_object.some_string: key "some_string" is "#
                + "established as string, received number"
        )
        #expect(d2.isEmpty)
        #expect(schema.type(ofPath: "some_object.some_string") == nil, "a rejected action adds nothing")
    }

    @Test func dropConflictingFieldsKeepsTheRest() throws {
        var schema = Schema()
        _ = admit(&schema, #"{"action_name":"a","metadata":{"x":"s","o":{"k":1}}}"#)
        let (r, n, delta) = admit(
            &schema,
            #"{"action_name":"a","metadata":{"x":5,"o":"flat","y":true,"deep":{"x":1,"z":2}}}"#,
            policy: .dropConflictingFields
        )
        #expect(try r.get() == ["metadata.x", "metadata.o", "metadata.deep.x"])
        #expect(n.action.metadata.map(\.path) == ["deep.z", "y"])
        #expect(delta.paths.map(\.name) == ["y", "deep", "deep.z"])
    }

    @Test func conflictInsideOneAction() {
        var schema = Schema()
        let (r, _, _) = admit(&schema, #"{"action_name":"a","metadata":{"a":{"x":1},"b":{"x":"s"}}}"#)
        guard case .failure(let e) = r else {
            Issue.record("accepted")
            return
        }
        #expect(e.message.contains(#"metadata.b.x: key "x" is established as number, received string"#))
    }

    @Test func objectsAndArraysAreTypes() {
        var schema = Schema()
        _ = admit(&schema, #"{"action_name":"a","metadata":{"o":{"k":1},"arr":[1]}}"#)
        #expect(admit(&schema, #"{"action_name":"a","metadata":{"o":1}}"#).0.isFailure)
        #expect(admit(&schema, #"{"action_name":"a","metadata":{"arr":"s"}}"#).0.isFailure)
        #expect(admit(&schema, #"{"action_name":"a","metadata":{"arr":[{"x":1}]}}"#).0.isSuccess)
        #expect(admit(&schema, #"{"action_name":"a","metadata":{"i":1}}"#).0.isSuccess)
        #expect(
            admit(&schema, #"{"action_name":"a","metadata":{"i":1.5}}"#).0.isSuccess,
            "int and decimal are one type"
        )
    }

    @Test func pathLimit() {
        var schema = Schema()
        _ = admit(&schema, #"{"action_name":"a","metadata":{"a":1,"b":2}}"#, pathsMax: 3)
        let (r, _, _) = admit(&schema, #"{"action_name":"a","metadata":{"c":1,"d":2}}"#, pathsMax: 3)
        guard case .failure(let e) = r else {
            Issue.record("accepted")
            return
        }
        #expect(e.code == .limitExceeded)
        #expect(e.message.contains("metadata.d would be path 4; the limit is 3 distinct paths per application"))
        #expect(schema.pathTypes.count == 2)
    }

    @Test func applicationsHaveTheirOwnSchemas() {
        var prod = Schema()
        var develop = Schema()
        _ = admit(&prod, #"{"action_name":"a","metadata":{"k":1}}"#)
        #expect(admit(&develop, #"{"action_name":"a","metadata":{"k":"s"}}"#, app: "develop").0.isSuccess)
        #expect(admit(&prod, #"{"action_name":"a","metadata":{"k":"s"}}"#).0.isFailure)
    }
}

extension Result {
    var isSuccess: Bool {
        if case .success = self { return true }
        return false
    }
    var isFailure: Bool { !isSuccess }
}
