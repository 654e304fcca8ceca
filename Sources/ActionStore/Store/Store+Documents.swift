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
        let pending = try submit(application: application, documents: documents, receivedAt: receivedAt)
        try pending.waitDurable()
        return pending.result
    }

    /// The async variant of ``append(application:documents:receivedAt:)``.
    public func append(
        application: String,
        documents: [ArraySlice<UInt8>],
        receivedAt: Int64 = Timestamp.now()
    ) async throws -> AppendResult {
        try await awaitMemoryBudget()
        let (result, ticket) = try commit(application: application, batch: normalizeEach(documents, receivedAt))
        if let ticket { try await journal.durable(ticket) }
        return result
    }

    /// The first half of ``append(application:documents:receivedAt:)``: normalizes and commits
    /// the documents (they are in the journal's queue and visible to queries) and returns without
    /// waiting for the fsync. A writer that submits its next batch before it waits for this one
    /// keeps parsing while the journal syncs (`actionstore import` does).
    ///
    /// The outcomes are final once `waitDurable()` returns; if it throws, none of the batch's
    /// accepted actions may be counted as stored.
    package func submit(
        application: String,
        documents: [ArraySlice<UInt8>],
        receivedAt: Int64 = Timestamp.now()
    ) throws -> PendingAppend {
        try waitForMemoryBudget()
        let (result, ticket) = try commit(application: application, batch: normalizeEach(documents, receivedAt))
        return PendingAppend(result: result, ticket: ticket, journal: journal)
    }

    /// Normalizes each document into the batch's columns; large batches on every core, each
    /// worker into a batch of its own, joined in document order.
    func normalizeEach(_ documents: [ArraySlice<UInt8>], _ receivedAt: Int64) -> NormalizedBatch {
        let n = normalizer
        @Sendable func range(_ r: Range<Int>) -> NormalizedBatch {
            var batch = NormalizedBatch()
            n.normalizeObjects(documents, r, receivedAt: receivedAt, into: &batch)
            return batch
        }
        let workers = min(System.coreCount, documents.count / 512)
        guard workers > 1 else { return range(0..<documents.count) }
        let out = ParallelResults<NormalizedBatch>(count: workers)
        let chunk = (documents.count + workers - 1) / workers
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let lo = min(documents.count, w * chunk)
            out.set(w, range(lo..<min(documents.count, lo + chunk)))
        }
        var parts = out.take()
        var batch = parts.removeFirst()
        for p in parts { batch.append(contentsOf: p) }
        return batch
    }
}

/// An append committed but perhaps not yet durable (``Store/submit(application:documents:receivedAt:)``).
package struct PendingAppend: Sendable {
    /// What happened to each document; the accepted ones are stored once `waitDurable()` returns.
    package let result: AppendResult
    let ticket: JournalWriter.Ticket?
    let journal: JournalWriter

    /// Blocks until the batch is durable under the journal policy.
    /// - Throws: the journal's write or sync failure.
    package func waitDurable() throws {
        if let ticket { try journal.waitDurable(ticket) }
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
