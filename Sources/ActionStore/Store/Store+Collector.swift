extension Store {
    /// The async append of one JSON document for the HTTP collector: like
    /// ``append(application:json:receivedAt:)``, and actions without `request.ip_address` get
    /// `defaultIPAddress` (Moesif: "If not set, we extract the remote IP address").
    ///
    /// The address is filled in after normalization and before the schema check and the journal,
    /// so the stored (and journaled) action carries it.
    /// - Parameters:
    ///   - application: the application (Moesif's application id).
    ///   - json: UTF-8 JSON bytes: an action object or an array of them.
    ///   - receivedAt: the time given to actions without `request.time` (UTC microseconds).
    ///   - defaultIPAddress: the peer's address, or nil to leave missing addresses missing.
    /// - Returns: an outcome per action, once the accepted ones are durable under the journal policy.
    /// - Throws: `.invalidJSON` (naming the byte offset) when the document cannot be read;
    ///   `.io` or `.closed` when nothing could be made durable.
    public func append(
        application: String,
        json: [UInt8],
        receivedAt: Int64 = Timestamp.now(),
        defaultIPAddress: String?
    ) async throws -> AppendResult {
        var batch = NormalizedBatch()
        try json.withUnsafeBufferPointer {
            try normalizer.normalizeDocument($0, receivedAt: receivedAt, into: &batch)
        }
        if let defaultIPAddress { batch.fill(.requestIPAddress, with: defaultIPAddress) }
        try await awaitMemoryBudget()
        let (result, ticket) = try commit(application: application, batch: batch)
        if let ticket { try await journal.durable(ticket) }
        return result
    }
}
