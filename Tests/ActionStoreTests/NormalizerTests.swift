import Testing

@testable import ActionStore

private let now: Int64 = 1_700_000_000_000_000

private func normalize(_ json: String) -> Result<NormalizedAction, ActionStoreError> {
    ActionNormalizer().normalize(json, receivedAt: now)
}

private func action(_ json: String) throws -> Action {
    try normalize(json).get().action
}

private func error(_ json: String) -> ActionStoreError? {
    if case .failure(let e) = normalize(json) { return e }
    return nil
}

@Suite struct NormalizerTests {
    @Test func fixedFieldsSnakeCase() throws {
        let a = try action(
            """
            {"action_name":"Clicked Sign Up","user_id":"u1","anonymous_id":"an1","company_id":"c1",
             "session_token":"s1","transaction_id":"t1","subscription_id":"sub1",
             "request":{"time":"2024-03-01T04:45:42.914Z","uri":"https://x.com/a?b=1","ip_address":"1.2.3.4",
                        "user_agent_string":"Mozilla/5.0","verb":"GET"}}
            """
        )
        #expect(a.actionName == "Clicked Sign Up")
        #expect(a.userId == "u1")
        #expect(a.anonymousId == "an1")
        #expect(a.companyId == "c1")
        #expect(a.sessionToken == "s1")
        #expect(a.transactionId == "t1")
        #expect(a.subscriptionId == "sub1")
        #expect(a.requestURI == "https://x.com/a?b=1")
        #expect(a.requestIPAddress == "1.2.3.4")
        #expect(a.requestUserAgent == "Mozilla/5.0")
        #expect(a.requestVerb == "GET")
        #expect(a.time == Timestamp.parse("2024-03-01T04:45:42.914Z"))
        #expect(a.metadata.isEmpty)
    }

    @Test func javaClientCamelCase() throws {
        let a = try action(
            """
            {"actionName":"Purchased","userId":"u","companyId":"c","transactionId":"t","sessionToken":"s",
             "subscriptionId":"sub","anonymousId":"an",
             "request":{"time":"2023-10-05T12:34:56Z","uri":"/p","userAgentString":"UA","ipAddress":"9.9.9.9"}}
            """
        )
        #expect(a.actionName == "Purchased")
        #expect(a.userId == "u")
        #expect(a.companyId == "c")
        #expect(a.transactionId == "t")
        #expect(a.sessionToken == "s")
        #expect(a.subscriptionId == "sub")
        #expect(a.anonymousId == "an")
        #expect(a.requestUserAgent == "UA")
        #expect(a.requestIPAddress == "9.9.9.9")
        #expect(a.time == 1_696_509_296_000_000)
    }

    @Test func missingTimeTakesReceiveTime() throws {
        #expect(try action(#"{"action_name":"a"}"#).time == now)
        #expect(try action(#"{"action_name":"a","request":{"uri":"/x"}}"#).time == now)
        #expect(try action(#"{"action_name":"a","request":{"time":null}}"#).time == now)
    }

    @Test func actionNameIsRequired() {
        #expect(error(#"{"user_id":"u"}"#)?.message == "action_name is required (a non-empty string)")
        #expect(error(#"{"action_name":""}"#)?.code == .invalidAction)
        #expect(error(#"{"action_name":true}"#)?.message == "action_name must be a string, got boolean")
    }

    @Test func numericIdentifiersKeepTheirText() throws {
        let a = try action(#"{"action_name":"a","user_id":12345,"company_id":-7}"#)
        #expect(a.userId == "12345")
        #expect(a.companyId == "-7")
    }

    @Test func badTimeNamesTheField() {
        let e = error(#"{"action_name":"a","request":{"time":"2024-13-01T00:00:00Z"}}"#)
        #expect(e?.code == .invalidAction)
        #expect(e?.message == #"request.time: "2024-13-01T00:00:00Z" is not an ISO 8601 time"#)
    }

    // The seed's first example, verbatim: the metadata of moesif.track('Clicked Sign Up', …).
    @Test func seedExampleEventMetadata() throws {
        let a = try action(
            """
            {"action_name": "Clicked Sign Up", "metadata": {
              "button_label": "Get Started",
              "provider": "Google",
              "some_object": {
                  "some_sub_field": "some_value"
                }
            }}
            """
        )
        #expect(
            a.metadata == [
                MetadataField(path: "button_label", value: .string("Get Started")),
                MetadataField(path: "provider", value: .string("Google")),
                MetadataField(path: "some_object.some_sub_field", value: .string("some_value")),
            ]
        )
    }

    // The seed's dots example, verbatim: keys lose their dots, values keep theirs.
    @Test func seedExampleDotsBecomeUnderscores() throws {
        let a = try action(
            """
            {"action_name": "x", "metadata": {
              "so.me_str.ing": "I am a string",
              "some.int": 77.23
            }}
            """
        )
        #expect(
            a.metadata == [
                MetadataField(path: "so_me_str_ing", value: .string("I am a string")),
                MetadataField(path: "some_int", value: .double(77.23)),
            ]
        )
        let b = try action(#"{"action_name":"x","metadata":{"a.b":{"c.d":"v.w"}}}"#)
        #expect(b.metadata == [MetadataField(path: "a_b.c_d", value: .string("v.w"))])
    }

    @Test func nullsDroppedArraysKeptWhole() throws {
        let a = try action(
            #"{"action_name":"x","metadata":{"n":null,"arr":[1, {"a.b" : null}, "s"],"o":{"n":null},"t":true}}"#
        )
        #expect(
            a.metadata == [
                MetadataField(path: "arr", value: .array(#"[1,{"a.b":null},"s"]"#)),
                MetadataField(path: "t", value: .bool(true)),
            ]
        )
    }

    @Test func numbersIntegralOrNot() throws {
        let a = try action(
            #"{"action_name":"x","metadata":{"i":-42,"big":18446744073709551616,"d":1.5e3,"z":0,"m":-9223372036854775808}}"#
        )
        #expect(a.metadataValue("i") == .int(-42))
        #expect(a.metadataValue("big") == .double(18_446_744_073_709_551_616))
        #expect(a.metadataValue("d") == .double(1500))
        #expect(a.metadataValue("z") == .int(0))
        #expect(a.metadataValue("m") == .int(Int64.min))
    }

    @Test func duplicateKeysKeepTheLast() throws {
        let a = try action(#"{"action_name":"x","action_name":"y","metadata":{"k":1,"k":2}}"#)
        #expect(a.actionName == "y")
        #expect(a.metadata == [MetadataField(path: "k", value: .int(2))])
    }

    @Test func unknownFieldsIgnored() throws {
        let a = try action(#"{"action_name":"x","direction":"in","request":{"headers":{"a":1}},"weight":[1]}"#)
        #expect(a.actionName == "x")
    }

    @Test func limits() {
        var limits = NormalizeLimits()
        limits.keyBytesMax = 4
        limits.depthMax = 4
        limits.actionBytesMax = 200
        let n = ActionNormalizer(limits: limits)
        guard case .failure(let e) = n.normalize(#"{"action_name":"x","metadata":{"abcde":1}}"#, receivedAt: 0)
        else {
            Issue.record("long key accepted")
            return
        }
        #expect(e.code == .limitExceeded)
        #expect(e.message.contains("more than the limit of 4"))
        guard
            case .failure(let d) = n.normalize(
                #"{"action_name":"x","metadata":{"a":{"b":{"c":{"d":1}}}}}"#,
                receivedAt: 0
            )
        else {
            Issue.record("deep action accepted")
            return
        }
        #expect(d.code == .invalidJSON)
        #expect(d.message.hasPrefix("nesting deeper than 4 at byte offset"))
        let big = #"{"action_name":"x","metadata":{"a":""# + String(repeating: "y", count: 300) + #""}}"#
        guard case .failure(let s) = n.normalize(big, receivedAt: 0) else {
            Issue.record("big action accepted")
            return
        }
        #expect(s.code == .limitExceeded)
    }

    @Test func batchOutcomesPerAction() throws {
        let body = #"[{"action_name":"a"}, 5, {"user_id":"u"}, {"action_name":"b","metadata":{"k":1}}]"#
        var bytes = Array(body.utf8)
        let outcomes = try bytes.withUnsafeMutableBufferPointer {
            try ActionNormalizer().normalizeDocument(UnsafeBufferPointer($0), receivedAt: now)
        }
        #expect(outcomes.count == 4)
        #expect((try? outcomes[0].get().action.actionName) == "a")
        guard case .failure(let e1) = outcomes[1], case .failure(let e2) = outcomes[2] else {
            Issue.record("bad actions accepted")
            return
        }
        #expect(e1.message == "action 1: expected a JSON object at byte offset 22")
        #expect(e2.message == "action 2: action_name is required (a non-empty string)")
        #expect((try? outcomes[3].get().action.metadata.count) == 1)
    }

    /// An action over the byte limit made of many tiny keys is rejected by its size (the message
    /// names the whole size), its neighbour in the batch is kept, and the syntax after the point
    /// where it went over is still checked (the rest is read, only not kept).
    @Test func oversizedActionOfManyKeysIsRejectedAndItsNeighbourKept() throws {
        var limits = NormalizeLimits()
        limits.actionBytesMax = 4_096
        limits.pathsPerApplicationMax = .max
        let keys = (0..<2_000).map { #""k\#($0)":{"x":\#($0)}"# }.joined(separator: ",")
        let big = #"{"action_name":"big","metadata":{"# + keys + "}}"
        var bytes = Array(("[" + big + #",{"action_name":"small","metadata":{"k0":{"x":1}}}]"#).utf8)
        let outcomes = try bytes.withUnsafeMutableBufferPointer {
            try ActionNormalizer(limits: limits).normalizeDocument(UnsafeBufferPointer($0), receivedAt: now)
        }
        #expect(outcomes.count == 2)
        guard case .failure(let e) = outcomes[0] else {
            Issue.record("oversized action accepted")
            return
        }
        #expect(e.code == .limitExceeded)
        #expect(e.message.contains("action is \(big.utf8.count) bytes, more than the limit of 4096 bytes"), "\(e)")
        #expect((try? outcomes[1].get().action.metadata.count) == 1)
        // Past the limit the input is still parsed: a syntax error there fails the document.
        var broken = Array(("[" + big.dropLast(2) + #",}}]"#).utf8)
        #expect(throws: ActionStoreError.self) {
            try broken.withUnsafeMutableBufferPointer {
                try ActionNormalizer(limits: limits).normalizeDocument(UnsafeBufferPointer($0), receivedAt: now)
            }
        }
    }

    @Test func syntaxErrorsNameTheOffset() {
        let cases: [(String, String)] = [
            (#"{"action_name":"a",}"#, "expected a string key, found '}' at byte offset 19"),
            (#"{"action_name":"a"} x"#, "trailing characters after the JSON value at byte offset 20"),
            ("{\"action_name\":\"a\u{01}\"}", "unescaped control character byte 0x1 in a string at byte offset 17"),
            (#"{"action_name":"\ud800"}"#, "lone high surrogate \\ud800 at byte offset 16"),
            (#"{"action_name":"\udc00x"}"#, "lone low surrogate \\udc00 at byte offset 16"),
            (#"{"action_name":"a","metadata":{"n":01}}"#, "invalid number: leading zero at byte offset 35"),
            (
                #"{"action_name":"a","metadata":{"n":1.}}"#,
                "invalid number: expected a digit after '.' at byte offset 37"
            ),
            (#"{"action_name":"a","metadata":{"n":-}}"#, "invalid number: expected a digit at byte offset 36"),
            (
                #"{"action_name":"a","metadata":{"n":1e}}"#,
                "invalid number: expected a digit in the exponent at byte offset 37"
            ),
            (#"{"action_name":"a","metadata":{"n":tru}}"#, "invalid literal at byte offset 35"),
            (#"{"action_name":"a"#, "unterminated string at byte offset 17"),
            (#"{"action_name":"a","metadata":{"n":1e999}}"#, "number out of range at byte offset 35"),
        ]
        for (json, message) in cases {
            guard case .failure(let e) = normalize(json) else {
                Issue.record("accepted: \(json)")
                continue
            }
            #expect(e.code == .invalidJSON, "\(json)")
            if !message.isEmpty { #expect(e.message == message, "\(json)") }
        }
        // Invalid UTF-8: a lone continuation byte, an overlong encoding, an encoded surrogate.
        for bad: [UInt8] in [[0x80], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82]] {
            var bytes = Array(#"{"action_name":""#.utf8) + bad + Array(#""}"#.utf8)
            let r = bytes.withUnsafeMutableBufferPointer {
                ActionNormalizer().normalize(UnsafeBufferPointer($0), receivedAt: 0)
            }
            guard case .failure(let e) = r else {
                Issue.record("accepted invalid UTF-8 \(bad)")
                continue
            }
            #expect(e.message == "invalid UTF-8 at byte offset 16")
        }
    }

    @Test func escapesDecoded() throws {
        let a = try action(#"{"action_name":"a\"b\\c\/d\n\u00e9\ud83d\ude00"}"#)
        #expect(a.actionName == "a\"b\\c/d\né😀")
    }
}
