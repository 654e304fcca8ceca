#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// An action parsed and normalized, not yet checked against its application's schema.
public struct NormalizedAction: Sendable, Hashable {
    public var action: Action
    /// Every metadata path the action used, objects included, in document order, with its type.
    /// The schema registry checks these; leaves are also in `action.metadata`.
    public var pathUses: [PathUse]

    public struct PathUse: Sendable, Hashable {
        public var path: String
        public var type: FieldType
    }
}

/// Turns Moesif action JSON into normalized actions.
///
/// Rules (see `docs/ARCHITECTURE.md` and Moesif's "Logging User Actions"):
/// - fixed fields by their snake_case names or the camelCase names Moesif's Java client sends;
/// - `request.time` in ISO 8601 (`Z`, `±hh:mm`, or no offset meaning UTC; 0–9 fraction digits);
///   absent, the receive time;
/// - metadata keys: `.` becomes `_` at every depth; leaves are flattened to paths; nulls dropped;
///   arrays kept whole as compact JSON text;
/// - identifiers sent as JSON numbers are kept as their decimal text.
///
/// Syntax errors make the whole document unreadable and throw; any other problem rejects only the
/// action it is in (the outcome is per action).
public struct ActionNormalizer: Sendable {
    public var limits: NormalizeLimits

    public init(limits: NormalizeLimits = .init()) {
        self.limits = limits
    }

    /// Normalizes one JSON document: an action object, or an array of action objects.
    /// - Parameters:
    ///   - json: UTF-8 JSON bytes.
    ///   - receivedAt: the time (UTC microseconds) given to actions without `request.time`.
    /// - Returns: one outcome per action, in order.
    /// - Throws: `ActionStoreError.Code.invalidJSON` naming the byte offset when the bytes are not
    ///   JSON, or `.invalidAction` when the document is neither an object nor an array.
    public func normalizeDocument(
        _ json: UnsafeBufferPointer<UInt8>,
        receivedAt: Int64
    ) throws(ActionStoreError) -> [Result<NormalizedAction, ActionStoreError>] {
        var batch = NormalizedBatch()
        try normalizeDocument(json, receivedAt: receivedAt, into: &batch)
        return batch.normalizedActions()
    }

    /// Normalizes one JSON document (an action object, or an array of them) into `batch`'s
    /// columns: one outcome per action is appended to `batch.outcomes`.
    /// - Throws: as `normalizeDocument(_:receivedAt:)`; `batch` then holds what came before.
    func normalizeDocument(
        _ json: UnsafeBufferPointer<UInt8>,
        receivedAt: Int64,
        into batch: inout NormalizedBatch
    ) throws(ActionStoreError) {
        var reader = JSONReader(json, depthMax: limits.depthMax)
        guard let first = reader.peek() else { throw reader.error("empty body, expected a JSON object or array") }
        var outcomes: [Result<Int, ActionStoreError>] = []
        var state = ObjectState()
        if first == 0x5B {
            if try reader.beginArray() {
                repeat {
                    let index = outcomes.count
                    guard reader.peek() == 0x7B else {
                        // Not an object: record the problem, skip the value, go on with its neighbours.
                        let at = reader.pos
                        try reader.skipValue(depth: 1)
                        outcomes.append(
                            .failure(
                                ActionStoreError(
                                    .invalidAction,
                                    "action \(index): expected a JSON object at byte offset \(at)"
                                )
                            )
                        )
                        if try !reader.nextElement() { break }
                        continue
                    }
                    var outcome = try normalizeObject(&reader, &state, &batch, receivedAt: receivedAt, depth: 2)
                    if case .failure(let e) = outcome {
                        outcome = .failure(ActionStoreError(e.code, "action \(index): \(e.message)"))
                    }
                    outcomes.append(outcome)
                    if try !reader.nextElement() { break }
                } while true
            }
        } else if first == 0x7B {
            outcomes.append(try normalizeObject(&reader, &state, &batch, receivedAt: receivedAt, depth: 1))
        } else {
            try reader.skipValue(depth: 0)
            try reader.expectEnd()
            throw ActionStoreError(.invalidAction, "expected a JSON object or an array of objects")
        }
        try reader.expectEnd()
        batch.outcomes += outcomes
    }

    /// Normalizes one action object given as bytes.
    public func normalize(
        _ json: UnsafeBufferPointer<UInt8>,
        receivedAt: Int64
    ) -> Result<NormalizedAction, ActionStoreError> {
        var batch = NormalizedBatch()
        normalizeObject(json, receivedAt: receivedAt, into: &batch)
        return batch.normalizedActions()[0]
    }

    /// Normalizes one action object given as bytes into `batch`: appends one outcome (a syntax
    /// error rejects only this object).
    func normalizeObject(_ json: UnsafeBufferPointer<UInt8>, receivedAt: Int64, into batch: inout NormalizedBatch) {
        var state = ObjectState()
        normalizeObject(json, receivedAt: receivedAt, &state, into: &batch)
    }

    /// Normalizes documents `range` of `documents`, each one action object (NDJSON lines), into
    /// `batch`, one outcome each; the reading state is reused from one document to the next.
    func normalizeObjects(
        _ documents: [ArraySlice<UInt8>],
        _ range: Range<Int>,
        receivedAt: Int64,
        into batch: inout NormalizedBatch
    ) {
        var state = ObjectState()
        for i in range {
            documents[i].withUnsafeBufferPointer { normalizeObject($0, receivedAt: receivedAt, &state, into: &batch) }
        }
    }

    private func normalizeObject(
        _ json: UnsafeBufferPointer<UInt8>,
        receivedAt: Int64,
        _ state: inout ObjectState,
        into batch: inout NormalizedBatch
    ) {
        do {
            var reader = JSONReader(json, depthMax: limits.depthMax)
            guard reader.peek() == 0x7B else {
                batch.outcomes.append(.failure(ActionStoreError(.invalidAction, "expected a JSON object")))
                return
            }
            let rowsBefore = batch.rowCount
            var outcome = try normalizeObject(&reader, &state, &batch, receivedAt: receivedAt, depth: 1)
            do { try reader.expectEnd() } catch {
                if batch.rowCount > rowsBefore { batch.dropLastRow() }
                outcome = .failure(error)
            }
            batch.outcomes.append(outcome)
        } catch {
            batch.outcomes.append(.failure(error))
        }
    }

    /// Normalizes a Swift string holding one action object.
    public func normalize(_ json: String, receivedAt: Int64) -> Result<NormalizedAction, ActionStoreError> {
        var s = json
        return s.withUTF8 { normalize($0, receivedAt: receivedAt) }
    }

    // MARK: - The action object

    private func normalizeObject(
        _ r: inout JSONReader,
        _ state: inout ObjectState,
        _ batch: inout NormalizedBatch,
        receivedAt: Int64,
        depth: Int
    ) throws(ActionStoreError) -> Result<Int, ActionStoreError> {
        r.skipWhitespace()
        let start = r.pos
        state.reset(start: start, bytesMax: limits.actionBytesMax)
        if try r.beginObject() {
            repeat {
                try r.readKey(into: &state.key)
                switch TopKey(state.key) {
                case .fixed(let f): try readIdentifier(&r, f, &state, depth)
                case .request: try readRequest(&r, &state, depth: depth + 1)
                case .metadata: try readMetadata(&r, &state, &batch, depth: depth + 1)
                case .other: try r.skipValue(depth: depth)
                }
            } while try r.nextMember()
        }
        let size = r.pos - start
        if size > limits.actionBytesMax {
            return .failure(
                ActionStoreError(
                    .limitExceeded,
                    "action is \(size) bytes, more than the limit of \(limits.actionBytesMax) bytes"
                )
            )
        }
        if let problem = state.problem { return .failure(problem) }
        guard let name = state.fixed[FixedField.actionName.rawValue], !name.isEmpty else {
            return .failure(ActionStoreError(.invalidAction, "action_name is required (a non-empty string)"))
        }
        // The action is good: copy it from the scratch into the batch's columns.
        // The scratch goes into the arena in one copy; its ranges move by `base`.
        let row = batch.rowCount
        let base = batch.parts.arena.count
        batch.parts.arena.append(contentsOf: state.scratch)
        batch.parts.times.append(state.time ?? receivedAt)
        for f in FixedField.allCases {
            guard let range = state.fixed[f.rawValue] else { continue }
            batch.parts.fixed[f.rawValue].rows.append(UInt32(row))
            batch.parts.fixed[f.rawValue].slots.append(
                ColumnChunk.slot(offset: base + range.lowerBound, length: range.count)
            )
        }
        let shift = UInt64(base) << 32
        for l in state.leafPath.indices {
            let kind = state.leafKind[l]
            batch.leafSlot.append(kind.usesArena ? state.leafSlot[l] &+ shift : state.leafSlot[l])
        }
        batch.leafPath += state.leafPath
        batch.leafKind += state.leafKind
        batch.leafIsDouble += state.leafIsDouble
        batch.usePath += state.usePath
        batch.useType += state.useType
        batch.endRow()
        return .success(row)
    }

    /// One action while it is read: fixed fields and string leaves as ranges of `scratch`, the
    /// rest as slots; copied into the batch only if the action turns out good. Reused from one
    /// action to the next (no allocation per action once warm).
    private struct ObjectState {
        var fixed = [Range<Int>?](repeating: nil, count: FixedField.allCases.count)
        var time: Int64?
        var scratch: [UInt8] = []
        var leafPath: [Int32] = []
        var leafKind: [ColumnChunk.Kind] = []
        var leafSlot: [UInt64] = []
        var leafIsDouble: [Bool] = []
        var usePath: [Int32] = []
        var useType: [FieldType] = []
        var problem: ActionStoreError?
        var path: [UInt8] = []
        var key: [UInt8] = []
        var text: [UInt8]? = []
        /// Where the action starts in the input, and the most bytes it may take.
        var start = 0
        var bytesMax = Int.max
        /// Past `bytesMax`: the action is rejected for its size, so its metadata is read (to find
        /// its end) but no longer kept: a million tiny keys cost no million leaves.
        var oversized = false

        mutating func reset(start: Int, bytesMax: Int) {
            for i in fixed.indices { fixed[i] = nil }
            time = nil
            scratch.removeAll(keepingCapacity: true)
            dropLeaves()
            problem = nil
            self.start = start
            self.bytesMax = bytesMax
            oversized = false
        }

        mutating func dropLeaves() {
            leafPath.removeAll(keepingCapacity: true)
            leafKind.removeAll(keepingCapacity: true)
            leafSlot.removeAll(keepingCapacity: true)
            leafIsDouble.removeAll(keepingCapacity: true)
            usePath.removeAll(keepingCapacity: true)
            useType.removeAll(keepingCapacity: true)
        }

        /// Whether the reader has gone past the action's byte limit; drops what was kept if so.
        mutating func checkSize(_ pos: Int) -> Bool {
            if oversized { return true }
            guard pos - start > bytesMax else { return false }
            oversized = true
            dropLeaves()
            return true
        }

        mutating func fail(_ code: ActionStoreError.Code, _ message: String) {
            if problem == nil { problem = ActionStoreError(code, message) }
        }

        /// Appends `bytes` to the scratch and returns their range.
        mutating func keep(_ bytes: some Collection<UInt8>) -> Range<Int> {
            let start = scratch.count
            scratch.append(contentsOf: bytes)
            return start..<scratch.count
        }
    }

    /// A top-level key of an action: one of the fixed fields outside `request` (``FixedField``'s
    /// names and their camelCase spellings), `request`, `metadata`, or another key.
    private enum TopKey {
        case fixed(FixedField)
        case request, metadata, other

        // Compares bytes, not Strings: a String switch costs a String per key and Unicode-aware
        // comparisons per case, which showed up as a tenth of the normalizer's time.
        init(_ k: [UInt8]) {
            switch k.count {
            case 6: self = k.equals("userId") ? .fixed(.userId) : .other
            case 7:
                self = k.equals("user_id") ? .fixed(.userId) : k.equals("request") ? .request : .other
            case 8: self = k.equals("metadata") ? .metadata : .other
            case 9: self = k.equals("companyId") ? .fixed(.companyId) : .other
            case 10:
                self =
                    k.equals("actionName") ? .fixed(.actionName) : k.equals("company_id") ? .fixed(.companyId) : .other
            case 11:
                self =
                    k.equals("action_name")
                    ? .fixed(.actionName) : k.equals("anonymousId") ? .fixed(.anonymousId) : .other
            case 12:
                self =
                    k.equals("anonymous_id")
                    ? .fixed(.anonymousId) : k.equals("sessionToken") ? .fixed(.sessionToken) : .other
            case 13:
                self =
                    k.equals("session_token")
                    ? .fixed(.sessionToken) : k.equals("transactionId") ? .fixed(.transactionId) : .other
            case 14:
                self =
                    k.equals("transaction_id")
                    ? .fixed(.transactionId) : k.equals("subscriptionId") ? .fixed(.subscriptionId) : .other
            case 15: self = k.equals("subscription_id") ? .fixed(.subscriptionId) : .other
            default: self = .other
            }
        }
    }

    /// Reads a string field into the scratch; numbers become their decimal text; null is absent.
    private func readIdentifier(
        _ r: inout JSONReader,
        _ field: FixedField,
        _ state: inout ObjectState,
        _ depth: Int
    ) throws(ActionStoreError) {
        switch r.peek() ?? 0 {
        case 0x22:
            let start = state.scratch.count
            try r.readStringBytes(into: &state.scratch)
            state.fixed[field.rawValue] = start..<state.scratch.count
        case 0x6E:
            _ = try r.readLiteral()
            state.fixed[field.rawValue] = nil
        case 0x2D, 0x30...0x39:
            state.fixed[field.rawValue] = state.keep(try r.readNumber().description.utf8)
        default:
            let kind = r.peek() == 0x7B ? "object" : r.peek() == 0x5B ? "array" : "boolean"
            try r.skipValue(depth: depth)
            state.fail(.invalidAction, "\(field.name) must be a string, got \(kind)")
            state.fixed[field.rawValue] = nil
        }
    }

    private func readRequest(_ r: inout JSONReader, _ state: inout ObjectState, depth: Int) throws(ActionStoreError) {
        guard r.peek() == 0x7B else {
            if r.peek() == 0x6E {
                _ = try r.readLiteral()
                return
            }
            try r.skipValue(depth: depth - 1)
            state.fail(.invalidAction, "request must be an object")
            return
        }
        guard depth <= limits.depthMax else { throw r.error("nesting deeper than \(limits.depthMax)") }
        var key: [UInt8] = []
        guard try r.beginObject() else { return }
        repeat {
            try r.readKey(into: &key)
            switch RequestKey(key) {
            case .time:
                if r.peek() == 0x22 {
                    // Parsed in place from the scratch: no String unless it is wrong.
                    let start = state.scratch.count
                    try r.readStringBytes(into: &state.scratch)
                    let bytes = state.scratch[start...]
                    if let t = Timestamp.parse(bytes) {
                        state.time = t
                    } else {
                        let s = String(decoding: bytes, as: UTF8.self)
                        state.fail(.invalidAction, "request.time: \(JSONWriter.quoted(s)) is not an ISO 8601 time")
                    }
                    state.scratch.removeSubrange(start...)
                } else if r.peek() == 0x6E {
                    _ = try r.readLiteral()
                } else {
                    try r.skipValue(depth: depth)
                    state.fail(.invalidAction, "request.time must be an ISO 8601 string")
                }
            case .fixed(let f): try readIdentifier(&r, f, &state, depth)
            default:
                try r.skipValue(depth: depth)
            }
        } while try r.nextMember()
    }

    /// A key of an action's `request`: `time`, one of the request fields of ``FixedField`` (by the
    /// last part of its name, or its camelCase spelling), or another key.
    private enum RequestKey {
        case time
        case fixed(FixedField)
        case other

        init(_ k: [UInt8]) {
            if k.equals("time") {
                self = .time
            } else if k.equals("uri") {
                self = .fixed(.requestURI)
            } else if k.equals("ip_address") || k.equals("ipAddress") {
                self = .fixed(.requestIPAddress)
            } else if k.equals("user_agent_string") || k.equals("userAgentString") {
                self = .fixed(.requestUserAgent)
            } else if k.equals("verb") {
                self = .fixed(.requestVerb)
            } else {
                self = .other
            }
        }
    }

    private func readMetadata(
        _ r: inout JSONReader,
        _ state: inout ObjectState,
        _ batch: inout NormalizedBatch,
        depth: Int
    ) throws(ActionStoreError) {
        guard r.peek() == 0x7B else {
            if r.peek() == 0x6E {
                _ = try r.readLiteral()
                return
            }
            try r.skipValue(depth: depth - 1)
            state.fail(.invalidAction, "metadata must be a JSON object")
            return
        }
        guard depth <= limits.depthMax else { throw r.error("nesting deeper than \(limits.depthMax)") }
        state.path.removeAll(keepingCapacity: true)
        try flatten(&r, &state, &batch, depth: depth)
    }

    /// Flattens the object at the reader into leaves under `state.path`.
    private func flatten(
        _ r: inout JSONReader,
        _ state: inout ObjectState,
        _ batch: inout NormalizedBatch,
        depth: Int
    ) throws(ActionStoreError) {
        guard try r.beginObject() else { return }
        let prefixCount = state.path.count
        repeat {
            try r.readKey(into: &state.key)
            if state.key.count > limits.keyBytesMax {
                let shown = String(decoding: state.key.prefix(40), as: UTF8.self)
                state.fail(
                    .limitExceeded,
                    "metadata key \"\(shown)…\" is \(state.key.count) bytes, more than the limit of "
                        + "\(limits.keyBytesMax)"
                )
            }
            state.path.removeSubrange(prefixCount...)
            if prefixCount > 0 { state.path.append(0x2E) }
            for b in state.key { state.path.append(b == 0x2E ? 0x5F : b) }
            guard let c = r.peek() else { throw r.error("unexpected end of input, expected a value") }
            let kind: ColumnChunk.Kind
            var slot: UInt64 = 0
            var isDouble = false
            let type: FieldType
            switch c {
            case 0x7B:
                guard depth + 1 <= limits.depthMax else { throw r.error("nesting deeper than \(limits.depthMax)") }
                if !state.checkSize(r.pos) {
                    state.usePath.append(batch.pathId(state.path))
                    state.useType.append(.object)
                }
                try flatten(&r, &state, &batch, depth: depth + 1)
                continue
            case 0x5B:
                state.text!.removeAll(keepingCapacity: true)
                try r.copyValue(depth: depth, into: &state.text)
                let range = state.keep(state.text!)
                slot = ColumnChunk.slot(offset: range.lowerBound, length: range.count)
                (kind, type) = (.array, .array)
            case 0x22:
                let start = state.scratch.count
                try r.readStringBytes(into: &state.scratch)
                slot = ColumnChunk.slot(offset: start, length: state.scratch.count - start)
                (kind, type) = (.string, .string)
            case 0x74, 0x66, 0x6E:
                guard let b = try r.readLiteral() else { continue }  // null: dropped
                slot = b ? 1 : 0
                (kind, type) = (.bool, .boolean)
            case 0x2D, 0x30...0x39:
                switch try r.readNumber() {
                case .int(let v): slot = UInt64(bitPattern: v)
                case .double(let d):
                    slot = d.bitPattern
                    isDouble = true
                default: break
                }
                (kind, type) = (.number, .number)
            default:
                throw r.error("unexpected \(r.describe(c)), expected a value")
            }
            if state.checkSize(r.pos) { continue }
            let id = batch.pathId(state.path)
            state.usePath.append(id)
            state.useType.append(type)
            state.leafPath.append(id)
            state.leafKind.append(kind)
            state.leafSlot.append(slot)
            state.leafIsDouble.append(isDouble)
        } while try r.nextMember()
        state.path.removeSubrange(prefixCount...)
    }
}

extension [UInt8] {
    /// Byte-wise equality with an ASCII literal.
    @inline(__always)
    func equals(_ literal: StaticString) -> Bool {
        let n = literal.utf8CodeUnitCount
        guard count == n else { return false }
        return withUnsafeBufferPointer { buf in
            // Safe because both sides hold exactly n bytes, checked above.
            memcmp(buf.baseAddress!, literal.utf8Start, n) == 0
        }
    }
}
