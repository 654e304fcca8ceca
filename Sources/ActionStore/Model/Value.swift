/// The JSON type a metadata key is fixed to by the first action that uses it.
///
/// Moesif's rule: "the first type seen for a key fixes it", at any depth. Numbers are one
/// type whether they are integral or not; the storage layer picks Int64 or Double per segment.
public enum FieldType: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case string = 1
    case number = 2
    case boolean = 3
    case object = 4
    case array = 5

    public var description: String {
        switch self {
        case .string: "string"
        case .number: "number"
        case .boolean: "boolean"
        case .object: "object"
        case .array: "array"
        }
    }
}

/// The value of one metadata leaf.
public enum Value: Sendable, Hashable, CustomStringConvertible {
    case string(String)
    /// A JSON number written without fraction or exponent that fits in 64 bits.
    case int(Int64)
    /// Any other JSON number.
    case double(Double)
    case bool(Bool)
    /// A JSON array, kept whole as compact JSON text (insignificant whitespace removed).
    case array(String)

    /// The schema type of this value.
    public var fieldType: FieldType {
        switch self {
        case .string: .string
        case .int, .double: .number
        case .bool: .boolean
        case .array: .array
        }
    }

    /// The value as a Double, for numbers.
    public var doubleValue: Double? {
        switch self {
        case .int(let v): Double(v)
        case .double(let v): v
        default: nil
        }
    }

    public var description: String {
        switch self {
        case .string(let s): s
        case .int(let v): String(v)
        case .double(let v): String(v)
        case .bool(let v): String(v)
        case .array(let s): s
        }
    }
}
