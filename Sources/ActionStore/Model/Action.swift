/// One normalized action, as stored.
///
/// The fixed fields follow Moesif's actions API; `metadata` holds every leaf of the action's
/// `metadata` object, flattened to paths (`a.b` for `{"a": {"b": …}}`) after dots in keys were
/// replaced by underscores, sorted by the bytes of their paths (strings compare by bytes
/// everywhere in the engine, as in DuckDB and ClickHouse). Null values are dropped; arrays are whole values.
public struct Action: Sendable, Hashable {
    /// `request.time` in UTC microseconds since 1970.
    public var time: Int64
    public var actionName: String
    public var userId: String?
    public var anonymousId: String?
    public var companyId: String?
    public var sessionToken: String?
    public var transactionId: String?
    public var subscriptionId: String?
    public var requestURI: String?
    public var requestIPAddress: String?
    public var requestUserAgent: String?
    public var requestVerb: String?
    /// Metadata leaves sorted by path bytes; a path is relative to `metadata` (no `metadata.` prefix).
    public var metadata: [MetadataField]

    public init(
        time: Int64,
        actionName: String,
        userId: String? = nil,
        anonymousId: String? = nil,
        companyId: String? = nil,
        sessionToken: String? = nil,
        transactionId: String? = nil,
        subscriptionId: String? = nil,
        requestURI: String? = nil,
        requestIPAddress: String? = nil,
        requestUserAgent: String? = nil,
        requestVerb: String? = nil,
        metadata: [MetadataField] = []
    ) {
        self.time = time
        self.actionName = actionName
        self.userId = userId
        self.anonymousId = anonymousId
        self.companyId = companyId
        self.sessionToken = sessionToken
        self.transactionId = transactionId
        self.subscriptionId = subscriptionId
        self.requestURI = requestURI
        self.requestIPAddress = requestIPAddress
        self.requestUserAgent = requestUserAgent
        self.requestVerb = requestVerb
        self.metadata = metadata
    }

    /// The value at a metadata path (relative to `metadata`), if present.
    public func metadataValue(_ path: String) -> Value? {
        var lo = 0
        var hi = metadata.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if utf8Less(metadata[mid].path, path) { lo = mid + 1 } else { hi = mid }
        }
        return lo < metadata.count && utf8Equal(metadata[lo].path, path) ? metadata[lo].value : nil
    }
}

/// One flattened metadata leaf.
public struct MetadataField: Sendable, Hashable {
    /// Path relative to `metadata`, components joined by `.` (keys never contain dots after normalization).
    public var path: String
    public var value: Value

    public init(path: String, value: Value) {
        self.path = path
        self.value = value
    }
}
