/// The public error of the engine: a code to match on, and a message that says what failed,
/// where (file, offset, path, field) and, where it helps, what to do.
///
/// Match with `catch let e as ActionStoreError where e.code == .corruption` or with the `~=`
/// pattern: `catch ActionStoreError.Code.corruption`.
public struct ActionStoreError: Error, Sendable, Hashable, CustomStringConvertible {
    /// An extensible error code.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        public let rawValue: String
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The bytes are not valid JSON (RFC 8259).
        public static let invalidJSON = Code("invalid_json")
        /// The JSON is valid but is not a valid action (missing action_name, bad time, wrong field type).
        public static let invalidAction = Code("invalid_action")
        /// A metadata key was sent with a type other than the one its application's schema fixed.
        public static let schemaConflict = Code("schema_conflict")
        /// A configured limit (size, depth, key length, path count, memory) was exceeded.
        public static let limitExceeded = Code("limit_exceeded")
        /// A file's bytes fail their checksum or do not parse.
        public static let corruption = Code("corruption")
        /// A system call failed.
        public static let io = Code("io")
        /// Another process holds the store directory.
        public static let locked = Code("locked")
        /// The store is closed, or a background error stopped writes.
        public static let closed = Code("closed")
        /// A query is malformed or names a field with the wrong type.
        public static let invalidQuery = Code("invalid_query")
        /// A named thing (application, file) does not exist.
        public static let notFound = Code("not_found")
        /// The store cannot take more now (memory stays over budget); nothing was stored: retry.
        public static let busy = Code("busy")
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}

extension ActionStoreError.Code {
    /// Lets `catch ActionStoreError.Code.corruption` match an error by its code.
    public static func ~= (code: ActionStoreError.Code, error: any Error) -> Bool {
        (error as? ActionStoreError)?.code == code
    }
}
