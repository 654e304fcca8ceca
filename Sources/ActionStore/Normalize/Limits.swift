/// Limits applied while normalizing actions. Each one exceeded is an error naming the limit.
public struct NormalizeLimits: Sendable, Hashable {
    /// The largest action, in bytes of JSON. Default 1 MiB.
    public var actionBytesMax: Int = 1 << 20
    /// The deepest nesting of objects and arrays, the action object being depth 1. Default 32.
    public var depthMax: Int = 32
    /// The longest metadata key, in UTF-8 bytes. Default 256.
    public var keyBytesMax: Int = 256
    /// The most distinct metadata paths one application may have. Default 10,000.
    public var pathsPerApplicationMax: Int = 10_000

    public init() {}
}
