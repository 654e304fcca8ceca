import Dispatch

#if canImport(Glibc)
import Glibc
#endif

extension Store {
    /// Stores many single-action JSON documents (NDJSON lines) as one batch: one journal record,
    /// one wait. A document that is not valid JSON rejects only itself.
    ///
    /// Large batches are normalized on every core.
    /// - Returns: one outcome per document, in order.
    public func append(
        application: String,
        documents: [ArraySlice<UInt8>],
        receivedAt: Int64 = Timestamp.now()
    ) throws -> AppendResult {
        waitForMemoryBudget()
        let (result, ticket) = try commit(application: application, normalized: normalizeEach(documents, receivedAt))
        if let ticket { try journal.waitDurable(ticket) }
        return result
    }

    /// The async variant of ``append(application:documents:receivedAt:)``.
    public func append(
        application: String,
        documents: [ArraySlice<UInt8>],
        receivedAt: Int64 = Timestamp.now()
    ) async throws -> AppendResult {
        await awaitMemoryBudget()
        let (result, ticket) = try commit(application: application, normalized: normalizeEach(documents, receivedAt))
        if let ticket { try await journal.durable(ticket) }
        return result
    }

    func normalizeEach(
        _ documents: [ArraySlice<UInt8>],
        _ receivedAt: Int64
    ) -> [Result<NormalizedAction, ActionStoreError>] {
        let n = normalizer
        @Sendable func one(_ d: ArraySlice<UInt8>) -> Result<NormalizedAction, ActionStoreError> {
            d.withUnsafeBufferPointer { n.normalize($0, receivedAt: receivedAt) }
        }
        let workers = min(System.coreCount, documents.count / 512)
        guard workers > 1 else { return documents.map(one) }
        let out = ParallelResults<Result<NormalizedAction, ActionStoreError>>(count: documents.count)
        let chunk = (documents.count + workers - 1) / workers
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let lo = w * chunk
            let hi = min(documents.count, lo + chunk)
            for i in lo..<hi { out.set(i, one(documents[i])) }
        }
        return out.take()
    }
}

enum System {
    static let coreCount: Int = {
        #if canImport(Glibc)
        return Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        #else
        return 4
        #endif
    }()
}
