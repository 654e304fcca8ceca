import Synchronization

/// Bounds the ingest requests in flight and the body bytes they hold, so memory never grows with
/// the offered load: over either bound a request is answered 503 with `Retry-After` instead of
/// queueing.
///
/// Rejecting rather than queueing keeps latency bounded too; Moesif's browser client retries a
/// batch on any status ≥ 500.
final class IngestLimiter: Sendable {
    struct Counts: Sendable, Hashable {
        var requests = 0
        var bytes = 0
    }

    let requestsMax: Int
    let bytesMax: Int
    // Guarded by counts.
    private let counts = Mutex(Counts())

    init(requestsMax: Int, bytesMax: Int) {
        self.requestsMax = requestsMax
        self.bytesMax = bytesMax
    }

    var current: Counts { counts.withLock { $0 } }

    /// Takes a request slot, or returns nil when all are taken.
    func admit() -> Ticket? {
        let ok = counts.withLock { c in
            guard c.requests < requestsMax else { return false }
            c.requests += 1
            return true
        }
        return ok ? Ticket(limiter: self) : nil
    }

    fileprivate func reserve(_ n: Int) -> Bool {
        counts.withLock { c in
            guard c.bytes + n <= bytesMax else { return false }
            c.bytes += n
            return true
        }
    }

    fileprivate func release(requests: Int, bytes: Int) {
        counts.withLock { c in
            c.requests -= requests
            c.bytes -= bytes
            assert(c.requests >= 0 && c.bytes >= 0)
        }
    }

    /// One admitted request: its slot and the bytes it holds, given back by ``finish()``.
    final class Ticket: @unchecked Sendable {
        // Used by one request handler at a time (its task), so `held` needs no lock.
        private let limiter: IngestLimiter
        private var held = 0
        private var finished = false

        fileprivate init(limiter: IngestLimiter) { self.limiter = limiter }

        /// Accounts for `n` more bytes; false (nothing taken) when the budget is exhausted.
        func reserve(_ n: Int) -> Bool {
            guard limiter.reserve(n) else { return false }
            held += n
            return true
        }

        /// Gives back the slot and every byte. Later calls do nothing.
        func finish() {
            guard !finished else { return }
            finished = true
            limiter.release(requests: 1, bytes: held)
        }

        deinit { finish() }
    }
}
